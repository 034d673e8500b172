/**
 * Forwarding to the upstream over undici connection pools, with bodies streamed both ways.
 *
 * The handler speaks undici's dispatch interface directly (onConnect/onHeaders/onData/onComplete/onError): it is
 * the interface undici's own `stream()` and `request()` are built on, so nothing is buffered or re-wrapped, and
 * backpressure from a slow client pauses the upstream socket.
 *
 * Retries (idempotent methods without a body only, within the retry budget) happen only when nothing reached
 * the upstream application (connection refused) or it answered 502/503 before any byte went to the client.
 */
import { Transform, type TransformCallback } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { GatewayContext } from './context.ts';
import type { CompiledRoute } from './runtime.ts';
import type { AttemptOutcome, UpstreamTarget } from './upstream/types.ts';
import { BANNER_HEADERS, HOP_BY_HOP, connectionTokens, sendProblem, writeHead } from './respond.ts';
import type { ErrorCode } from '../errors/catalogue.ts';
import type { UpstreamResponseView } from '../policies/types.ts';
import { bufferedBody, hasBody, releaseBody } from './body.ts';
import { deliverBuffered, flatten, headerObject, selectBodyHandlers } from './response-body.ts';
import type { ResponseBodyHandler } from './runtime.ts';
import type { UpstreamSpan } from '../observe/tracing.ts';

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/** Request headers a client may never set for the upstream (unless it is a trusted proxy, for the first group). */
const FORWARDING_HEADERS = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'forwarded', 'x-real-ip']);

/** Where the server puts the signed identity assertion for this request (forwardIdentity.as: jwt). */
export const IDENTITY_ASSERTION_KEY = 'rampart.identity-assertion';

/**
 * Puts the gateway's trace context in the upstream request instead of whatever the client sent (tracing with
 * propagateUpstream): every `traceparent` / `tracestate` line goes, one of each comes in (W3C Trace Context §3).
 */
export function replaceTraceHeaders(headers: string[], traceparent: string, tracestate: string | undefined): void {
  for (let i = headers.length - 2; i >= 0; i -= 2) {
    const name = headers[i]!;
    if (name === 'traceparent' || name === 'tracestate') headers.splice(i, 2);
  }
  headers.push('traceparent', traceparent);
  if (tracestate !== undefined) headers.push('tracestate', tracestate);
}

/** Upstream answers the gateway replaces, with the code each becomes (generic, status kept where it means something). */
function replacementFor(status: number): ErrorCode {
  if (status === 503) return 'RAMPART_ERR_UPSTREAM_SERVICE_UNAVAILABLE';
  if (status === 504) return 'RAMPART_ERR_UPSTREAM_TIMEOUT';
  if (status === 500) return 'RAMPART_ERR_UPSTREAM_INTERNAL';
  return 'RAMPART_ERR_UPSTREAM_ERROR';
}

