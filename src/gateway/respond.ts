/**
 * Writing answers: problems (RFC 9457), the gateway's own direct replies, and the header hygiene every response
 * gets (hop-by-hop headers dropped per RFC 9110 §7.6.1, banner headers that fingerprint the upstream removed).
 */
import { validateHeaderName, validateHeaderValue, type ServerResponse } from 'node:http';
import type { Respond } from '../policies/types.ts';
import { ERRORS, PROBLEM_CONTENT_TYPE, problemBody, type ErrorCode } from '../errors/catalogue.ts';

/** RFC 9110 §7.6.1 hop-by-hop headers, plus the legacy `Proxy-*` family and `Keep-Alive` (RFC 2068). */
export const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/**
 * Response headers that reveal the upstream's software and version (OWASP API8:2023, "verbose banners");
 * removed from every upstream response.
 */
export const BANNER_HEADERS = new Set([
  'server',
  'x-powered-by',
  'x-aspnet-version',
  'x-aspnetmvc-version',
  'x-runtime',
  'x-generator',
  'x-drupal-cache',
  'x-drupal-dynamic-cache',
  'x-varnish',
  'x-backend-server',
  'x-server',
  'x-upstream',
  'x-envoy-upstream-service-time',
  'x-php-version',
  'x-turbo-charged-by',
  'x-mod-pagespeed',
  'x-page-speed',
  'x-sourcemap',
  'sourcemap',
]);

/**
 * Names listed in `Connection` are hop-by-hop for that message too (RFC 9110 §7.6.1), whichever of its Connection
 * lines lists them: pass the set of the lines before as `into` and the tokens are added to it (a message may repeat
 * the field, §5.3; taking only the last line let a header named in an earlier one through).
 */
export function connectionTokens(value: string | undefined, into?: Set<string>): Set<string> | undefined {
  if (!value) return into;
  // What nearly every message says: `keep-alive` names only a header already dropped as hop-by-hop, so no set.
  if (value.length === 10 && value.toLowerCase() === 'keep-alive') return into;
  const tokens = into ?? new Set<string>();
  for (const part of value.split(',')) {
    const token = part.trim().toLowerCase();
    if (token) tokens.add(token);
  }
  return tokens;
}

/**
 * Writes status and headers: `base` (flat [name, value, ...]) then the gateway's own `extra` list, which wins over
 * any same-named entry of `base`. The request id is always last.
 */
export function writeHead(res: ServerResponse, status: number, base: string[], extra: readonly string[], requestId: string): void {
  if (extra.length > 0) {
    for (let i = 0; i < extra.length; i += 2) {
      const name = extra[i]!;
      // Gateway headers override; `vary` is the exception: it is merged, since both sides may need it.
      if (name === 'vary') {
        const at = indexOfHeader(base, 'vary');
        if (at !== -1) {
          base[at + 1] = mergeVary(base[at + 1]!, extra[i + 1]!);
          continue;
        }
      } else {
        removeHeader(base, name);
      }
      base.push(name, extra[i + 1]!);
    }
  }
  base.push('x-request-id', requestId);
  try {
    res.writeHead(status, base);
  } catch (error) {
    // Node refuses a name that is not a token or a value with CR, LF, NUL or a character beyond Latin-1 (RFC 9110
    // §5.1, §5.5). Upstream headers are parsed by llhttp and config values are checked at load, so this is a value
    // that slipped through. Thrown here, inside undici's callbacks, it would end the process and every request in
    // flight: the headers Node refuses are dropped, the answer goes out, and the names are reported.
    const kept: string[] = [];
    const refused: string[] = [];
    for (let i = 0; i < base.length; i += 2) {
      if (acceptableHeader(base[i]!, base[i + 1]!)) kept.push(base[i]!, base[i + 1]!);
      else refused.push(base[i]!);
    }
    if (refused.length === 0) throw error;
    res.writeHead(status, kept);
    reportRefusedHeaders(refused, requestId);
  }
}

