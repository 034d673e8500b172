/**
 * OpenTelemetry tracing, when `observability.tracing` is configured: one server span per request, a child span per
 * pipeline phase, a client span per upstream attempt, exported over OTLP/HTTP, with W3C Trace Context
 * (https://www.w3.org/TR/trace-context/) read from the client and written to the upstream.
 *
 * This module holds only what the gateway needs without the OpenTelemetry SDK: the interfaces the request path
 * calls, and the strict `traceparent` / `tracestate` parsers. The SDK lives in otel.ts and is imported dynamically
 * by `createTracing`, only when tracing is configured: a gateway without it never loads a byte of the SDK, starts no
 * span, and its request path pays one `undefined` check per request and per policy step.
 *
 * Without tracing, the client's `traceparent` / `tracestate` reach the upstream unchanged, like any other header.
 * With tracing and `propagateUpstream` (the default) the upstream gets the gateway's own: the trace id of the
 * request's trace and the id of the upstream client span as parent. With `propagateUpstream: false` the client's
 * headers pass unchanged and the gateway's spans stay in its own trace.
 */
import type { IncomingMessage } from 'node:http';

export interface TracingConfig {
  readonly exporter: 'otlp-http';
  /** The OTLP/HTTP traces URL; a URL without a path gets the standard `/v1/traces`. */
  readonly endpoint: string;
  /** Extra request headers for the collector (e.g. an API key). */
  readonly headers: Readonly<Record<string, string>>;
  readonly serviceName: string;
  /** Share of traces recorded, 0 to 1 (decided on the trace id, so every span of one trace agrees). */
  readonly sampleRatio: number;
  readonly propagateUpstream: boolean;
}

/** A parsed, valid `traceparent` (W3C Trace Context §3.2). */
export interface TraceParent {
  readonly traceId: string;
  readonly spanId: string;
  /** trace-flags; bit 0 is `sampled`. */
  readonly flags: number;
}

/** The incoming trace context the gateway continues, or undefined to start a new trace. */
export interface IncomingTraceContext {
  readonly parent: TraceParent;
  /** The validated `tracestate`, or undefined when absent or invalid (the parent still counts). */
  readonly tracestate: string | undefined;
}

const ALL_ZERO_TRACE_ID = '0'.repeat(32);
const ALL_ZERO_SPAN_ID = '0'.repeat(16);

/** Lowercase hex only: W3C §3.2.2 (the spec's ABNF is HEXDIGLC; uppercase is invalid, not normalised). */
function isLowerHex(value: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = value.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}

/**
 * Parses one `traceparent` value, strictly (W3C Trace Context §3.2, §4.3):
 * `version "-" trace-id "-" parent-id "-" trace-flags`, lowercase hex, 55 characters for version 00.
 * Invalid: version ff, a non-hex or uppercase digit, an all-zero trace id or parent id, a wrong field length,
 * anything after the flags for version 00. A higher version is read by its first four fields when what follows
 * starts with "-" (§4.3 "future versions"). Returns undefined for anything invalid: the caller starts a new trace.
 */
export function parseTraceparent(value: string): TraceParent | undefined {
  if (value.length < 55) return undefined;
  if (!isLowerHex(value, 0, 2)) return undefined;
  const version = value.slice(0, 2);
  if (version === 'ff') return undefined;
  if (version === '00' ? value.length !== 55 : value.length > 55 && value[55] !== '-') return undefined;
  if (value[2] !== '-' || value[35] !== '-' || value[52] !== '-') return undefined;
  if (!isLowerHex(value, 3, 35) || !isLowerHex(value, 36, 52) || !isLowerHex(value, 53, 55)) return undefined;
  const traceId = value.slice(3, 35);
  const spanId = value.slice(36, 52);
  if (traceId === ALL_ZERO_TRACE_ID || spanId === ALL_ZERO_SPAN_ID) return undefined;
  return { traceId, spanId, flags: parseInt(value.slice(53, 55), 16) };
}