/** Builds the upstream request headers in one pass over rawHeaders (Node's parsed object merges duplicates). */
export function upstreamRequestHeaders(
  ctx: GatewayContext,
  target: UpstreamTarget,
  preserveHost: boolean,
  secretHeaders?: ReadonlySet<string>,
  identityHeader?: string,
): string[] {
  const raw = ctx.req.rawHeaders;
  const out: string[] = [];
  let connection: Set<string> | undefined;
  let forwardedFor: string | undefined;
  let forwardedProto: string | undefined;
  let forwardedHost: string | undefined;
  let forwarded: string | undefined;
  let host: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (name === 'connection') {
      connection = connectionTokens(raw[i + 1], connection);
      continue;
    }
    if (name === 'host') {
      host = raw[i + 1];
      continue;
    }
    // `x-rampart-*` carries the authenticated identity to the upstream: only the gateway sets it (never appended to).
    if (HOP_BY_HOP.has(name) || name === 'x-request-id' || name === 'expect' || name.startsWith('x-rampart-') || name === identityHeader) continue;
    // Secret credentials (API keys) stop at the gateway: the upstream learns who called from x-rampart-*.
    if (secretHeaders !== undefined && secretHeaders.has(name)) continue;
    if (FORWARDING_HEADERS.has(name)) {
      if (ctx.fromTrustedProxy) {
        const value = raw[i + 1]!;
        if (name === 'x-forwarded-for') forwardedFor = forwardedFor ? `${forwardedFor}, ${value}` : value;
        else if (name === 'x-forwarded-proto') forwardedProto ??= value;
        else if (name === 'x-forwarded-host') forwardedHost ??= value;
        else if (name === 'forwarded') forwarded = forwarded ? `${forwarded}, ${value}` : value;
      }
      continue;
    }
    out.push(name, raw[i + 1]!);
  }
  if (connection !== undefined) {
    // Headers named by Connection are hop-by-hop for this message (RFC 9110 §7.6.1).
    for (let i = out.length - 2; i >= 0; i -= 2) if (connection.has(out[i]!)) out.splice(i, 2);
  }
  const proto = forwardedProto ?? (ctx.secure ? 'https' : 'http');
  const clientHost = forwardedHost ?? host ?? '';
  const peer = ctx.peerAddress;
  out.push('host', preserveHost && host ? host : target.hostHeader);
  out.push('x-forwarded-for', forwardedFor ? `${forwardedFor}, ${peer}` : peer);
  out.push('x-forwarded-proto', proto);
  if (clientHost) out.push('x-forwarded-host', clientHost);
  // RFC 7239: IPv6 addresses are bracketed and quoted; a host with a port is quoted.
  const node = peer.includes(':') ? `"[${peer}]"` : peer;
  const element = `for=${node};proto=${proto}${clientHost ? `;host="${clientHost.replace(/["\\]/g, '')}"` : ''}`;
  out.push('forwarded', forwarded ? `${forwarded}, ${element}` : element);
  out.push('x-request-id', ctx.requestId);
  const principal = ctx.principal;
  const assertion = ctx.locals[IDENTITY_ASSERTION_KEY] as string | undefined;
  if (assertion !== undefined && identityHeader !== undefined) {
    // The route asked for a gateway-signed JWT instead of x-rampart-* headers (forwardIdentity.as: jwt).
    out.push(identityHeader, assertion);
  } else if (principal !== undefined) {
    // Identity for the upstream (issue 3, item 8): always the gateway's values, whatever the client sent.
    out.push('x-rampart-subject', headerSafe(principal.subject), 'x-rampart-principal-kind', principal.kind, 'x-rampart-auth-method', principal.method);
    if (principal.roles.length > 0) out.push('x-rampart-roles', headerSafe(principal.roles.join(',')));
    if (principal.tenant !== undefined) out.push('x-rampart-tenant', headerSafe(principal.tenant));
    if (principal.amr !== undefined && principal.amr.length > 0) out.push('x-rampart-amr', headerSafe(principal.amr.join(',')));
  }
  return out;
}

/**
 * Identity values come from tokens and stores; authenticators refuse control characters, but non-ASCII names are
 * legitimate. Header values are bytes (RFC 9110 §5.5), so anything outside printable ASCII is percent-encoded
 * (UTF-8), which upstreams decode with any URL decoder.
 */
function headerSafe(value: string): string {
  return /^[\x20-\x7e]*$/.test(value) ? value : encodeURIComponent(value);
}

/** Counts request body bytes when there is no Content-Length (chunked), and stops at the route limit (413). */
class BodyLimiter extends Transform {
  #seen = 0;
  readonly #limit: number;
  readonly #ctx: GatewayContext;
  constructor(limit: number, ctx: GatewayContext) {
    super();
    this.#limit = limit;
    this.#ctx = ctx;
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#seen += chunk.length;
    this.#ctx.bytesIn = this.#seen;
    if (this.#seen > this.#limit) {
      this.#ctx.bodyTooLarge = true;
      callback(new Error('request body exceeds the route limit'));
      return;
    }
    callback(null, chunk);
  }
}

/**
 * True when a Transfer-Encoding value lists only `chunked`, the one transfer coding undici decodes (RFC 9112 §7;
 * coding names are case-insensitive). Read only for answers that carry the header; the usual exact `chunked` is
 * answered without splitting.
 */
