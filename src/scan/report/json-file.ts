/**
 * Writes a JSON report to a file exactly as `JSON.stringify(value, null, 2) + '\n'` would, without ever holding the
 * whole text: a static audit of many documents reports tens of thousands of locations, and the report as one string
 * (then one UTF-8 buffer) would be the largest allocation of the whole run. The outer containers (the report object
 * and its arrays) are written member by member; each member is serialised with `JSON.stringify` and indented to its
 * depth, so every value is serialised by the same function as before and the bytes are the same.
 */
import { closeSync, openSync, writeSync } from 'node:fs';

const FLUSH_AT = 1 << 16;
const INDENT = '  ';

/**
 * @param streamedDepth containers less deep than this are written member by member (the report object is depth 0, its
 *   `findings` array depth 1), deeper ones with one `JSON.stringify` call each.
 */
export function writeJsonFile(file: string, value: unknown, streamedDepth: number): void {
  const fd = openSync(file, 'w');
  try {
    let pending = '';
    const write = (text: string) => {
      pending += text;
      if (pending.length >= FLUSH_AT) {
        writeSync(fd, pending);
        pending = '';
      }
    };
    if (!writeValue(value, 0, '', { streamedDepth, write })) throw new TypeError('the report is not JSON-serialisable');
    write('\n');
    if (pending.length > 0) writeSync(fd, pending);
  } finally {
    closeSync(fd);
  }
}

/** What JSON.stringify leaves out of an object (and writes as `null` in an array). */
function omitted(value: unknown): boolean {
  return value === undefined || typeof value === 'function' || typeof value === 'symbol';
}

function plainContainer(value: unknown): value is object {
  return value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON !== 'function';
}

interface Output {
  readonly streamedDepth: number;
  readonly write: (text: string) => void;
}

/** Writes `value` at `depth` (its first line already indented by the caller); false when JSON.stringify gives nothing. */
function writeValue(value: unknown, depth: number, indent: string, out: Output): boolean {
  const write = out.write;
  if (depth >= out.streamedDepth || !plainContainer(value)) {
    const text = JSON.stringify(value, null, 2) as string | undefined;
    if (text === undefined) return false;
    write(indent === '' ? text : text.replaceAll('\n', `\n${indent}`));
    return true;
  }
  const inner = indent + INDENT;
  if (Array.isArray(value)) {
    if (value.length === 0) {
      write('[]');
      return true;
    }
    write('[');
    value.forEach((item: unknown, i) => {
      write(`${i > 0 ? ',' : ''}\n${inner}`);
      if (omitted(item) || !writeValue(item, depth + 1, inner, out)) write('null');
    });
    write(`\n${indent}]`);
    return true;
  }
  const entries = Object.entries(value).filter(([, member]) => !omitted(member) && (plainContainer(member) || JSON.stringify(member) !== undefined));
  if (entries.length === 0) {
    write('{}');
    return true;
  }
  write('{');
  entries.forEach(([key, member], i) => {
    write(`${i > 0 ? ',' : ''}\n${inner}${JSON.stringify(key)}: `);
    writeValue(member, depth + 1, inner, out);
  });
  write(`\n${indent}}`);
  return true;
}
