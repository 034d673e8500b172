/**
 * The OpenTelemetry SDK side of tracing.ts. Imported only by `createTracing` (dynamically), so a gateway without
 * `observability.tracing` never loads it.
 *
 * No global provider or context manager is registered: the gateway passes parent contexts explicitly, so two
 * gateways in one process (tests) or an application embedding Rampart keep their own tracing.
 *
 * Spans (semantic conventions for HTTP, https://opentelemetry.io/docs/specs/semconv/http/http-spans/):
 * - server span `METHOD /route/template`: http.request.method, url.scheme, url.path (the canonical path),
 *   http.route (the route's path template), http.response.status_code, rampart.route, rampart.request_id,
 *   rampart.error_code; status ERROR for 5xx only (a 4xx is the client's error, not the server's).
 * - one INTERNAL span per pipeline phase (edge, limit-address, authenticate, mfa, authorize, limit-principal,
 *   validate) with rampart.phase, and rampart.policy / rampart.error_code on the phase that refused the request.
 * - one CLIENT span per upstream attempt `METHOD`: server.address, server.port, url.full (without the query, which
 *   may carry personal data), http.request.resend_count on retries, http.response.status_code; ERROR from 400 up.
 * No client address, credential, header or body goes into a span.
 *
 * Sampling is the gateway's decision (`sampleRatio`, on the trace id): the `sampled` flag of an incoming
 * traceparent is not obeyed, so a client can neither switch tracing off for its requests nor make the gateway
 * record every one of them beyond the ratio. Export goes through a bounded queue (BatchSpanProcessor,
 * 2,048 spans): when the collector is slow or down, spans are dropped, never requests slowed or memory grown.
 */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, createTraceState, trace, type Context, type Span, type Tracer } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type ReadableSpan,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_REQUEST_RESEND_COUNT,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_SERVICE_NAME,
  ATTR_URL_FULL,
  ATTR_URL_PATH,
  ATTR_URL_SCHEME,
} from '@opentelemetry/semantic-conventions';
import type { IncomingMessage } from 'node:http';
import {
  formatTraceparent,
  incomingTraceContext,
  type FinishedRequest,
  type RequestTrace,
  type Tracing,
  type TracingConfig,
  type TracingLog,
  type UpstreamCall,
  type UpstreamSpan,
} from './tracing.ts';

/** An export failure is logged at most this often (a collector that is down would otherwise fill the log). */
const EXPORT_FAILURE_LOG_INTERVAL_MS = 60_000;

/** The OTLP/HTTP traces URL: the endpoint as given, or with `/v1/traces` when it has no path (OTLP spec §"OTLP/HTTP"). */
export function tracesUrl(endpoint: string): string {
  const url = new URL(endpoint);
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/v1/traces';
  return url.toString();
}

/** Passes spans to the OTLP exporter and logs (rate-limited) when an export fails: dropped spans are never silent. */
class LoggingExporter implements SpanExporter {
  readonly #inner: SpanExporter;
  readonly #log: TracingLog;
  readonly #endpoint: string;
  #lastLogged = -Infinity;
  #failures = 0;
  constructor(inner: SpanExporter, log: TracingLog, endpoint: string) {
    this.#inner = inner;
    this.#log = log;
    this.#endpoint = endpoint;
  }
  export(spans: ReadableSpan[], done: Parameters<SpanExporter['export']>[1]): void {
    this.#inner.export(spans, (result) => {
      if (result.code !== 0) {
        this.#failures += spans.length;
        const now = Date.now();
        if (now - this.#lastLogged >= EXPORT_FAILURE_LOG_INTERVAL_MS) {
          this.#lastLogged = now;
          this.#log.warn(
            { endpoint: this.#endpoint, droppedSpans: this.#failures, err: result.error?.message },
            'tracing: spans could not be exported to the OTLP collector',
          );
          this.#failures = 0;
        }
      }
      done(result);
    });
  }
  shutdown(): Promise<void> {
    return this.#inner.shutdown();
  }
  forceFlush(): Promise<void> {
    return this.#inner.forceFlush?.() ?? Promise.resolve();
  }
}

export class OtelTracing implements Tracing {
  readonly #provider: BasicTracerProvider;
  readonly #tracer: Tracer;
  readonly #propagate: boolean;

  constructor(config: TracingConfig, log: TracingLog) {
    const url = tracesUrl(config.endpoint);
    // JSON encoding (this package's), so what reaches the collector can be read by anyone debugging it.
    const exporter = new OTLPTraceExporter({ url, headers: { ...config.headers }, timeoutMillis: 10_000 });
    const ratio = new TraceIdRatioBasedSampler(config.sampleRatio);
    this.#provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: config.serviceName }),
      // Roots and remote parents: the ratio on the trace id, whatever the client's sampled flag says. Local
      // parents (the phase and upstream spans under the server span): follow it, so a trace is whole or absent.
      sampler: new ParentBasedSampler({ root: ratio, remoteParentSampled: ratio, remoteParentNotSampled: ratio }),
      spanProcessors: [
        new BatchSpanProcessor(new LoggingExporter(exporter, log, url), { maxQueueSize: 2048, maxExportBatchSize: 512, scheduledDelayMillis: 1000 }),
      ],
    });
    this.#tracer = this.#provider.getTracer('rampart');
    this.#propagate = config.propagateUpstream;
  }

  start(req: IncomingMessage, method: string, requestId: string, secure: boolean): RequestTrace {
    const incoming = incomingTraceContext(req.rawHeaders);
    const parent =
      incoming === undefined
        ? ROOT_CONTEXT
        : trace.setSpanContext(ROOT_CONTEXT, {
            traceId: incoming.parent.traceId,
            spanId: incoming.parent.spanId,
            traceFlags: incoming.parent.flags & 1,
            isRemote: true,
            ...(incoming.tracestate === undefined ? {} : { traceState: createTraceState(incoming.tracestate) }),
          });
    const span = this.#tracer.startSpan(
      method,
      { kind: SpanKind.SERVER, attributes: { [ATTR_HTTP_REQUEST_METHOD]: method, [ATTR_URL_SCHEME]: secure ? 'https' : 'http', 'rampart.request_id': requestId } },
      parent,
    );
    return new OtelRequestTrace(this.#tracer, span, method, this.#propagate, incoming?.tracestate);
  }

  flush(): Promise<void> {
    return this.#provider.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.#provider.shutdown();
  }
}

