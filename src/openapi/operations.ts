/**
 * Operation index: (method, canonical path) → operation of the document (issue 5 item 1). Path templates match
 * segment by segment; at each segment a literal beats a template with literal parts (`{name}.json`), which beats a
 * bare `{param}` (OpenAPI 3 §4.8.8 "When matching URLs, concrete (non-templated) paths would be matched before their
 * templated counterparts"). Matching backtracks over the tree, so `/a/{x}/c` and `/a/b/d` both work for `/a/b/c`
 * (each node is tried at most once, so this stays linear in the size of the tree). Within one segment there is no
 * backtracking at all: see matchSegment. The path is the gateway's canonical path (one string for routing, policy and
 * forwarding), less an optional prefix.
 *
 * Parameter values are returned as matched (still percent-encoded); params.ts decodes them by style.
 */
import type { LoadIssue } from './model.ts';

export interface IndexCandidate<T> {
  readonly value: T;
  readonly params: ReadonlyMap<string, string>;
}

export type IndexMatch<T> =
  /** Usually one candidate; several when the document declares templates differing only in parameter names. */
  | { readonly kind: 'found'; readonly candidates: readonly IndexCandidate<T>[] }
  | { readonly kind: 'method-not-allowed'; readonly allow: readonly string[] }
  | { readonly kind: 'not-found' };

interface Pattern<T> {
  /** The segment template's literals, `L0{p1}L1…{pk}Lk` → [L0, …, Lk]: see matchSegment. */
  readonly literals: readonly string[];
  /** Identifies the pattern: templates whose segments differ only in parameter names share it. */
  readonly key: string;
  /** Total length of the literal parts: the more literal, the more specific. */
  readonly literalLength: number;
  readonly node: Node<T>;
}

/** How to read one template's parameter values out of the matched segments (built once per template). */
type Extractor = ReadonlyArray<{ readonly index: number; readonly names: readonly string[]; readonly literals: readonly string[] | undefined }>;

interface Endpoint<T> {
  readonly value: T;
  readonly template: string;
  readonly extractor: Extractor;
}

interface Node<T> {
  readonly literal: Map<string, Node<T>>;
  readonly patterns: Array<Pattern<T>>;
  param: Node<T> | undefined;
  readonly methods: Map<string, Array<Endpoint<T>>>;
}

function newNode<T>(): Node<T> {
  return { literal: new Map(), patterns: [], param: undefined, methods: new Map() };
}

const PARAM = /\{([^{}]+)\}/g;
const WHOLE_PARAM = /^\{([^{}]+)\}$/;

/** `{name}.{ext}` → literals ['', '.', ''] and names ['name', 'ext']. A `{` that opens no `{name}` stays literal. */
function segmentPattern(segment: string): { literals: string[]; names: string[]; literalLength: number } {
  const names: string[] = [];
  const literals: string[] = [];
  let last = 0;
  for (const match of segment.matchAll(PARAM)) {
    literals.push(segment.slice(last, match.index));
    names.push(match[1]!);
    last = match.index + match[0].length;
  }
  literals.push(segment.slice(last));
  return { literals, names, literalLength: literals.reduce((sum, literal) => sum + literal.length, 0) };
}

/** A parameter's value never holds these: the regex `.` this matcher replaced (no `s` flag) did not match them. */
function hasLineTerminator(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x0a || c === 0x0d || c === 0x2028 || c === 0x2029) return true;
  }
  return false;
}

/**
 * Matches one path segment against a segment template `L0{p1}L1{p2}…{pk}Lk` (OpenAPI 3.1 §4.8.2 "Path Templating":
 * a parameter is one segment's worth of RFC 6570 simple expansion, so never `/`) and returns p1…pk, still
 * percent-encoded, or undefined.
 *
 * Why not a regex: the natural one, /^L0(.+?)L1(.+?)…Lk$/, which this code used before, backtracks polynomially in the
 * segment length (degree = number of parameters) when it fails or succeeds late: `/files/{a}-{b}-{c}.csv` against a
 * segment of 8,180 `-` took 42 s, and any client can send that path. This matcher does no backtracking: each
 * literal is searched for once, starting where the previous search left off, so it costs O(n · Σ|Li|).
 *
 * It returns exactly what that lazy regex captured (the first match in backtracking order, i.e. the one whose
 * literal positions are lexicographically smallest), with the same rules: L0 at the start, Lk at the end, every
 * parameter at least one character (`.+?`) holding no line terminator (`.` without the `s` flag), code units compared
 * exactly. Each middle literal goes at its earliest occurrence at least one character past the previous parameter's
 * start. Earliest is never wrong: if a match exists with Li at a later position q, moving Li to its earliest
 * occurrence q* < q only shortens p(i) and lengthens p(i+1) by characters that were in p(i) or in Li (if Li at q*
 * ended before q, all of it lay inside the old p(i); if the two overlap, Li repeats with period q − q* and its first
 * q − q* characters lay inside the old p(i)), so p(i+1) gains no line terminator, and the later literals stay put.
 * Conversely, if the earliest placement leaves a line terminator in p(i), every later placement would too.
 */
