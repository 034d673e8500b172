/**
 * The static audit's rules: one entry per check run on an OpenAPI document (Swagger 2.0, OpenAPI 3.0, 3.1), each
 * naming its checklist item and OWASP API Security Top 10 2023 category (src/checklist/items.ts).
 *
 * Ids: `<area>.<finding>` as in the checklist's `scannerChecks`. Checks that only a document can show are named
 * `<area>.spec-<finding>` (the checklist's own convention: `tls.spec-http-server`), so they never collide with the
 * dynamic scan's probe of the same area (`auth.missing` probes a live API; `auth.spec-operation-without-security`
 * reads its document). `STATIC_RULE_IDS_NOT_IN_CHECKLIST` lists the ids the checklist does not name yet.
 *
 * `spectral` names the rules of @stoplight/spectral-owasp-ruleset 2.x that a rule covers: the comparison test
 * (test/scan-static-spectral.test.ts) checks that every pointer Spectral flags for those is a location of a finding.
 *
 * Severity: high = anyone can act as someone else or read secrets; medium = a weakness an attack builds on;
 * low = hardening and documentation an attack profits from; info = inventory hygiene.
 */
import { OWASP_API_TOP10_2023, type ChecklistItemId, type OwaspApi2023 } from '../../checklist/items.ts';
import type { RuleInfo, Severity } from '../model.ts';

const CHEATSHEETS = 'https://cheatsheetseries.owasp.org/cheatsheets/';

function rule(
  id: string,
  severity: Severity,
  item: ChecklistItemId,
  owasp: OwaspApi2023,
  title: string,
  explanation: string,
  fix: string,
  options: { helpUri?: string; spectral?: readonly string[] } = {},
): RuleInfo {
  return Object.freeze({
    id,
    title,
    severity,
    item,
    owasp,
    explanation,
    fix,
    helpUri: options.helpUri ?? OWASP_API_TOP10_2023[owasp].url,
    ...(options.spectral ? { spectral: Object.freeze([...options.spectral]) } : {}),
  });
}