/** Host and port of upstream origins, parsed once each (origins come from config, so the map stays small). */
const ORIGINS = new Map<string, { readonly host: string; readonly port: number }>();

function originOf(origin: string): { readonly host: string; readonly port: number } {
  let parsed = ORIGINS.get(origin);
  if (parsed === undefined) {
    const url = new URL(origin);
    parsed = { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port) };
    if (ORIGINS.size < 10_000) ORIGINS.set(origin, parsed);
  }
  return parsed;
}

class OtelRequestTrace implements RequestTrace {
  readonly #tracer: Tracer;
  readonly #server: Span;
  readonly #context: Context;
  readonly #method: string;
  readonly #propagate: boolean;
  readonly #tracestate: string | undefined;
  #phase: string | undefined = undefined;
  #phaseSpan: Span | undefined = undefined;
  #upstream: OtelUpstreamSpan | undefined = undefined;
  #finished = false;

  constructor(tracer: Tracer, server: Span, method: string, propagate: boolean, tracestate: string | undefined) {
    this.#tracer = tracer;
    this.#server = server;
    this.#context = trace.setSpan(ROOT_CONTEXT, server);
    this.#method = method;
    this.#propagate = propagate;
    this.#tracestate = tracestate;
  }

  enterPhase(phase: string): void {
    if (phase === this.#phase || this.#finished) return;
    this.#phaseSpan?.end();
    this.#phase = phase;
    this.#phaseSpan = this.#tracer.startSpan(phase, { kind: SpanKind.INTERNAL, attributes: { 'rampart.phase': phase } }, this.#context);
  }

  endPhase(): void {
    this.#phaseSpan?.end();
    this.#phaseSpan = undefined;
    this.#phase = undefined;
  }

  startUpstream(call: UpstreamCall): UpstreamSpan {
    this.#upstream?.end('superseded');
    const target = originOf(call.origin);
    const span = this.#tracer.startSpan(
      call.method,
      {
        kind: SpanKind.CLIENT,
        attributes: {
          [ATTR_HTTP_REQUEST_METHOD]: call.method,
          [ATTR_SERVER_ADDRESS]: target.host,
          [ATTR_SERVER_PORT]: target.port,
          [ATTR_URL_FULL]: `${call.origin}${call.path}`,
          ...(call.attempt > 0 ? { [ATTR_HTTP_REQUEST_RESEND_COUNT]: call.attempt } : {}),
        },
      },
      this.#context,
    );
    const context = span.spanContext();
    const upstream = new OtelUpstreamSpan(
      span,
      this.#propagate ? formatTraceparent(context.traceId, context.spanId, context.traceFlags) : undefined,
      this.#propagate ? this.#tracestate : undefined,
    );
    this.#upstream = upstream;
    return upstream;
  }

  finish(request: FinishedRequest): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#upstream?.end('incomplete');
    const phaseSpan = this.#phaseSpan;
    if (phaseSpan !== undefined) {
      if (request.refusedBy !== undefined) phaseSpan.setAttribute('rampart.policy', request.refusedBy);
      if (request.errorCode !== undefined) phaseSpan.setAttribute('rampart.error_code', request.errorCode);
      phaseSpan.end();
      this.#phaseSpan = undefined;
    }
    const server = this.#server;
    server.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, request.status);
    if (request.path !== '') server.setAttribute(ATTR_URL_PATH, request.path);
    if (request.routeId !== '-') server.setAttribute('rampart.route', request.routeId);
    if (request.routeTemplate !== undefined) {
      server.setAttribute(ATTR_HTTP_ROUTE, request.routeTemplate);
      server.updateName(`${this.#method} ${request.routeTemplate}`);
    }
    if (request.errorCode !== undefined) server.setAttribute('rampart.error_code', request.errorCode);
    if (request.status >= 500) {
      server.setAttribute(ATTR_ERROR_TYPE, String(request.status));
      server.setStatus({ code: SpanStatusCode.ERROR });
    }
    server.end();
  }
}

class OtelUpstreamSpan implements UpstreamSpan {
  readonly traceparent: string | undefined;
  readonly tracestate: string | undefined;
  readonly #span: Span;
  #ended = false;
  constructor(span: Span, traceparent: string | undefined, tracestate: string | undefined) {
    this.#span = span;
    this.traceparent = traceparent;
    this.tracestate = tracestate;
  }
  status(code: number): void {
    this.#span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, code);
    if (code >= 400) {
      this.#span.setAttribute(ATTR_ERROR_TYPE, String(code));
      this.#span.setStatus({ code: SpanStatusCode.ERROR });
    }
  }
  end(error?: string): void {
    if (this.#ended) return;
    this.#ended = true;
    if (error !== undefined) {
      this.#span.setAttribute(ATTR_ERROR_TYPE, error);
      this.#span.setStatus({ code: SpanStatusCode.ERROR });
    }
    this.#span.end();
  }
}