function onlyChunked(value: string): boolean {
  if (value.length === 7 && value.toLowerCase() === 'chunked') return true;
  for (const coding of value.split(',')) {
    if (coding.trim().toLowerCase() !== 'chunked') return false;
  }
  return true;
}

/**
 * Interim (1xx) answers accepted before the final one. undici restarts the response (headers) timeout on each, so
 * without a bound an upstream sending 103 after 103 would hold the request, and a client connection, for ever. Real
 * servers send one or two (a 100, a 103); the bound keeps the wait below (MAX + 1) response timeouts.
 */
const MAX_INTERIM_ANSWERS = 8;

export type ProxyDone = (ctx: GatewayContext) => void;

class ProxyAttempt implements Dispatcher.DispatchHandler {
  readonly ctx: GatewayContext;
  readonly route: CompiledRoute;
  readonly target: UpstreamTarget;
  readonly attempt: number;
  readonly canRetry: boolean;
  readonly started: number;
  /** Consume the upstream answer silently: it will be replaced (5xx) or retried. */
  discarding = false;
  retryAfterDiscard = false;
  replaceWith: ErrorCode | undefined = undefined;
  responded = false;
  resume: (() => void) | undefined = undefined;
  done = false;
  /** Set when response-body policies must see this answer whole: it is buffered, not streamed. */
  readonly bodyHandlers: ResponseBodyHandler[] | undefined;
  buffered: { status: number; headers: string[]; chunks: Buffer[]; size: number } | undefined = undefined;
  responseTooLarge = false;
  /** Interim (1xx) answers seen so far (MAX_INTERIM_ANSWERS). */
  interimAnswers = 0;
  /** The attempt's client span, when tracing is on. */
  span: UpstreamSpan | undefined = undefined;

  constructor(
    ctx: GatewayContext,
    route: CompiledRoute,
    target: UpstreamTarget,
    attempt: number,
    canRetry: boolean,
    bodyHandlers: ResponseBodyHandler[] | undefined,
  ) {
    this.ctx = ctx;
    this.route = route;
    this.target = target;
    this.attempt = attempt;
    this.canRetry = canRetry;
    this.bodyHandlers = bodyHandlers;
    this.started = performance.now();
  }