/** W3C §3.3.1.3.1 keys: simple-key, or tenant-id "@" system-id. */
const TRACESTATE_KEY = /^(?:[a-z][a-z0-9_*/-]{0,255}|[a-z0-9][a-z0-9_*/-]{0,240}@[a-z][a-z0-9_*/-]{0,13})$/;
/** W3C §3.3.1.3.2 values: printable ASCII except "," and "=", no trailing space, at most 256 characters. */
const TRACESTATE_VALUE = /^[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;
/** At most 32 list-members (§3.3.1.1); propagating at least 512 characters is required (§3.3.1.5), more is not. */
const TRACESTATE_MAX_MEMBERS = 32;
const TRACESTATE_MAX_LENGTH = 512;

/**
 * The `tracestate` list from every `tracestate` header line (they combine, RFC 9110 §5.3), validated as a whole:
 * any invalid member, a repeated key, more than 32 members or more than 512 characters discards all of it
 * (W3C §3.3.1.1, "MUST discard the whole tracestate"). Empty members (",,") are allowed and dropped.
 */
export function parseTracestate(lines: readonly string[]): string | undefined {
  if (lines.length === 0) return undefined;
  const joined = lines.join(',');
  if (joined.length > TRACESTATE_MAX_LENGTH * 2) return undefined;
  const members: string[] = [];
  const keys = new Set<string>();
  for (const raw of joined.split(',')) {
    const member = raw.replace(/^[ \t]+|[ \t]+$/g, '');
    if (member === '') continue;
    const eq = member.indexOf('=');
    if (eq <= 0) return undefined;
    const key = member.slice(0, eq);
    if (!TRACESTATE_KEY.test(key) || !TRACESTATE_VALUE.test(member.slice(eq + 1)) || keys.has(key)) return undefined;
    keys.add(key);
    members.push(member);
    if (members.length > TRACESTATE_MAX_MEMBERS) return undefined;
  }
  if (members.length === 0) return undefined;
  const out = members.join(',');
  return out.length > TRACESTATE_MAX_LENGTH ? undefined : out;
}

/**
 * The trace context of a request, from its raw header lines. Exactly one `traceparent` line is honoured: two or
 * more (which Node would join with ", ") are ambiguous, so the request starts a new trace, as for an invalid one.
 * `tracestate` is read only when `traceparent` is valid (W3C §3.3: it is meaningless without it).
 */
export function incomingTraceContext(rawHeaders: readonly string[]): IncomingTraceContext | undefined {
  let traceparent: string | undefined;
  let count = 0;
  let tracestate: string[] | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length === 11 && name.toLowerCase() === 'traceparent') {
      traceparent = rawHeaders[i + 1];
      count++;
    } else if (name.length === 10 && name.toLowerCase() === 'tracestate') {
      (tracestate ??= []).push(rawHeaders[i + 1]!);
    }
  }
  if (count !== 1 || traceparent === undefined) return undefined;
  const parent = parseTraceparent(traceparent);
  if (parent === undefined) return undefined;
  return { parent, tracestate: tracestate === undefined ? undefined : parseTracestate(tracestate) };
}

/** The `traceparent` value (version 00) naming a span. */
export function formatTraceparent(traceId: string, spanId: string, flags: number): string {
  return `00-${traceId}-${spanId}-${(flags & 0xff).toString(16).padStart(2, '0')}`;
}

/** What the server span records when the request is over. */
export interface FinishedRequest {
  readonly status: number;
  /** The canonical path ('' when the request was refused before it was canonicalised). */
  readonly path: string;
  /** The route id, or '-' when no route matched. */
  readonly routeId: string;
  /** The route's path template (`match.path`), when a route matched. */
  readonly routeTemplate: string | undefined;
  readonly errorCode: string | undefined;
  /** The policy that refused the request, when one did. */
  readonly refusedBy: string | undefined;
}

export interface UpstreamCall {
  readonly method: string;
  /** `http(s)://host:port` of the target. */
  readonly origin: string;
  readonly path: string;
  /** 0 for the first attempt, n for the n-th retry. */
  readonly attempt: number;
}

/** The client span of one upstream attempt. */
export interface UpstreamSpan {
  /** The `traceparent` to send upstream, or undefined when the client's own must pass unchanged. */
  readonly traceparent: string | undefined;
  readonly tracestate: string | undefined;
  status(code: number): void;
  /** Ends the span; `error` names the failure (an error code), when there was one. */
  end(error?: string): void;
}

/** The spans of one request. */
export interface RequestTrace {
  /** Called before each policy step: opens a span for the step's phase when it differs from the open one. */
  enterPhase(phase: string): void;
  /** Ends the open phase span, if any (the pipeline let the request through). */
  endPhase(): void;
  startUpstream(call: UpstreamCall): UpstreamSpan;
  /** Ends every open span; the server span gets the outcome. Called once. */
  finish(request: FinishedRequest): void;
}

export interface Tracing {
  /** Starts the server span of a request (continuing the client's trace when its traceparent is valid). */
  start(req: IncomingMessage, method: string, requestId: string, secure: boolean): RequestTrace;
  /** Sends what is queued. */
  flush(): Promise<void>;
  /** Sends what is queued and stops the exporter. */
  shutdown(): Promise<void>;
}

export interface TracingLog {
  warn(fields: Record<string, unknown>, message: string): void;
}

/** The tracing of a config, or undefined without `observability.tracing` (the SDK is then never loaded). */
export async function createTracing(config: TracingConfig | undefined, log: TracingLog): Promise<Tracing | undefined> {
  if (config === undefined) return undefined;
  const { OtelTracing } = await import('./otel.ts');
  return new OtelTracing(config, log);
}

/** Reads `observability.tracing` of a validated config document (defaults filled in by the schema). */
export function tracingConfigOf(document: Readonly<Record<string, unknown>>): TracingConfig | undefined {
  const observability = document['observability'] as { tracing?: TracingConfig } | undefined;
  return observability?.tracing;
}
