/**
 * The response-body stage: when a policy must see the upstream's whole answer before the client gets any of it
 * (an ownership check on `response.body`, read rules, response minimization, PII masking), the proxy buffers the
 * answer here instead of streaming it, up to `limits.maxResponseBodySize`, and runs the policies' `onResponseBody`
 * handlers in phase order. Built once for every such policy, so the body is decoded and parsed once.
 *
 * Fail closed (OWASP API3:2023): an answer that is too large, carries an encoding the gateway cannot decode, or
 * makes a handler throw is replaced by a generic 502; it is never passed on unchecked. Requests no policy asked
 * about stream as before, with no buffering and no cost.
 */
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import type { GatewayContext } from './context.ts';
import type { CompiledRoute, ResponseBodyHandler } from './runtime.ts';
import { answerOutcome, writeHead } from './respond.ts';
import { parseStrictJson } from './body.ts';
import { NOT_RESPONSIBLE, PARSE_FAILED, type UpstreamBodyView } from '../policies/types.ts';

/** Headers that describe the exact bytes of a representation: wrong once the body was rewritten. */
const BYTE_BOUND_HEADERS = ['content-md5', 'content-digest', 'repr-digest', 'digest', 'content-range'];

/** Depth allowed in upstream JSON: generous (upstreams are trusted more than clients) but bounded. */
const MAX_RESPONSE_JSON_DEPTH = 128;

/** The body handlers that want this request's answer, or undefined when none does (the answer then streams). */
export function selectBodyHandlers(ctx: GatewayContext, route: CompiledRoute): ResponseBodyHandler[] | undefined {
  const all = route.bodyHandlers;
  if (all.length === 0) return undefined;
  let chosen: ResponseBodyHandler[] | undefined;
  for (const handler of all) {
    if (handler.wants === undefined || handler.wants(ctx)) (chosen ??= []).push(handler);
  }
  return chosen;
}

export class ResponseBodyError extends Error {
  override readonly name = 'ResponseBodyError';
}

/** Decodes `Content-Encoding` (RFC 9110 §8.4.1), bounded so a compression bomb cannot exhaust memory. */
export function decodeContentEncoding(raw: Buffer, encoding: string | undefined, maxBytes: number): Buffer {
  if (encoding === undefined) return raw;
  // Codings apply in the order listed; decode in reverse (RFC 9110 §8.4).
  const codings = encoding
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'identity');
  let out = raw;
  for (let i = codings.length - 1; i >= 0; i--) {
    const coding = codings[i]!;
    const options = { maxOutputLength: maxBytes };
    try {
      if (coding === 'gzip' || coding === 'x-gzip') out = gunzipSync(out, options);
      else if (coding === 'deflate') out = inflateSync(out, options);
      else if (coding === 'br') out = brotliDecompressSync(out, options);
      else throw new ResponseBodyError(`content-encoding ${coding} cannot be decoded for inspection`);
    } catch (err) {
      if (err instanceof ResponseBodyError) throw err;
      throw new ResponseBodyError(`content-encoding ${coding}: ${(err as Error).message}`);
    }
  }
  return out;
}

function isJsonMediaType(type: string): boolean {
  return type === 'application/json' || type.endsWith('+json');
}

function parseJsonBody(raw: Buffer): unknown {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(raw);
  } catch {
    return PARSE_FAILED;
  }
  try {
    return parseStrictJson(text, MAX_RESPONSE_JSON_DEPTH);
  } catch {
    return PARSE_FAILED;
  }
}

class BodyView implements UpstreamBodyView {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly mediaType: string;
  readonly raw: Buffer;
  #json: unknown;
  #parsed = false;
  changed = false;

  constructor(status: number, headers: Record<string, string | string[] | undefined>, raw: Buffer) {
    this.status = status;
    this.headers = headers;
    const contentType = headers['content-type'];
    this.mediaType = (typeof contentType === 'string' ? contentType : (contentType?.[0] ?? '')).split(';')[0]!.trim().toLowerCase();
    this.raw = raw;
  }

