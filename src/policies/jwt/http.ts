/**
 * One bounded HTTP exchange with an identity provider (JWKS fetch, token introspection), over undici.
 * Bounded in time (one deadline for headers and body) and in size (the body is counted as it streams and the
 * request aborted past the limit), so a slow or hostile endpoint cannot hold a request or memory for long.
 * Redirects are not followed: a JWKS or introspection endpoint is configured exactly.
 */
import { request } from 'undici';

export interface BoundedRequest {
  readonly method: 'GET' | 'POST';
  readonly headers?: Record<string, string>;
  readonly body?: string;
  /** Deadline in milliseconds for the whole exchange. */
  readonly timeoutMs: number;
  readonly maxBytes: number;
  /** Aborts the exchange early (the owner is closing). */
  readonly signal?: AbortSignal;
}

export interface BoundedResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly body: string;
}

/** The exchange function; tests can inject their own. Rejects on network errors, timeouts and oversize bodies. */
export type HttpExchange = (url: string, init: BoundedRequest) => Promise<BoundedResponse>;

export class ResponseTooLargeError extends Error {
  constructor(limit: number) {
    super(`response body larger than ${limit} bytes`);
    this.name = 'ResponseTooLargeError';
  }
}

export const undiciExchange: HttpExchange = async (url, init) => {
  const deadline = AbortSignal.timeout(init.timeoutMs);
  const signal = init.signal ? AbortSignal.any([deadline, init.signal]) : deadline;
  const response = await request(url, {
    method: init.method,
    headers: init.headers,
    body: init.body,
    signal,
    headersTimeout: init.timeoutMs,
    bodyTimeout: init.timeoutMs,
  });
  const declared = Number(response.headers['content-length']);
  if (Number.isFinite(declared) && declared > init.maxBytes) {
    response.body.destroy();
    throw new ResponseTooLargeError(init.maxBytes);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response.body) {
    size += (chunk as Buffer).length;
    if (size > init.maxBytes) {
      response.body.destroy();
      throw new ResponseTooLargeError(init.maxBytes);
    }
    chunks.push(chunk as Buffer);
  }
  const headers: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(response.headers)) {
    headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return { status: response.statusCode, headers, body: Buffer.concat(chunks).toString('utf8') };
};

/** True for a URL whose host is a loopback address or `localhost` (where plain http is acceptable). */
export function isLoopbackUrl(url: URL): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host.endsWith('.localhost') || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Why a configured identity-provider URL is not acceptable (https, or http on loopback), or undefined. */
export function endpointUrlProblem(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `"${value}" is not a URL`;
  }
  if (url.username !== '' || url.password !== '') return 'must not carry credentials in the URL';
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:') {
    return isLoopbackUrl(url) ? undefined : 'must use https (plain http is only accepted for a loopback host); keys or token answers over http can be forged in transit';
  }
  return `scheme ${url.protocol} is not http(s)`;
}
