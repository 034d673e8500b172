/**
 * Where a JSON pointer of the loaded document sits in its source files: file, line and column, so that a config error
 * names the exact spot (issue 5: "naming the file, the JSON pointer and the line").
 *
 * The pointer is one of the bundled document (external files inlined where first referenced), so the walk starts in
 * the main file and, whenever it meets a `$ref` that the pointer goes through, continues in the referenced file at the
 * referenced pointer: the answer is the place the author has to edit, in whichever file that is.
 *
 * Sources are read lazily, only when something has to be reported, into a position index (`PositionIndex`):
 * - a file that is strict JSON (RFC 8259) gets `JsonIndex`, which finds keys by scanning the text and indexes only the
 *   objects and arrays a lookup goes through (a static audit asks for thousands of places in a 1 MB document; a YAML
 *   syntax tree of it costs seconds and hundreds of megabytes, this a few milliseconds);
 * - anything else is parsed with `yaml` and its `LineCounter` (`YamlIndex`), which also reports syntax errors and
 *   lists `$ref`s on the failure paths.
 * Both answer exactly what the YAML parser answers for JSON text (JSON is YAML 1.2): a key's position is its opening
 * quote, an item's is its first character, the first of duplicate keys wins. The locate tests compare them.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Document, Node, Pair } from 'yaml';
import { joinPointer, splitPointer, unescapeToken } from './pointer.ts';
import { deeperThan } from '../config/nesting.ts';
import { MAX_DOCUMENT_DEPTH } from './parse-document.mjs';

const requireHere = createRequire(import.meta.url);
let yamlLibrary: typeof import('yaml') | undefined;

/**
 * The `yaml` parser, loaded the first time a source needs it (`YamlIndex`, `refSites`, `syntaxError`): most sources
 * are strict JSON or plain block YAML, which the scanners below index without it, and loading it costs every
 * `rampart scan` tens of milliseconds. Its Node entry is CommonJS, so this is the same module instance that an
 * `import 'yaml'` elsewhere in the process gets.
 */
function yaml(): typeof import('yaml') {
  return (yamlLibrary ??= requireHere('yaml') as typeof import('yaml'));
}

/**
 * Line starts of a text and the 1-based `{ line, col }` of an offset: exactly the `yaml` library's `LineCounter`
 * (same binary search, same answers, offset 0 and the offset after every line feed as line starts), so that the
 * JSON and block YAML indexes answer as the YAML parser would without loading it.
 */
class LineStarts {
  readonly starts: number[] = [0];

  constructor(text: string) {
    for (let at = text.indexOf('\n'); at !== -1; at = text.indexOf('\n', at + 1)) this.starts.push(at + 1);
  }

  linePos(offset: number): { line: number; col: number } {
    const starts = this.starts;
    let low = 0;
    let high = starts.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (starts[mid]! < offset) low = mid + 1;
      else high = mid;
    }
    if (starts[low] === offset) return { line: low + 1, col: 1 };
    if (low === 0) return { line: 0, col: offset };
    return { line: low, col: offset - starts[low - 1]! + 1 };
  }
}

export interface SourcePosition {
  readonly file: string;
  /** Pointer inside `file` (differs from the bundled pointer when the spot is in a referenced file). */
  readonly pointer: string;
  /** 1-based; absent when the file could not be parsed. */
  readonly line?: number;
  readonly column?: number;
}

/** A `$ref` found in the sources, with where it is. */
export interface RefSite extends SourcePosition {
  readonly ref: string;
  /** The file the reference names (absolute), or undefined for an internal reference. */
  readonly targetFile: string | undefined;
}

/**
 * What the pointer walk needs of a parsed source file. Nodes are opaque handles of the implementation; `null` is an
 * empty node (YAML `key:` with nothing after it).
 */
export interface PositionIndex<N = unknown> {
  readonly root: N | null;
  /** The first entry of a mapping whose key, as a string, is `key`; undefined when `node` is no mapping or lacks it. */
  entry(node: N | null, key: string): { readonly keyOffset: number | undefined; readonly value: N | null } | undefined;
  /** Whether a mapping has the key as a string key (YAML's `YAMLMap.has`: a plain `200` key is a number, not `'200'`). */
  hasStringKey(node: N | null, key: string): boolean;
  /** The string value of the mapping's `$ref` key, if it has one. */
  ref(node: N | null): string | undefined;
  /** Item `index` of a sequence; undefined when `node` is no sequence or has no such item. */
  item(node: N | null, index: number): N | null | undefined;
  offset(node: N | null): number | undefined;
  linePos(offset: number): { line: number; col: number };
}

const MAX_REF_HOPS = 64;

/** Where the pointer walk of `SourceLocator.locate` stands after some tokens. */
interface WalkState {
  readonly file: string;
  readonly source: PositionIndex;
  readonly node: unknown;
  /** Pointer inside `file`. */
  readonly filePointer: string;
  readonly at: { readonly line: number; readonly column: number } | undefined;
  /** A token was not found: every longer pointer ends here too. */
  readonly stopped: boolean;
}

export class SourceLocator {
  readonly #main: string;
  readonly #yaml = new Map<string, YamlIndex | null>();
  readonly #indexes = new Map<string, PositionIndex | null>();
  /** Walk states by bundled-document pointer prefix (see `locate`); undefined under '' when the main file has no index. */
  readonly #walked = new Map<string, WalkState | undefined>();

  constructor(mainFile: string) {
    this.#main = mainFile;
  }

