/**
 * The hardened request-body reader (ARCHITECTURE.md: the body is read and parsed at most once, with size and
 * depth limits, duplicate and prototype keys refused). Gateway services and policies that need the body use this;
 * the result is kept on the context so a later reader gets the same bytes.
 *
 * Issue 5 extends it (multipart, streaming JSON validation); the contract stays: bounded, refuses ambiguity,
 * never throws anything but a BodyError.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { RequestContext } from '../policies/types.ts';
import type { ErrorCode } from '../errors/catalogue.ts';

export class BodyError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'BodyError';
    this.code = code;
  }
}

const BODY_KEY = 'rampart.body';
/** The bytes once read (or replaced): what the proxy forwards instead of the already consumed stream. */
const BODY_BYTES_KEY = 'rampart.body.bytes';
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Reads the whole body (at most `maxBytes`, 413 beyond), once per request. */
export function readBody(ctx: RequestContext, maxBytes: number): Promise<Buffer> {
  const cached = ctx.locals[BODY_KEY] as Promise<Buffer> | undefined;
  if (cached) return cached;
  const req = ctx.req;
  const declared = req.headers['content-length'];
  const promise = new Promise<Buffer>((resolve, reject) => {
    if (declared !== undefined && Number(declared) > maxBytes) {
      reject(new BodyError('RAMPART_ERR_BODY_TOO_LARGE', `content-length ${declared} > ${maxBytes}`));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        req.pause();
        reject(new BodyError('RAMPART_ERR_BODY_TOO_LARGE', `body over ${maxBytes} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      const bytes = Buffer.concat(chunks, size);
      ctx.locals[BODY_BYTES_KEY] = bytes;
      resolve(bytes);
    });
    req.on('error', () => reject(new BodyError('RAMPART_ERR_MALFORMED_REQUEST', 'request body stream failed')));
  });
  ctx.locals[BODY_KEY] = promise;
  return promise;
}

/**
 * Replaces the body the upstream will receive (e.g. after stripping properties a principal may not write). Later
 * readers and the proxy see the new bytes; the proxy sends them with their own Content-Length.
 */
export function replaceBody(ctx: RequestContext, bytes: Buffer): void {
  ctx.locals[BODY_KEY] = Promise.resolve(bytes);
  ctx.locals[BODY_BYTES_KEY] = bytes;
}

/** The body bytes when a policy has read (or replaced) them; undefined when the body still streams. */
export function bufferedBody(ctx: RequestContext): Buffer | undefined {
  return ctx.locals[BODY_BYTES_KEY] as Buffer | undefined;
}

function mediaType(ctx: RequestContext): string {
  return (ctx.req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

/**
 * `application/x-www-form-urlencoded` (e.g. OAuth 2.0 token requests). A repeated parameter is refused
 * (RFC 6749 §3.2: "Request and response parameters MUST NOT be included more than once").
 */
export async function readForm(ctx: RequestContext, maxBytes: number): Promise<Map<string, string>> {
  if (mediaType(ctx) !== 'application/x-www-form-urlencoded') {
    throw new BodyError('RAMPART_ERR_UNSUPPORTED_MEDIA_TYPE', 'expected application/x-www-form-urlencoded');
  }
  const text = decodeUtf8(await readBody(ctx, maxBytes));
  const out = new Map<string, string>();
  for (const [key, value] of new URLSearchParams(text)) {
    if (out.has(key)) throw new BodyError('RAMPART_ERR_BAD_REQUEST', `parameter "${key.slice(0, 64)}" repeated`);
    out.set(key, value);
  }
  return out;
}

/**
 * `application/json` with limits: depth, and no `__proto__`/`constructor`/`prototype` keys. Duplicate keys are
 * refused by a scan of the text before parsing (JSON.parse silently keeps the last one, which lets two
 * parsers disagree about what a body says).
 */
export async function readJson(ctx: RequestContext, maxBytes: number, maxDepth = 32): Promise<unknown> {
  const type = mediaType(ctx);
  if (type !== 'application/json' && !type.endsWith('+json')) {
    throw new BodyError('RAMPART_ERR_UNSUPPORTED_MEDIA_TYPE', 'expected application/json');
  }
  const bytes = await readBody(ctx, maxBytes);
  // RFC 8259 §8.1: JSON text carries no byte order mark. Parsers that skip one and parsers that refuse it would read
  // two different bodies (the gateway and the upstream must never disagree): refused.
  if (bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
    throw new BodyError('RAMPART_ERR_BAD_REQUEST', 'JSON body starts with a byte order mark');
  }
  return parseStrictJson(decodeUtf8(bytes), maxDepth);
}

/** One decoder for every body: `decode()` without `stream` resets it, so it is safe to share. */
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function decodeUtf8(buffer: Buffer): string {
  try {
    return UTF8.decode(buffer);
  } catch {
    throw new BodyError('RAMPART_ERR_BAD_REQUEST', 'body is not valid UTF-8');
  }
}

/** Parses JSON text, refusing duplicate keys, prototype keys and nesting deeper than `maxDepth`. */
export function parseStrictJson(text: string, maxDepth = 32): unknown {
  checkStructure(text, maxDepth);
  try {
    return JSON.parse(text);
  } catch {
    throw new BodyError('RAMPART_ERR_BAD_REQUEST', 'body is not valid JSON');
  }
}

/**
 * One pass over the text: tracks nesting, and for each object the set of keys seen. Strings are decoded
 * with JSON.parse of the quoted token so escaped forms (`"__pro\u0074o__"`) are caught too.
 */
function checkStructure(text: string, maxDepth: number): void {
  const stack: Array<Set<string> | null> = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let j = i + 1;
      let escaped = false;
      while (j < text.length) {
        const d = text.charCodeAt(j);
        if (d === 0x5c) {
          escaped = true;
          j += 2;
        } else if (d === 0x22) break;
        else j++;
      }
      const top = stack[stack.length - 1];
      if (expectKey && top) {
        let key: string;
        if (!escaped) {
          // Most keys have no escape: the characters between the quotes are the key (JSON.parse only for escapes).
          key = text.slice(i + 1, j);
        } else {
          try {
            key = JSON.parse(text.slice(i, j + 1)) as string;
          } catch {
            throw new BodyError('RAMPART_ERR_BAD_REQUEST', 'body is not valid JSON');
          }
        }
        if (FORBIDDEN_KEYS.has(key)) throw new BodyError('RAMPART_ERR_BAD_REQUEST', `forbidden key "${key}"`);
        if (top.has(key)) throw new BodyError('RAMPART_ERR_BAD_REQUEST', 'duplicate key in JSON object');
        top.add(key);
        expectKey = false;
      }
      i = j;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (stack.length >= maxDepth) throw new BodyError('RAMPART_ERR_BAD_REQUEST', `JSON nested deeper than ${maxDepth}`);
      stack.push(c === 0x7b ? new Set() : null);
      expectKey = c === 0x7b;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
      expectKey = false;
    } else if (c === 0x2c /* , */) {
      expectKey = stack[stack.length - 1] !== null && stack.length > 0;
    }
  }
}

/** Whether a request carries a body: a non-zero Content-Length, or Transfer-Encoding (RFC 9112 §6.3). */
export function hasBody(headers: IncomingHttpHeaders): boolean {
  const length = headers['content-length'];
  if (length !== undefined) return length !== '0';
  return headers['transfer-encoding'] !== undefined;
}
