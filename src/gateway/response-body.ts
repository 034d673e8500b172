/**
 * The response-body stage: when a policy must see the upstream's whole answer before the client gets any of it
 * (an ownership check on `response.body`, read rules, response minimization, PII masking), the proxy buffers the
 * answer here instead of streaming it, up to `limits.maxResponseBodySize`, and runs the policies' `onResponseBody`
 * handlers in phase order. Built once for every such policy, so the body is decoded and parsed once.
 *
 * What the client gets: the upstream's bytes when no policy changed the answer; when the only change is members a
 * minimizer removed, the upstream's text with those members cut out (`spliceJson`: no second serialisation, and
 * every value kept keeps its exact bytes, int64s beyond 2^53 included); otherwise the changed value serialised.
 *
 * Fail closed (OWASP API3:2023): an answer that is too large, carries an encoding the gateway cannot decode, or
 * makes a handler throw is replaced by a generic 502; it is never passed on unchecked. Requests no policy asked
 * about stream as before, with no buffering and no cost.
 */
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import type { GatewayContext } from './context.ts';
import type { CompiledRoute, ResponseBodyHandler } from './runtime.ts';
import { answerOutcome, writeHead } from './respond.ts';
import { closingQuote, parseStrictJson, type JsonLayout } from './body.ts';
import { NOT_RESPONSIBLE, PARSE_FAILED, type UpstreamBodyView } from '../policies/types.ts';

/** Headers that describe the exact bytes of a representation: wrong once the body was rewritten. */
const BYTE_BOUND_HEADERS = ['content-md5', 'content-digest', 'repr-digest', 'digest', 'content-range'];

/** Depth allowed in upstream JSON: generous (upstreams are trusted more than clients) but bounded. */
export const MAX_RESPONSE_JSON_DEPTH = 128;

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

/**
 * Upstream answers: a leading byte order mark is dropped, as before (`ignoreBOM: false`); the body is forwarded as
 * received when nothing changes it. One shared decoder: `decode()` without `stream` resets it.
 */
const UPSTREAM_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/** A parsed answer with the text it came from and where its objects and arrays end (for `spliceJson`). */
interface ParsedAnswer {
  readonly value: unknown;
  readonly text: string;
  readonly layout: JsonLayout;
}

function decodeText(raw: Buffer): string | typeof PARSE_FAILED {
  try {
    return UPSTREAM_UTF8.decode(raw);
  } catch {
    return PARSE_FAILED;
  }
}

function parseJsonBody(text: string | typeof PARSE_FAILED): ParsedAnswer | typeof PARSE_FAILED {
  if (text === PARSE_FAILED) return PARSE_FAILED;
  const layout: JsonLayout = new Map();
  try {
    return { value: parseStrictJson(text, MAX_RESPONSE_JSON_DEPTH, layout), text, layout };
  } catch {
    return PARSE_FAILED;
  }
}

const QUOTE = 0x22;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;

/**
 * Writes `value`, the parse of `text` from which object members and trailing array elements were removed and nothing
 * else changed, by copying from `text` every part that did not change: objects and arrays not in `dirty` are copied
 * whole (their extent from `layout`), the dirty ones member by member, leaving out the members `value` no longer has.
 * Costs a fraction of JSON.stringify on a typical answer, and a conforming part keeps the upstream's exact bytes.
 * Returns undefined when the structure does not line up with that promise (a member added, an array shortened but
 * not emptied, an object where the text has an array): the caller then serialises the value whole. Scalars are not
 * compared: a value edited in place is the caller's to rule out (BodyView: one writer, the minimizer, or no splice).
 */
export function spliceJson(text: string, layout: JsonLayout, value: unknown, dirty: ReadonlySet<object>): string | undefined {
  if (value === null || typeof value !== 'object' || !dirty.has(value)) return undefined;
  const splice: Splice = { text, layout, dirty, parts: [] };
  return spliceContainer(splice, skipSpace(text, 0), value) ? splice.parts.join('') : undefined;
}

// Module-level functions rather than closures: spliceJson runs per response, and a closure per call costs more
// (allocation, and the name helper the TypeScript loader adds to every named function expression).
interface Splice {
  readonly text: string;
  readonly layout: JsonLayout;
  readonly dirty: ReadonlySet<object>;
  readonly parts: string[];
}

function skipSpace(text: string, at: number): number {
  for (;;) {
    const c = text.charCodeAt(at);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return at;
    at++;
  }
}

