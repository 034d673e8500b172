/**
 * The 16-point API security checklist as data.
 *
 * Gateway, scanner and posture report all read this one table, so the three never disagree about
 * what an item means, which policies enforce it, which scanner checks verify it from outside, and
 * which OWASP API Security Top 10 (2023) risks it addresses.
 *
 * Policy names are the kebab-case config keys of gateway policies (`src/policies/<name>/`); some are
 * not written yet. Scanner check ids are `<area>.<finding>`; the scanner registers checks under
 * exactly these ids. Both lists name what is planned, so posture can report "not enforced" for a
 * policy that is listed here but absent from a route.
 */

export type ChecklistItemId = 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10 | 11 | 12 | 13 | 14 | 15 | 16;

export type OwaspApi2023 =
  | 'API1:2023'
  | 'API2:2023'
  | 'API3:2023'
  | 'API4:2023'
  | 'API5:2023'
  | 'API6:2023'
  | 'API7:2023'
  | 'API8:2023'
  | 'API9:2023'
  | 'API10:2023';

export interface ChecklistPractice {
  readonly title: string;
  readonly description: string;
}

export interface ChecklistItem {
  readonly id: ChecklistItemId;
  /** Stable machine name (kebab-case), used in reports, SARIF rule ids and config acknowledgements. */
  readonly slug: string;
  readonly title: string;
  /** The checklist's own practice lines, in our words. */
  readonly practices: readonly ChecklistPractice[];
  /** What goes wrong without this control. */
  readonly risk: string;
  /** OWASP API Security Top 10 2023 risks this control addresses, primary first. */
  readonly owasp: readonly OwaspApi2023[];
  /** Gateway policies (config keys) that enforce the item. */
  readonly policies: readonly string[];
  /** Scanner check ids that verify the item from outside. */
  readonly scannerChecks: readonly string[];
  /** False only where no proxy can enforce the control (item 9: testing is the scanner's job). */
  readonly gatewayEnforceable: boolean;
}

const OWASP_BASE = 'https://owasp.org/API-Security/editions/2023/en/';

/** Official titles and pages of the OWASP API Security Top 10 2023 (slugs as published by OWASP/API-Security). */
export const OWASP_API_TOP10_2023: Readonly<Record<OwaspApi2023, { readonly title: string; readonly url: string }>> =
  Object.freeze({
    'API1:2023': Object.freeze({
      title: 'Broken Object Level Authorization',
      url: `${OWASP_BASE}0xa1-broken-object-level-authorization/`,
    }),
    'API2:2023': Object.freeze({ title: 'Broken Authentication', url: `${OWASP_BASE}0xa2-broken-authentication/` }),
    'API3:2023': Object.freeze({
      title: 'Broken Object Property Level Authorization',
      url: `${OWASP_BASE}0xa3-broken-object-property-level-authorization/`,
    }),
    'API4:2023': Object.freeze({
      title: 'Unrestricted Resource Consumption',
      url: `${OWASP_BASE}0xa4-unrestricted-resource-consumption/`,
    }),
    'API5:2023': Object.freeze({
      title: 'Broken Function Level Authorization',
      url: `${OWASP_BASE}0xa5-broken-function-level-authorization/`,
    }),
    'API6:2023': Object.freeze({
      title: 'Unrestricted Access to Sensitive Business Flows',
      url: `${OWASP_BASE}0xa6-unrestricted-access-to-sensitive-business-flows/`,
    }),
    'API7:2023': Object.freeze({
      title: 'Server Side Request Forgery',
      url: `${OWASP_BASE}0xa7-server-side-request-forgery/`,
    }),
    'API8:2023': Object.freeze({ title: 'Security Misconfiguration', url: `${OWASP_BASE}0xa8-security-misconfiguration/` }),
    'API9:2023': Object.freeze({
      title: 'Improper Inventory Management',
      url: `${OWASP_BASE}0xa9-improper-inventory-management/`,
    }),
    'API10:2023': Object.freeze({ title: 'Unsafe Consumption of APIs', url: `${OWASP_BASE}0xaa-unsafe-consumption-of-apis/` }),
  });