function matchSegment(literals: readonly string[], segment: string): string[] | undefined {
  const last = literals.length - 1;
  const head = literals[0]!;
  if (last === 0) return segment === head ? [] : undefined;
  const tail = literals[last]!;
  if (!segment.startsWith(head) || !segment.endsWith(tail)) return undefined;
  /** Where the tail literal starts: the last parameter ends here. */
  const end = segment.length - tail.length;
  const values: string[] = [];
  let start = head.length;
  for (let i = 1; i < last; i++) {
    const literal = literals[i]!;
    const at = segment.indexOf(literal, start + 1);
    // The next parameter needs a character before the tail; a later occurrence would leave it even less room.
    if (at < 0 || at + literal.length >= end || hasLineTerminator(segment, start, at)) return undefined;
    values.push(segment.slice(start, at));
    start = at + literal.length;
  }
  if (start >= end || hasLineTerminator(segment, start, end)) return undefined;
  values.push(segment.slice(start, end));
  return values;
}

export class OperationIndex<T> {
  readonly #root: Node<T> = newNode();

  /**
   * Adds an operation. Two templates that differ only in parameter names (`/pets/{id}` and `/pets/{petId}`) are the
   * same path (OpenAPI 3 §4.8.8.1: "MUST NOT exist ... identical"), yet real documents have them (Trello, HealthCare.gov):
   * the same method on both is a warning, and both stay candidates (the policy takes the first whose parameters fit).
   */
  add(method: string, template: string, value: T, pointer: string, issues: LoadIssue[]): void {
    let node = this.#root;
    const extractor: Array<{ index: number; names: string[]; literals: readonly string[] | undefined }> = [];
    template.split('/').forEach((segment, index) => {
      if (index === 0) return;
      const whole = WHOLE_PARAM.exec(segment);
      if (whole) {
        node.param ??= newNode();
        node = node.param;
        extractor.push({ index, names: [whole[1]!], literals: undefined });
        return;
      }
      if (!segment.includes('{')) {
        let next = node.literal.get(segment);
        if (!next) {
          next = newNode();
          node.literal.set(segment, next);
        }
        node = next;
        return;
      }
      const { literals, names, literalLength } = segmentPattern(segment);
      extractor.push({ index, names, literals });
      const key = JSON.stringify(literals);
      let pattern = node.patterns.find((p) => p.key === key);
      if (!pattern) {
        pattern = { literals, key, literalLength, node: newNode() };
        node.patterns.push(pattern);
        node.patterns.sort((a, b) => b.literalLength - a.literalLength);
      }
      node = pattern.node;
    });
    const existing = node.methods.get(method);
    if (existing) {
      issues.push({
        severity: 'warning',
        pointer,
        message: `${method} ${template} is the same path as ${method} ${existing[0]!.template} (templates differing only in parameter names are identical); requests are checked against the first whose parameters fit`,
      });
      existing.push({ value, template, extractor });
      return;
    }
    node.methods.set(method, [{ value, template, extractor }]);
  }

  match(method: string, path: string): IndexMatch<T> {
    if (!path.startsWith('/')) return { kind: 'not-found' };
    const segments = path.split('/');
    const found = this.#walk(this.#root, segments, 1);
    if (!found) return { kind: 'not-found' };
    // HEAD is GET without a body (RFC 9110 §9.3.2): an operation declared for GET serves HEAD.
    const endpoints = found.methods.get(method) ?? (method === 'HEAD' ? found.methods.get('GET') : undefined);
    if (endpoints === undefined) {
      const allow = [...found.methods.keys()];
      if (allow.includes('GET') && !allow.includes('HEAD')) allow.push('HEAD');
      return { kind: 'method-not-allowed', allow: allow.sort() };
    }
    return { kind: 'found', candidates: endpoints.map((e) => ({ value: e.value, params: extract(e.extractor, segments) })) };
  }

  #walk(node: Node<T>, segments: readonly string[], index: number): Node<T> | undefined {
    if (index === segments.length) return node.methods.size > 0 ? node : undefined;
    const segment = segments[index]!;
    const literal = node.literal.get(segment);
    if (literal) {
      const found = this.#walk(literal, segments, index + 1);
      if (found) return found;
    }
    if (segment === '') return undefined;
    for (const pattern of node.patterns) {
      if (matchSegment(pattern.literals, segment) === undefined) continue;
      const found = this.#walk(pattern.node, segments, index + 1);
      if (found) return found;
    }
    return node.param ? this.#walk(node.param, segments, index + 1) : undefined;
  }
}

function extract(extractor: Extractor, segments: readonly string[]): Map<string, string> {
  const params = new Map<string, string>();
  for (const part of extractor) {
    const segment = segments[part.index]!;
    if (part.literals === undefined) {
      params.set(part.names[0]!, segment);
      continue;
    }
    const values = matchSegment(part.literals, segment);
    if (values) part.names.forEach((name, j) => params.set(name, values[j]!));
  }
  return params;
}