/** The index just after the value starting at `start`, or -1 when it is not one `layout` or the text can place. */
function valueEnd(text: string, layout: JsonLayout, start: number): number {
  const c = text.charCodeAt(start);
  if (c === OPEN_BRACE || c === OPEN_BRACKET) {
    const close = layout.get(start);
    return close === undefined ? -1 : close + 1;
  }
  if (c === QUOTE) {
    const end = closingQuote(text, start);
    return end < 0 ? -1 : end + 1;
  }
  // Numbers and literals end at the next delimiter.
  let at = start;
  for (;;) {
    const d = text.charCodeAt(at);
    if (d !== d || d === COMMA || d === CLOSE_BRACE || d === CLOSE_BRACKET || d === 0x20 || d === 0x0a || d === 0x0d || d === 0x09) return at === start ? -1 : at;
    at++;
  }
}

/** Writes the object or array opening at `open`, whose parsed value is `node`; false when they do not line up. */
function spliceContainer(splice: Splice, open: number, node: object): boolean {
  const { text, layout, dirty, parts } = splice;
  const close = layout.get(open);
  if (close === undefined) return false;
  if (!dirty.has(node)) {
    parts.push(text.slice(open, close + 1));
    return true;
  }
  const isObject = text.charCodeAt(open) === OPEN_BRACE;
  if (isObject === Array.isArray(node)) return false;
  parts.push(isObject ? '{' : '[');
  let written = 0;
  let index = 0;
  let at = skipSpace(text, open + 1);
  while (at < close) {
    const member = at;
    let key: string | number = index++;
    if (isObject) {
      const keyEnd = closingQuote(text, at);
      if (text.charCodeAt(at) !== QUOTE || keyEnd < 0 || keyEnd > close) return false;
      const spelled = text.slice(at + 1, keyEnd);
      key = spelled.includes('\\') ? (JSON.parse(text.slice(at, keyEnd + 1)) as string) : spelled;
      at = skipSpace(text, keyEnd + 1);
      if (text.charCodeAt(at) !== COLON) return false;
      at = skipSpace(text, at + 1);
    }
    const end = valueEnd(text, layout, at);
    if (end < 0 || end > close) return false;
    const kept = isObject ? Object.hasOwn(node, key) : (key as number) < (node as unknown[]).length;
    if (kept) {
      if (written++ > 0) parts.push(',');
      const child = (node as Record<string | number, unknown>)[key];
      if (child !== null && typeof child === 'object' && dirty.has(child)) {
        if (isObject) parts.push(text.slice(member, at));
        if (!spliceContainer(splice, at, child)) return false;
      } else parts.push(text.slice(member, end));
    }
    at = skipSpace(text, end);
    if (text.charCodeAt(at) === COMMA) at = skipSpace(text, at + 1);
  }
  // Everything the value still holds was written, nothing was added; an array is either whole (some elements
  // changed inside) or emptied, the only two things the minimizer does to one.
  if (isObject ? written !== Object.keys(node).length : written !== index && written !== 0) return false;
  parts.push(isObject ? '}' : ']');
  return true;
}

/**
 * The view body policies get. Serialising a rewritten answer: when the only writer was a minimizer that removed members
 * from the value this view parsed (`setMinimizedJson`), `spliceJson` copies the rest from the upstream's text;
 * otherwise (a policy masked values, replaced the body, or two policies wrote) the value is serialised whole.
 * Policies change the answer only through `setJson`/`setMinimizedJson`, never by editing `json` in place alone.
 */
