/**
 * Canonical JSON for hashing audit entries: the JSON Canonicalization Scheme (RFC 8785, "JCS") restricted to the
 * values an audit entry can hold (plain objects, arrays, strings, finite numbers, booleans, null).
 *
 * Why hand-written: the reference package (`canonicalize`) requires Node 22 while Rampart supports Node 20, and for
 * these values JCS is small: RFC 8785 §3.2.2.2 serialises strings exactly as ECMAScript `JSON.stringify` does and
 * §3.2.2.3 serialises numbers with ECMAScript `Number.prototype.toString` (which `JSON.stringify` uses); §3.2.3 sorts
 * object members by the UTF-16 code units of their names, which is what `Array.prototype.sort()` does with no
 * comparator. The test checks the RFC's own examples (Appendix B numbers, §3.2.3 sorting).
 *
 * Anything that has no single JSON meaning is refused instead of silently changed, because a hash over a value that
 * serialises "close enough" is a hash that a verifier cannot reproduce: `undefined`, functions, symbols, bigint,
 * NaN, ±Infinity, lone surrogates (RFC 8785 §3.2.2.2 requires well-formed strings), non-plain objects (Date, Map,
 * Buffer, class instances), cycles, and nesting deeper than `MAX_DEPTH`.
 */

export class CanonicalJsonError extends Error {
  override readonly name = 'CanonicalJsonError';
}

/** Audit details are small; a deeper value is a bug or hostile input, not something to walk. */
export const MAX_DEPTH = 32;

// String.prototype.isWellFormed exists from Node 20 (V8 11.3); typed locally so the ES2022 lib suffices.
const isWellFormed = (text: string): boolean => (text as string & { isWellFormed(): boolean }).isWellFormed();

/**
 * `strict`: the audit's rules (well-formed strings only, MAX_DEPTH). Without them, for comparing values JSON.parse
 * built (uniqueItems, openapi/linear-checks.ts): a lone surrogate from a `\ud800` escape serialises escaped, as
 * JSON.stringify writes it, and the depth is the body reader's to bound.
 */
function serialize(value: unknown, depth: number, seen: Set<object>, strict: boolean): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      if (strict && !isWellFormed(value)) throw new CanonicalJsonError('lone surrogate in a string');
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new CanonicalJsonError('number is not finite');
      // -0 serialises as 0 (RFC 8785 §3.2.2.3), as JSON.stringify does.
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      break;
    default:
      throw new CanonicalJsonError(`${typeof value} has no JSON form`);
  }
  if (strict && depth >= MAX_DEPTH) throw new CanonicalJsonError(`nesting deeper than ${MAX_DEPTH}`);
  const object = value as object;
  if (seen.has(object)) throw new CanonicalJsonError('circular reference');
  seen.add(object);
  let text: string;
  if (Array.isArray(object)) {
    const parts: string[] = [];
    for (let i = 0; i < object.length; i++) parts.push(serialize(object[i], depth + 1, seen, strict));
    text = `[${parts.join(',')}]`;
  } else {
    const proto = Object.getPrototypeOf(object) as unknown;
    if (proto !== Object.prototype && proto !== null) throw new CanonicalJsonError('only plain objects have a canonical form');
    const keys = Object.keys(object).sort();
    const parts: string[] = [];
    for (const key of keys) {
      if (strict && !isWellFormed(key)) throw new CanonicalJsonError('lone surrogate in a member name');
      parts.push(`${JSON.stringify(key)}:${serialize((object as Record<string, unknown>)[key], depth + 1, seen, strict)}`);
    }
    text = `{${parts.join(',')}}`;
  }
  seen.delete(object);
  return text;
}

/** The RFC 8785 canonical form of `value`; throws `CanonicalJsonError` for values without one. */
export function canonicalJson(value: unknown): string {
  return serialize(value, 0, new Set(), true);
}

/**
 * The same form for a value JSON.parse built, for telling equal values apart (JSON Schema equality: members in any
 * order, 1 and 1.0 alike), without the audit's refusals of lone surrogates and deep nesting.
 */
export function comparableJson(value: unknown): string {
  return serialize(value, 0, new Set(), false);
}
