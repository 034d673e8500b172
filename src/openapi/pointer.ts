/**
 * JSON Pointer (RFC 6901) helpers over a parsed OpenAPI document, and `$ref` resolution inside the bundled document
 * (after bundling, every reference is internal: `#/components/schemas/Pet`, `#/definitions/Pet`, or any pointer).
 */

/** Escapes one reference token (RFC 6901 §3: `~` → `~0`, `/` → `~1`). */
export function escapeToken(token: string): string {
  return token.includes('~') || token.includes('/') ? token.replaceAll('~', '~0').replaceAll('/', '~1') : token;
}

export function unescapeToken(token: string): string {
  return token.includes('~') ? token.replaceAll('~1', '/').replaceAll('~0', '~') : token;
}

export function joinPointer(base: string, ...tokens: Array<string | number>): string {
  let out = base;
  for (const token of tokens) out += '/' + escapeToken(String(token));
  return out;
}

export function splitPointer(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer.slice(1).split('/').map(unescapeToken);
}

/** The pointer of a `$ref` value inside the same document, or undefined for any other form (anchors, URIs). */
export function refPointer(ref: string): string | undefined {
  if (ref === '#') return '';
  if (!ref.startsWith('#/')) return undefined;
  // The fragment is URI-encoded (RFC 6901 §6): `#/paths/~1pets%7Bid%7D`.
  try {
    return decodeURIComponent(ref.slice(1));
  } catch {
    return undefined;
  }
}

const MISSING = Symbol('missing');

/** The value at `pointer` in `root` (own properties only), or undefined when absent. */
export function getAt(root: unknown, pointer: string): unknown {
  const value = getAtOr(root, pointer);
  return value === MISSING ? undefined : value;
}

export function hasAt(root: unknown, pointer: string): boolean {
  return getAtOr(root, pointer) !== MISSING;
}

function getAtOr(root: unknown, pointer: string): unknown {
  let node = root;
  for (const token of splitPointer(pointer)) {
    if (Array.isArray(node)) {
      if (!/^(0|[1-9]\d*)$/.test(token)) return MISSING;
      const index = Number(token);
      if (index >= node.length) return MISSING;
      node = node[index];
    } else if (node !== null && typeof node === 'object') {
      if (!Object.hasOwn(node, token)) return MISSING;
      node = (node as Record<string, unknown>)[token];
    } else {
      return MISSING;
    }
  }
  return node;
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** A node of the document with the pointer it was found at (what errors and compiled validators are keyed by). */
export interface Located<T = unknown> {
  readonly value: T;
  readonly pointer: string;
}

/**
 * Follows `$ref` chains from `pointer` (an object that is only a reference may point at another reference) and
 * returns the final target, or an error message. Chains are bounded: a reference to itself is an error, not a loop.
 */
export function deref(root: unknown, value: unknown, pointer: string): Located | { error: string; pointer: string } {
  let current: Located = { value, pointer };
  const seen = new Set<string>();
  for (;;) {
    if (!isObject(current.value) || typeof current.value.$ref !== 'string') return current;
    const ref = current.value.$ref;
    const target = refPointer(ref);
    if (target === undefined) return { error: `unsupported $ref form ${JSON.stringify(ref.slice(0, 200))} (only local JSON pointers after bundling)`, pointer: current.pointer };
    if (seen.has(target)) return { error: `$ref cycle through ${ref}`, pointer: current.pointer };
    seen.add(target);
    if (!hasAt(root, target)) return { error: `$ref target ${JSON.stringify(ref.slice(0, 200))} does not exist`, pointer: current.pointer };
    current = { value: getAt(root, target), pointer: target };
  }
}