class BodyView implements UpstreamBodyView {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly mediaType: string;
  readonly raw: Buffer;
  #json: unknown;
  #parsed: ParsedAnswer | undefined;
  #read = false;
  #writes = 0;
  #removedOnly: ReadonlySet<object> | undefined;
  /** The decoded upstream text (decoded once, whoever asks first). */
  #text: string | typeof PARSE_FAILED | undefined;
  /** A rewritten answer given as JSON text (`setJsonText`): sent as is, parsed only if a later policy reads `json`. */
  #textOut: string | undefined;
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
    if (!this.#read) {
      this.#read = true;
      const source = this.#textOut ?? (this.raw.length > 0 && isJsonMediaType(this.mediaType) ? this.#decoded() : undefined);
      const parsed = source === undefined ? undefined : parseJsonBody(source);
      if (parsed === PARSE_FAILED || parsed === undefined) this.#json = parsed;
      else {
        this.#parsed = parsed;
        this.#json = parsed.value;
      }
    }
    return this.#json;
  }

  #decoded(): string | typeof PARSE_FAILED {
    return (this.#text ??= decodeText(this.raw));
  }

  /**
   * The upstream's JSON text, decoded, for a policy that works on the text (minimize-text.ts) while nobody has read
   * or rewritten the answer yet; undefined otherwise (not JSON, empty, already parsed or changed).
   */
  jsonText(): string | typeof PARSE_FAILED | undefined {
    if (this.#read || this.#writes > 0 || this.raw.length === 0 || !isJsonMediaType(this.mediaType)) return undefined;
    return this.#decoded();
  }

  /** `text`: strict JSON (what the answer becomes). A later `json` read parses it; a later `setJson` replaces it. */
  setJsonText(text: string): void {
    this.#read = false;
    this.#json = undefined;
    this.#parsed = undefined;
    this.#textOut = text;
    this.changed = true;
    this.#writes++;
    this.#removedOnly = undefined;
  }

  setJson(value: unknown): void {
    this.#read = true;
    this.#json = value;
    this.#textOut = undefined;
    this.changed = true;
    this.#writes++;
    this.#removedOnly = undefined;
  }

  /** `value` is what `json` returned, with only members or trailing elements removed, inside the `dirty` containers. */
  setMinimizedJson(value: unknown, dirty: ReadonlySet<object>): void {
    const untouched = this.#writes === 0 && this.#parsed !== undefined && value === this.#parsed.value;
    this.setJson(value);
    if (untouched) this.#removedOnly = dirty;
  }

  /** The bytes of the rewritten answer. */
  serialise(): Buffer {
    if (this.#textOut !== undefined) return Buffer.from(this.#textOut);
    const parsed = this.#parsed;
    if (this.#removedOnly !== undefined && this.#writes === 1 && parsed !== undefined) {
      const spliced = spliceJson(parsed.text, parsed.layout, this.#json, this.#removedOnly);
      if (spliced !== undefined) return Buffer.from(spliced);
    }
    return Buffer.from(JSON.stringify(this.#json));
  }
}

/**
 * For a policy that only removed members from `view.json` (response minimization): lets the gateway write the answer
 * by copying the unchanged parts of the upstream's text instead of serialising the whole value (`spliceJson`).
 * `dirty`: the objects and arrays whose content changed, directly or below (Minimizer's `MinimizeResult.dirty`).
 */
export function setMinimizedJson(view: UpstreamBodyView, value: unknown, dirty: ReadonlySet<object>): void {
  if (view instanceof BodyView) view.setMinimizedJson(value, dirty);
  else view.setJson(value);
}

/** The decoded JSON text of an answer nobody parsed or rewrote yet (`BodyView.jsonText`); undefined otherwise. */
export function jsonTextOf(view: UpstreamBodyView): string | typeof PARSE_FAILED | undefined {
  return view instanceof BodyView ? view.jsonText() : undefined;
}

/** Replaces the answer with strict JSON text (e.g. minimized by minimize-text.ts), sent as is. */
export function setJsonText(view: UpstreamBodyView, text: string): void {
  if (view instanceof BodyView) view.setJsonText(text);
  else view.setJson(JSON.parse(text));
}

/**
 * Flat header pairs (lower-case names) as the object a policy's `onResponse` / `onResponseBody` sees: a repeated
 * header becomes an array. Appended in place: copying the array for each repeat cost quadratic work on an upstream
 * answer repeating one header thousands of times (within undici's 16 KB header limit: about 0.6 s).
 */
export function headerObject(flat: readonly string[]): Record<string, string | string[] | undefined> {
  const headers: Record<string, string | string[] | undefined> = Object.create(null);
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i]!;
    const existing = headers[name];
    if (existing === undefined) headers[name] = flat[i + 1]!;
    else if (Array.isArray(existing)) existing.push(flat[i + 1]!);
    else headers[name] = [existing, flat[i + 1]!];
  }
  return headers;
}

/** The header object back to flat pairs, in its order; entries a policy set to undefined are gone. */
export function flatten(headers: Record<string, string | string[] | undefined>): string[] {
  const out: string[] = [];
  // for-in over the null-prototype header object: no entry arrays per header, nothing inherited to skip.
  for (const name in headers) {
    const value = headers[name];
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
    const body = view.changed ? view.serialise() : decoded;
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