  onConnect(abort: (err?: Error) => void): void {
    this.ctx.abortUpstream = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    const ctx = this.ctx;
    if (statusCode < 200) {
      // undici hands interim answers (RFC 9110 §15.2) to onHeaders before the final one (it refuses 100 itself).
      // Writing one as the client's head (writeHead(103)) made the final answer's writeHead throw and the client got
      // nothing. They are dropped, as the buffered path already did: §15.2 asks a proxy to forward them, which Node
      // cannot do for an arbitrary 1xx; the final answer is complete without them. A status below 100 is invalid
      // (§15: 100..599; writeHead throws on it) and a 101 nobody asked for is refused (§15.2.2): both fail as a bad
      // upstream answer (onError, 502).
      if (statusCode >= 100 && statusCode !== 101 && ++this.interimAnswers <= MAX_INTERIM_ANSWERS) return true;
      ctx.abortUpstream?.(new Error(statusCode >= 100 && statusCode !== 101 ? 'upstream sent too many interim answers' : `upstream status ${statusCode} is invalid`));
      return false;
    }
    ctx.upstreamMs = performance.now() - this.started;
    this.route.metrics.upstreamDuration.observe(ctx.upstreamMs / 1000);
    this.span?.status(statusCode);
    if (statusCode >= 500) {
      // Every 5xx answer counts, whether it is retried, replaced or passed on: it is the upstream failing.
      this.route.metrics.upstreamError('server-error');
      if ((statusCode === 502 || statusCode === 503) && this.mayRetry()) {
        this.discarding = true;
        this.retryAfterDiscard = true;
        return true;
      }
      if (this.route.replaceUpstream5xx) {
        this.discarding = true;
        this.replaceWith = replacementFor(statusCode);
        return true;
      }
    }
    const res = ctx.res;
    let connection: Set<string> | undefined;
    const headers: string[] = [];
    const bodiless = ctx.method === 'HEAD' || statusCode === 204 || statusCode === 304;
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i]!.toString('latin1').toLowerCase();
      // CORS is the gateway's job (checklist item 13): an upstream's own Access-Control-* headers never pass, so
      // what posture reports about a route's CORS is what browsers see.
      if (HOP_BY_HOP.has(name) || BANNER_HEADERS.has(name) || name === 'x-request-id' || name.startsWith('access-control-')) {
        if (name === 'connection') connection = connectionTokens(rawHeaders[i + 1]!.toString('latin1'), connection);
        else if (name === 'transfer-encoding' && !bodiless && !onlyChunked(rawHeaders[i + 1]!.toString('latin1'))) {
          // Transfer-Encoding is hop-by-hop and dropped here, and undici decodes only `chunked`: a body still in
          // another transfer coding (gzip, chunked / chunked, gzip, read to close per RFC 9112 §6.3) would reach the
          // client as if it were the representation itself. Refused (502) rather than corrupted (RFC 9112 §6.1, §7).
          ctx.abortUpstream?.(new Error('upstream transfer coding other than chunked'));
          return false;
        }
        continue;
      }
      headers.push(name, rawHeaders[i + 1]!.toString('latin1'));
    }
    if (connection !== undefined) {
      for (let i = headers.length - 2; i >= 0; i -= 2) if (connection.has(headers[i]!)) headers.splice(i, 2);
    }
    if (this.bodyHandlers !== undefined) {
      // Nothing reaches the client until the body policies have seen the whole answer (deliverBuffered).
      this.buffered = { status: statusCode, headers, chunks: [], size: 0 };
      this.resume = resume;
      return true;
    }
    const handlers = this.route.responseHandlers;
    let finalHeaders = headers;
    if (handlers.length > 0) finalHeaders = applyResponseHandlers(ctx, statusCode, headers, handlers);
    this.responded = true;
    writeHead(res, statusCode, finalHeaders, ctx.responseHeaders, ctx.requestId);
    this.resume = resume;
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.discarding) return true;
    if (this.ctx.res.destroyed) {
      // The client is gone: stop reading from the upstream (the close handler aborts it, this covers races).
      this.ctx.abortUpstream?.();
      return false;
    }
    const buffered = this.buffered;
    if (buffered !== undefined) {
      buffered.size += chunk.length;
      if (buffered.size > this.route.maxResponseBodyBytes) {
        // Fail closed: an answer too large to inspect is never passed on unchecked (onError answers 502).
        this.responseTooLarge = true;
        this.ctx.abortUpstream?.(new Error('upstream answer exceeds limits.maxResponseBodySize'));
        return false;
      }
      buffered.chunks.push(chunk);
      return true;
    }
    this.ctx.bytesOut += chunk.length;
    if (this.ctx.res.write(chunk)) return true;
    this.ctx.res.once('drain', this.resume!);
    return false;
  }

  onComplete(): void {
    if (this.done) return;
    this.done = true;
    this.span?.end();
    const ctx = this.ctx;
    if (this.retryAfterDiscard) {
      this.route.upstream.finish(this.target, 'server-error');
      retryOrFail(this, 'RAMPART_ERR_UPSTREAM_ERROR', 'upstream answered 502/503');
      return;
    }
    if (this.replaceWith !== undefined) {
      this.route.upstream.finish(this.target, 'server-error');
      ctx.errorCode = this.replaceWith;
      ctx.errorDetail = 'upstream 5xx body replaced';
      sendProblem(ctx.res, this.replaceWith, ctx.requestId, ctx.responseHeaders);
      return;
    }
    if (this.buffered !== undefined) {
      const target = this.target;
      const route = this.route;
      void deliverBuffered(ctx, route, this.buffered, this.bodyHandlers!).then((outcome) => {
        route.upstream.finish(target, outcome === 'success' ? 'success' : 'server-error');
      });
      return;
    }
    this.route.upstream.finish(this.target, 'success');
    ctx.res.end();
  }

  onError(err: Error): void {
    if (this.done) return;
    this.done = true;
    const ctx = this.ctx;
    const code = (err as NodeJS.ErrnoException).code ?? '';
    this.span?.end(code || err.name);
    if (this.responseTooLarge) {
      this.route.upstream.finish(this.target, 'success');
      ctx.errorCode = 'RAMPART_ERR_UPSTREAM_BAD_RESPONSE';
      ctx.errorDetail = `upstream answer larger than ${this.route.maxResponseBodyBytes} bytes could not be inspected`;
      sendProblem(ctx.res, 'RAMPART_ERR_UPSTREAM_BAD_RESPONSE', ctx.requestId, ctx.responseHeaders);
      return;
    }
    if (ctx.res.destroyed && !ctx.res.writableFinished && (code === 'UND_ERR_ABORTED' || err.name === 'AbortError')) {
      // The client went away; nothing to answer. Not the upstream's fault.
      this.route.upstream.finish(this.target, 'success');
      return;
    }
    if (ctx.bodyTooLarge) {
      this.route.upstream.finish(this.target, 'success');
      ctx.errorCode = 'RAMPART_ERR_BODY_TOO_LARGE';
      sendProblem(ctx.res, 'RAMPART_ERR_BODY_TOO_LARGE', ctx.requestId, ctx.responseHeaders, undefined, true);
      return;
    }
    let outcome: AttemptOutcome;
    let problem: ErrorCode;
    if (code === 'UND_ERR_CONNECT_TIMEOUT') {
      outcome = 'connect-error';
      problem = 'RAMPART_ERR_UPSTREAM_TIMEOUT';
    } else if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
      outcome = 'timeout';
      problem = 'RAMPART_ERR_UPSTREAM_TIMEOUT';
    } else if (
      code === 'ECONNREFUSED' ||
      code === 'ENOTFOUND' ||
      code === 'EAI_AGAIN' ||
      code === 'EHOSTUNREACH' ||
      code === 'ENETUNREACH' ||
      code === 'EADDRNOTAVAIL'
    ) {
      outcome = 'connect-error';
      problem = 'RAMPART_ERR_UPSTREAM_UNAVAILABLE';
    } else if (code === 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH' || code === 'ECONNABORTED' || code === 'ERR_STREAM_PREMATURE_CLOSE') {
      // The client's body ended early or the client aborted: not the upstream's fault.
      this.route.upstream.finish(this.target, 'success');
      ctx.errorCode = 'RAMPART_ERR_MALFORMED_REQUEST';
      ctx.errorDetail = `request body: ${code}`;
      sendProblem(ctx.res, 'RAMPART_ERR_MALFORMED_REQUEST', ctx.requestId, ctx.responseHeaders, undefined, true);
      return;
    } else {
      outcome = 'reset';
      problem = 'RAMPART_ERR_UPSTREAM_ERROR';
    }
    this.route.upstream.finish(this.target, outcome);
    this.route.metrics.upstreamError(outcome);
    if (this.responded || ctx.res.headersSent) {
      // Part of the answer is already on the wire: the only honest signal left is to cut the connection.
      ctx.errorCode = problem;
      ctx.errorDetail = `upstream ${code || err.message} mid-response`;
      ctx.res.destroy();
      return;
    }
    if (outcome === 'connect-error') {
      retryOrFail(this, problem, `upstream ${this.target.origin}: ${code || err.message}`);
      return;
    }
    ctx.errorCode = problem;
    ctx.errorDetail = `upstream ${this.target.origin}: ${code || err.message}`;
    sendProblem(ctx.res, problem, ctx.requestId, ctx.responseHeaders);
  }

  mayRetry(): boolean {
    return this.canRetry && this.attempt < this.route.retryAttempts && this.route.upstream.tryAcquireRetry();
  }
}

