/**
 * Response minimization on the JSON text itself (issue 5 item 4, checklist item 16; OWASP API3:2023): one pass over
 * the upstream's answer that checks it is strict JSON and cuts out the members the response schema does not declare,
 * without building the value. Same decisions as `Minimizer.minimize` (minimize.ts), same refusals as the hardened
 * reader (gateway/body.ts `parseStrictJson`: RFC 8259 grammar, nesting depth, duplicate names, `__proto__` /
 * `constructor` / `prototype` names), at a fraction of the cost of JSON.parse + the structure scan + the walk +
 * re-serialising: the gateway does this on every answer of a contract route, so it is on the hot path.
 *
 * It needs plans known before an object's members are read; a schema whose plan depends on the object (`oneOf` /
 * `anyOf`, a discriminator) makes it give up (`'dynamic'`), and the caller minimizes the parsed value instead.
 * Everything kept keeps the upstream's exact bytes (int64s beyond 2^53 included). The output is the one `spliceJson`
 * (gateway/response-body.ts) writes for the same removals: a container that changed, or holds one that did, loses
 * the whitespace between its members (they are written joined by commas); every other container is copied as is.
 */
import type { SchemaAt } from './model.ts';
import type { Located } from './pointer.ts';
import { State, itemSchemas, type Minimizer, type MinimizeResult, type ResponseMode } from './minimize.ts';

export interface TextMinimized {
  readonly result: MinimizeResult;
  /** The minimized text, or undefined when nothing was removed (the upstream's bytes go out as they came). */
  readonly text: string | undefined;
}

/** Not strict JSON (RFC 8259), nested deeper than allowed, a repeated or prototype name: nothing may pass. */
export const INVALID_JSON = 'invalid';
/** A schema on the way needs the parsed object (`oneOf`/`anyOf`, discriminator): minimize the value instead. */
export const NEEDS_VALUE = 'dynamic';

/** `__proto__`, `constructor`, `prototype` (as parseStrictJson): compared only for names of their lengths. */
function isForbidden(key: string): boolean {
  const length = key.length;
  if (length === 9) return key === '__proto__' || key === 'prototype';
  return length === 11 && key === 'constructor';
}

// Thrown (never with a stack: plain frozen objects) to leave the recursive scan; caught in minimizeJsonText.
const INVALID = Object.freeze({ reason: INVALID_JSON });
const DYNAMIC = Object.freeze({ reason: NEEDS_VALUE });

/** Members an object may have before its duplicate check moves from a list to a set. */
const SMALL_OBJECT = 16;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const LOWER_E = 0x65;
const UPPER_E = 0x45;

/** Control characters: refused inside strings (RFC 8259 §7), allowed between tokens only as \t \n \r. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\x00-\x1f]/g;

/**
 * Minimizes the JSON `text` against `schema` (a response schema; writeOnly properties go in every mode, as in
 * `Minimizer.minimize` for responses). `maxDepth`: containers allowed inside one another.
 */
export function minimizeJsonText(
  minimizer: Minimizer,
  schema: SchemaAt,
  text: string,
  mode: ResponseMode,
  maxDepth: number,
): TextMinimized | typeof INVALID_JSON | typeof NEEDS_VALUE {
  const scan = new Scan(minimizer, text, mode, maxDepth);
  try {
    const start = skipSpace(text, 0);
    scan.pos = start;
    const dirty = scan.value(minimizer.rootOf(schema), 0);
    const end = scan.pos;
    if (skipSpace(text, end) !== text.length) return INVALID_JSON;
    if (dirty) {
      scan.cut(0, start);
      scan.cut(end, text.length);
    }
  } catch (error) {
    if (error === INVALID) return INVALID_JSON;
    if (error === DYNAMIC) return NEEDS_VALUE;
    throw error;
  }
  return { result: scan.state, text: scan.state.changed ? scan.output() : undefined };
}

function skipSpace(text: string, at: number): number {
  for (;;) {
    const c = text.charCodeAt(at);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return at;
    at++;
  }
}

/** Whether `text` holds `name` at `at` (a character loop: cheaper than `startsWith` for the short names of schemas). */
function spelledAt(text: string, at: number, name: string): boolean {
  for (let i = 0; i < name.length; i++) if (text.charCodeAt(at + i) !== name.charCodeAt(i)) return false;
  return true;
}

function isDigit(c: number): boolean {
  return c >= ZERO && c <= NINE;
}

function isHex(c: number): boolean {
  const lower = c | 0x20;
  return (c >= ZERO && c <= NINE) || (lower >= 0x61 && lower <= 0x66);
}

