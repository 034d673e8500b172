/**
 * Locations in a request or response as JSON Pointers (RFC 6901), and allow-lists of them.
 *
 * Findings name where something was found (`/body/items/3/note`, `/query/q`, `/headers/x-foo`), never what. An
 * allow-list entry exempts a location and everything below it; it is written as a pointer (`/body/comment`,
 * `/users/*` + `/email`, where `*` matches any one member or index) or as a dotted path (`user.email`,
 * `users[].email`, `users[*].email`), compiled once into a tree that the walkers descend together with the value.
 */

/** Longest segment written into a finding; keys are client-chosen, so a location can never carry a payload. */
const MAX_SEGMENT = 64;
const MAX_POINTER = 512;

/** RFC 6901 §3: `~` is written `~0` and `/` is written `~1`. Long segments are cut (see MAX_SEGMENT). */
export function escapeSegment(segment: string): string {
  let s = segment.length > MAX_SEGMENT ? `${segment.slice(0, MAX_SEGMENT)}…` : segment;
  if (s.includes('~')) s = s.replaceAll('~', '~0');
  if (s.includes('/')) s = s.replaceAll('/', '~1');
  return s;
}

/** The pointer of a path of segments (`['body', 'items', '3']` → `/body/items/3`), bounded in length. */
export function pointerOf(segments: readonly string[]): string {
  let out = '';
  for (const segment of segments) {
    out += '/' + escapeSegment(segment);
    if (out.length > MAX_POINTER) return `${out.slice(0, MAX_POINTER)}…`;
  }
  return out;
}

export type ParsedEntry = { readonly ok: true; readonly segments: readonly string[] } | { readonly ok: false; readonly reason: string };

/** Parses an allow-list entry: a JSON Pointer (`/a/b/0`, `*` for any) or a dotted path (`a.b[].c`, `a[0].b`). */
export function parseLocation(entry: string): ParsedEntry {
  if (entry.length === 0) return { ok: false, reason: 'is empty' };
  if (entry.startsWith('/')) {
    const segments = entry
      .slice(1)
      .split('/')
      .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
    if (/~[^01]/.test(entry) || entry.endsWith('~')) return { ok: false, reason: 'has a "~" that is not "~0" or "~1" (RFC 6901)' };
    return { ok: true, segments };
  }
  const segments: string[] = [];
  for (const part of entry.split('.')) {
    if (part === '') return { ok: false, reason: 'has an empty segment (".." or a leading or trailing ".")' };
    const open = part.indexOf('[');
    const name = open === -1 ? part : part.slice(0, open);
    if (name !== '') segments.push(name);
    if (open === -1) continue;
    let rest = part.slice(open);
    while (rest.length > 0) {
      const close = rest.indexOf(']');
      if (!rest.startsWith('[') || close === -1) return { ok: false, reason: `"${part}" has unbalanced brackets` };
      const index = rest.slice(1, close);
      if (index !== '' && index !== '*' && !/^\d{1,9}$/.test(index)) return { ok: false, reason: `"[${index}]" is not [], [*] or an index` };
      segments.push(index === '' ? '*' : index);
      rest = rest.slice(close + 1);
    }
  }
  return { ok: true, segments };
}

/** One node of the compiled allow tree. */
export interface AllowNode {
  /** This location (and everything below it) is allowed. */
  readonly end: boolean;
  readonly children: ReadonlyMap<string, AllowNode>;
  /** The `*` child: matches any one member name or array index. */
  readonly any: AllowNode | undefined;
}

interface MutableNode {
  end: boolean;
  children: Map<string, MutableNode>;
  any: MutableNode | undefined;
}

const NONE: readonly AllowNode[] = Object.freeze([]);

/** A compiled allow-list. `start()` gives the nodes for the root; `step()` descends one segment. */
export class AllowList {
  readonly #root: AllowNode | undefined;

  /** `entries` must be valid (see parseLocation; config checks report invalid ones with their path first). */
  constructor(entries: readonly string[]) {
    if (entries.length === 0) {
      this.#root = undefined;
      return;
    }
    const root: MutableNode = { end: false, children: new Map(), any: undefined };
    for (const entry of entries) {
      const parsed = parseLocation(entry);
      if (!parsed.ok) throw new Error(`allow-list entry "${entry}" ${parsed.reason}`);
      let node = root;
      for (const segment of parsed.segments) {
        if (segment === '*') node = node.any ??= { end: false, children: new Map(), any: undefined };
        else {
          let next = node.children.get(segment);
          if (next === undefined) {
            next = { end: false, children: new Map(), any: undefined };
            node.children.set(segment, next);
          }
          node = next;
        }
      }
      node.end = true;
    }
    this.#root = root;
  }

  get empty(): boolean {
    return this.#root === undefined;
  }

  /** The active nodes at the root (none when the list is empty: nothing is ever allowed). */
  start(): readonly AllowNode[] {
    return this.#root === undefined ? NONE : [this.#root];
  }

  /** The active nodes below `segment`. */
  static step(nodes: readonly AllowNode[], segment: string): readonly AllowNode[] {
    if (nodes.length === 0) return NONE;
    let out: AllowNode[] | undefined;
    for (const node of nodes) {
      const child = node.children.get(segment);
      if (child !== undefined) (out ??= []).push(child);
      if (node.any !== undefined) (out ??= []).push(node.any);
    }
    return out ?? NONE;
  }

  /** Whether any of the active nodes ends here (the location is allowed with everything below it). */
  static allowed(nodes: readonly AllowNode[]): boolean {
    for (const node of nodes) if (node.end) return true;
    return false;
  }

  /** Whether a whole path of segments is allowed. */
  allows(segments: readonly string[]): boolean {
    let nodes = this.start();
    if (AllowList.allowed(nodes)) return true;
    for (const segment of segments) {
      nodes = AllowList.step(nodes, segment);
      if (nodes.length === 0) return false;
      if (AllowList.allowed(nodes)) return true;
    }
    return false;
  }
}