  /** The YAML syntax tree of a file (syntax errors, `$ref` listing). */
  #yamlSource(file: string, text?: string): YamlIndex | null {
    let source = this.#yaml.get(file);
    if (source === undefined) {
      try {
        const content = text ?? readFileSync(file, 'utf8');
        // The YAML parser recurses per level and aborts the process (no catch can stop it) on a file nested a few
        // thousand levels deep: such a file has no index here (the loader has already refused it with its line).
        source = deeperThan(content, MAX_DOCUMENT_DEPTH) === undefined ? new YamlIndex(content) : null;
      } catch {
        source = null;
      }
      this.#yaml.set(file, source);
    }
    return source;
  }

  /** The cheapest index that answers exactly for this file: the JSON scanner, the block YAML scanner, the YAML parser. */
  #index(file: string): PositionIndex | null {
    let index = this.#indexes.get(file);
    if (index === undefined) {
      let text: string | undefined;
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        text = undefined;
      }
      index = text === undefined ? null : (JsonIndex.of(text) ?? YamlBlockIndex.of(text) ?? this.#yamlSource(file, text));
      this.#indexes.set(file, index);
    }
    return index;
  }

  /** The first YAML/JSON syntax error of `file`, with its position (the parser's own message is kept as well). */
  syntaxError(file: string): SourcePosition & { message: string } | undefined {
    const source = this.#yamlSource(file);
    const error = source?.doc.errors[0];
    if (!source || !error) return undefined;
    const pos = source.linePos(error.pos[0]);
    return { file, pointer: '', line: pos.line, column: pos.col, message: error.message.split('\n')[0]! };
  }

  /** Position of `pointer` (of the bundled document). Falls back to the deepest part of the pointer that exists. */
  locate(pointer: string): SourcePosition {
    // The walk to a pointer goes through the walks to each of its prefixes, and a static audit asks for tens of
    // thousands of pointers that share most of their prefixes (every property of every schema): each prefix is walked
    // once and remembered. Anything but a well-formed pointer takes the walk from the root, as splitPointer reads it.
    const state = pointer === '' || pointer.startsWith('/') ? this.#stateAt(pointer) : this.#walkFrom(this.#rootState(), splitPointer(pointer));
    if (!state) return { file: this.#main, pointer };
    return { file: state.file, pointer: state.filePointer, ...state.at };
  }

  /** Where the walk stands after the tokens of the root, or undefined when the main file has no index. */
  #rootState(): WalkState | undefined {
    let state = this.#walked.get('');
    if (state === undefined && !this.#walked.has('')) {
      const source = this.#index(this.#main);
      state = source ? { file: this.#main, source, node: source.root, filePointer: '', at: positionOf(source, source.offset(source.root)), stopped: false } : undefined;
      this.#walked.set('', state);
    }
    return state;
  }

  /** The walk's state after every token of `pointer` (`''` or starting with `/`), from the longest prefix walked before. */
  #stateAt(pointer: string): WalkState | undefined {
    if (this.#walked.has(pointer)) return this.#walked.get(pointer);
    let cut = pointer.length;
    let state: WalkState | undefined;
    for (;;) {
      cut = pointer.lastIndexOf('/', cut - 1);
      const prefix = cut <= 0 ? '' : pointer.slice(0, cut);
      if (cut <= 0 || this.#walked.has(prefix)) {
        state = prefix === '' ? this.#rootState() : this.#walked.get(prefix);
        cut = Math.max(cut, 0);
        break;
      }
    }
    while (state && !state.stopped && cut < pointer.length) {
      const next = pointer.indexOf('/', cut + 1);
      const end = next === -1 ? pointer.length : next;
      state = this.#step(state, unescapeToken(pointer.slice(cut + 1, end)));
      this.#walked.set(pointer.slice(0, end), state);
      cut = end;
    }
    if (state && state.stopped) this.#walked.set(pointer, state);
    return state;
  }

  #walkFrom(state: WalkState | undefined, tokens: readonly string[]): WalkState | undefined {
    for (const token of tokens) {
      if (!state || state.stopped) break;
      state = this.#step(state, token);
    }
    return state;
  }

  /**
   * One token further: through `$ref`s until the token is found (the bundled document has the target inlined here),
   * then into the entry or item. A token that is not there stops the walk where it is (after any `$ref` hops).
   */
  #step(from: WalkState, token: string): WalkState {
    let { file, source, node, filePointer } = from;
    for (let hop = 0; hop < MAX_REF_HOPS; hop++) {
      if (source.hasStringKey(node, token)) break;
      const ref = source.ref(node);
      if (ref === undefined) break;
      const target = this.#resolveRef(file, ref);
      if (!target) break;
      const targetSource = this.#index(target.file);
      if (!targetSource) break;
      const found = walk(targetSource, target.pointer);
      // Offsets are nodes for the JSON index: 0 is a node, as a YAML parser's node object is.
      if (found === undefined || found === null) break;
      file = target.file;
      source = targetSource;
      node = found;
      filePointer = target.pointer;
    }
    let next: unknown;
    let offset: number | undefined;
    const entry = source.entry(node, token);
    if (entry) {
      next = entry.value;
      offset = entry.keyOffset;
    } else if (/^\d+$/.test(token)) {
      next = source.item(node, Number(token));
      if (next === undefined) return { file, source, node, filePointer, at: from.at, stopped: true };
      offset = source.offset(next);
    } else {
      return { file, source, node, filePointer, at: from.at, stopped: true };
    }
    return { file, source, node: next ?? null, filePointer: joinPointer(filePointer, token), at: positionOf(source, offset) ?? from.at, stopped: false };
  }

  /** Every `$ref` in the main file and, transitively, in the files it references (for locating broken references). */
  refSites(): RefSite[] {
    const out: RefSite[] = [];
    const visited = new Set<string>();
    const queue = [this.#main];
    while (queue.length > 0) {
      const file = queue.shift()!;
      if (visited.has(file)) continue;
      visited.add(file);
      const source = this.#yamlSource(file);
      if (!source) continue;
      const { isMap, isScalar, isSeq } = yaml();
      const visit = (node: unknown, pointer: string): void => {
        if (isMap(node)) {
          for (const pair of node.items) {
            if (!isScalar(pair.key)) continue;
            const key = String(pair.key.value);
            const childPointer = joinPointer(pointer, key);
            if (key === '$ref' && isScalar(pair.value) && typeof pair.value.value === 'string') {
              const ref = pair.value.value;
              const targetFile = ref.startsWith('#') ? undefined : this.#resolveRef(file, ref)?.file;
              out.push({ file, pointer: childPointer, ref, targetFile, ...positionOf(source, source.offset(pair.key as Node)) });
              if (targetFile && !/^[a-z][a-z0-9+.-]*:\/\//i.test(ref)) queue.push(targetFile);
            } else {
              visit(pair.value, childPointer);
            }
          }
        } else if (isSeq(node)) {
          node.items.forEach((item, i) => visit(item, joinPointer(pointer, i)));
        }
      };
      visit(source.doc.contents, '');
    }
    return out;
  }

  /**
   * References that cannot be followed: a remote target (refused), a file that cannot be read or parsed, or a
   * pointer that does not exist in its file. Used to name every broken `$ref` when the parser gave up on one.
   */
  brokenRefs(): Array<RefSite & { reason: string }> {
    const out: Array<RefSite & { reason: string }> = [];
    for (const site of this.refSites()) {
      if (/^[a-z][a-z0-9+.-]*:\/\//i.test(site.ref) && !site.ref.startsWith('file:')) {
        out.push({ ...site, reason: 'remote references are refused (only local files are loaded)' });
        continue;
      }
      const target = this.#resolveRef(site.file, site.ref);
      if (!target) {
        out.push({ ...site, reason: 'is not a valid reference' });
        continue;
      }
      const source = this.#yamlSource(target.file);
      if (!source) {
        out.push({ ...site, reason: `file ${target.file} cannot be read` });
        continue;
      }
      if (source.doc.errors.length > 0) {
        out.push({ ...site, reason: `file ${target.file} does not parse` });
        continue;
      }
      if (walk(source, target.pointer) === undefined) out.push({ ...site, reason: `target #${target.pointer} does not exist` });
    }
    return out;
  }

  #resolveRef(file: string, ref: string): { file: string; pointer: string } | undefined {
    const hash = ref.indexOf('#');
    const filePart = hash === -1 ? ref : ref.slice(0, hash);
    let fragment = hash === -1 ? '' : ref.slice(hash + 1);
    try {
      fragment = decodeURIComponent(fragment);
    } catch {
      return undefined;
    }
    if (fragment !== '' && !fragment.startsWith('/')) return undefined;
    if (filePart === '') return { file, pointer: fragment };
    if (/^[a-z][a-z0-9+.-]*:/i.test(filePart) && !filePart.startsWith('file:')) return { file: filePart, pointer: fragment };
    const path = filePart.startsWith('file:') ? fileURLToPath(filePart) : resolve(dirname(file), decodeURIComponentSafe(filePart));
    return { file: path, pointer: fragment };
  }
}