export const STATIC_RULES = Object.freeze({
  // --- item 1: authentication (API2) ---------------------------------------------------------------------------------
  operationWithoutSecurity: rule(
    'auth.spec-operation-without-security', 'high', 1, 'API2:2023',
    'Operation without a security requirement',
    'The operation declares no security requirement (neither its own `security` nor the document\'s), or lists an empty alternative `{}` that makes credentials optional, and it is not marked public. Callers without credentials are expected to get in. Rampart\'s convention for an operation that is public on purpose: `security: []` on the operation, or `x-public: true` on the operation, its path item or the document.',
    'Declare the security scheme(s) the operation requires (globally with `security:` or per operation). If the operation is meant to be anonymous, say so with `security: []` or `x-public: true` so that reviewers and the gateway (`public: true`) agree.',
    { spectral: ['owasp:api2:2023-write-restricted', 'owasp:api2:2023-read-restricted'] },
  ),
  undefinedScheme: rule(
    'auth.spec-undefined-security-scheme', 'high', 1, 'API2:2023',
    'Security requirement names an undefined scheme',
    'A security requirement names a scheme that is not defined under `components.securitySchemes` (`securityDefinitions` in Swagger 2.0). Tools that enforce the document cannot know how to authenticate the operation, and some treat it as unprotected.',
    'Define the scheme, or correct the name in the requirement.',
  ),
  httpBasic: rule(
    'auth.spec-http-basic', 'medium', 1, 'API2:2023',
    'HTTP Basic authentication',
    'HTTP Basic (RFC 7617) sends the user\'s long-lived password, only base64-encoded, with every request: anything that logs or intercepts one request has the password, and it cannot be scoped, rotated or expired per client.',
    'Use OAuth 2.0 / OpenID Connect bearer tokens, or hashed API keys, instead of passwords on every request.',
    { helpUri: `${CHEATSHEETS}REST_Security_Cheat_Sheet.html`, spectral: ['owasp:api2:2023-no-http-basic'] },
  ),
  insecureHttpScheme: rule(
    'auth.spec-insecure-http-scheme', 'medium', 1, 'API2:2023',
    'Outdated HTTP authentication scheme',
    'The security scheme uses an HTTP authentication scheme considered outdated or weak: Digest (MD5-based, RFC 7616 keeps it only for compatibility), Negotiate/NTLM (relayable, Windows-domain bound) or OAuth 1.0.',
    'Use OAuth 2.0 / OpenID Connect bearer tokens (RFC 6750) or mutual TLS.',
    { spectral: ['owasp:api2:2023-auth-insecure-schemes'] },
  ),
  apiKeyInQuery: rule(
    'auth.spec-api-key-in-query', 'high', 1, 'API2:2023',
    'API key sent in the URL',
    'The API key travels in the query string. URLs are written to access logs, proxy logs, browser history and `Referer` headers, so the key leaks to everyone who can read any of them.',
    'Send the key in a request header (`in: header`, e.g. `Authorization` or `X-API-Key`).',
    { spectral: ['owasp:api2:2023-no-api-keys-in-url'] },
  ),
  apiKeyInCookie: rule(
    'auth.spec-api-key-in-cookie', 'medium', 1, 'API2:2023',
    'API key sent in a cookie',
    'A browser attaches cookies to every request to the API, including those made by other sites: an API key in a cookie makes the API open to cross-site request forgery unless every state-changing operation has a separate CSRF defence.',
    'Send API keys in a request header. Use cookies only for browser sessions with `Secure; HttpOnly; SameSite` and CSRF protection.',
  ),
  credentialsInUrl: rule(
    'auth.spec-credentials-in-url', 'high', 1, 'API2:2023',
    'Credentials in URLs',
    'A query or path parameter is named like a credential (password, secret, token, API key), or a server URL or an example carries `user:password@`. URLs are logged by servers and proxies and kept in browser history, so credentials in them leak.',
    'Send credentials in headers (`Authorization`) or in the request body of a POST, never in the URL; remove passwords from server URLs and examples.',
    { spectral: ['owasp:api2:2023-no-credentials-in-url'] },
  ),
  oauthDeprecatedFlow: rule(
    'auth.spec-oauth-deprecated-flow', 'medium', 1, 'API2:2023',
    'Deprecated OAuth 2.0 flow (implicit or password)',
    'The implicit grant returns access tokens in the redirect URL (leaked through history and `Referer`, no refresh token, no sender constraint) and the resource owner password grant hands the user\'s password to the client. The OAuth 2.0 Security Best Current Practice (RFC 9700 §2.1.2 and §2.4) says they must not be used.',
    'Use the authorization code flow with PKCE for user-facing clients and the client credentials flow for services.',
    { helpUri: 'https://www.rfc-editor.org/rfc/rfc9700', spectral: ['owasp:api2:2023-short-lived-access-tokens'] },
  ),

  // --- item 11: session management (API2) ----------------------------------------------------------------------------
  longLivedTokens: rule(
    'session.spec-long-lived-tokens', 'low', 11, 'API2:2023',
    'OAuth flow without refresh tokens',
    'The authorization code flow declares no `refreshUrl`: the document gives clients no way to renew access tokens, which usually means access tokens are long-lived. A stolen long-lived token works until it expires.',
    'Issue short-lived access tokens (minutes) with refresh tokens that rotate on every use (RFC 9700 §4.14), and declare `refreshUrl` on the flow.',
    { helpUri: 'https://www.rfc-editor.org/rfc/rfc9700', spectral: ['owasp:api2:2023-short-lived-access-tokens'] },
  ),

  // --- item 2: authorization (API3, API5) ----------------------------------------------------------------------------
  writablePrivileged: rule(
    'authz.spec-writable-privileged-property', 'medium', 2, 'API3:2023',
    'Client can write a privileged property',
    'A request body accepts a property that decides privileges, money, verification or ownership (such as `role`, `isAdmin`, `balance`, `verified`, `ownerId`) and the schema does not mark it `readOnly`. If the service binds the body to its model, a client can grant itself the property (mass assignment).',
    'Mark the property `readOnly: true` (and close the schema with `additionalProperties: false`), or use a separate input schema without it; set it on the server from the authenticated principal.',
    { helpUri: `${CHEATSHEETS}Mass_Assignment_Cheat_Sheet.html` },
  ),
  adminNotSeparated: rule(
    'authz.spec-admin-not-separated', 'medium', 2, 'API5:2023',
    'Administrative operations share ordinary operations\' security',
    'Operations that look administrative (an `admin` path segment, tag or operationId) accept exactly the same security requirement as ordinary operations: nothing in the contract separates who may call them, so the service alone must get every function-level check right.',
    'Give administrative operations a distinct requirement: an OAuth scope (`admin:write`), a separate scheme, or a separate API, and enforce it at the gateway.',
    { spectral: ['owasp:api5:2023-admin-security-unique'] },
  ),

  // --- item 3: encryption (API8) -------------------------------------------------------------------------------------
  httpServer: rule(
    'tls.spec-http-server', 'high', 3, 'API8:2023',
    'Server without TLS',
    'A server URL uses `http://` (or Swagger 2.0 `schemes` lists `http`/`ws`): clients are told to send credentials and data in clear text that anyone on the path can read or change.',
    'Serve the API over HTTPS only (TLS 1.2 or later), list only `https://`/`wss://` servers, and send HSTS.',
    { helpUri: `${CHEATSHEETS}Transport_Layer_Security_Cheat_Sheet.html`, spectral: ['owasp:api8:2023-no-server-http', 'owasp:api8:2023-no-scheme-http'] },
  ),

  // --- item 4: input validation (API4, API3) -------------------------------------------------------------------------
  unboundedString: rule(
    'input.unbounded-string', 'low', 4, 'API4:2023',
    'String without a maximum length',
    'A string has no `maxLength`, `enum` or `const`, no bounded `format` (uuid, date, date-time, ipv4...) and no anchored `pattern` with bounded repetition: a contract validator lets through strings of any size, which costs memory and CPU downstream.',
    'Add `maxLength` (or an `enum`, a bounded `format`, or an anchored pattern such as `^[a-z0-9]{1,32}$`).',
    { spectral: ['owasp:api4:2023-string-limit'] },
  ),
  unboundedArray: rule(
    'input.unbounded-array', 'low', 4, 'API4:2023',
    'Array without a maximum number of items',
    'An array has no `maxItems`: a client can send (or make the service build) arrays of any length.',
    'Add `maxItems` to every array, and bound its items too.',
    { spectral: ['owasp:api4:2023-array-limit'] },
  ),
  unboundedInteger: rule(
    'input.unbounded-integer', 'low', 4, 'API4:2023',
    'Integer without minimum and maximum',
    'An integer lacks a lower or an upper bound (and an `enum`): values such as `limit=1000000` or `-1` reach the service, driving page sizes, loops or allocations (OWASP API4: "reducing unreasonable iterations"). A `format` such as int64 only says how the number is stored.',
    'Add `minimum` and `maximum` (and `format: int32`/`int64`).',
    { spectral: ['owasp:api4:2023-integer-limit', 'owasp:api4:2023-integer-limit-legacy', 'owasp:api4:2023-integer-format'] },
  ),
  openSchema: rule(
    'input.open-schema', 'medium', 4, 'API3:2023',
    'Object schema accepts undeclared properties',
    'An object schema sets `additionalProperties: true`, or a request body object lists its properties but does not close itself with `additionalProperties: false` (or `unevaluatedProperties: false` in 3.1). Undeclared properties pass validation and can reach the service\'s model (mass assignment) or leak from responses.',
    'Close request objects with `additionalProperties: false` (3.1: `unevaluatedProperties: false` when composing with `allOf`), and do not set `additionalProperties: true`.',
    { helpUri: `${CHEATSHEETS}Mass_Assignment_Cheat_Sheet.html`, spectral: ['owasp:api3:2023-no-additionalProperties'] },
  ),
  unboundedMap: rule(
    'input.unbounded-map', 'low', 4, 'API4:2023',
    'Map without a maximum number of properties',
    'An object takes arbitrary keys (`additionalProperties` is a schema) and has no `maxProperties`: a client can send any number of entries.',
    'Add `maxProperties` (and bound the keys with `propertyNames`).',
    { spectral: ['owasp:api3:2023-constrained-additionalProperties', 'owasp:api3:2023-no-additionalProperties'] },
  ),

  // --- item 5: rate limiting (API4) ----------------------------------------------------------------------------------
  undeclared429: rule(
    'rate-limit.spec-undeclared-429', 'low', 5, 'API4:2023',
    'Operation does not declare 429 Too Many Requests',
    'The operation lists no 429 response: clients are not told that they can be throttled or how to back off, and contract tests cannot check that rate limiting is in place.',
    'Declare a 429 response (RFC 6585 §4) with a `Retry-After` header on every operation, and enforce the limit (the gateway\'s `rate-limit` policy).',
    { helpUri: 'https://www.rfc-editor.org/rfc/rfc6585#section-4', spectral: ['owasp:api4:2023-rate-limit-responses-429'] },
  ),
  rateLimitUndocumented: rule(
    'rate-limit.spec-undocumented', 'medium', 5, 'API4:2023',
    'No rate limiting documented anywhere',
    'Nothing in the document mentions rate limits: no operation declares a 429 response and no response declares `RateLimit`/`X-RateLimit-*` headers. An API without limits can be exhausted, brute-forced or scraped by one client.',
    'Enforce per-client rate limits and document them: 429 responses with `Retry-After`, and `RateLimit`/`RateLimit-Policy` headers (IETF httpapi draft) on successful responses.',
    { helpUri: 'https://datatracker.ietf.org/doc/draft-ietf-httpapi-ratelimit-headers/', spectral: ['owasp:api4:2023-rate-limit'] },
  ),

  // --- item 7: error handling (API8) ---------------------------------------------------------------------------------
  undeclared401: rule(
    'errors.spec-undeclared-401', 'low', 7, 'API8:2023',
    'Operation does not declare 401 Unauthorized',
    'The operation needs credentials but lists no 401 (or 4XX) response: what an authentication failure returns is undocumented, and contract tests cannot check that it is a generic error.',
    'Declare 401 with a problem-details body (RFC 9457) and a `WWW-Authenticate` header.',
    { helpUri: 'https://www.rfc-editor.org/rfc/rfc9457', spectral: ['owasp:api8:2023-define-error-responses-401'] },
  ),
  undeclared403: rule(
    'errors.spec-undeclared-403', 'low', 7, 'API8:2023',
    'Operation does not declare 403 Forbidden',
    'The operation requires credentials, so some callers may be denied, yet it lists no 403 (or 4XX) response: the authorization failure is undocumented.',
    'Declare 403 with a generic problem-details body (RFC 9457).',
    { helpUri: 'https://www.rfc-editor.org/rfc/rfc9457' },
  ),
  undeclared5xx: rule(
    'errors.spec-undeclared-5xx', 'low', 7, 'API8:2023',
    'Operation does not declare server errors',
    'The operation lists no 5xx (nor `5XX` or `default`) response: what an internal failure returns is undocumented, so nothing checks that it is generic rather than a stack trace.',
    'Declare 500 (or `5XX`/`default`) with a generic problem-details body (RFC 9457).',
    { helpUri: 'https://www.rfc-editor.org/rfc/rfc9457', spectral: ['owasp:api8:2023-define-error-responses-500'] },
  ),

  // --- item 10: versioning and inventory (API9) -----------------------------------------------------------------------
  versionMissing: rule(
    'versioning.missing', 'low', 10, 'API9:2023',
    'API has no version',
    'No path, server URL or base path carries a version (`/v1`, `/2024-01-01`), and no version header, query parameter or media-type parameter is declared: changes cannot ship without breaking clients, and old and new behaviour cannot be told apart in an inventory.',
    'Version the API explicitly (a path prefix such as `/v1`, a version header or a media-type parameter) and keep an inventory of live versions.',
  ),
  serverAudience: rule(
    'inventory.spec-server-audience-undeclared', 'info', 10, 'API9:2023',
    'Server does not declare its audience',
    'The server entry does not say whether it is internal or public (`x-internal: true|false`), so documentation tools and inventories cannot tell which hosts are meant to be reachable from outside.',
    'Add `x-internal: true` or `x-internal: false` to every server, and describe its environment (production, staging).',
    { spectral: ['owasp:api9:2023-inventory-access'] },
  ),

  // --- item 14: documentation security (API9) -----------------------------------------------------------------------
  docsExposed: rule(
    'docs.spec-exposed', 'medium', 14, 'API9:2023',
    'API documentation served without authentication',
    'The document declares a documentation or API-console endpoint (`/swagger`, `/api-docs`, `/openapi.json`, `/redoc`, `/graphiql`...) with no security requirement, or a server that serves one: the map of every operation is public.',
    'Serve documentation only to authenticated users (or strip internal operations from the public copy).',
  ),
  internalOperations: rule(
    'docs.internal-operations-exposed', 'low', 14, 'API9:2023',
    'Internal operations in the published document',
    'Operations marked `x-internal: true` are part of this document: whoever receives it learns about endpoints that were never meant to be public.',
    'Publish a copy of the document without internal operations (most bundlers can filter `x-internal`), and protect the internal ones.',
  ),
  secretsInExamples: rule(
    'docs.secrets-in-examples', 'high', 14, 'API9:2023',
    'Secret in an example',
    'An example or default value looks like a real secret (a JWT, a private key, a cloud or payment provider key). Published documentation is read by everyone; a real credential in it is compromised.',
    'Replace the value with an obvious placeholder and revoke the credential if it was real.',
  ),

  // --- item 15: deprecation (API9) -----------------------------------------------------------------------------------
  noSunset: rule(
    'deprecation.spec-no-sunset', 'low', 15, 'API9:2023',
    'Deprecated operation without sunset information',
    'The operation is `deprecated: true` but neither says when it goes away (`x-sunset-date`, `x-sunset`, `x-deprecation-date`) nor declares a `Sunset` response header (RFC 8594): clients cannot plan the migration and the operation tends to live forever.',
    'Announce the date: declare `Deprecation` (RFC 9745) and `Sunset` (RFC 8594) response headers, and record it in the document (`x-sunset-date`).',
    { helpUri: 'https://www.rfc-editor.org/rfc/rfc8594' },
  ),

  // --- item 16: data exposure (API3) ---------------------------------------------------------------------------------
  sensitiveProperty: rule(
    'exposure.spec-sensitive-property', 'high', 16, 'API3:2023',
    'Response can carry a secret or sensitive personal data',
    'A response schema contains a property named like a password, secret, private key, card number, CVV, PIN or national identity number, and it is not `writeOnly`: the contract allows the API to return it.',
    'Mark such properties `writeOnly: true` (or remove them from response schemas) and make sure the service never returns them; the gateway\'s response minimization drops undeclared properties.',
  ),
  credentialInResponse: rule(
    'exposure.spec-credential-in-response', 'low', 16, 'API3:2023',
    'Response can carry a bearer credential',
    'A response schema contains a token or API-key property. That is right for the response that issues the credential, and a leak anywhere else (profiles, listings, logs).',
    'Return credentials only from the operations that issue them, once; mark the property `writeOnly` elsewhere or remove it.',
  ),

  // --- item 9: security testing -----------------------------------------------------------------------------------------
  specInvalid: rule(
    'spec.invalid', 'high', 9, 'API9:2023',
    'OpenAPI document cannot be read',
    'The document does not parse, has a `$ref` that cannot be resolved, or is not a valid Swagger 2.0 / OpenAPI 3.x document. Nothing in it can be audited, and gateways and validators cannot enforce it.',
    'Fix the errors listed in the finding\'s locations (each names the file, line and JSON pointer).',
  ),
});

export const ALL_STATIC_RULES: readonly RuleInfo[] = Object.freeze(Object.values(STATIC_RULES));

/**
 * Ids the checklist (src/checklist/items.ts `scannerChecks`) does not list yet, for the lead to add to the item each
 * rule names. The checklist test of this folder fails when one of these appears there (then remove it from here) or
 * when a rule id is in neither.
 */
export const STATIC_RULE_IDS_NOT_IN_CHECKLIST: readonly string[] = Object.freeze([]);