const ITEMS: ChecklistItem[] = [
  {
    id: 1,
    slug: 'authentication',
    title: 'Authentication',
    practices: [
      {
        title: 'Implement Strong Authentication Mechanisms',
        description:
          'Identify every caller with a proven scheme (OAuth 2.0 / OIDC bearer tokens, signed JWTs, hashed API keys, hardened sessions) and check the proof on every request.',
      },
      {
        title: 'Enforce Multi-Factor Authentication',
        description:
          'Require a second factor (TOTP, WebAuthn, or an upstream MFA claim) at least for privileged and sensitive operations, so a leaked password alone is not enough.',
      },
    ],
    risk: 'Missing or weak authentication lets anyone call the API as someone else; a single stolen credential without a second factor gives an attacker the victim’s full access.',
    // API2 is exactly this risk: weak credentials, unverified tokens, no second factor.
    owasp: ['API2:2023'],
    policies: ['jwt', 'oauth2-introspection', 'identity-token', 'api-key', 'mtls', 'session', 'mfa'],
    scannerChecks: [
      'auth.missing',
      'auth.invalid-token-accepted',
      'auth.jwt-alg-none',
      'auth.jwt-expired-accepted',
      'auth.credentials-in-query',
      'auth.mfa-missing-on-sensitive',
      'auth.spec-operation-without-security',
      'auth.spec-undefined-security-scheme',
      'auth.spec-http-basic',
      'auth.spec-insecure-http-scheme',
      'auth.spec-api-key-in-query',
      'auth.spec-api-key-in-cookie',
      'auth.spec-credentials-in-url',
      'auth.spec-oauth-deprecated-flow',
    ],
    gatewayEnforceable: true,
  },
  {
    id: 2,
    slug: 'authorization',
    title: 'Authorization',
    practices: [
      {
        title: 'Enforce Least Privilege',
        description:
          'Grant each principal only the data and actions its role needs, down to individual objects and properties.',
      },
      {
        title: 'Implement Role-Based Access Control',
        description:
          'Decide access with explicit roles and permissions (or attributes), checked per operation, instead of trusting the client to stay out of functions it should not use.',
      },
    ],
    risk: 'Without per-object and per-function checks an authenticated user can read or change other users’ records or reach administrative functions.',
    // API1: object-level (BOLA/IDOR); API5: function-level (user reaching admin operations);
    // API3: property-level (reading or writing fields the role may not touch, e.g. mass assignment).
    owasp: ['API1:2023', 'API5:2023', 'API3:2023'],
    policies: ['authorize'],
    scannerChecks: [
      'authz.bola',
      'authz.bfla-admin',
      'authz.mass-assignment',
      'authz.spec-writable-privileged-property',
      'authz.spec-admin-not-separated',
    ],
    gatewayEnforceable: true,
  },
  {
    id: 3,
    slug: 'encryption',
    title: 'Encryption',
    practices: [
      {
        title: 'Encrypt Data in Transit',
        description: 'Serve the API only over TLS (1.2 or later) and tell clients to keep doing so with HSTS.',
      },
      {
        title: 'Encrypt Sensitive Data at Rest',
        description:
          'Keep stored secrets (keys, TOTP seeds, upstream credentials) encrypted under keys that can be rotated, and store passwords and API keys only as hashes.',
      },
    ],
    risk: 'Plain-text traffic can be read or altered on the way; a stolen database with unencrypted secrets hands attackers working credentials.',
    // API8 names missing TLS explicitly; API2 names plain-text or weakly hashed credentials.
    owasp: ['API8:2023', 'API2:2023'],
    policies: ['mtls'],
    scannerChecks: [
      'tls.plain-http',
      'tls.weak-protocol',
      'tls.hsts-missing',
      'tls.spec-http-server',
      'tls.certificate-invalid',
    ],
    gatewayEnforceable: true,
  },
  {
    id: 4,
    slug: 'input-validation',
    title: 'Input Validation',
    practices: [
      {
        title: 'Sanitize and Validate Inputs',
        description:
          'Check every parameter and body against the API contract and screen for injection payloads (SQL, NoSQL, command, script) before they reach the service.',
      },
      {
        title: 'Validate Data Formats',
        description:
          'Accept only the declared content types, types, formats and sizes; reject unknown properties, oversized strings and arrays, and malformed documents.',
      },
    ],
    risk: 'Unchecked input lets attackers inject queries or scripts, set fields they should not, or crash the service with malformed or oversized data.',
    // The 2023 list dropped "Injection" (API8:2019) as a category of its own; its controls now sit in:
    // API8 (restrict incoming content types and formats; uniform request processing across the chain),
    // API4 (maximum lengths for strings and maximum sizes for arrays and payloads),
    // API3 (a closed schema rejects properties the client may not set: mass assignment),
    // API7 (user-supplied URLs must be validated before the service fetches them),
    // API10 (injection through data that was not validated before use).
    owasp: ['API8:2023', 'API4:2023', 'API3:2023', 'API7:2023', 'API10:2023'],
    policies: ['contract', 'screen'],
    scannerChecks: [
      'input.unbounded-string',
      'input.unbounded-array',
      'input.open-schema',
      'input.malformed-json-accepted',
      'input.wrong-content-type-accepted',
      'input.oversized-body-accepted',
      'input.injection-reflected',
      'input.unbounded-integer',
      'input.unbounded-map',
      'input.invalid-input-5xx',
      'input.sql-injection',
      'input.nosql-injection',
      'input.command-injection',
      'input.path-traversal',
      'input.ssrf',
    ],
    gatewayEnforceable: true,
  },
  {
    id: 5,
    slug: 'rate-limiting',
    title: 'Rate Limiting',
    practices: [
      {
        title: 'Implement Rate Limiting',
        description:
          'Bound how many requests each address, key or principal may make per time window, and tell clients the limits and when to retry.',
      },
    ],
    risk: 'Without limits one client can exhaust the service (denial of service), run up costs, brute-force credentials or automate a business flow at scale.',
    // API4: resource exhaustion; API6: automated abuse of business flows;
    // API2: brute force and credential stuffing against authentication.
    owasp: ['API4:2023', 'API6:2023', 'API2:2023'],
    policies: ['address-limit', 'rate-limit'],
    scannerChecks: [
      'rate-limit.missing',
      'rate-limit.headers-missing',
      'rate-limit.spec-undeclared-429',
      'rate-limit.spec-undocumented',
    ],
    gatewayEnforceable: true,
  },
  {
    id: 6,
    slug: 'logging-monitoring',
    title: 'Logging and Monitoring',
    practices: [
      {
        title: 'Log API Activity',
        description:
          'Record every request, authentication attempt and data access with a correlation id, in a store that cannot be silently rewritten.',
      },
      {
        title: 'Monitor for Anomalies',
        description:
          'Watch the event stream for attack patterns (brute force, credential stuffing, object-id enumeration, scraping, error spikes) and alert on them.',
      },
    ],
    risk: 'Without logs an incident cannot be traced; without monitoring an attack runs unnoticed for as long as the attacker likes.',
    // 2023 has no logging category (2019's API10 was dropped). Closest: API8 (logging features are part
    // of the hardened configuration), API6 (detecting automated business-flow abuse), API9 (access logs
    // show which hosts, versions and endpoints are really in use).
    owasp: ['API8:2023', 'API6:2023', 'API9:2023'],
    policies: ['audit'],
    scannerChecks: ['observe.request-id-missing'],
    gatewayEnforceable: true,
  },
  {
    id: 7,
    slug: 'error-handling',
    title: 'Error Handling',
    practices: [
      {
        title: 'Avoid Exposing Sensitive Information in Errors',
        description: 'Never return stack traces, internal paths, query text or software versions to clients.',
      },
      {
        title: 'Use Generic Error Messages',
        description:
          'Answer with a stable code and a generic message (RFC 9457 problem details) and keep the details in the log under the same correlation id.',
      },
    ],
    risk: 'Detailed errors show attackers the stack, libraries and internals they need to aim an attack.',
    // API8 lists "error messages include stack traces, or expose other sensitive information".
    owasp: ['API8:2023'],
    policies: ['errors'],
    scannerChecks: [
      'errors.stack-trace',
      'errors.verbose-5xx',
      'errors.not-problem-json',
      'errors.banner-headers',
      'errors.spec-undeclared-401',
      'errors.spec-undeclared-403',
      'errors.spec-undeclared-5xx',
      'errors.sql-error',
      'errors.internal-address',
    ],
    gatewayEnforceable: true,
  },
  {
    id: 8,
    slug: 'api-gateway',
    title: 'API Gateway',
    practices: [
      {
        title: 'Use an API Gateway',
        description:
          'Put every route behind one gateway that applies authentication, rate limiting, validation and monitoring the same way everywhere, deny by default.',
      },
    ],
    risk: 'Without one enforcement point each endpoint gets its own, uneven protection, and the one that was forgotten is the way in.',
    // API8: uniform processing across the HTTP chain and consistent hardening; API9: one inventory of
    // exposed routes; API4: limits applied centrally.
    owasp: ['API8:2023', 'API9:2023', 'API4:2023'],
    policies: ['gateway'],
    scannerChecks: [
      'gateway.path-ambiguity-accepted',
      'gateway.forwarded-header-trusted',
      'gateway.inconsistent-controls',
      'methods.trace-enabled',
      'methods.unexpected-accepted',
    ],
    gatewayEnforceable: true,
  },
  {
    id: 9,
    slug: 'security-testing',
    title: 'Security Testing',
    practices: [
      {
        title: 'Perform Regular Security Assessments',
        description: 'Test the API regularly: penetration tests, vulnerability scans and code review.',
      },
      {
        title: 'Automate Security Testing',
        description: 'Run security checks in the CI/CD pipeline and fail the build on new findings.',
      },
    ],
    risk: 'Untested APIs keep the weaknesses nobody looked for, and new ones ship unnoticed with each release.',
    // Testing is how any of the ten is found; API8 is primary because its prevention explicitly calls for
    // an automated process that continuously assesses the configuration.
    owasp: [
      'API8:2023',
      'API1:2023',
      'API2:2023',
      'API3:2023',
      'API4:2023',
      'API5:2023',
      'API6:2023',
      'API7:2023',
      'API9:2023',
      'API10:2023',
    ],
    policies: [],
    scannerChecks: [
      'spec.missing',
      'scan.baseline-regression',
      'spec.invalid',
    ],
    gatewayEnforceable: false,
  },
  {
    id: 10,
    slug: 'versioning',
    title: 'API Versioning',
    practices: [
      {
        title: 'Implement API Versioning',
        description:
          'Version the API explicitly (path, header or media type) so changes ship without breaking clients, and keep an inventory of which versions are live.',
      },
    ],
    risk: 'Unversioned changes break clients, and old versions that nobody tracks stay reachable with old weaknesses.',
    // API9: inventory of deployed versions, forgotten old versions.
    owasp: ['API9:2023'],
    policies: ['versioning'],
    scannerChecks: [
      'versioning.missing',
      'inventory.undocumented-endpoint',
      'inventory.old-version-live',
      'inventory.spec-server-audience-undeclared',
    ],
    gatewayEnforceable: true,
  },
  {
    id: 11,
    slug: 'session-management',
    title: 'Session Management',
    practices: [
      {
        title: 'Use Secure Session Tokens',
        description:
          'Generate session tokens from a CSPRNG, send them only over TLS in Secure, HttpOnly, SameSite cookies or Authorization headers, and never in URLs.',
      },
      {
        title: 'Set Token Expiration',
        description: 'Give sessions and tokens idle and absolute lifetimes, and make revocation effective immediately.',
      },
    ],
    risk: 'Guessable, leaked or never-expiring tokens let an attacker take over a session and act as the user for as long as the token lives.',
    // API2 covers weak token handling: unvalidated expiry, tokens in URLs, no revocation.
    owasp: ['API2:2023'],
    policies: ['session', 'jwt'],
    scannerChecks: [
      'session.cookie-insecure',
      'session.token-no-expiry',
      'session.token-in-url',
      'session.spec-long-lived-tokens',
    ],
    gatewayEnforceable: true,
  },
  {
    id: 12,
    slug: 'content-security-policy',
    title: 'Content Security Policy',
    practices: [
      {
        title: 'Set Strict CSP Headers',
        description:
          "Send a restrictive Content-Security-Policy (for a JSON API: default-src 'none'; frame-ancestors 'none') with the other security headers such as nosniff.",
      },
    ],
    risk: 'Without CSP and related headers a response that a browser renders can run injected script in the user’s session.',
    // API8: "security directives are not sent to clients"; its prevention asks for applicable security headers.
    owasp: ['API8:2023'],
    policies: ['security-headers'],
    scannerChecks: ['headers.csp-missing', 'headers.csp-weak', 'headers.nosniff-missing'],
    gatewayEnforceable: true,
  },
  {
    id: 13,
    slug: 'cors',
    title: 'CORS',
    practices: [
      {
        title: 'Implement Strict CORS Policies',
        description:
          'Allow only listed trusted origins, never reflect the Origin header or use a wildcard for credentialed requests, and never allow the null origin.',
      },
    ],
    risk: 'A permissive CORS policy lets any web page read the API’s responses with the visitor’s credentials and act on their behalf.',
    // API8 lists a missing or improperly set CORS policy.
    owasp: ['API8:2023'],
    policies: ['cors'],
    scannerChecks: ['cors.reflected-origin', 'cors.wildcard-with-credentials', 'cors.null-origin', 'cors.wildcard'],
    gatewayEnforceable: true,
  },
  {
    id: 14,
    slug: 'documentation',
    title: 'API Documentation Security',
    practices: [
      {
        title: 'Secure API Documentation',
        description:
          'Serve documentation only to authorized users and strip internal operations, debug endpoints and real secrets from it.',
      },
    ],
    risk: 'Open documentation hands attackers a map of every endpoint, including the internal ones that were never meant to be found.',
    // API9: documentation and inventory, exposed debug endpoints; API8: unprotected files in the stack.
    owasp: ['API9:2023', 'API8:2023'],
    policies: ['docs'],
    scannerChecks: [
      'docs.public',
      'docs.internal-operations-exposed',
      'docs.secrets-in-examples',
      'docs.spec-exposed',
    ],
    gatewayEnforceable: true,
  },
  {
    id: 15,
    slug: 'deprecation',
    title: 'Deprecation and Sunset Policy',
    practices: [
      {
        title: 'Communicate API Changes',
        description:
          'Announce deprecation in the responses themselves (Deprecation header, RFC 9745; Sunset header, RFC 8594) with a sunset period, and retire versions on schedule.',
      },
    ],
    risk: 'Clients that are never told keep using outdated versions, and versions that are never retired stay exposed with their old flaws.',
    // API9: deprecated API versions left running.
    owasp: ['API9:2023'],
    policies: ['deprecation', 'versioning'],
    scannerChecks: [
      'deprecation.headers-missing',
      'deprecation.past-sunset-live',
      'deprecation.spec-no-sunset',
    ],
    gatewayEnforceable: true,
  },
  {
    id: 16,
    slug: 'data-exposure',
    title: 'Data Exposure and Privacy',
    practices: [
      {
        title: 'Minimize Data Exposure',
        description:
          'Return only the properties the caller needs and is allowed to see; drop everything the contract does not declare (hashes, internal flags, other users’ data).',
      },
      {
        title: 'Comply with Data Privacy Regulations',
        description:
          'Handle personal data as GDPR and CCPA require: minimize it, keep it out of logs and caches, bound how long it is kept, and support access and erasure requests.',
      },
    ],
    risk: 'Responses that carry more than they should leak personal data and secrets; mishandled personal data brings legal penalties and lost trust.',
    // API3: excessive data exposure at property level; API8: missing cache-control directives leave
    // personal data in caches.
    owasp: ['API3:2023', 'API8:2023'],
    policies: ['contract', 'pii', 'authorize'],
    scannerChecks: [
      'exposure.sensitive-fields',
      'exposure.undocumented-fields',
      'exposure.pii-in-url',
      'privacy.cache-control-missing',
      'exposure.spec-sensitive-property',
      'exposure.spec-credential-in-response',
    ],
    gatewayEnforceable: true,
  },
];

function freezeItem(item: ChecklistItem): ChecklistItem {
  return Object.freeze({
    ...item,
    practices: Object.freeze(item.practices.map((practice) => Object.freeze({ ...practice }))),
    owasp: Object.freeze([...item.owasp]),
    policies: Object.freeze([...item.policies]),
    scannerChecks: Object.freeze([...item.scannerChecks]),
  });
}

/** The 16 items, in order 1..16, deeply frozen. */
export const CHECKLIST: readonly ChecklistItem[] = Object.freeze(ITEMS.map(freezeItem));

export function checklistItem(id: ChecklistItemId): ChecklistItem {
  const item = CHECKLIST[id - 1];
  // Guards against a caller that bypassed the type (e.g. a number from JSON cast to ChecklistItemId).
  if (item === undefined || item.id !== id) throw new RangeError(`unknown checklist item: ${String(id)}`);
  return item;
}
