/**
 * Property-level authorization (issue 4 point 4; OWASP API3:2023 Broken Object Property Level Authorization:
 * mass assignment on writes, excessive data exposure on reads).
 *
 * Per role, the properties it may write (request body) and read (response body), as dotted paths where `[]` steps
 * into every element of an array: `quantity`, `address.city`, `items[].price`, `matrix[][]`. A path allows its
 * whole subtree (`address` allows `address.city`). The allowed set of a principal is the union over its roles,
 * inheritance included.
 *
 * Writes: every property of the body must lie on an allowed path; anything else is a violation, which the route
 * either rejects (403) or strips. A value of another shape than the rules describe (a string where `address.city`
 * expects an object, an object where `items[]` expects an array) writes the whole property and is a violation.
 * Reads: filterReadable() keeps only the allowed paths; it needs the proxy's response-body hook (not there yet).
 *
 * Walks are iterative or bounded by the body reader's depth limit (32), and never touch the prototype: bodies
 * come from the hardened reader, which refuses `__proto__`, `constructor` and `prototype` keys.
 */

/** A compiled set of allowed paths. */
export class PropertyTree {
  /** Everything below is allowed. */
  leaf = false;
  readonly children = new Map<string, PropertyTree>();
  /** Allowed shape of array elements (`name[]`). */
  elements: PropertyTree | undefined = undefined;
}

const SEGMENT = /^([A-Za-z0-9_$@-]+|\*)?((?:\[\])*)$/;
const FORBIDDEN_NAMES = new Set(['__proto__', 'constructor', 'prototype']);

/** Checks one property path's syntax; returns an error message or undefined. */
export function checkPropertyPath(path: string): string | undefined {
  if (path === '' || path.length > 512) return 'must be a non-empty dotted path (at most 512 characters)';
  const segments = path.split('.');
  for (const [i, segment] of segments.entries()) {
    const match = SEGMENT.exec(segment);
    if (!match) return `segment "${segment}" is not NAME or NAME[] (letters, digits, _ $ @ -)`;
    if (match[1] === undefined && i > 0) return `segment "${segment}" has no name`;
    if (match[1] === undefined && match[2] === '') return 'has an empty segment';
    if (match[1] !== undefined && FORBIDDEN_NAMES.has(match[1])) return `"${match[1]}" is never a valid property`;
  }
  return undefined;
}

/** Compiles paths (already checked) into one tree. `[]` at the very start means the body itself is an array. */
export function compilePropertyTree(paths: Iterable<string>): PropertyTree {
  const root = new PropertyTree();
  for (const path of paths) {
    let node = root;
    for (const segment of path.split('.')) {
      const match = SEGMENT.exec(segment)!;
      if (match[1] !== undefined) {
        let child = node.children.get(match[1]);
        if (child === undefined) {
          child = new PropertyTree();
          node.children.set(match[1], child);
        }
        node = child;
      }
      const arrays = match[2]!.length / 2;
      for (let i = 0; i < arrays; i++) {
        node.elements ??= new PropertyTree();
        node = node.elements;
      }
    }
    node.leaf = true;
  }
  return root;
}

const MAX_REPORTED = 16;

export interface WriteCheck {
  /** Paths that are not writable (first 16), in the `items[].price` notation. */
  readonly violations: string[];
  /** The body with violations removed (only when asked to strip and there were violations). */
  readonly stripped?: unknown;
}

/**
 * Checks a parsed JSON body against the allowed tree. With `strip`, also returns a copy with every violation
 * removed (object members deleted, array elements of the wrong shape dropped). The input is never modified.
 */
export function checkWrites(body: unknown, tree: PropertyTree, strip: boolean): WriteCheck {
  const violations: string[] = [];
  let count = 0;
  const note = (path: string) => {
    count++;
    if (violations.length < MAX_REPORTED) violations.push(path || '(body)');
  };
  const visit = (value: unknown, node: PropertyTree, path: string): { keep: boolean; value: unknown } => {
    if (node.leaf) return { keep: true, value };
    if (Array.isArray(value)) {
      if (node.elements === undefined) {
        note(path);
        return { keep: false, value };
      }
      const out: unknown[] | undefined = strip ? [] : undefined;
      for (const element of value) {
        const result = visit(element, node.elements, `${path}[]`);
        if (result.keep) out?.push(result.value);
      }
      return { keep: true, value: out ?? value };
    }
    if (value !== null && typeof value === 'object' && (node.children.size > 0 || node.elements === undefined)) {
      const out: Record<string, unknown> | undefined = strip ? {} : undefined;
      for (const key of Object.keys(value)) {
        const child = node.children.get(key);
        const childPath = path === '' ? key : `${path}.${key}`;
        if (child === undefined) {
          note(childPath);
          continue;
        }
        const result = visit((value as Record<string, unknown>)[key], child, childPath);
        if (result.keep && out !== undefined) out[key] = result.value;
      }
      return { keep: true, value: out ?? value };
    }
    // A scalar, null, or an object where only array elements are described: it overwrites the whole property.
    note(path);
    return { keep: false, value };
  };
  if (body === undefined) return { violations };
  const result = visit(body, tree, '');
  if (count === 0 || !strip) return { violations };
  return { violations, stripped: result.keep ? result.value : undefined };
}

/**
 * Keeps only readable properties of a response body (OWASP API3:2023 excessive data exposure); the authorize
 * policy calls it from the proxy's response-body stage (Authorizer.decideResponse).
 */
export function filterReadable(value: unknown, node: PropertyTree): unknown {
  if (node.leaf) return value;
  if (Array.isArray(value)) {
    if (node.elements === undefined) return undefined;
    const out: unknown[] = [];
    for (const element of value) {
      const kept = filterReadable(element, node.elements);
      if (kept !== undefined) out.push(kept);
    }
    return out;
  }
  if (value !== null && typeof value === 'object' && (node.children.size > 0 || node.elements === undefined)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value)) {
      const child = node.children.get(key);
      if (child === undefined) continue;
      const kept = filterReadable((value as Record<string, unknown>)[key], child);
      if (kept !== undefined) out[key] = kept;
    }
    return out;
  }
  return undefined;
}

/**
 * Allowed trees per role set: `rules` maps role → paths; a principal's tree is the union over its roles (after
 * inheritance, through `expand`). Compiled once per distinct role set.
 */
export class PropertyRules {
  readonly #rules: Readonly<Record<string, readonly string[]>>;
  readonly #expand: (role: string) => readonly string[];
  readonly #cache = new Map<string, PropertyTree>();

  constructor(rules: Readonly<Record<string, readonly string[]>>, expand: (role: string) => readonly string[]) {
    this.#rules = rules;
    this.#expand = expand;
  }

  treeFor(roles: readonly string[]): PropertyTree {
    const key = roles.join('\u0000');
    let tree = this.#cache.get(key);
    if (tree === undefined) {
      const paths = new Set<string>();
      for (const role of roles) {
        for (const name of [role, ...this.#expand(role)]) {
          if (Object.hasOwn(this.#rules, name)) for (const path of this.#rules[name]!) paths.add(path);
        }
      }
      tree = compilePropertyTree(paths);
      if (this.#cache.size >= 1024) this.#cache.clear();
      this.#cache.set(key, tree);
    }
    return tree;
  }
}