class Scan {
  readonly minimizer: Minimizer;
  readonly text: string;
  readonly maxDepth: number;
  readonly state: State;
  /** The next character to read. */
  pos = 0;
  /** Keys down to the container being read (only below planned containers): pointers of undeclared members. */
  readonly path: Array<string | number> = [];
  /** Member names of the objects being read, one reused list per depth (duplicate check without allocation). */
  readonly names: string[][] = [];
  /** What the output leaves out: [from, to) pairs, flat; in text order unless `unsorted`. */
  readonly cuts: number[] = [];
  unsorted = false;
  /**
   * The whitespace between the members of the containers being read, as [from, to) pairs: cut when the container
   * turns out dirty (as spliceJson writes it), dropped otherwise. A stack: each container's pairs sit above its
   * parent's.
   */
  readonly spaces: number[] = [];
  /** Entries of `spaces` in use (the array is not shrunk: setting an array's length is a slow runtime call). */
  spacesTop = 0;
  /** The next backslash and control character at or after the last string start (the text's length: none left). */
  nextBackslash = -1;
  nextControl = -1;
  /** The last string read had an escape (its decoded value differs from its spelling). */
  escaped = false;

  constructor(minimizer: Minimizer, text: string, mode: ResponseMode, maxDepth: number) {
    this.minimizer = minimizer;
    this.text = text;
    this.maxDepth = maxDepth;
    this.state = new State(mode, true);
  }

  /** The text less the cuts (which may overlap: what any of them covers goes). */
  output(): string {
    const cuts = this.cuts;
    if (this.unsorted) {
      const pairs: Array<[number, number]> = [];
      for (let i = 0; i < cuts.length; i += 2) pairs.push([cuts[i]!, cuts[i + 1]!]);
      pairs.sort((a, b) => a[0] - b[0]);
      cuts.length = 0;
      for (const [from, to] of pairs) cuts.push(from, to);
    }
    const text = this.text;
    let out = '';
    let copied = 0;
    for (let i = 0; i < cuts.length; i += 2) {
      const from = cuts[i]!;
      const to = cuts[i + 1]!;
      if (from > copied) out += text.slice(copied, from);
      if (to > copied) copied = to;
    }
    return copied < text.length ? out + text.slice(copied) : out;
  }

  /** Leaves [from, to) out of the output. */
  cut(from: number, to: number): void {
    if (to <= from) return;
    const cuts = this.cuts;
    if (cuts.length > 0 && from < cuts[cuts.length - 2]!) this.unsorted = true;
    cuts.push(from, to);
  }

  /** Notes whitespace [from, to) between members of the container being read (cut if it turns out dirty). */
  space(from: number, to: number): void {
    if (to > from) {
      this.spaces[this.spacesTop++] = from;
      this.spaces[this.spacesTop++] = to;
    }
  }

  /** Closes a planned container whose whitespace pairs start at `mark`: cut if it is dirty, dropped either way. */
  closeSpaces(mark: number, dirty: boolean): void {
    const spaces = this.spaces;
    if (dirty) for (let i = mark; i < this.spacesTop; i += 2) this.cut(spaces[i]!, spaces[i + 1]!);
    this.spacesTop = mark;
  }

  /**
   * The value at `pos`; `schemas` undefined: nothing declared below (read and checked, not minimized). True when
   * something inside it was cut out (it is dirty).
   */
  value(schemas: readonly Located[] | undefined, depth: number): boolean {
    const text = this.text;
    const c = text.charCodeAt(this.pos);
    if (c === QUOTE) this.pos = this.string(this.pos);
    else if (c === OPEN_BRACE) return this.object(schemas, depth);
    else if (c === OPEN_BRACKET) return this.array(schemas, depth);
    else if (c === 0x74 /* t */) this.literal('true');
    else if (c === 0x66 /* f */) this.literal('false');
    else if (c === 0x6e /* n */) this.literal('null');
    else this.number();
    return false;
  }

  literal(word: string): void {
    if (!this.text.startsWith(word, this.pos)) throw INVALID;
    this.pos += word.length;
  }

  /** RFC 8259 §6: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`. */
  number(): void {
    const text = this.text;
    let at = this.pos;
    let c = text.charCodeAt(at);
    if (c === MINUS) c = text.charCodeAt(++at);
    if (c === ZERO) c = text.charCodeAt(++at);
    else if (c > ZERO && c <= NINE) {
      do c = text.charCodeAt(++at);
      while (isDigit(c));
    } else throw INVALID;
    if (c === DOT) {
      c = text.charCodeAt(++at);
      if (!isDigit(c)) throw INVALID;
      do c = text.charCodeAt(++at);
      while (isDigit(c));
    }
    if (c === LOWER_E || c === UPPER_E) {
      c = text.charCodeAt(++at);
      if (c === PLUS || c === MINUS) c = text.charCodeAt(++at);
      if (!isDigit(c)) throw INVALID;
      do c = text.charCodeAt(++at);
      while (isDigit(c));
    }
    this.pos = at;
  }

