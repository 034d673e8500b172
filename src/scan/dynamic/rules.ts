/**
 * The dynamic scan's rules: one entry per check the scanner runs against a live API, each naming its checklist item
 * and OWASP API Security Top 10 2023 category (src/checklist/items.ts). Ids follow the checklist's `scannerChecks`
 * (`<area>.<finding>`); the ids marked NEW below are not listed there yet (see `DYNAMIC_RULE_IDS_NOT_IN_CHECKLIST`).
 *
 * Severity says what an attacker gains: high = another user's data or account, or code/query execution; medium =
 * a weakness that helps an attack or leaks internals; low = hardening and hygiene.
 */
import { OWASP_API_TOP10_2023, type ChecklistItemId, type OwaspApi2023 } from '../../checklist/items.ts';
import type { RuleInfo, Severity } from '../model.ts';

function rule(
  id: string,
  severity: Severity,
  item: ChecklistItemId,
  owasp: OwaspApi2023,
  title: string,
  explanation: string,
  fix: string,
): RuleInfo {
  return Object.freeze({ id, title, severity, item, owasp, explanation, fix, helpUri: OWASP_API_TOP10_2023[owasp].url });
}

export const DYNAMIC_RULES = Object.freeze({
  // --- item 1: authentication (API2) -----------------------------------------------------------------------------
  authMissing: rule(
    'auth.missing', 'high', 1, 'API2:2023',
    'Operation answers without credentials',
    'The OpenAPI document says this operation needs credentials, yet it answered 2xx to a request without any. Anyone can call it.',
    'Authenticate every operation that is not explicitly public (deny by default), in the service or in the gateway in front of it.',
  ),
  invalidToken: rule(
    'auth.invalid-token-accepted', 'high', 1, 'API2:2023',
    'Invalid or forged token accepted',
    'A token that is garbage, or that carries the real claims but a signature made with a random key, was accepted: the signature is not verified, so anyone can mint a token for any user.',
    'Verify the signature of every token with the issuer\'s keys (RFC 7515 §5.2) and refuse the request when verification fails.',
  ),
  algNone: rule(
    'auth.jwt-alg-none', 'high', 1, 'API2:2023',
    'Unsigned JWT (alg "none") accepted',
    'A JWT with `"alg": "none"` and no signature was accepted. Anyone can write their own claims (RFC 8725 §2.1, §3.1).',
    'Pin the accepted algorithms to an allow-list that never contains "none" (e.g. ES256 only).',
  ),
  expiredToken: rule(
    'auth.jwt-expired-accepted', 'high', 1, 'API2:2023',
    'Expired JWT accepted',
    'A JWT whose `exp` lies in the past was accepted. Stolen tokens stay usable forever (RFC 7519 §4.1.4).',
    'Check `exp` (and `nbf`) on every request with a small clock skew, and verify the signature before trusting any claim.',
  ),
  // --- item 2: authorization (API1, API5, API3) -------------------------------------------------------------------
  bola: rule(
    'authz.bola', 'high', 2, 'API1:2023',
    'Object of another user readable (BOLA)',
    'User B read an object whose id appeared only in user A\'s responses. Object ids are not checked against the caller, so any user can read any other user\'s objects by changing an id.',
    'Check ownership (or tenancy) of every object on every access, after loading it and before answering; answer 404 for objects the caller may not see.',
  ),
  bfla: rule(
    'authz.bfla-admin', 'high', 2, 'API5:2023',
    'Ordinary user reaches an administrative operation (BFLA)',
    'An operation that the document marks as administrative (admin tag, path or scope, or the auth file) answered 2xx to an ordinary user.',
    'Require an administrative role or scope on every administrative operation, deny by default, and keep administrative functions on their own routes.',
  ),
  massAssignment: rule(
    'authz.mass-assignment', 'high', 2, 'API3:2023',
    'Privileged property accepted from the client (mass assignment)',
    'A write request carrying a property the client should not set (read-only in the document, or privileged such as a role, a balance or an owner) was accepted, and a later read returned the injected value.',
    'Bind request bodies to an explicit list of writable properties (a closed schema with `additionalProperties: false`, `readOnly` honoured) and never copy the request object into the stored one.',
  ),
  // --- item 3: encryption (API8, API2) ----------------------------------------------------------------------------
  plainHttp: rule(
    'tls.plain-http', 'high', 3, 'API8:2023',
    'API served over plain HTTP',
    'The target is served over plain HTTP on a network address: credentials and data cross the network readable and changeable.',
    'Serve the API only over HTTPS (TLS 1.2 or later) and redirect or refuse plain HTTP.',
  ),
  weakTls: rule(
    'tls.weak-protocol', 'high', 3, 'API8:2023',
    'TLS 1.0 or 1.1 accepted',
    'The server completes handshakes with TLS 1.0 or 1.1, which RFC 8996 deprecates (weak ciphers, no AEAD, downgrade attacks).',
    'Set the minimum protocol version to TLS 1.2 (TLS 1.3 preferred) with AEAD cipher suites only.',
  ),
  hstsMissing: rule(
    'tls.hsts-missing', 'medium', 3, 'API8:2023',
    'No HTTP Strict Transport Security',
    'HTTPS responses carry no `Strict-Transport-Security` header with a max-age (RFC 6797), so a browser can be downgraded to plain HTTP on its next visit.',
    'Send `Strict-Transport-Security: max-age=31536000; includeSubDomains` on every HTTPS response.',
  ),
  // NEW (item 3): certificate problems stop the scan, since nothing can be sent safely.
  badCertificate: rule(
    'tls.certificate-invalid', 'high', 3, 'API8:2023',
    'Certificate not valid for the target',
    'The server\'s certificate does not verify for the target host (expired, not yet valid, wrong host name, or not issued by a trusted CA). Clients either fail or learn to ignore certificate errors, which makes interception easy.',
    'Serve a certificate issued by a trusted CA for every host name the API is reached by, and renew it before it expires (pass --ca for a private CA).',
  ),
  // --- item 4: input validation (API8, API4, API7, API10) ---------------------------------------------------------
  invalidInput5xx: rule( // NEW
    'input.invalid-input-5xx', 'medium', 4, 'API8:2023',
    'Wrong types or oversized input answered with a server error',
    'Values of the wrong type, malformed or oversized bodies made the service fail with 5xx instead of a 400: the input reaches code that does not expect it, which often leaks internals and can be used to exhaust the service.',
    'Validate every parameter and body against the contract (types, formats, sizes) before handling it and answer 400/413/422 with a generic problem.',
  ),
  sqlInjection: rule( // NEW
    'input.sql-injection', 'high', 4, 'API8:2023',
    'SQL injection',
    'A quote or SQL fragment in a parameter changed how the database read the query (a database error appeared that the normal value does not cause, or a time delay was injected).',
    'Use parameterised queries or an ORM for every query and never build SQL from strings; validate inputs against the contract.',
  ),
  nosqlInjection: rule( // NEW
    'input.nosql-injection', 'high', 4, 'API8:2023',
    'NoSQL operator injection',
    'Query operators (`$ne`, `$where`, unknown `$` keys) sent in a parameter reached the document database, which evaluated them.',
    'Accept only scalar values where the contract says so, refuse keys starting with `$` or containing `.`, and build queries from validated values.',
  ),
  commandInjection: rule( // NEW
    'input.command-injection', 'high', 4, 'API8:2023',
    'OS command injection',
    'Shell metacharacters in a parameter ran a command on the server (shown by a shell error or an injected time delay seen repeatedly).',
    'Never pass input to a shell; call programs with an argument vector and validate the value (e.g. a host name pattern).',
  ),
  pathTraversal: rule( // NEW
    'input.path-traversal', 'high', 4, 'API8:2023',
    'Path traversal',
    'A parameter containing `../` sequences read a file outside the directory the service meant to serve (a well-known system file came back).',
    'Map names to files through an index or resolve the path and check it stays inside the base directory; refuse separators and `..`.',
  ),
  ssrf: rule( // NEW
    'input.ssrf', 'high', 4, 'API7:2023',
    'Server-side request forgery to loopback',
    'The service fetched a loopback URL supplied in a parameter: it can be made to call internal services, cloud metadata endpoints or its own admin interfaces.',
    'Fetch only URLs whose scheme and host are on an allow-list, resolve the host and refuse private, loopback and link-local addresses, and do not follow redirects.',
  ),
  // --- item 5: rate limiting (API4, API6, API2) -------------------------------------------------------------------
  rateLimitMissing: rule(
    'rate-limit.missing', 'medium', 5, 'API4:2023',
    'No rate limit',
    'A burst of requests to one operation was answered without a single 429: one client can exhaust the service, brute-force credentials or automate a business flow.',
    'Limit requests per client (address, key, principal) and per operation, answering 429 with Retry-After.',
  ),
  rateLimitHeaders: rule(
    'rate-limit.headers-missing', 'low', 5, 'API4:2023',
    '429 without Retry-After or RateLimit headers',
    'The API limits requests but does not tell clients when to retry, so well-behaved clients retry blindly and add load.',
    'Send `Retry-After` on 429 and the `RateLimit`/`RateLimit-Policy` headers (IETF httpapi-ratelimit-headers).',
  ),
  // --- item 7: error handling (API8) ------------------------------------------------------------------------------
  stackTrace: rule(
    'errors.stack-trace', 'medium', 7, 'API8:2023',
    'Stack trace in a response',
    'A response contains a stack trace: file paths, function names and library versions that show an attacker how the service is built (CWE-209).',
    'Answer errors with a generic problem (RFC 9457) and a correlation id; log the details on the server only.',
  ),
  verbose5xx: rule(
    'errors.verbose-5xx', 'low', 7, 'API8:2023',
    'Server error reveals internals',
    'A 5xx response names an exception, a framework or a software version.',
    'Replace server error bodies with a generic problem (RFC 9457) and keep the details in the log.',
  ),
  sqlError: rule( // NEW
    'errors.sql-error', 'medium', 7, 'API8:2023',
    'Database error in a response',
    'A response contains a database error message (query text, driver or table names): a map for SQL injection.',
    'Catch database errors, log them, and answer with a generic problem.',
  ),
  internalAddress: rule( // NEW
    'errors.internal-address', 'low', 7, 'API8:2023',
    'Internal address disclosed',
    'A response names a private network address or internal host name, which helps an attacker who gets a foothold (or an SSRF) reach internal services.',
    'Keep internal addresses, hosts and connection strings out of responses and headers.',
  ),
  notProblemJson: rule(
    'errors.not-problem-json', 'low', 7, 'API8:2023',
    'Errors are not RFC 9457 problems',
    'Error responses use ad-hoc bodies instead of `application/problem+json`, which makes generic, leak-free errors harder to enforce and to consume.',
    'Answer every error with `application/problem+json` (type, title, status, and a correlation id).',
  ),
  bannerHeaders: rule(
    'errors.banner-headers', 'low', 7, 'API8:2023',
    'Server software and version disclosed in headers',
    'Headers such as `Server` with a version, `X-Powered-By` or `X-AspNet-Version` tell an attacker which known vulnerabilities to try.',
    'Remove `X-Powered-By`, `X-AspNet-Version` and similar headers and reduce `Server` to a product-less value.',
  ),
  // --- item 8: gateway / uniform processing (API8) -----------------------------------------------------------------
  traceEnabled: rule( // NEW
    'methods.trace-enabled', 'medium', 8, 'API8:2023',
    'TRACE method enabled',
    'The server answers TRACE with 2xx, echoing the request (including cookies and authorization headers) back: cross-site tracing.',
    'Refuse TRACE (405) everywhere.',
  ),
  unexpectedMethod: rule( // NEW
    'methods.unexpected-accepted', 'medium', 8, 'API8:2023',
    'Undeclared method accepted',
    'An HTTP method the document does not declare on this path was answered with 2xx: routing ignores the method, so method-based controls (authorization, CSRF defence, caching) can be bypassed.',
    'Route on method and path, and answer 405 with `Allow` for every method an operation does not declare.',
  ),
  // --- item 10: versioning / inventory (API9) ----------------------------------------------------------------------
  oldVersionLive: rule(
    'inventory.old-version-live', 'medium', 10, 'API9:2023',
    'Older API version still served without Sunset',
    'An older version of a documented path (a lower version number) still answers 2xx and announces no `Sunset` date (RFC 8594): old versions keep old flaws and nobody tracks them.',
    'Retire old versions (410 Gone) or announce their end with `Deprecation` and `Sunset` headers, and keep them in the inventory.',
  ),
  // --- item 11: sessions (API2) ------------------------------------------------------------------------------------
  cookieInsecure: rule(
    'session.cookie-insecure', 'medium', 11, 'API2:2023',
    'Session cookie without Secure, HttpOnly or SameSite',
    'A cookie that looks like a session credential is set without `Secure` (sent over plain HTTP), `HttpOnly` (readable by script) or `SameSite` (sent on cross-site requests).',
    'Set session cookies with `Secure; HttpOnly; SameSite=Strict` (or Lax), ideally with the `__Host-` prefix (RFC 6265bis).',
  ),
  tokenNoExpiry: rule(
    'session.token-no-expiry', 'medium', 11, 'API2:2023',
    'Access token without expiry or long-lived',
    'The access token the API issued has no `exp`, or lives longer than an hour: a stolen token keeps working for that long.',
    'Issue short-lived access tokens (minutes) with refresh-token rotation (RFC 9700 §2.2.2).',
  ),
  // --- item 12: security headers and CSP (API8) --------------------------------------------------------------------
  cspMissing: rule(
    'headers.csp-missing', 'medium', 12, 'API8:2023',
    'No Content-Security-Policy',
    'Responses carry no `Content-Security-Policy`: a response a browser renders (an error page, a reflected value) can run injected script.',
    'Send `Content-Security-Policy: default-src \'none\'; frame-ancestors \'none\'` on API responses.',
  ),
  cspWeak: rule(
    'headers.csp-weak', 'low', 12, 'API8:2023',
    'Weak Content-Security-Policy',
    'The CSP allows inline script, eval, or any source (`*`), or sets no `default-src`: it does not stop injected script.',
    'Start from `default-src \'none\'` and allow only what a page needs, without `\'unsafe-inline\'`, `\'unsafe-eval\'` or wildcards.',
  ),
  nosniffMissing: rule(
    'headers.nosniff-missing', 'low', 12, 'API8:2023',
    'No X-Content-Type-Options: nosniff',
    'Without `nosniff` a browser may guess a different content type for a response and run it as script or style.',
    'Send `X-Content-Type-Options: nosniff` on every response.',
  ),
  // --- item 13: CORS (API8) ------------------------------------------------------------------------------------------
  corsReflected: rule(
    'cors.reflected-origin', 'high', 13, 'API8:2023',
    'CORS reflects any origin',
    'An arbitrary Origin is echoed in `Access-Control-Allow-Origin`: any web site can read responses in the browser, with the visitor\'s cookies when credentials are allowed.',
    'Allow only listed trusted origins, compared exactly, and never echo the Origin header.',
  ),
  corsNull: rule(
    'cors.null-origin', 'medium', 13, 'API8:2023',
    'CORS allows the null origin',
    '`Access-Control-Allow-Origin: null` lets sandboxed iframes, local files and some redirects read responses.',
    'Never allow the `null` origin.',
  ),
  corsWildcardCredentials: rule(
    'cors.wildcard-with-credentials', 'medium', 13, 'API8:2023',
    'CORS wildcard with credentials',
    '`Access-Control-Allow-Origin: *` together with `Access-Control-Allow-Credentials: true` shows the API means to allow every origin with credentials (browsers refuse this pair, so the next "fix" is often reflecting the origin).',
    'List the trusted origins exactly when credentials are allowed.',
  ),
  corsWildcard: rule(
    'cors.wildcard', 'low', 13, 'API8:2023',
    'CORS wildcard on authenticated responses',
    'Authenticated responses carry `Access-Control-Allow-Origin: *`: any site can read them when the credential is not a cookie (e.g. a token kept by a browser extension or an intranet API keyed by address).',
    'Allow only listed trusted origins on authenticated operations.',
  ),
  // --- item 14: documentation (API9, API8) -------------------------------------------------------------------------
  docsPublic: rule(
    'docs.public', 'medium', 14, 'API9:2023',
    'API documentation served anonymously',
    'The API description or its documentation UI is served without authentication at a well-known path: a complete map of the API, internal operations included.',
    'Serve documentation only to authenticated and authorised users, or not from the production API at all.',
  ),
  // --- item 15: deprecation (API9) ----------------------------------------------------------------------------------
  deprecationHeaders: rule(
    'deprecation.headers-missing', 'low', 15, 'API9:2023',
    'Deprecated operation without Deprecation/Sunset headers',
    'The document marks the operation deprecated, but its responses carry no `Deprecation` (RFC 9745) or `Sunset` (RFC 8594) header, so clients are never told.',
    'Send `Deprecation` and `Sunset` (and a `Link` rel="deprecation") on every response of a deprecated operation.',
  ),
  pastSunset: rule(
    'deprecation.past-sunset-live', 'medium', 15, 'API9:2023',
    'Operation still served after its Sunset date',
    'A response announces a `Sunset` date that has passed, yet the operation still answers 2xx.',
    'Retire operations on their sunset date (410 Gone), or move the date and tell clients.',
  ),
  // --- item 16: data exposure and privacy (API3, API8) -------------------------------------------------------------
  undocumentedFields: rule(
    'exposure.undocumented-fields', 'medium', 16, 'API3:2023',
    'Response carries properties the contract does not declare',
    'Responses contain properties their schema does not declare: internal data leaks out unnoticed, and the contract cannot be used to minimise responses.',
    'Return only declared properties (serialise from an explicit view model, or minimise responses against the contract at the gateway).',
  ),
  sensitiveFields: rule(
    'exposure.sensitive-fields', 'high', 16, 'API3:2023',
    'Secrets or personal data in undeclared response properties',
    'Responses contain undeclared properties that hold secrets (password hashes, tokens, keys) or personal data (e-mail addresses, card numbers, social security numbers).',
    'Never serialise secrets; return personal data only where the contract declares it and the caller needs it; mask card numbers (PCI DSS 3.4).',
  ),
  cacheControl: rule(
    'privacy.cache-control-missing', 'low', 16, 'API8:2023',
    'Authenticated responses cacheable',
    'Authenticated 2xx responses carry no `Cache-Control: no-store` (or `private`), so shared caches and browsers may keep personal data.',
    'Send `Cache-Control: no-store` on authenticated responses.',
  ),
} satisfies Record<string, RuleInfo>);

export type DynamicRuleKey = keyof typeof DYNAMIC_RULES;

/** Every dynamic rule, in table order. */
export const DYNAMIC_RULE_LIST: readonly RuleInfo[] = Object.freeze(Object.values(DYNAMIC_RULES));

/** Ids the dynamic scan uses that `src/checklist/items.ts` does not list in `scannerChecks` yet. */
export const DYNAMIC_RULE_IDS_NOT_IN_CHECKLIST: readonly string[] = Object.freeze([]);