  /** Parsed on first read, so handlers that look only at the status or headers cost no parse. */
  get json(): unknown {
    if (!this.#parsed) {
      this.#parsed = true;
      this.#json = this.raw.length > 0 && isJsonMediaType(this.mediaType) ? parseJsonBody(this.raw) : undefined;
    }
    return this.#json;
  }

  setJson(value: unknown): void {
    this.#parsed = true;
    this.#json = value;
    this.changed = true;
  }
}

function headerObject(flat: readonly string[]): Record<string, string | string[] | undefined> {
  const headers: Record<string, string | string[] | undefined> = Object.create(null);
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i]!;
    const existing = headers[name];
    if (existing === undefined) headers[name] = flat[i + 1]!;
    else headers[name] = Array.isArray(existing) ? [...existing, flat[i + 1]!] : [existing, flat[i + 1]!];
  }
  return headers;
}

function flatten(headers: Record<string, string | string[] | undefined>): string[] {
  const out: string[] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) out.push(name, v);
    else out.push(name, value);
  }
  return out;
}

export interface BufferedAnswer {
  readonly status: number;
  /** Upstream headers after hop-by-hop, banner and CORS hygiene (flat, lower-case names). */
  readonly headers: string[];
  readonly chunks: Buffer[];
}

/**
 * Runs the body handlers on a complete buffered answer and writes what the client gets. Resolves to the outcome
 * for the upstream's bookkeeping: 'success' when the upstream's answer was usable (even if a policy refused it),
 * 'bad-response' when the gateway could not inspect it.
 */
export async function deliverBuffered(
  ctx: GatewayContext,
  route: CompiledRoute,
  answer: BufferedAnswer,
  handlers: readonly ResponseBodyHandler[],
): Promise<'success' | 'bad-response'> {
  const res = ctx.res;
  try {
    const headers = headerObject(answer.headers);
    const encoding = headers['content-encoding'];
    const decoded = decodeContentEncoding(
      answer.chunks.length === 1 ? answer.chunks[0]! : Buffer.concat(answer.chunks),
      Array.isArray(encoding) ? encoding.join(',') : encoding,
      route.maxResponseBodyBytes,
    );
    delete headers['content-encoding'];
    const view = new BodyView(answer.status, headers, decoded);
    for (const handler of route.responseHandlers) handler(ctx, view);
    for (const handler of handlers) {
      let outcome = handler.run(ctx, view);
      if (outcome instanceof Promise) outcome = await outcome;
      if (outcome === undefined || outcome === NOT_RESPONSIBLE) continue;
      if (res.destroyed) return 'success';
      answerOutcome(ctx, outcome);
      return 'success';
    }
    if (res.destroyed) return 'success';
    const body = view.changed ? Buffer.from(JSON.stringify(view.json)) : decoded;
    if (view.changed) {
      // A strong validator names exact bytes (RFC 9110 §8.8.1): the rewritten body gets a weak one, or none.
      const etag = headers.etag;
      if (typeof etag === 'string' && !etag.startsWith('W/')) headers.etag = `W/${etag}`;
      for (const name of BYTE_BOUND_HEADERS) delete headers[name];
    }
    const bodiless = ctx.method === 'HEAD' || answer.status === 204 || answer.status === 304;
    if (!bodiless) headers['content-length'] = String(body.length);
    writeHead(res, answer.status, flatten(headers), ctx.responseHeaders, ctx.requestId);
    ctx.bytesOut = bodiless ? 0 : body.length;
    res.end(bodiless ? undefined : body);
    return 'success';
  } catch (err) {
    ctx.errorDetail = `response body: ${(err as Error).message}`;
    if (!res.destroyed) answerOutcome(ctx, { kind: 'problem', code: 'RAMPART_ERR_UPSTREAM_BAD_RESPONSE', detail: ctx.errorDetail });
    return err instanceof ResponseBodyError ? 'bad-response' : 'success';
  }
}
