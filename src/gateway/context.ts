/**
 * Per-request state. One object per request with every field initialised in the constructor, so V8 keeps a
 * single hidden class for it (a stable shape keeps the hot path monomorphic).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Principal, RequestContext } from '../policies/types.ts';
import type { CompiledRoute, Runtime } from './runtime.ts';
import type { Answerer } from '../observe/metrics.ts';
import type { RequestTrace } from '../observe/tracing.ts';

export class GatewayContext implements RequestContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly requestId: string;
  readonly method: string;
  path = '';
  query = '';
  readonly clientAddress: string;
  readonly peerAddress: string;
  readonly secure: boolean;
  /** Whether the TCP peer is a trusted proxy (its forwarding headers are believed). */
  readonly fromTrustedProxy: boolean;
  routeId = '-';
  route: CompiledRoute | undefined = undefined;
  params: Readonly<Record<string, string>> = EMPTY_PARAMS;
  /** The canonical path without the API version prefix (set only for routes whose prefix is stripped). */
  apiPath: string | undefined = undefined;
  /** The route (or its version) is deprecated: the call is counted per consumer when it finishes. */
  deprecated = false;
  principal: Principal | undefined = undefined;
  readonly responseHeaders: string[] = [];
  readonly locals: Record<string, unknown> = {};
  readonly runtime: Runtime;
  readonly startedAt: number;
  /** ms to the upstream's response headers, or -1. */
  upstreamMs = -1;
  bytesIn = 0;
  bytesOut = 0;
  /** Set when a problem was answered: the catalogue code, for the access log. */
  errorCode: string | undefined = undefined;
  /** Internal detail of the error, logged under the correlation id, never sent. */
  errorDetail: string | undefined = undefined;
  /** The policy step (or the pipeline) that refused the request, for the refusal metrics and the phase span. */
  answeredBy: Answerer | undefined = undefined;
  /** The request's spans, when tracing is configured (observability.tracing). */
  trace: RequestTrace | undefined = undefined;
  /** Set by the chunked-body limiter when the body exceeded the route's limit. */
  bodyTooLarge = false;
  /** Aborts the upstream attempt in flight (client went away). */
  abortUpstream: ((reason?: Error) => void) | undefined = undefined;
  /** The client's connection ended before the answer was complete: nothing more is sent upstream for it. */
  clientGone = false;

  constructor(
    req: IncomingMessage,
    res: ServerResponse,
    runtime: Runtime,
    requestId: string,
    clientAddress: string,
    peerAddress: string,
    secure: boolean,
    fromTrustedProxy: boolean,
    startedAt: number,
  ) {
    this.req = req;
    this.res = res;
    this.runtime = runtime;
    this.requestId = requestId;
    this.method = req.method ?? 'GET';
    this.clientAddress = clientAddress;
    this.peerAddress = peerAddress;
    this.secure = secure;
    this.fromTrustedProxy = fromTrustedProxy;
    this.startedAt = startedAt;
  }
}

const EMPTY_PARAMS: Readonly<Record<string, string>> = Object.freeze({});