  /**
   * The string opening at `quote`; returns the index after its closing quote. The closing quote is found with
   * indexOf; escapes and control characters are looked for only where the text has any (most answers have neither:
   * then a string costs one indexOf).
   */
  string(quote: number): number {
    const text = this.text;
    let at = quote + 1;
    this.escaped = false;
    for (;;) {
      const close = text.indexOf('"', at);
      if (close < 0) throw INVALID;
      if (this.nextControl < at) {
        CONTROL.lastIndex = at;
        this.nextControl = CONTROL.test(text) ? CONTROL.lastIndex - 1 : text.length;
      }
      if (this.nextBackslash < at) {
        const found = text.indexOf('\\', at);
        this.nextBackslash = found < 0 ? text.length : found;
      }
      const backslash = this.nextBackslash;
      if (backslash < close) {
        if (this.nextControl < backslash) throw INVALID;
        this.escaped = true;
        // RFC 8259 §7: \" \\ \/ \b \f \n \r \t and \uXXXX, nothing else.
        const e = text.charCodeAt(backslash + 1);
        if (e === 0x75 /* u */) {
          if (!isHex(text.charCodeAt(backslash + 2)) || !isHex(text.charCodeAt(backslash + 3)) || !isHex(text.charCodeAt(backslash + 4)) || !isHex(text.charCodeAt(backslash + 5))) {
            throw INVALID;
          }
          at = backslash + 6;
        } else if (e === QUOTE || e === BACKSLASH || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) {
          at = backslash + 2;
        } else throw INVALID;
        continue;
      }
      if (this.nextControl < close) throw INVALID;
      return close + 1;
    }
  }

  /** The decoded name of the member whose key string spans [quote, end). */
  key(quote: number, end: number): string {
    const key = this.escaped ? (JSON.parse(this.text.slice(quote, end)) as string) : this.text.slice(quote + 1, end - 1);
    if (isForbidden(key)) throw INVALID;
    return key;
  }

