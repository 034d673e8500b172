/**
 * Finding a bearer token in a request (RFC 6750 §2), shared by the `jwt` and `oauth2-introspection` policies.
 * Per-request code: no allocation on the common path (one `Authorization: Bearer` header, no query string).
 *
 * - The scheme is case-insensitive (RFC 9110 §11.1), so `bearer x` is accepted like `Bearer x`.
 * - Exactly one space separates scheme and token. RFC 6750 §2.1's grammar allows `1*SP`, but a token that starts
 *   with a space, or has anything after it, is treated as part of the token and so fails the token syntax: the
 *   request is refused rather than read in a way another parser (the upstream's) might not agree with.
 * - Node keeps only the first `Authorization` header in `req.headers` and drops the others, so duplicates are
 *   counted in `rawHeaders`: two of them are an invalid request (RFC 6750 §3.1), never "pick one".
 * - A token in the `access_token` query parameter (RFC 6750 §2.3) is found even when the parameter name is
 *   percent-encoded (`access%5Ftoken`), because the upstream would decode it.
 */
import type { IncomingMessage } from 'node:http';

/** `access_token` appears more than once in the query string. */
export const REPEATED_QUERY_TOKEN = Symbol('rampart.repeated-query-token');

/** How many `Authorization` header lines the client sent (Node merges or drops duplicates in `req.headers`). */
export function authorizationHeaderCount(rawHeaders: readonly string[]): number {
  let count = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length === 13 && (name === 'authorization' || name === 'Authorization' || name.toLowerCase() === 'authorization')) count++;
  }
  return count;
}

/**
 * The token of an `Authorization: Bearer <token>` value, '' for a bare `Bearer`, or undefined when the scheme is
 * not Bearer (then the header belongs to another authenticator, e.g. Basic).
 */
export function bearerToken(authorization: string): string | undefined {
  if (authorization.length < 6) return undefined;
  if (authorization.startsWith('Bearer ')) return authorization.slice(7);
  const scheme = authorization.slice(0, 6).toLowerCase();
  if (scheme !== 'bearer') return undefined;
  if (authorization.length === 6) return '';
  // `Bearerx` is another scheme's name; `Bearer\tx` is not the RFC 6750 form either, but clearly meant as a
  // bearer token: keep it so that it fails the token syntax check instead of slipping to another authenticator.
  const separator = authorization.charCodeAt(6);
  if (separator === 0x20) return authorization.slice(7);
  if (separator === 0x09) return authorization.slice(6);
  return undefined;
}

/**
 * The value of the `access_token` query parameter (form-decoded), undefined when absent, or
 * REPEATED_QUERY_TOKEN when it appears more than once. `query` is the raw query string without `?`.
 */
export function queryAccessToken(query: string): string | undefined | typeof REPEATED_QUERY_TOKEN {
  if (query === '') return undefined;
  // Cheap exit for the usual query string: the name can only hide behind percent-encoding.
  if (query.indexOf('access_token') === -1 && query.indexOf('%') === -1) return undefined;
  let found: string | undefined;
  for (const pair of query.split('&')) {
    const equals = pair.indexOf('=');
    const name = formDecode(equals === -1 ? pair : pair.slice(0, equals));
    if (name !== 'access_token') continue;
    if (found !== undefined) return REPEATED_QUERY_TOKEN;
    // An undecodable value is kept raw: it then fails the token syntax check and is refused.
    const raw = equals === -1 ? '' : pair.slice(equals + 1);
    found = formDecode(raw) ?? raw;
  }
  return found;
}

/** application/x-www-form-urlencoded decoding of one name or value; undefined when the percent-encoding is broken. */
function formDecode(text: string): string | undefined {
  if (text.indexOf('%') === -1 && text.indexOf('+') === -1) return text;
  try {
    return decodeURIComponent(text.replaceAll('+', ' '));
  } catch {
    return undefined;
  }
}

