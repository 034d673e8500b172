/**
 * The one error catalogue (ARCHITECTURE.md "Errors"). Every error Rampart answers with is listed here:
 * a stable code, an HTTP status and a generic public title. Clients only ever see these titles
 * (RFC 9457 problem details); the specifics go to the log under the same correlation id.
 *
 * Codes are stable API: never rename one, only add.
 */
export const ERRORS = {
  RAMPART_ERR_BAD_REQUEST: { status: 400, title: 'Bad request' },
  RAMPART_ERR_AMBIGUOUS_PATH: { status: 400, title: 'Request path is not acceptable' },
  RAMPART_ERR_BAD_HEADER: { status: 400, title: 'Request header is not acceptable' },
  RAMPART_ERR_MALFORMED_REQUEST: { status: 400, title: 'Malformed request' },
  /** The request does not match the operation's OpenAPI contract (parameters or body); `contract` policy. */
  RAMPART_ERR_REQUEST_INVALID: { status: 400, title: 'Request does not match the API contract' },
  RAMPART_ERR_UNAUTHENTICATED: { status: 401, title: 'Authentication required' },
  RAMPART_ERR_INVALID_CREDENTIAL: { status: 401, title: 'Authentication required' },
  RAMPART_ERR_INSUFFICIENT_AUTHENTICATION: { status: 401, title: 'Stronger authentication required' },
  RAMPART_ERR_CREDENTIAL_CONFLICT: { status: 400, title: 'Bad request' },
  RAMPART_ERR_INSUFFICIENT_SCOPE: { status: 403, title: 'Forbidden' },
  RAMPART_ERR_AUTH_UNAVAILABLE: { status: 503, title: 'Service unavailable' },
  RAMPART_ERR_FORBIDDEN: { status: 403, title: 'Forbidden' },
  RAMPART_ERR_CORS_ORIGIN_DENIED: { status: 403, title: 'Cross-origin request not allowed' },
  RAMPART_ERR_CORS_PREFLIGHT_DENIED: { status: 403, title: 'Cross-origin request not allowed' },
  RAMPART_ERR_ADDRESS_DENIED: { status: 403, title: 'Forbidden' },
  RAMPART_ERR_ROUTE_NOT_FOUND: { status: 404, title: 'Not found' },
  RAMPART_ERR_METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed' },
  /** No media type the operation answers with is acceptable to the client (RFC 9110 §15.5.7). */
  RAMPART_ERR_NOT_ACCEPTABLE: { status: 406, title: 'Not acceptable' },
  RAMPART_ERR_REQUEST_TIMEOUT: { status: 408, title: 'Request timeout' },
  /** An `Expect` other than 100-continue (RFC 9110 §10.1.1). */
  RAMPART_ERR_EXPECTATION_FAILED: { status: 417, title: 'Expectation failed' },
  RAMPART_ERR_BODY_TOO_LARGE: { status: 413, title: 'Request body too large' },
  RAMPART_ERR_URI_TOO_LONG: { status: 414, title: 'Request URI too long' },
  RAMPART_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported media type' },
  RAMPART_ERR_RATE_LIMITED: { status: 429, title: 'Too many requests' },
  RAMPART_ERR_HEADERS_TOO_LARGE: { status: 431, title: 'Request headers too large' },
  RAMPART_ERR_INTERNAL: { status: 500, title: 'Internal error' },
  /** What Rampart does not do (RFC 9110 §15.6.2): a transfer coding other than chunked (RFC 9112 §6.1), CONNECT. */
  RAMPART_ERR_NOT_IMPLEMENTED: { status: 501, title: 'Not implemented' },
  /** A request line naming a major version other than HTTP/1 on an HTTP/1.1 listener (RFC 9110 §15.6.6). */
  RAMPART_ERR_HTTP_VERSION_NOT_SUPPORTED: { status: 505, title: 'HTTP version not supported' },
  RAMPART_ERR_UPSTREAM_INTERNAL: { status: 500, title: 'Internal error' },
  RAMPART_ERR_UPSTREAM_ERROR: { status: 502, title: 'Upstream error' },
  RAMPART_ERR_UPSTREAM_UNAVAILABLE: { status: 502, title: 'Upstream unavailable' },
  RAMPART_ERR_UPSTREAM_BAD_RESPONSE: { status: 502, title: 'Upstream error' },
  RAMPART_ERR_NO_HEALTHY_UPSTREAM: { status: 503, title: 'Service unavailable' },
  RAMPART_ERR_UPSTREAM_SERVICE_UNAVAILABLE: { status: 503, title: 'Service unavailable' },
  RAMPART_ERR_OVERLOADED: { status: 503, title: 'Service unavailable' },
  RAMPART_ERR_AUDIT_UNAVAILABLE: { status: 503, title: 'Service unavailable' },
  RAMPART_ERR_RATE_LIMIT_UNAVAILABLE: { status: 503, title: 'Service unavailable' },
  RAMPART_ERR_SHUTTING_DOWN: { status: 503, title: 'Service unavailable' },
  RAMPART_ERR_UPSTREAM_TIMEOUT: { status: 504, title: 'Upstream timeout' },
  RAMPART_ERR_HTTPS_REQUIRED: { status: 403, title: 'HTTPS required' },
  // API versions (checklist items 10 and 15): the answers list the supported versions and the migration link.
  RAMPART_ERR_VERSION_REQUIRED: { status: 400, title: 'API version required' },
  RAMPART_ERR_VERSION_INVALID: { status: 400, title: 'API version not acceptable' },
  RAMPART_ERR_VERSION_UNKNOWN: { status: 404, title: 'Unknown API version' },
  RAMPART_ERR_VERSION_GONE: { status: 410, title: 'API version retired' },
  RAMPART_ERR_VERSION_BROWNOUT: { status: 410, title: 'API version unavailable during a scheduled brownout' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof ERRORS;

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** `type` URI of a problem (RFC 9457 §3.1.1): a stable URN per code, dereferencing is not required. */
export function problemType(code: ErrorCode): string {
  return `urn:rampart:problem:${code.slice('RAMPART_ERR_'.length).toLowerCase().replaceAll('_', '-')}`;
}

/**
 * Pre-built JSON prefixes, one per code, so that answering a problem on the hot path is one string
 * concatenation with the correlation id. Only the id varies; it is generated by Rampart (hex or a
 * validated token from a trusted proxy), so it needs no escaping beyond JSON.stringify.
 */
const prefixes = new Map<ErrorCode, string>();
for (const code of Object.keys(ERRORS) as ErrorCode[]) {
  const { status, title } = ERRORS[code];
  prefixes.set(
    code,
    `{"type":${JSON.stringify(problemType(code))},"title":${JSON.stringify(title)},"status":${status},"code":"${code}","correlationId":`,
  );
}

/** The problem+json body for `code` with the correlation id (RFC 9457 §3; extension members `code`, `correlationId`). */
export function problemBody(code: ErrorCode, correlationId: string, extra?: Record<string, unknown>): string {
  let body = prefixes.get(code)! + JSON.stringify(correlationId);
  if (extra) {
    for (const [key, value] of Object.entries(extra)) {
      body += ',' + JSON.stringify(key) + ':' + JSON.stringify(value);
    }
  }
  return body + '}';
}

export function isErrorCode(value: string): value is ErrorCode {
  return Object.hasOwn(ERRORS, value);
}

/** An error carrying a catalogue code; thrown inside the gateway and answered as a problem. */
export class RampartError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Internal detail: logged, never sent to the client. */
  readonly detail: string | undefined;
  constructor(code: ErrorCode, detail?: string) {
    super(ERRORS[code].title);
    this.name = 'RampartError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.detail = detail;
  }
}