  /** An object; true when it is dirty (a member removed, here or further down). */
  object(schemas: readonly Located[] | undefined, depth: number): boolean {
    if (depth >= this.maxDepth) throw INVALID;
    const text = this.text;
    const open = this.pos;
    let at = skipSpace(text, open + 1);
    if (text.charCodeAt(at) === CLOSE_BRACE) {
      this.pos = at + 1;
      return false;
    }
    const plan = schemas === undefined ? undefined : this.minimizer.staticPlan(schemas);
    if (schemas !== undefined && plan === undefined) throw DYNAMIC;
    const state = this.state;
    const writeOnly = plan !== undefined && plan.writeOnly.size > 0 ? plan.writeOnly : undefined;
    const byLength = plan?.declaredByLength;
    let names = this.names[depth];
    if (names === undefined) this.names[depth] = names = [];
    let count = 0;
    let seen: Set<string> | undefined;
    const mark = this.spacesTop;
    if (plan !== undefined) this.space(open + 1, at);
    let dirty = false;
    let kept = 0;
    let keptEnd = 0;
    // While every member so far was removed: where the cut that removes them (and their commas) starts.
    let removingFrom = -1;
    for (;;) {
      if (text.charCodeAt(at) !== QUOTE) throw INVALID;
      const keyStart = at;
      const keyEnd = this.string(at);
      // A declared name spelled without escapes is found in place: its own string is the key (no slice, no hash).
      let key: string | undefined;
      let declared: readonly Located[] | undefined;
      if (byLength !== undefined && !this.escaped) {
        const bucket = byLength[keyEnd - keyStart - 2];
        if (bucket !== undefined) {
          for (let i = 0; i < bucket.length; i++) {
            const entry = bucket[i]!;
            if (spelledAt(text, keyStart + 1, entry[0])) {
              key = entry[0];
              declared = entry[1];
              break;
            }
          }
        }
      }
      if (key === undefined) key = this.key(keyStart, keyEnd);
      else if (isForbidden(key)) throw INVALID;
      // RFC 8259 §4: names SHOULD be unique; parsers disagree about repeats, so one is refused (as parseStrictJson).
      // A list while the object is small (no allocation); past SMALL_OBJECT members a set, so an answer holding one
      // object with many members costs linear time, not quadratic (an upstream's 1 MB object would otherwise cost
      // billions of comparisons).
      if (seen === undefined) {
        for (let i = 0; i < count; i++) if (names[i] === key) throw INVALID;
        if (count < SMALL_OBJECT) names[count++] = key;
        else {
          seen = new Set(names.slice(0, count));
          seen.add(key);
        }
      } else {
        if (seen.has(key)) throw INVALID;
        seen.add(key);
      }
      at = skipSpace(text, keyEnd);
      if (text.charCodeAt(at) !== COLON) throw INVALID;
      this.pos = skipSpace(text, at + 1);
      if (plan === undefined) this.value(undefined, depth + 1);
      else {
        // The decisions of Minimizer #walk, in the same order.
        let remove = false;
        let next: readonly Located[] | undefined;
        if (writeOnly !== undefined && writeOnly.has(key)) remove = true;
        else {
          // Unescaped and not in its length's bucket: not declared (only an escaped spelling needs the map).
          next = declared ?? (this.escaped ? plan.declared.get(key) : undefined);
          if (next === undefined) {
            const pattern = plan.patterns.length > 0 ? plan.patterns.find(([regex]) => regex.test(key)) : undefined;
            if (pattern !== undefined) next = [pattern[1]];
            else if (plan.open) next = plan.additional;
            else if (state.mode !== 'allow') {
              state.note(this.path, key, true);
              remove = state.mode === 'remove';
            }
          }
        }
        if (remove) {
          if (kept === 0 && removingFrom < 0) removingFrom = open + 1;
          this.value(undefined, depth + 1);
          // After a kept member: cut from its end, so the comma before this one goes too.
          if (kept > 0) this.cut(keptEnd, this.pos);
          state.removed++;
          state.changed = true;
          dirty = true;
        } else {
          if (removingFrom >= 0) {
            this.cut(removingFrom, keyStart);
            removingFrom = -1;
          }
          if (next !== undefined && next.length > 0) {
            this.path.push(key);
            if (this.value(next, depth + 1)) dirty = true;
            this.path.pop();
          } else this.value(undefined, depth + 1);
          kept++;
          keptEnd = this.pos;
        }
      }
      const end = this.pos;
      at = skipSpace(text, end);
      const c = text.charCodeAt(at);
      if (c === COMMA) {
        at = this.afterComma(end, at, plan !== undefined);
        continue;
      }
      if (c !== CLOSE_BRACE) throw INVALID;
      if (plan !== undefined) {
        this.space(end, at);
        if (removingFrom >= 0) this.cut(removingFrom, at);
        this.closeSpaces(mark, dirty);
      }
      this.pos = at + 1;
      return dirty;
    }
  }

  /**
   * Past the comma at `comma` that follows a member or element ending at `end`: where the next one starts. When the
   * container is being rewritten (`tracking`), the space on both sides of the comma is recorded, as `space` does.
   */
  afterComma(end: number, comma: number, tracking: boolean): number {
    const next = skipSpace(this.text, comma + 1);
    if (tracking) {
      this.space(end, comma);
      this.space(comma + 1, next);
    }
    return next;
  }

  /** An array; true when it is dirty (something removed further down: the minimizer never removes elements). */
  array(schemas: readonly Located[] | undefined, depth: number): boolean {
    if (depth >= this.maxDepth) throw INVALID;
    const text = this.text;
    const open = this.pos;
    let at = skipSpace(text, open + 1);
    if (text.charCodeAt(at) === CLOSE_BRACKET) {
      this.pos = at + 1;
      return false;
    }
    const items = schemas === undefined ? undefined : this.minimizer.itemsOf(schemas);
    const mark = this.spacesTop;
    if (items !== undefined) this.space(open + 1, at);
    let dirty = false;
    for (let index = 0; ; index++) {
      this.pos = at;
      if (items === undefined) this.value(undefined, depth + 1);
      else {
        const forItem = itemSchemas(items, index);
        if (forItem.length === 0) this.value(undefined, depth + 1);
        else {
          this.path.push(index);
          if (this.value(forItem, depth + 1)) dirty = true;
          this.path.pop();
        }
      }
      const end = this.pos;
      at = skipSpace(text, end);
      const c = text.charCodeAt(at);
      if (c === COMMA) {
        at = this.afterComma(end, at, items !== undefined);
        continue;
      }
      if (c !== CLOSE_BRACKET) throw INVALID;
      if (items !== undefined) {
        this.space(end, at);
        this.closeSpaces(mark, dirty);
      }
      this.pos = at + 1;
      return dirty;
    }
  }
}
