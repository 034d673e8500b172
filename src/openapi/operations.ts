/**
 * Operation index: (method, canonical path) → operation of the document (issue 5 item 1). Path templates match
 * segment by segment; at each segment a literal beats a template with literal parts (`{name}.json`), which beats a
 * bare `{param}` (OpenAPI 3 §4.8.8 "When matching URLs, concrete (non-templated) paths would be matched before their
 * templated counterparts"). Matching backtracks, so `/a/{x}/c` and `/a/b/d` both work for `/a/b/c`. The path is the
 * gateway's canonical path (one string for routing, policy and forwarding), less an optional prefix.
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
  readonly regex: RegExp;
  /** Total length of the literal parts: the more literal, the more specific. */
  readonly literalLength: number;
  readonly node: Node<T>;
}

/** How to read one template's parameter values out of the matched segments (built once per template). */
type Extractor = ReadonlyArray<{ readonly index: number; readonly names: readonly string[]; readonly regex: RegExp | undefined }>;

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

/** `{name}.{ext}` → /^(.+?)\.(.+?)$/ and its names. */
function segmentPattern(segment: string): { source: string; names: string[]; literalLength: number } {
  const names: string[] = [];
  let literalLength = 0;
  let source = '^';
  let last = 0;
  for (const match of segment.matchAll(PARAM)) {
    const literal = segment.slice(last, match.index);
    literalLength += literal.length;
    source += escapeRegExp(literal) + '(.+?)';
    names.push(match[1]!);
    last = match.index + match[0].length;
  }
  const tail = segment.slice(last);
  literalLength += tail.length;
  return { source: source + escapeRegExp(tail) + '$', names, literalLength };
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
    const extractor: Array<{ index: number; names: string[]; regex: RegExp | undefined }> = [];
    template.split('/').forEach((segment, index) => {
      if (index === 0) return;
      const whole = WHOLE_PARAM.exec(segment);
      if (whole) {
        node.param ??= newNode();
        node = node.param;
        extractor.push({ index, names: [whole[1]!], regex: undefined });
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
      const { source, names, literalLength } = segmentPattern(segment);
      const regex = new RegExp(source);
      extractor.push({ index, names, regex });
      let pattern = node.patterns.find((p) => p.regex.source === source);
      if (!pattern) {
        pattern = { regex, literalLength, node: newNode() };
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
      if (!pattern.regex.test(segment)) continue;
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
    if (part.regex === undefined) {
      params.set(part.names[0]!, segment);
      continue;
    }
    const m = part.regex.exec(segment);
    if (m) part.names.forEach((name, j) => params.set(name, m[j + 1]!));
  }
  return params;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
