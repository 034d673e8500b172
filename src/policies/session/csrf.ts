/**
 * CSRF defence for cookie-authenticated unsafe requests (OWASP CSRF Prevention Cheat Sheet), three layers:
 *
 * 1. SameSite (Strict by default) on the cookie: browsers do not attach it to cross-site requests at all.
 * 2. Origin check ("Verifying Origin with standard headers"): the `Origin` header, or the origin of `Referer` when
 *    Origin is absent, must be the request's own origin or a configured one. Neither present → refused (an unsafe
 *    request from a browser page always carries one of them; their absence means a stripped or forged request).
 *    `Origin: null` (sandboxed iframes, data: URLs, some redirects) is always refused.
 * 3. Synchronizer token: the token returned once at login must come back in a header; only its keyed hash is in
 *    the session record, compared in constant time. A cross-site page cannot read it (it is never in a cookie),
 *    and custom headers cannot be sent cross-origin without a CORS preflight.
 */
import type { IncomingMessage } from 'node:http';
import { parseUrl } from '../../text/url.ts';

/** RFC 9110 §9.2.1: GET, HEAD, OPTIONS and TRACE are safe; everything else changes state and is checked. */
const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

export function isUnsafeMethod(method: string): boolean {
  return !SAFE_METHODS.has(method);
}

/** The origin this request was addressed to: scheme from the listener (TLS or trusted proxy), host from Host. */
export function ownOrigin(req: IncomingMessage, secure: boolean): string | undefined {
  const host = req.headers.host;
  if (host === undefined || host.length === 0 || host.length > 255) return undefined;
  return `${secure ? 'https' : 'http'}://${host.toLowerCase()}`;
}

/** The origin of a Referer URL, lower case, or undefined when it is not an http(s) URL. */
function refererOrigin(referer: string): string | undefined {
  if (referer.length > 8192) return undefined;
  try {
    const url = parseUrl(referer);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
    return url.origin.toLowerCase();
  } catch {
    return undefined;
  }
}

/**
 * Undefined when the request's Origin (or Referer) is acceptable, otherwise the reason for the log.
 * `allowed` holds lower-case serialised origins besides the request's own.
 */
export function originRefusal(req: IncomingMessage, secure: boolean, allowed: ReadonlySet<string>): string | undefined {
  const originHeader = req.headers.origin;
  let origin: string | undefined;
  if (originHeader !== undefined) {
    // Node joins repeated Origin lines with ", ", which never equals an origin: refused below as foreign.
    if (originHeader === 'null') return 'Origin is null';
    origin = originHeader.toLowerCase();
  } else {
    const referer = req.headers.referer;
    if (referer === undefined) return 'neither Origin nor Referer';
    origin = refererOrigin(referer);
    if (origin === undefined) return 'Referer is not an http(s) URL';
  }
  if (origin === ownOrigin(req, secure) || allowed.has(origin)) return undefined;
  return `foreign origin ${origin.slice(0, 100)}`;
}