function retryOrFail(attempt: ProxyAttempt, problem: ErrorCode, detail: string): void {
  const ctx = attempt.ctx;
  const route = attempt.route;
  if (attempt.retryAfterDiscard || attempt.mayRetry()) {
    const next = route.upstream.pick(attempt.target) ?? null;
    if (next !== null && !ctx.res.destroyed) {
      dispatchAttempt(ctx, route, next, attempt.attempt + 1, attempt.canRetry, attempt.bodyHandlers);
      return;
    }
  }
  ctx.errorCode = problem;
  ctx.errorDetail = detail;
  sendProblem(ctx.res, problem, ctx.requestId, ctx.responseHeaders);
}

function applyResponseHandlers(
  ctx: GatewayContext,
  status: number,
  flat: string[],
  handlers: CompiledRoute['responseHandlers'],
): string[] {
  const headers = headerObject(flat);
  const view: UpstreamResponseView = { status, headers };
  for (const handler of handlers) handler(ctx, view);
  return flatten(headers);
}

function dispatchAttempt(
  ctx: GatewayContext,
  route: CompiledRoute,
  target: UpstreamTarget,
  attempt: number,
  canRetry: boolean,
  bodyHandlers: ResponseBodyHandler[] | undefined,
): void {
  const handler = new ProxyAttempt(ctx, route, target, attempt, canRetry, bodyHandlers);
  route.upstream.start(target);
  const query = route.secretQueryParams === undefined ? ctx.query : withoutParams(ctx.query, route.secretQueryParams);
  // One canonical path: the routed one, less the API version prefix when the version strips it.
  const routedPath = ctx.apiPath ?? ctx.path;
  const path = query === '' ? target.basePath + routedPath : `${target.basePath}${routedPath}?${query}`;
  const req = ctx.req;
  let body: Dispatcher.DispatchOptions['body'] = null;
  const headers = upstreamRequestHeaders(ctx, target, route.preserveHost, route.secretHeaders, route.identityAssertion?.header);
  const trace = ctx.trace;
  if (trace !== undefined) {
    const span = trace.startUpstream({ method: ctx.method, origin: target.origin, path: target.basePath + routedPath, attempt });
    handler.span = span;
    if (span.traceparent !== undefined) replaceTraceHeaders(headers, span.traceparent, span.tracestate);
  }
  if (bodyHandlers !== undefined) {
    // The answer will be inspected: ask for it unencoded (RFC 9110 §12.5.3); deliverBuffered still decodes
    // gzip/deflate/br from an upstream that ignores this.
    for (let i = headers.length - 2; i >= 0; i -= 2) if (headers[i] === 'accept-encoding') headers.splice(i, 2);
    headers.push('accept-encoding', 'identity');
  }
  // A policy that read the body (authorization, validation) consumed the stream: forward the bytes it kept,
  // which may also have been rewritten (properties stripped), with their own length.
  const buffered = bufferedBody(ctx);
  if (buffered !== undefined) {
    for (let i = headers.length - 2; i >= 0; i -= 2) if (headers[i] === 'content-length') headers.splice(i, 2);
    headers.push('content-length', String(buffered.length));
    body = buffered;
  } else if (hasBody(req.headers)) {
    releaseBody(ctx);
    body = req.headers['content-length'] === undefined ? req.pipe(new BodyLimiter(route.maxBodyBytes, ctx)) : req;
  }
  target.pool.dispatch({ path, method: ctx.method as Dispatcher.HttpMethod, headers, body }, handler);
}

