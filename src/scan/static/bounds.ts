/**
 * When is a string, an array or an integer bounded? (OWASP API4:2023: "maximum length for strings, maximum number of
 * elements in arrays", limits on numbers.)
 *
 * A string is bounded by `maxLength`, `enum` or `const`, by a `format` whose grammar has a fixed maximum length, or by
 * a `pattern` that is anchored at both ends and whose every match has a finite maximum length. The pattern is parsed
 * with @eslint-community/regexpp (the ECMAScript regex parser ESLint uses; JSON Schema patterns are ECMA-262), never
 * by hand.
 */
import type { AST } from '@eslint-community/regexpp';
import { parseDocumentPattern } from '../../openapi/pattern-engine.ts';

/**
 * Formats whose grammar bounds the length: uuid (36), date (RFC 3339 full-date, 10), ipv4 (15), ipv6 (45),
 * hostname (RFC 1123: 253), and integers written as strings (Google-style `int64`). `date-time` and `time` are
 * counted as bounded as the issue asks; note that RFC 3339's `time-secfrac` (`"." 1*DIGIT`) has no upper bound in
 * the grammar, so a validator must still cap the fraction.
 */
export const BOUNDED_STRING_FORMATS: ReadonlySet<string> = new Set(['uuid', 'date', 'date-time', 'time', 'ipv4', 'ipv6', 'hostname', 'int32', 'int64']);

const patternCache = new Map<string, boolean>();
const MAX_CACHE = 4096;

/** True when every string matching `pattern` (anchored `^…$`) has a finite maximum length. */
export function isBoundedPattern(pattern: string): boolean {
  let bounded = patternCache.get(pattern);
  if (bounded === undefined) {
    bounded = computeBoundedPattern(pattern);
    if (patternCache.size >= MAX_CACHE) patternCache.clear();
    patternCache.set(pattern, bounded);
  }
  return bounded;
}

function computeBoundedPattern(pattern: string): boolean {
  // Read as the gateway reads it (Unicode mode first, as ajv compiles it, then legacy syntax for old documents).
  const parsed = parseDocumentPattern(pattern);
  if (parsed === undefined) return false;
  const ast = parsed.ast;
  for (const alternative of ast.alternatives) {
    const first = alternative.elements[0];
    const last = alternative.elements[alternative.elements.length - 1];
    // Without `^` and `$` on every top-level alternative the pattern matches a substring of any longer string.
    if (first?.type !== 'Assertion' || first.kind !== 'start') return false;
    if (last?.type !== 'Assertion' || last.kind !== 'end') return false;
  }
  return Number.isFinite(maxLengthOf(ast));
}

function maxLengthOf(node: AST.Node): number {
  switch (node.type) {
    case 'Pattern':
    case 'Group':
    case 'CapturingGroup': {
      let max = 0;
      for (const alternative of node.alternatives) max = Math.max(max, maxLengthOf(alternative));
      return max;
    }
    case 'Alternative': {
      let sum = 0;
      for (const element of node.elements) sum += maxLengthOf(element);
      return sum;
    }
    case 'Quantifier': {
      if (node.max === Infinity) return Infinity;
      const inner = maxLengthOf(node.element);
      return inner === 0 ? 0 : node.max * inner;
    }
    case 'Assertion':
      return 0;
    case 'Character':
    case 'CharacterSet':
      return 1;
    case 'CharacterClass':
      // A `v`-flag class may contain strings (`\q{abc}`): count it as unbounded rather than guess.
      return node.unicodeSets ? Infinity : 1;
    case 'ExpressionCharacterClass':
      return Infinity;
    case 'Backreference':
      // A back-reference repeats what a group matched; bounded in theory, but not worth proving here.
      return Infinity;
    default:
      return Infinity;
  }
}

/** The JSON types a schema node declares itself (`type: x` or `type: [x, y]`); empty when it declares none. */
export function declaredTypes(node: Record<string, unknown>): readonly string[] {
  const type = node.type;
  if (typeof type === 'string') return [type];
  if (Array.isArray(type)) return type.filter((t): t is string => typeof t === 'string');
  return [];
}

export function hasEnumOrConst(node: Record<string, unknown>): boolean {
  return Array.isArray(node.enum) || Object.hasOwn(node, 'const');
}

export function isBoundedString(node: Record<string, unknown>): boolean {
  if (typeof node.maxLength === 'number' || hasEnumOrConst(node)) return true;
  if (typeof node.format === 'string' && BOUNDED_STRING_FORMATS.has(node.format)) return true;
  return typeof node.pattern === 'string' && isBoundedPattern(node.pattern);
}

/** Lower and upper bounds of an integer: `minimum`/`maximum`, or 3.1's numeric `exclusiveMinimum`/`exclusiveMaximum`. */
export function integerBounds(node: Record<string, unknown>): { lower: boolean; upper: boolean } {
  if (hasEnumOrConst(node)) return { lower: true, upper: true };
  return {
    lower: typeof node.minimum === 'number' || typeof node.exclusiveMinimum === 'number',
    upper: typeof node.maximum === 'number' || typeof node.exclusiveMaximum === 'number',
  };
}
