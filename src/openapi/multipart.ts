/**
 * `multipart/form-data` (RFC 7578) bodies, parsed with @fastify/busboy (the maintained fork of busboy) from the bytes
 * the shared body reader already holds (so the proxy forwards exactly what was checked). Bounded: the number of
 * parts, the size of each part, header pairs per part and field-name length; a missing or malformed boundary is a
 * 400, a limit a 413. File contents are counted, never kept: validation sees a file part as an empty string of media
 * type `mediaType` (its schema is `format: binary`).
 *
 * Busboy silently skips parts it cannot use (no `name`, a bare line break in a name, headers beyond its limit). A part
 * the gateway skipped but the upstream reads would be a part nobody validated (a parser differential), so the parts
 * are also counted on the raw bytes, by their delimiters (RFC 2046 §5.1.1), and any difference is refused.
 *
 * Text parts are read as UTF-8, strictly, as the JSON and form readers read their bodies: busboy's own decoding
 * (by the part's `charset`, UTF-8 by default) puts U+FFFD in place of bytes that are not UTF-8, so the gateway would
 * validate text the upstream never receives. Busboy is therefore asked to hand every part over as bytes
 * (`isPartAFile`), and a text part whose bytes are not UTF-8 is marked `invalidUtf8` (the validator refuses it unless
 * the document declares that field binary). A `charset` parameter on a part does not change this: like a form body,
 * the text must be UTF-8. What busboy calls a file (a part with a filename, or of type `application/octet-stream`)
 * stays binary and is counted, not kept.
 */
import busboyModule, { type BusboyConfig } from '@fastify/busboy';
import { BodyError } from '../gateway/body.ts';

export interface MultipartLimits {
  readonly maxParts: number;
  readonly maxPartSize: number;
}

export interface MultipartPart {
  readonly file: boolean;
  /** Field text (UTF-8); '' for files. */
  readonly value: string;
  /** The part's media type, lower case without parameters ('' when absent). */
  readonly mediaType: string;
  /** Set on a text part whose bytes are not UTF-8 (`value` then holds them decoded with U+FFFD replacements). */
  readonly invalidUtf8?: true;
}

/** Shared: `decode()` without `stream` resets it. Fatal, so bytes that are not UTF-8 throw instead of becoming U+FFFD. */
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** RFC 7578 §4.8: part headers are few; a part with hundreds is hostile. */
const MAX_PART_HEADERS = 16;

export function parseMultipart(body: Buffer, contentType: string, limits: MultipartLimits): Promise<Map<string, MultipartPart[]>> {
  return new Promise((resolve, reject) => {
    const parts = new Map<string, MultipartPart[]>();
    let failed = false;
    const fail = (code: 'RAMPART_ERR_BAD_REQUEST' | 'RAMPART_ERR_BODY_TOO_LARGE', reason: string) => {
      if (failed) return;
      failed = true;
      reject(new BodyError(code, `multipart: ${reason}`));
    };
    const add = (name: string, part: MultipartPart) => {
      const list = parts.get(name);
      if (list) list.push(part);
      else parts.set(name, [part]);
    };
    let parser: ReturnType<typeof busboyModule.default>;
    try {
      const config: BusboyConfig = {
        headers: { 'content-type': contentType },
        limits: {
          parts: limits.maxParts,
          fields: limits.maxParts,
          files: limits.maxParts,
          fieldSize: limits.maxPartSize,
          fileSize: limits.maxPartSize,
          headerPairs: MAX_PART_HEADERS,
          fieldNameSize: 200,
        },
        // Every part as bytes (see the top): which ones are files is decided below, by busboy's own rule.
        isPartAFile: () => true,
      };
      // CommonJS interop: module.exports is the constructor and carries itself as `.default`.
      parser = busboyModule.default(config);
    } catch {
      // No boundary, or not multipart at all.
      fail('RAMPART_ERR_BAD_REQUEST', 'missing or invalid boundary');
      return;
    }
    parser.on('file', (name, stream, filename, _encoding, mimeType) => {
      const mediaType = bare(mimeType);
      // Busboy's default `isPartAFile`: a filename, or the generic binary type.
      const file = filename !== undefined || mediaType === 'application/octet-stream';
      stream.on('limit', () => fail('RAMPART_ERR_BODY_TOO_LARGE', `${file ? 'file' : 'field'} part over ${limits.maxPartSize} bytes`));
      stream.on('error', () => fail('RAMPART_ERR_BAD_REQUEST', `malformed ${file ? 'file' : 'field'} part`));
      if (file) {
        stream.resume();
        add(name, { file: true, value: '', mediaType });
        return;
      }
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      // Before busboy's 'finish' (it comes a tick after the last part's end), so every part is listed by then.
      stream.on('end', () => {
        if (failed) return;
        const bytes = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
        try {
          add(name, { file: false, value: UTF8.decode(bytes), mediaType });
        } catch {
          add(name, { file: false, value: bytes.toString('utf8'), mediaType, invalidUtf8: true });
        }
      });
    });
    parser.on('partsLimit', () => fail('RAMPART_ERR_BODY_TOO_LARGE', `more than ${limits.maxParts} parts`));
    parser.on('filesLimit', () => fail('RAMPART_ERR_BODY_TOO_LARGE', `more than ${limits.maxParts} parts`));
    parser.on('fieldsLimit', () => fail('RAMPART_ERR_BODY_TOO_LARGE', `more than ${limits.maxParts} parts`));
    parser.on('error', () => fail('RAMPART_ERR_BAD_REQUEST', 'malformed body'));
    parser.on('finish', () => {
      if (failed) return;
      let seen = 0;
      for (const list of parts.values()) seen += list.length;
      const delimited = countParts(body, contentType);
      if (delimited !== seen) fail('RAMPART_ERR_BAD_REQUEST', `${delimited} parts delimited, ${seen} readable`);
      else resolve(parts);
    });
    try {
      parser.end(body);
    } catch {
      fail('RAMPART_ERR_BAD_REQUEST', 'malformed body');
    }
  });
}

/** Parts of a multipart body counted by their delimiter lines (`--boundary` at the start or after CRLF, not `--boundary--`). */
function countParts(body: Buffer, contentType: string): number {
  const match = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const boundary = match?.[1] ?? match?.[2];
  if (!boundary) return -1;
  const delimiter = Buffer.from(`--${boundary}`);
  let count = 0;
  let at = body.subarray(0, delimiter.length).equals(delimiter) ? 0 : body.indexOf(Buffer.concat([Buffer.from('\r\n'), delimiter]));
  while (at !== -1) {
    const start = at === 0 && body[0] === 0x2d ? 0 : at + 2;
    const after = start + delimiter.length;
    if (body[after] === 0x2d && body[after + 1] === 0x2d) break; // close delimiter
    count++;
    at = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delimiter]), after);
  }
  return count;
}

function bare(type: string | undefined): string {
  if (!type) return '';
  const semi = type.indexOf(';');
  return (semi === -1 ? type : type.slice(0, semi)).trim().toLowerCase();
}