/** The node at `pointer` inside one file (no `$ref` following), undefined when the pointer does not exist there. */
function walk<N>(source: PositionIndex<N>, pointer: string): N | null | undefined {
  let node: N | null = source.root;
  for (const token of splitPointer(pointer)) {
    const entry = source.entry(node, token);
    if (entry) {
      node = entry.value;
      continue;
    }
    if (!/^\d+$/.test(token)) return undefined;
    const item = source.item(node, Number(token));
    if (item === undefined) return undefined;
    node = item;
  }
  return node;
}

function positionOf(source: PositionIndex, offset: number | undefined): { line: number; column: number } | undefined {
  if (offset === undefined) return undefined;
  const pos = source.linePos(offset);
  return { line: pos.line, column: pos.col };
}

// --- YAML (and anything that is not strict JSON) ------------------------------------------------------------------

export class YamlIndex implements PositionIndex<Node> {
  readonly doc: Document.Parsed;
  readonly #lines: import('yaml').LineCounter;

  constructor(text: string) {
    const { LineCounter, parseDocument } = yaml();
    this.#lines = new LineCounter();
    this.doc = parseDocument(text, { lineCounter: this.#lines, uniqueKeys: false, prettyErrors: false });
  }

  get root(): Node | null {
    return this.doc.contents as Node | null;
  }

  entry(node: Node | null, key: string): { keyOffset: number | undefined; value: Node | null } | undefined {
    const { isMap, isScalar } = yaml();
    if (!isMap(node)) return undefined;
    const pair = (node.items as Pair[]).find((p) => isScalar(p.key) && String(p.key.value) === key);
    if (!pair) return undefined;
    return { keyOffset: (pair.key as Node).range?.[0], value: pair.value as Node | null };
  }

  hasStringKey(node: Node | null, key: string): boolean {
    return yaml().isMap(node) && node.has(key);
  }

  ref(node: Node | null): string | undefined {
    const value: unknown = yaml().isMap(node) ? node.get('$ref') : undefined;
    return typeof value === 'string' ? value : undefined;
  }

  item(node: Node | null, index: number): Node | null | undefined {
    return yaml().isSeq(node) ? (node.items[index] as Node | null | undefined) : undefined;
  }

  offset(node: Node | null): number | undefined {
    return node?.range?.[0];
  }

  linePos(offset: number): { line: number; col: number } {
    return this.#lines.linePos(offset);
  }
}

// --- strict JSON --------------------------------------------------------------------------------------------------

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const COMMA = 0x2c;

interface ObjectIndex {
  /** First occurrence of each key: offset of its opening quote and of its value. */
  readonly keys: Map<string, { readonly key: number; readonly value: number }>;
  /** Offset just after the closing brace. */
  readonly end: number;
}

interface ArrayIndex {
  readonly items: readonly number[];
  readonly end: number;
}

/**
 * Positions in a strict JSON text, found by scanning it. Nodes are the offsets of values' first characters. Only the
 * objects and arrays that a lookup goes through are indexed (once each, keys and item offsets); everything else is
 * skipped over by bracket matching. The text is known to be valid JSON (`JsonIndex.of` checks), so the scanner need not
 * check the grammar again.
 */
export class JsonIndex implements PositionIndex<number> {
  readonly root: number | null;
  readonly #text: string;
  readonly #lines: LineStarts;
  readonly #objects = new Map<number, ObjectIndex>();
  readonly #arrays = new Map<number, ArrayIndex>();

  /** An index of `text` when it is strict JSON, else undefined (the caller falls back to the YAML parser). */
  static of(text: string): JsonIndex | undefined {
    const first = text.charCodeAt(skipWhitespace(text, 0));
    // Only an object or an array can be a document; anything else is left to the YAML parser.
    if (first !== OPEN_BRACE && first !== OPEN_BRACKET) return undefined;
    try {
      JSON.parse(text);
    } catch {
      return undefined;
    }
    return new JsonIndex(text);
  }

  private constructor(text: string) {
    this.#text = text;
    this.root = skipWhitespace(text, 0);
    // The YAML parser's line starts: offset 0 and the offset after every line feed (a CR LF pair ends in one).
    this.#lines = new LineStarts(text);
  }

  entry(node: number | null, key: string): { keyOffset: number; value: number } | undefined {
    const object = this.#object(node);
    const found = object?.keys.get(key);
    return found ? { keyOffset: found.key, value: found.value } : undefined;
  }

  hasStringKey(node: number | null, key: string): boolean {
    // Every JSON key is a string.
    return this.entry(node, key) !== undefined;
  }

  ref(node: number | null): string | undefined {
    const value = this.entry(node, '$ref')?.value;
    if (value === undefined || this.#text.charCodeAt(value) !== QUOTE) return undefined;
    return this.#string(value, this.#skipString(value));
  }

  item(node: number | null, index: number): number | undefined {
    return this.#array(node)?.items[index];
  }

  offset(node: number | null): number | undefined {
    return node ?? undefined;
  }

  linePos(offset: number): { line: number; col: number } {
    return this.#lines.linePos(offset);
  }

  #object(node: number | null): ObjectIndex | undefined {
    if (node === null || this.#text.charCodeAt(node) !== OPEN_BRACE) return undefined;
    let object = this.#objects.get(node);
    if (object) return object;
    const text = this.#text;
    const keys = new Map<string, { key: number; value: number }>();
    let at = skipWhitespace(text, node + 1);
    while (text.charCodeAt(at) === QUOTE) {
      const keyEnd = this.#skipString(at);
      const key = this.#string(at, keyEnd);
      // After the key: optional space, the colon, optional space, the value.
      const value = skipWhitespace(text, skipWhitespace(text, keyEnd) + 1);
      if (!keys.has(key)) keys.set(key, { key: at, value });
      at = skipWhitespace(text, this.#skipValue(value));
      if (text.charCodeAt(at) !== COMMA) break;
      at = skipWhitespace(text, at + 1);
    }
    // `at` is on the closing brace.
    object = { keys, end: at + 1 };
    this.#objects.set(node, object);
    return object;
  }

  #array(node: number | null): ArrayIndex | undefined {
    if (node === null || this.#text.charCodeAt(node) !== OPEN_BRACKET) return undefined;
    let array = this.#arrays.get(node);
    if (array) return array;
    const text = this.#text;
    const items: number[] = [];
    let at = skipWhitespace(text, node + 1);
    if (text.charCodeAt(at) !== 0x5d) {
      for (;;) {
        items.push(at);
        at = skipWhitespace(text, this.#skipValue(at));
        if (text.charCodeAt(at) !== COMMA) break;
        at = skipWhitespace(text, at + 1);
      }
    }
    array = { items, end: at + 1 };
    this.#arrays.set(node, array);
    return array;
  }

  /** The offset just after the value that starts at `at`. */
  #skipValue(at: number): number {
    const text = this.#text;
    const c = text.charCodeAt(at);
    if (c === QUOTE) return this.#skipString(at);
    if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      const known = c === OPEN_BRACE ? this.#objects.get(at) : this.#arrays.get(at);
      if (known) return known.end;
      // Bracket matching; strings are skipped whole, so brackets inside them do not count.
      let depth = 0;
      STRUCTURE.lastIndex = at;
      for (let m = STRUCTURE.exec(text); m !== null; m = STRUCTURE.exec(text)) {
        const k = text.charCodeAt(m.index);
        if (k === QUOTE) {
          STRUCTURE.lastIndex = this.#skipString(m.index);
        } else if (k === OPEN_BRACE || k === OPEN_BRACKET) {
          depth++;
        } else if (--depth === 0) {
          return m.index + 1;
        }
      }
      return text.length;
    }
    // A number, true, false or null: up to the next delimiter.
    SCALAR_END.lastIndex = at;
    return SCALAR_END.test(text) ? SCALAR_END.lastIndex - 1 : text.length;
  }

  /** The offset just after the string whose opening quote is at `at`. */
  #skipString(at: number): number {
    const text = this.#text;
    let from = at + 1;
    for (;;) {
      const quote = text.indexOf('"', from);
      if (quote === -1) return text.length;
      let backslashes = 0;
      while (text.charCodeAt(quote - 1 - backslashes) === BACKSLASH) backslashes++;
      if (backslashes % 2 === 0) return quote + 1;
      from = quote + 1;
    }
  }

  /** The value of the JSON string token between `start` (opening quote) and `end` (after the closing quote). */
  #string(start: number, end: number): string {
    const raw = this.#text.slice(start + 1, end - 1);
    return raw.includes('\\') ? (JSON.parse(this.#text.slice(start, end)) as string) : raw;
  }
}


// --- block YAML --------------------------------------------------------------------------------------------------

/**
 * A node of `YamlBlockIndex`: a scalar is the offset of its first character; a collection says where it starts and
 * what is in it. `stringKeys` is only there when some key of the mapping is not a string (a plain `200`): otherwise
 * every key is one.
 */
type YamlNode =
  | number
  | { readonly kind: 'map'; readonly offset: number; readonly entries: Map<string, YamlEntry>; stringKeys?: Set<string>; ref?: string | undefined }
  | { readonly kind: 'seq'; readonly offset: number; readonly items: YamlNode[] }
  | typeof EMPTY;

/** `key:` with nothing after it (YAML null). No sequence item is ever empty here: the index gives up instead. */
const EMPTY = Object.freeze({ kind: 'empty' as const });

interface YamlEntry {
  readonly keyOffset: number;
  readonly value: YamlNode;
}

type YamlMap = Extract<YamlNode, { kind: 'map' }>;
type YamlSeq = Extract<YamlNode, { kind: 'seq' }>;

function isYamlMap(node: YamlNode | null): node is YamlMap {
  return typeof node === 'object' && node?.kind === 'map';
}

/** Records a key of a mapping being built (the first of duplicate keys wins, as in the YAML parser's lookups). */
function addEntry(map: YamlMap, key: string, string: boolean, entry: YamlEntry): void {
  if (!string && map.stringKeys === undefined) map.stringKeys = new Set(map.entries.keys());
  if (!map.entries.has(key)) map.entries.set(key, entry);
  if (string && map.stringKeys !== undefined) map.stringKeys.add(key);
}

/** Thrown by the YAML scanner on anything it does not handle exactly like the `yaml` parser: the caller falls back. */
class Unsupported extends Error {}

function unsupported(): never {
  throw new Unsupported();
}

/** The core schema's (YAML 1.2 §10.3.2) non-string plain scalars, with the `yaml` library's own patterns. */
const CORE_NON_STRING = [
  /^(?:~|[Nn]ull|NULL)?$/,
  /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/,
  /^0o[0-7]+$/,
  /^[-+]?[0-9]+$/,
  /^0x[0-9a-fA-F]+$/,
  /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/,
  /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$/,
  /^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)$/,
];
/** A plain integer whose number prints back as the same text (`200`): the key of a `responses` entry. */
const CANONICAL_INT = /^(?:0|[1-9][0-9]{0,14})$/;
/** Characters that cannot start a plain scalar here (YAML 1.2 §7.3.3 c-indicator), or that the scanner leaves alone. */
const NOT_PLAIN_START = new Set([...'-?:,[]{}#&*!|>\'"%@`'].map((c) => c.charCodeAt(0)));
/** `: ` or `:` at the end: a mapping value indicator inside what should be a plain scalar. */
const VALUE_INDICATOR = /:(?:[ \t]|$)/;
/** A plain scalar in a flow collection ends at a flow indicator, at `: ` / `:` before a flow indicator, or at ` #`. */
const FLOW_PLAIN_END = /[,[\]{}\n]|:(?=[\s,[\]{}]|$)|[ \t\r]#/g;

const SPACE = 0x20;
const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const HASH = 0x23;
const DASH = 0x2d;
const COLON = 0x3a;
const APOSTROPHE = 0x27;
const CLOSE_BRACKET = 0x5d;

/**
 * Positions in a block-style YAML document (what OpenAPI documents are written in), found by one scan over its lines
 * instead of a full YAML parse: block mappings and sequences by indentation, plain, quoted (also over several lines)
 * and block scalars, flow collections, comments. Every node that the scanner does not reproduce exactly as the `yaml`
 * parser does (anchors, aliases, tags, explicit keys, several documents, tabs as indentation, keys that the core
 * schema reads as something other than a string or a plain integer, anything the `yaml` parser would report as an
 * error) makes `of` return undefined, and the locator then uses `YamlIndex`: the scanner never guesses.
 */
export class YamlBlockIndex implements PositionIndex<YamlNode> {
  readonly root: YamlNode;
  readonly #lines: LineStarts;

  /** An index of `text` when the scanner handles all of it, else undefined. */
  static of(text: string): YamlBlockIndex | undefined {
    try {
      return new YamlBlockIndex(new YamlScanner(text));
    } catch (error) {
      // Unsupported: a construct left to the `yaml` parser; RangeError: nesting deeper than the stack allows.
      if (error instanceof Unsupported || error instanceof RangeError) return undefined;
      throw error;
    }
  }

  private constructor(scanner: YamlScanner) {
    this.root = scanner.document();
    this.#lines = scanner.lineCounter;
  }

  entry(node: YamlNode | null, key: string): { keyOffset: number; value: YamlNode } | undefined {
    return isYamlMap(node) ? node.entries.get(key) : undefined;
  }

  hasStringKey(node: YamlNode | null, key: string): boolean {
    return isYamlMap(node) && (node.stringKeys ?? node.entries).has(key);
  }

  ref(node: YamlNode | null): string | undefined {
    return isYamlMap(node) ? node.ref : undefined;
  }

  item(node: YamlNode | null, index: number): YamlNode | undefined {
    return typeof node === 'object' && node?.kind === 'seq' ? node.items[index] : undefined;
  }

  offset(node: YamlNode | null): number | undefined {
    if (typeof node === 'number') return node;
    return node && node.kind !== 'empty' ? node.offset : undefined;
  }

  linePos(offset: number): { line: number; col: number } {
    return this.#lines.linePos(offset);
  }
}

/**
 * A node and the first line after it (blank and comment lines before that line may be part of it or not);
 * `multiline`: a scalar written over several lines, whose value the scanner does not compute.
 */
interface Parsed<T extends YamlNode = YamlNode> {
  readonly node: T;
  readonly next: number;
  readonly multiline?: boolean;
}

/**
 * The scanner behind `YamlBlockIndex`. Lines are numbered from 0; `indent` is a line's count of leading spaces. A block
 * collection's entries all start at one column; whatever is more indented belongs to the entry above. Each parse
 * function returns the node and the first line that is not part of it; callers check that this line continues or
 * ends their own collection consistently, and give up otherwise (YAML 1.2 §8.2).
 */
class YamlScanner {
  readonly lineCounter: LineStarts;
  readonly #text: string;
  /** Offset of the first character of each line; one more entry for the end of the text. */
  readonly #starts: number[];

  constructor(text: string) {
    // A byte order mark, or a carriage return that does not end a line, is left to the YAML parser.
    if (text.charCodeAt(0) === 0xfeff || /\r(?!\n)/.test(text)) unsupported();
    this.#text = text;
    this.lineCounter = new LineStarts(text);
    this.#starts = this.lineCounter.starts.slice();
    if (this.#starts[this.#starts.length - 1] !== text.length) this.#starts.push(text.length + 1);
  }

  get #lineCount(): number {
    return this.#starts.length - 1;
  }

  /** End of line `line`'s content (before `\n` or `\r\n`). */
  #end(line: number): number {
    let end = this.#starts[line + 1]! - 1;
    if (end > this.#text.length) end = this.#text.length;
    if (end > this.#starts[line]! && this.#text.charCodeAt(end - 1) === CR) end--;
    return end;
  }

  #indent(line: number): number {
    const start = this.#starts[line]!;
    const end = this.#end(line);
    let at = start;
    while (at < end && this.#text.charCodeAt(at) === SPACE) at++;
    return at - start;
  }

  /** Only spaces (or nothing). A line of whitespace with a tab is left to the YAML parser. */
  #blank(line: number): boolean {
    const start = this.#starts[line]! + this.#indent(line);
    const end = this.#end(line);
    if (start === end) return true;
    if (this.#text.charCodeAt(start) === TAB) unsupported();
    return false;
  }

  /** Blank, or a comment after the indentation. */
  #skippable(line: number): boolean {
    return this.#blank(line) || this.#text.charCodeAt(this.#starts[line]! + this.#indent(line)) === HASH;
  }

  /** The first line from `line` on that has content (not blank, not a comment), or the line count. */
  #nextContent(line: number): number {
    let at = line;
    while (at < this.#lineCount && this.#skippable(at)) at++;
    return at;
  }

  #lineOf(offset: number): number {
    let low = 0;
    let high = this.#lineCount - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if (this.#starts[mid]! <= offset) low = mid;
      else high = mid - 1;
    }
    return low;
  }