function acceptableHeader(name: string, value: string): boolean {
  try {
    validateHeaderName(name);
    validateHeaderValue(name, value);
    return true;
  } catch {
    return false;
  }
}

type RefusedHeadersReporter = (names: readonly string[], requestId: string) => void;

let reportRefusedHeaders: RefusedHeadersReporter = (names, requestId) => {
  console.error(JSON.stringify({ level: 'error', reqId: requestId, headers: names, msg: 'response headers Node refuses were dropped' }));
};

/** Where writeHead reports headers it had to drop (the gateway sets its logger; names only, never values). */
export function setRefusedHeadersReporter(reporter: RefusedHeadersReporter): void {
  reportRefusedHeaders = reporter;
}

function indexOfHeader(list: string[], name: string): number {
  for (let i = 0; i < list.length; i += 2) if (list[i] === name) return i;
  return -1;
}

function removeHeader(list: string[], name: string): void {
  for (let i = list.length - 2; i >= 0; i -= 2) if (list[i] === name) list.splice(i, 2);
}

function mergeVary(a: string, b: string): string {
  const seen = new Set(a.split(',').map((s) => s.trim().toLowerCase()));
  const extra = b.split(',').map((s) => s.trim()).filter((s) => s && !seen.has(s.toLowerCase()));
  return extra.length === 0 ? a : `${a}, ${extra.join(', ')}`;
}

/**
 * Answers with a problem from the catalogue. Only the code's generic title reaches the client; callers log
 * the detail under the same correlation id.
 */
export function sendProblem(
  res: ServerResponse,
  code: ErrorCode,
  requestId: string,
  extraHeaders: readonly string[] = [],
  headers?: Readonly<Record<string, string>>,
  closeConnection = false,
  extensions?: Readonly<Record<string, unknown>>,
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = problemBody(code, requestId, extensions as Record<string, unknown> | undefined);
  const base = ['content-type', PROBLEM_CONTENT_TYPE, 'content-length', String(Buffer.byteLength(body)), 'cache-control', 'no-store'];
  if (headers) for (const [name, value] of Object.entries(headers)) base.push(name.toLowerCase(), value);
  if (closeConnection) base.push('connection', 'close');
  writeHead(res, ERRORS[code].status, base, extraHeaders, requestId);
  res.end(res.req?.method === 'HEAD' ? undefined : body);
}

export function sendDirect(
  res: ServerResponse,
  status: number,
  requestId: string,
  extraHeaders: readonly string[],
  headers?: Readonly<Record<string, string>>,
  body?: string | Buffer,
): void {
  const base: string[] = [];
  if (headers) for (const [name, value] of Object.entries(headers)) base.push(name.toLowerCase(), value);
  base.push('content-length', String(body === undefined ? 0 : Buffer.byteLength(body)));
  writeHead(res, status, base, extraHeaders, requestId);
  res.end(body);
}

/** What `answerOutcome` needs of a request: its response, correlation id, gateway headers and error slots. */
export interface AnswerTarget {
  readonly res: ServerResponse;
  readonly requestId: string;
  readonly responseHeaders: readonly string[];
  errorCode: string | undefined;
  errorDetail: string | undefined;
}

/** Answers a policy's short-circuit (a problem from the catalogue, or a direct reply), noting the code for the log. */
export function answerOutcome(ctx: AnswerTarget, respond: Respond, closeConnection = false): void {
  if (respond.kind === 'direct') {
    sendDirect(ctx.res, respond.status, ctx.requestId, ctx.responseHeaders, respond.headers, respond.body);
    return;
  }
  ctx.errorCode = respond.code;
  ctx.errorDetail = respond.detail;
  sendProblem(ctx.res, respond.code, ctx.requestId, ctx.responseHeaders, respond.headers, closeConnection, respond.extensions);
}