/** The raw query without the named parameters (matched after percent-decoding the name), other bytes untouched. */
function withoutParams(query: string, names: ReadonlySet<string>): string {
  if (query === '') return query;
  return query
    .split('&')
    .filter((pair) => {
      const rawName = pair.split('=', 1)[0]!;
      let name: string;
      try {
        name = decodeURIComponent(rawName.replaceAll('+', ' '));
      } catch {
        return true;
      }
      return !names.has(name);
    })
    .join('&');
}

/** Forwards the request; the answer (upstream's or a problem) is written to ctx.res. */
export function forward(ctx: GatewayContext, route: CompiledRoute): void {
  route.upstream.noteRequest();
  const target = route.upstream.pick();
  if (target === null) {
    route.metrics.upstreamError('no-target');
    ctx.errorCode = 'RAMPART_ERR_NO_HEALTHY_UPSTREAM';
    ctx.errorDetail = 'every target is ejected, unhealthy or has an open circuit';
    sendProblem(ctx.res, 'RAMPART_ERR_NO_HEALTHY_UPSTREAM', ctx.requestId, ctx.responseHeaders);
    return;
  }
  const canRetry = route.retryAttempts > 0 && IDEMPOTENT.has(ctx.method) && !hasBody(ctx.req.headers);
  dispatchAttempt(ctx, route, target, 0, canRetry, selectBodyHandlers(ctx, route));
}