/**
 * Whether a bearer token is the jwt policy's to judge: it has the JWS compact serialization shape,
 * `header.payload.signature` (RFC 7515 §7.1, exactly two dots), or it starts like one (`eyJ` is base64url for
 * `{"`, the start of every JOSE header) and has a dot, so a JWT with junk appended is refused as a bad JWT
 * instead of being passed to an opaque-token authenticator. An empty token also counts as the jwt policy's to
 * refuse, so that the jwt and the opaque-token policies never both claim one request. Checked on the raw token;
 * its syntax is checked later.
 */
export function hasJwsShape(token: string): boolean {
  if (token === '') return true;
  const first = token.indexOf('.');
  if (first === -1) return false;
  const second = token.indexOf('.', first + 1);
  if (second !== -1 && token.indexOf('.', second + 1) === -1) return true;
  return token.startsWith('eyJ');
}

/** RFC 6750 §2.1 `b64token`: the syntax of any bearer token. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
export function isB64Token(token: string): boolean {
  return B64TOKEN.test(token);
}

/** A bearer token found only in the `access_token` query parameter (RFC 6750 §2.3). */
export class QueryBearer {
  constructor(readonly token: string) {}
}

/** The request presents its bearer credential more than once (RFC 6750 §3.1 `invalid_request`). */
export class BearerConflict {
  constructor(readonly reason: string) {}
}

const DUPLICATE_HEADER = new BearerConflict('more than one Authorization header');
const REPEATED_QUERY = new BearerConflict('access_token repeated in the query');
const HEADER_AND_QUERY = new BearerConflict('bearer token in both the Authorization header and the query');

/**
 * The one bearer token of a request: a string when it came in the Authorization header (the common case, no
 * allocation), a QueryBearer when it came only in the query, a BearerConflict when it came more than once, or
 * undefined when there is none. Two Authorization headers are a conflict whatever their schemes.
 */
export function readBearer(req: IncomingMessage, query: string): string | QueryBearer | BearerConflict | undefined {
  const header = req.headers.authorization;
  let token: string | undefined;
  if (header !== undefined) {
    if (authorizationHeaderCount(req.rawHeaders) > 1) return DUPLICATE_HEADER;
    token = bearerToken(header);
  }
  if (query === '') return token;
  const fromQuery = queryAccessToken(query);
  if (fromQuery === undefined) return token;
  if (fromQuery === REPEATED_QUERY_TOKEN) return REPEATED_QUERY;
  if (token !== undefined) return HEADER_AND_QUERY;
  return new QueryBearer(fromQuery);
}

/**
 * Whether the request presents a bearer credential that `isMine` claims, or presents one ambiguously (a conflict
 * is everyone's business): the `hasCredential` answer of every bearer policy.
 */
export function presentsBearer(req: IncomingMessage, query: string, isMine: (token: string) => boolean): boolean {
  const found = readBearer(req, query);
  if (found === undefined) return false;
  if (typeof found === 'string') return isMine(found);
  return found instanceof QueryBearer ? isMine(found.token) : true;
}

/**
 * The bearer token a policy should handle: the header token (returned unchecked: the caller checks ownership where
 * it is cheapest, e.g. after a cache hit), a query token only when `isMine` claims it and the policy allows query
 * tokens (otherwise a conflict: RFC 6750 §2.3, RFC 9700 §4.3.2), a BearerConflict for an ambiguous request, or
 * undefined when there is nothing for this policy. No allocation on the header path.
 */
export function chooseBearer(
  req: IncomingMessage,
  query: string,
  isMine: (token: string) => boolean,
  allowQueryToken: boolean,
): string | BearerConflict | undefined {
  const found = readBearer(req, query);
  if (found === undefined || typeof found === 'string' || found instanceof BearerConflict) return found;
  if (!isMine(found.token)) return undefined;
  return allowQueryToken ? found.token : QUERY_NOT_ALLOWED;
}

const QUERY_NOT_ALLOWED = new BearerConflict('token in the query string (allowQueryToken is off)');