  #column(offset: number): number {
    return offset - this.#starts[this.#lineOf(offset)]!;
  }

  /** `-` followed by a space or the end of the line at `at`: a block sequence entry. */
  #isSeqIndicator(at: number, lineEnd: number): boolean {
    if (this.#text.charCodeAt(at) !== DASH) return false;
    if (at + 1 === lineEnd) return true;
    const next = this.#text.charCodeAt(at + 1);
    if (next === TAB) unsupported();
    return next === SPACE;
  }

  /** Skips spaces; a tab where separation is expected is left to the YAML parser. */
  #skipSpaces(at: number, end: number): number {
    let i = at;
    while (i < end && this.#text.charCodeAt(i) === SPACE) i++;
    if (i < end && this.#text.charCodeAt(i) === TAB) unsupported();
    return i;
  }

  /** Nothing but spaces and a comment from `at` to the end of its line. */
  #restIsEmpty(at: number): void {
    const line = this.#lineOf(at);
    const end = this.#end(line);
    const i = this.#skipSpaces(at, end);
    if (i === end) return;
    if (this.#text.charCodeAt(i) === HASH && i > at) return;
    unsupported();
  }

  // --- document --------------------------------------------------------------------------------------------------

  /** The root node: a block mapping or sequence, optionally after a bare `---`. */
  document(): YamlNode {
    let line = this.#nextContent(0);
    if (line < this.#lineCount && this.#isMarker(line)) {
      const start = this.#starts[line]!;
      if (this.#text.startsWith('...', start)) unsupported();
      this.#restIsEmpty(start + 3);
      line = this.#nextContent(line + 1);
    }
    if (line >= this.#lineCount) unsupported();
    const indent = this.#indent(line);
    const parsed = this.#blockNode(line, indent, -1);
    if (typeof parsed.node !== 'object' || parsed.node.kind === 'empty') unsupported();
    // Nothing may follow the root node (a second document, `...`).
    if (this.#nextContent(parsed.next) < this.#lineCount) unsupported();
    return parsed.node;
  }

  /** `---` or `...` at the start of a line, alone or before a space: a document marker (YAML 1.2 §9.1). */
  #isMarker(line: number): boolean {
    const start = this.#starts[line]!;
    const text = this.#text;
    if (!text.startsWith('---', start) && !text.startsWith('...', start)) return false;
    const after = text.charCodeAt(start + 3);
    return start + 3 >= this.#end(line) || after === SPACE || after === TAB;
  }

  /** Any line starting at column 0 that YAML reads as a directive or document marker ends the scan. */
  #checkLineStart(line: number): void {
    const first = this.#text.charCodeAt(this.#starts[line]!);
    if (first === 0x25 /* % */ || this.#isMarker(line)) unsupported();
  }

  // --- block nodes -------------------------------------------------------------------------------------------------

  /** The block node whose first content line is `line`, starting at column `indent`, inside a collection at `parent`. */
  #blockNode(line: number, indent: number, parent: number): Parsed {
    this.#checkLineStart(line);
    const at = this.#starts[line]! + indent;
    const end = this.#end(line);
    if (this.#isSeqIndicator(at, end)) return this.#sequence(line, indent, parent);
    if (this.#isExplicitKey(at, end) || this.#keyEnd(at, end) !== undefined) return this.#mapping(line, indent, parent);
    return this.#scalarValue(at, parent);
  }

  /** `?` followed by a space or the end of the line: an explicit mapping key (YAML 1.2 §8.2.2). */
  #isExplicitKey(at: number, lineEnd: number): boolean {
    if (this.#text.charCodeAt(at) !== 0x3f) return false;
    return at + 1 === lineEnd || this.#text.charCodeAt(at + 1) === SPACE;
  }

  /**
   * Where the implicit key starting at `at` ends (the offset of its `:`), or undefined when the line there is not
   * `key: …`. Keys are single-line plain or quoted scalars (YAML 1.2 §7.4.3, at most 1024 characters).
   */
  #keyEnd(at: number, lineEnd: number): number | undefined {
    const text = this.#text;
    const c = text.charCodeAt(at);
    // A flow collection as a key (`[a]: b`) is left to the YAML parser: the caller finds the `:` after it and gives up.
    if (c === OPEN_BRACKET || c === OPEN_BRACE) return undefined;
    if (c === QUOTE || c === APOSTROPHE) {
      const close = this.#quotedEnd(at, undefined);
      if (close === -1) return undefined;
      const colon = this.#skipSpaces(close, lineEnd);
      if (text.charCodeAt(colon) !== COLON) return undefined;
      if (colon + 1 < lineEnd && text.charCodeAt(colon + 1) !== SPACE) unsupported();
      return colon;
    }
    const found = VALUE_INDICATOR.exec(text.slice(at, lineEnd));
    if (!found) return undefined;
    const comment = text.slice(at, at + found.index).search(/[ \t]#/);
    if (comment !== -1) return undefined;
    if (NOT_PLAIN_START.has(c) || found.index > 1024) unsupported();
    if (text.charCodeAt(at + found.index + 1) === TAB) unsupported();
    return at + found.index;
  }

  /** The key of an implicit key that starts at `at` and ends before `colon`: its string form, and whether it is a string. */
  #key(at: number, colon: number): { key: string; string: boolean } {
    const text = this.#text;
    const c = text.charCodeAt(at);
    if (c === QUOTE || c === APOSTROPHE) return { key: this.#quotedValue(at, this.#quotedEnd(at, undefined)), string: true };
    return plainKey(text.slice(at, colon).trimEnd());
  }

  /** A block mapping whose first key starts on `line` at column `indent` (possibly after `- `). */
  #mapping(line: number, indent: number, parent: number): Parsed<YamlMap> {
    const map: YamlMap = { kind: 'map', offset: this.#starts[line]! + indent, entries: new Map() };
    let keyAt = map.offset;
    let current = line;
    for (;;) {
      const end = this.#end(current);
      let keyOffset = keyAt;
      let key: string;
      let string: boolean;
      let value: Parsed;
      if (this.#isExplicitKey(keyAt, end)) {
        // `? key` then `: value` on the next line (YAML 1.2 §8.2.2): how emitters write keys longer than 128 characters.
        ({ keyOffset, key, string, value } = this.#explicitEntry(keyAt, current, indent));
      } else {
        const colon = this.#keyEnd(keyAt, end);
        if (colon === undefined) unsupported();
        ({ key, string } = this.#key(keyAt, colon));
        value = this.#valueAfter(colon + 1, current, indent);
      }
      // The `$ref` the YAML parser's `get('$ref')` finds: the first string key.
      if (string && key === '$ref' && !this.#hasStringKey(map, key)) map.ref = this.#stringValue(value);
      addEntry(map, key, string, { keyOffset, value: value.node });
      const next = this.#nextContent(value.next);
      if (next >= this.#lineCount) return { node: map, next };
      this.#checkLineStart(next);
      const nextIndent = this.#indent(next);
      if (nextIndent < indent) {
        if (nextIndent > parent) unsupported();
        return { node: map, next };
      }
      if (nextIndent > indent) unsupported();
      keyAt = this.#starts[next]! + indent;
      if (this.#isSeqIndicator(keyAt, this.#end(next))) unsupported();
      current = next;
    }
  }

  /**
   * An explicit entry: `?` at `at` on `line` followed by a single-line scalar key, then a line at the mapping's column
   * `indent` with `:` and the value. Anything else (a key over several lines or a collection as key, no value) is left
   * to the YAML parser.
   */
  #explicitEntry(at: number, line: number, indent: number): { keyOffset: number; key: string; string: boolean; value: Parsed } {
    const text = this.#text;
    const end = this.#end(line);
    const keyOffset = this.#skipSpaces(at + 1, end);
    if (keyOffset === end) unsupported();
    const c = text.charCodeAt(keyOffset);
    let key: { key: string; string: boolean };
    if (c === QUOTE || c === APOSTROPHE) {
      const close = this.#quotedEnd(keyOffset, undefined);
      key = { key: this.#quotedValue(keyOffset, close), string: true };
      this.#restIsEmpty(close);
    } else {
      const rest = text.slice(keyOffset, end);
      const comment = rest.search(/[ \t]#/);
      const plain = (comment === -1 ? rest : rest.slice(0, comment)).trimEnd();
      if (NOT_PLAIN_START.has(c) || VALUE_INDICATOR.test(plain)) unsupported();
      key = plainKey(plain);
    }
    const valueLine = this.#nextContent(line + 1);
    if (valueLine >= this.#lineCount || this.#indent(valueLine) !== indent) unsupported();
    const colon = this.#starts[valueLine]! + indent;
    const valueEnd = this.#end(valueLine);
    if (text.charCodeAt(colon) !== COLON || !(colon + 1 === valueEnd || text.charCodeAt(colon + 1) === SPACE)) unsupported();
    return { keyOffset, ...key, value: this.#nodeAfterIndicator(colon + 1, valueLine, indent) };
  }

  /** A block sequence whose first `-` is on `line` at column `indent`. `parent === indent`: a compact sequence in a mapping. */
  #sequence(line: number, indent: number, parent: number): Parsed<YamlSeq> {
    const seq: YamlSeq = { kind: 'seq', offset: this.#starts[line]! + indent, items: [] };
    let current = line;
    for (;;) {
      const dash = this.#starts[current]! + indent;
      const item = this.#nodeAfterIndicator(dash + 1, current, indent);
      seq.items.push(item.node);
      const next = this.#nextContent(item.next);
      if (next >= this.#lineCount) return { node: seq, next };
      this.#checkLineStart(next);
      const nextIndent = this.#indent(next);
      const nextAt = this.#starts[next]! + nextIndent;
      if (nextIndent === indent && this.#isSeqIndicator(nextAt, this.#end(next))) {
        current = next;
        continue;
      }
      // Ends at a less indented line, or (compact in a mapping) at the mapping's next key.
      if (nextIndent < indent ? nextIndent > parent : !(nextIndent === indent && parent === indent)) unsupported();
      return { node: seq, next };
    }
  }

  /**
   * The node after a block indicator at `after - 1` on `line`: a sequence's `-`, or an explicit entry's `:`, at column
   * `indent`. On the same line it may be a compact sequence or mapping, or a scalar; else it is on the lines below.
   */
  #nodeAfterIndicator(after: number, line: number, indent: number): Parsed {
    const end = this.#end(line);
    const at = this.#skipSpaces(after, end);
    if (at === end || (this.#text.charCodeAt(at) === HASH && at > after)) {
      const next = this.#nextContent(line + 1);
      if (next < this.#lineCount && this.#indent(next) > indent) return this.#blockNode(next, this.#indent(next), indent);
      // An empty item: the `yaml` parser places it where nothing is written; not reproduced.
      return unsupported();
    }
    const column = this.#column(at);
    if (this.#isSeqIndicator(at, end)) return this.#sequence(line, column, indent);
    if (this.#keyEnd(at, end) !== undefined) return this.#mapping(line, column, indent);
    return this.#scalarValue(at, indent);
  }

  /**
   * The value after a mapping's `:` (at `after - 1`) on `line`, in a mapping at column `indent`: on the same line (a
   * scalar or a flow collection), or on the lines below (a more indented block node, or a sequence at the same column).
   */
  #valueAfter(after: number, line: number, indent: number): Parsed {
    const end = this.#end(line);
    const at = this.#skipSpaces(after, end);
    if (at === end || (this.#text.charCodeAt(at) === HASH && at > after)) {
      const next = this.#nextContent(line + 1);
      if (next < this.#lineCount) {
        const nextIndent = this.#indent(next);
        if (nextIndent > indent) return this.#blockNode(next, nextIndent, indent);
        if (nextIndent === indent && this.#isSeqIndicator(this.#starts[next]! + indent, this.#end(next))) {
          return this.#sequence(next, indent, indent);
        }
      }
      return { node: EMPTY, next: line + 1 };
    }
    if (this.#isSeqIndicator(at, end)) unsupported();
    if (this.#keyEnd(at, end) !== undefined) unsupported();
    return this.#scalarValue(at, indent);
  }

  /**
   * A scalar or flow collection starting at `at`, the value of a collection at column `parent`: continuation lines
   * (of a quoted, plain or block scalar, or a flow collection) must be more indented than `parent`.
   */
  #scalarValue(at: number, parent: number): Parsed {
    const text = this.#text;
    const c = text.charCodeAt(at);
    const line = this.#lineOf(at);
    if (c === 0x7c /* | */ || c === 0x3e /* > */) return this.#blockScalar(at, line, parent);
    let endOffset: number;
    let node: YamlNode;
    let multiline = false;
    if (c === QUOTE || c === APOSTROPHE) {
      endOffset = this.#quotedEnd(at, parent);
      node = at;
      multiline = text.slice(at, endOffset).includes('\n');
    } else if (c === OPEN_BRACKET || c === OPEN_BRACE) {
      const flow = this.#flowCollection(at, parent);
      endOffset = flow.end;
      node = flow.node;
    } else {
      if (NOT_PLAIN_START.has(c) && !(c === DASH && !this.#isSeqIndicator(at, this.#end(line)))) unsupported();
      return this.#plainScalar(at, line, parent);
    }
    this.#restIsEmpty(endOffset);
    const next = this.#lineOf(endOffset - 1) + 1;
    // Nothing more indented may follow a complete quoted scalar or flow collection.
    const following = this.#nextContent(next);
    if (following < this.#lineCount && this.#indent(following) > parent) unsupported();
    return { node, next, multiline };
  }

  /** A plain scalar from `at`, possibly continued on more indented lines (YAML 1.2 §7.3.3). */
  #plainScalar(at: number, line: number, parent: number): Parsed {
    const text = this.#text;
    const end = this.#end(line);
    const first = text.slice(at, end);
    const comment = first.search(/[ \t]#/);
    const content = comment === -1 ? first : first.slice(0, comment);
    if (VALUE_INDICATOR.test(content)) unsupported();
    let commented = comment !== -1;
    let multiline = false;
    let current = line + 1;
    for (; current < this.#lineCount; current++) {
      if (this.#blank(current)) continue;
      const indent = this.#indent(current);
      const start = this.#starts[current]! + indent;
      if (text.charCodeAt(start) === HASH) {
        commented = true;
        continue;
      }
      if (indent <= parent) break;
      // A continuation line is folded into the scalar whatever it starts with, unless a comment came between (an error
      // for YAML); a `: ` in it, or a comment after it, is left to the YAML parser.
      const more = text.slice(start, this.#end(current));
      if (commented || VALUE_INDICATOR.test(more) || /[ \t]#/.test(more)) unsupported();
      multiline = true;
    }
    return { node: at, next: current, multiline };
  }

  /** A literal or folded block scalar whose header is at `at` (YAML 1.2 §8.1), content more indented than `parent`. */
  #blockScalar(at: number, line: number, parent: number): Parsed {
    const header = /^[|>][+-]?(?=[ \t]|$)/.exec(this.#text.slice(at, this.#end(line)));
    // An explicit indentation indicator (`|2`) is left to the YAML parser.
    if (!header) unsupported();
    this.#restIsEmpty(at + header[0].length);
    let contentIndent = -1;
    let leadingBlankWidth = 0;
    let current = line + 1;
    for (; current < this.#lineCount; current++) {
      const indent = this.#indent(current);
      if (indent === this.#end(current) - this.#starts[current]!) {
        // All spaces: part of the scalar whatever the width, except too wide before the first content line.
        if (contentIndent === -1) leadingBlankWidth = Math.max(leadingBlankWidth, indent);
        continue;
      }
      if (indent <= parent) break;
      if (contentIndent === -1) {
        contentIndent = indent;
        if (leadingBlankWidth > contentIndent) unsupported();
      } else if (indent < contentIndent) {
        unsupported();
      }
    }
    return { node: at, next: current, multiline: true };
  }

  // --- quoted scalars and flow collections ------------------------------------------------------------------------

  /**
   * The offset after the closing quote of the quoted scalar at `at`. The lines it continues on must be more indented
   * than `parent`; with `parent` undefined it must close on its own line, else the answer is -1.
   */
  #quotedEnd(at: number, parent: number | undefined): number {
    const text = this.#text;
    const double = text.charCodeAt(at) === QUOTE;
    let i = at + 1;
    for (;;) {
      if (i >= text.length) unsupported();
      const c = text.charCodeAt(i);
      if (double && c === BACKSLASH) {
        // An escaped line break is still a line break: its next line is checked below.
        const next = text.charCodeAt(i + 1);
        i += next === LF || next === CR ? 1 : 2;
        continue;
      }
      if (double ? c === QUOTE : c === APOSTROPHE) {
        if (!double && text.charCodeAt(i + 1) === APOSTROPHE) {
          i += 2;
          continue;
        }
        return i + 1;
      }
      if (c === LF) {
        if (parent === undefined) return -1;
        this.#continuationLine(i + 1, parent);
      }
      i++;
    }
  }

  /** A line that continues a flow scalar or collection: blank, or more indented than `parent`, and no document marker. */
  #continuationLine(start: number, parent: number): void {
    const line = this.#lineOf(start);
    if (line >= this.#lineCount) unsupported();
    this.#checkLineStart(line);
    if (this.#blank(line)) return;
    if (this.#indent(line) <= parent) unsupported();
  }

  /** The value of a single-line quoted scalar between `at` and `end` (after the closing quote). */
  #quotedValue(at: number, end: number): string {
    if (end === -1) unsupported();
    const raw = this.#text.slice(at + 1, end - 1);
    if (/[\n\r]/.test(raw)) unsupported();
    if (this.#text.charCodeAt(at) === APOSTROPHE) return raw.replaceAll("''", "'");
    if (!raw.includes('\\')) return raw;
    // Escapes that JSON shares with YAML (§5.7), and no raw control character (JSON has none); else the YAML parser.
    // eslint-disable-next-line no-control-regex
    if (/\\(?!["\\/bfnrt]|u[0-9a-fA-F]{4})/.test(raw) || /[\u0000-\u001f]/.test(raw)) unsupported();
    return JSON.parse(`"${raw}"`) as string;
  }

  /** Whether a mapping being built already has `key` as a string key. */
  #hasStringKey(map: YamlMap, key: string): boolean {
    return (map.stringKeys ?? map.entries).has(key);
  }

  /**
   * The string value of a `$ref`'s node, as the `yaml` parser would give it (undefined when not a string). `end`: where
   * a scalar inside a flow collection ends; a block scalar ends with its line (or its comment).
   */
  #stringValue(parsed: { node: YamlNode; multiline?: boolean; end?: number }): string | undefined {
    if (typeof parsed.node !== 'number') return undefined;
    // Folded over several lines: left to the YAML parser.
    if (parsed.multiline) unsupported();
    const text = this.#text;
    const at = parsed.node;
    const c = text.charCodeAt(at);
    if (c === QUOTE || c === APOSTROPHE) return this.#quotedValue(at, this.#quotedEnd(at, undefined));
    if (c === 0x7c || c === 0x3e) unsupported();
    if (parsed.end !== undefined) return plainString(text.slice(at, parsed.end));
    const rest = text.slice(at, this.#end(this.#lineOf(at)));
    const comment = rest.search(/[ \t]#/);
    return plainString((comment === -1 ? rest : rest.slice(0, comment)).trimEnd());
  }

  /** The flow sequence or mapping at `at` (YAML 1.2 §7.4, §7.5) and the offset after its closing bracket. */
  #flowCollection(at: number, parent: number): { node: YamlMap | YamlSeq; end: number } {
    const text = this.#text;
    const isMap = text.charCodeAt(at) === OPEN_BRACE;
    const close = isMap ? CLOSE_BRACE : CLOSE_BRACKET;
    const map: YamlMap = { kind: 'map', offset: at, entries: new Map() };
    const seq: YamlSeq = { kind: 'seq', offset: at, items: [] };
    let i = this.#skipFlowSpace(at + 1, parent);
    while (text.charCodeAt(i) !== close) {
      const first = this.#flowNode(i, parent);
      let after = this.#skipFlowSpace(first.end, parent);
      if (isMap) {
        if (text.charCodeAt(after) !== COLON) unsupported();
        const { key, string } = this.#flowKey(first);
        const valueAt = this.#skipFlowSpace(after + 1, parent);
        const v = text.charCodeAt(valueAt);
        if (v === COMMA || v === CLOSE_BRACE) unsupported();
        const value = this.#flowNode(valueAt, parent);
        if (string && key === '$ref' && !this.#hasStringKey(map, key)) map.ref = this.#stringValue(value);
        addEntry(map, key, string, { keyOffset: i, value: value.node });
        after = this.#skipFlowSpace(value.end, parent);
      } else {
        // `[a: 1]` is a single-pair mapping inside a sequence: left to the YAML parser.
        if (text.charCodeAt(after) === COLON) unsupported();
        seq.items.push(first.node);
      }
      const separator = text.charCodeAt(after);
      if (separator === COMMA) i = this.#skipFlowSpace(after + 1, parent);
      else if (separator === close) i = after;
      else unsupported();
    }
    return { node: isMap ? map : seq, end: i + 1 };
  }

  /** The key a flow node makes: a single-line quoted or plain scalar. */
  #flowKey(parsed: { node: YamlNode; end: number; multiline?: boolean }): { key: string; string: boolean } {
    const at = parsed.node;
    if (typeof at !== 'number' || parsed.multiline) unsupported();
    const c = this.#text.charCodeAt(at);
    if (c === QUOTE || c === APOSTROPHE) return { key: this.#quotedValue(at, parsed.end), string: true };
    return plainKey(this.#text.slice(at, parsed.end));
  }

  /** A node inside a flow collection (a nested collection, a quoted or a plain scalar) and the offset after it. */
  #flowNode(at: number, parent: number): { node: YamlNode; end: number; multiline?: boolean } {
    const text = this.#text;
    const c = text.charCodeAt(at);
    if (c === OPEN_BRACKET || c === OPEN_BRACE) return this.#flowCollection(at, parent);
    if (c === QUOTE || c === APOSTROPHE) {
      const end = this.#quotedEnd(at, parent);
      return { node: at, end, multiline: text.slice(at, end).includes('\n') };
    }
    if (NOT_PLAIN_START.has(c) && !(c === DASH && !/[\s,[\]{}]/.test(text[at + 1] ?? ' '))) unsupported();
    FLOW_PLAIN_END.lastIndex = at;
    const stop = FLOW_PLAIN_END.exec(text);
    // A plain scalar over several lines inside a flow collection is left to the YAML parser.
    if (!stop || text.charCodeAt(stop.index) === LF) unsupported();
    return { node: at, end: at + text.slice(at, stop.index).trimEnd().length };
  }

  /** Spaces, line breaks and comments inside a flow collection. */
  #skipFlowSpace(at: number, parent: number): number {
    const text = this.#text;
    let i = at;
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === SPACE || c === TAB || c === CR) {
        i++;
      } else if (c === LF) {
        this.#continuationLine(i + 1, parent);
        i++;
      } else if (c === HASH && (i === at ? i > 0 && /\s/.test(text[i - 1]!) : true)) {
        const nl = text.indexOf('\n', i);
        if (nl === -1) unsupported();
        i = nl;
      } else if (Number.isNaN(c)) {
        return unsupported();
      } else {
        return i;
      }
    }
  }
}

/** A plain key as the core schema reads it: a string, or a plain integer that prints back the same; else unsupported. */
function plainKey(text: string): { key: string; string: boolean } {
  if (text === '') unsupported();
  const value = plainString(text);
  if (value !== undefined) return { key: value, string: true };
  if (CANONICAL_INT.test(text)) return { key: text, string: false };
  return unsupported();
}

/** A plain scalar's value when the core schema reads it as a string, else undefined (null, a boolean, a number). */
function plainString(text: string): string | undefined {
  return CORE_NON_STRING.some((pattern) => pattern.test(text)) ? undefined : text;
}

const STRUCTURE = /["{}[\]]/g;
const SCALAR_END = /[\s,}\]]/g;

function skipWhitespace(text: string, at: number): number {
  let i = at;
  for (;;) {
    const c = text.charCodeAt(i);
    // RFC 8259 §2: space, horizontal tab, line feed, carriage return.
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
    else return i;
  }
}

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** `file:line:column` (or just `file`) plus the pointer, as config errors print it. */
export function formatPosition(position: SourcePosition): string {
  const where = position.line === undefined ? position.file : `${position.file}:${position.line}:${position.column}`;
  return `${where} #${position.pointer}`;
}
