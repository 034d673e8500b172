/**
 * The regular-expression engine for the patterns a contract document brings (`pattern`, `patternProperties`), which
 * the gateway runs on every client request and upstream answer.
 *
 * Why: V8's engine backtracks, and a pattern with a quantifier inside a quantified group (`^(a+)+$`, `(\w+\s?)*$`)
 * takes exponential time on a short input that almost matches: `^(a+)+$` on 40 `a`s and a `!` never finishes. The
 * document is the API team's, but the input is anyone's, so one careless pattern would let any client stop the
 * gateway (OWASP "Regular expression Denial of Service"; 42Crunch and Spectral flag such patterns for this reason).
 *
 * So every pattern is read once, at load, for its star height (safe-regex's measure: no repetition inside a
 * repetition, at most 25 repetitions; `hasBoundedBacktracking`). Patterns it accepts, all but 2 of the 632 in ../shared/specs, run on V8 as before (fast: about
 * 0.2 µs a test). The others run on RE2 (re2-wasm: Google's RE2 compiled to WebAssembly, linear time by
 * construction, about 7 µs a test on the machine of 2026-11-29), loaded only when a document needs it. A flagged
 * pattern RE2 cannot express (lookaround, backreferences) is refused at load with the reason, never run unguarded.
 *
 * RE2 reads a few classes differently from ECMAScript: its `\s` is ASCII white space only (ECMAScript adds U+00A0,
 * U+FEFF and the Unicode spaces), and its `.` excludes only `\n` (ECMAScript also excludes `\r`, U+2028 and U+2029).
 * So RE2 is given the pattern with those classes spelled out as ECMAScript means them (`forRe2`, on the regexpp AST).
 *
 * Polynomial backtracking needs no nesting: `^[^@]+@[^@]+\.[^@]+$`, a common e-mail pattern, grows faster than
 * quadratically on V8 (1 s for a 20,000-character near-match on the machine of 2026-11-29), and star height does
 * not see it. So a bounded pattern also gets RE2 for inputs longer than LONG_INPUT characters whenever RE2 can answer
 * exactly as V8 does: V8 parsed it in Unicode mode, `forRe2` could spell it, and RE2 compiles it. Short inputs, nearly
 * all, stay on V8; a long one costs a few µs on RE2 instead of a polynomial on V8.
 *
 * Lookaround and backreferences have no RE2 form, and they backtrack too: `(?=.*[a-z])(?=.*[A-Z])(?=.*[0-9])`, a
 * password rule in ../shared/specs, is quadratic (unanchored, each position scans to the end: 181 ms at 8,000
 * characters here). A pattern using them answers false, as a pattern mismatch, for inputs longer than
 * MAX_LOOKAROUND_INPUT characters: fail closed, on fields (passwords, codes) whose values are far shorter. Patterns
 * with `\S` inside a class or non-Unicode-only syntax stay on V8 for every input: that is the gap left.
 */
import { createRequire } from 'node:module';
import { RegExpParser, visitRegExpAST, type AST } from '@eslint-community/regexpp';

/**
 * Inputs longer than this run on RE2 for patterns both engines read alike. Up to it, even a cubic pattern stays
 * within a few million steps on V8; past it, legitimate values of a patterned field are rare (names, ids, codes,
 * e-mail addresses are shorter), so the slower engine costs little.
 */
export const LONG_INPUT = 128;

/**
 * Longest input a pattern with lookaround or backreferences is run on (longer ones do not match): a quadratic pattern
 * stays around a million steps, a millisecond or so.
 */
export const MAX_LOOKAROUND_INPUT = 1024;

/** What ajv and the minimizer need of a compiled pattern. */
export interface PatternMatcher {
  test(text: string): boolean;
}

/** Thrown for a pattern that may backtrack catastrophically and that the linear engine cannot run. */
export class UnsafePatternError extends Error {}

type Re2Constructor = new (pattern: string, flags?: string) => PatternMatcher;
let re2: Re2Constructor | undefined;

/**
 * RE2 matchers by flags and source. re2-wasm keeps each compiled pattern in WebAssembly memory and never frees it
 * (its objects have no finalizer), so every config reload would leak the same patterns again: one matcher per
 * distinct pattern serves every load. `test` keeps no state without the `g` and `y` flags, which are never given.
 */
const linearMatchers = new Map<string, PatternMatcher>();

/** re2-wasm's RE2, loaded on first need (its WebAssembly module is about 850 KB). */
function linearEngine(): Re2Constructor {
  re2 ??= (createRequire(import.meta.url)('re2-wasm') as { RE2: Re2Constructor }).RE2;
  return re2;
}

/** Most quantifiers a pattern may have and still count as bounded (safe-regex's limit). */
const MAX_QUANTIFIERS = 25;

/**
 * Star height 1 (safe-regex's measure, on the regexpp AST so that every ECMAScript syntax parses, lookbehind and
 * named groups included): no quantifier inside a group repeated more than once, and at most MAX_QUANTIFIERS of them.
 * A pattern that parses neither in Unicode mode nor without it is not bounded.
 */
export function hasBoundedBacktracking(source: string): boolean {
  const parsed = parseDocumentPattern(source);
  return parsed !== undefined && boundedStarHeight(parsed.ast);
}

function boundedStarHeight(ast: AST.Pattern): boolean {
  let quantifiers = 0;
  let nested = false;
  visitRegExpAST(ast, {
    onQuantifierEnter(node) {
      quantifiers++;
      // Up the tree to the pattern: any enclosing quantifier that repeats more than once makes this one nested.
      let parent = node.parent as AST.Node | null;
      while (parent !== null) {
        if (parent.type === 'Quantifier' && parent.max > 1) nested = true;
        parent = parent.parent as AST.Node | null;
      }
    },
  });
  return !nested && quantifiers <= MAX_QUANTIFIERS;
}

/**
 * Compiles a document's pattern: V8 when its backtracking is bounded (Unicode mode first, which is what JSON Schema
 * means, then without the `u` flag for the many real patterns that only parse that way: `[\w\-]`, `\_`), RE2
 * otherwise. Throws a SyntaxError for a pattern invalid both ways, UnsafePatternError for one neither engine may run.
 */
export function compilePattern(source: string, flags = 'u'): PatternMatcher {
  // Parsed once; every decision below reads the same tree.
  const parsed = parseDocumentPattern(source);
  const unicodeAst = parsed?.unicode === true ? parsed.ast : undefined;
  if (parsed !== undefined && boundedStarHeight(parsed.ast)) {
    const v8 = backtracking(source, flags);
    const spelled = v8.unicode && unicodeAst !== undefined ? spellForRe2(unicodeAst, source) : undefined;
    const linear = spelled === undefined ? undefined : linearOrUndefined(spelled, v8.flags);
    if (linear !== undefined) return new LengthAwareMatcher(v8, linear);
    return looksAround(parsed.ast) ? new CappedMatcher(v8) : v8;
  }
  // RE2 always reads patterns in Unicode mode (re2-wasm requires the flag).
  const linearFlags = flags.includes('u') ? flags : `${flags}u`;
  try {
    return linearMatcher((unicodeAst !== undefined ? spellForRe2(unicodeAst, source) : undefined) ?? source, linearFlags);
  } catch (error) {
    // Not a pattern at all (V8 refuses it too): the SyntaxError says so, as for any invalid pattern.
    backtracking(source, flags);
    throw new UnsafePatternError(
      `pattern ${JSON.stringify(source.length > 80 ? `${source.slice(0, 80)}…` : source)} nests repetition (it can take exponential time on a ` +
        `short input: a Denial of Service by any client) and uses syntax the linear-time engine lacks (${(error as Error).message.split('\n')[0]}): ` +
        'rewrite it without a quantifier inside a quantified group, or without lookaround and backreferences',
    );
  }
}

/** V8's engine: Unicode mode first, then without the `u` flag; throws V8's SyntaxError when neither parses. */
function backtracking(source: string, flags: string): RegExp {
  try {
    return new RegExp(source, flags);
  } catch (error) {
    if (!flags.includes('u')) throw error;
    return new RegExp(source, flags.replace('u', ''));
  }
}

/** RE2's matcher for the pattern, one per distinct (flags, source); throws RE2's SyntaxError when it cannot run it. */
function linearMatcher(source: string, flags: string): PatternMatcher {
  const key = `${flags}/${source}`;
  let matcher = linearMatchers.get(key);
  if (matcher === undefined) {
    matcher = new (linearEngine())(source, flags);
    linearMatchers.set(key, matcher);
  }
  return matcher;
}

function linearOrUndefined(source: string, flags: string): PatternMatcher | undefined {
  try {
    return linearMatcher(source, flags);
  } catch {
    return undefined;
  }
}

const parser = new RegExpParser({ ecmaVersion: 2024 });

/**
 * A document's pattern as regexpp reads it: in Unicode mode (what JSON Schema means, and how ajv compiles it) first,
 * then in legacy syntax for the many real patterns that only parse that way (`[\w\-]`, `\_`); undefined when neither
 * parses. Shared with the scanner's bounds check (scan/static/bounds.ts), so both read a pattern alike.
 */
export function parseDocumentPattern(source: string): { readonly ast: AST.Pattern; readonly unicode: boolean } | undefined {
  try {
    return { ast: parser.parsePattern(source, 0, source.length, { unicode: true }), unicode: true };
  } catch {
    try {
      return { ast: parser.parsePattern(source, 0, source.length, { unicode: false }), unicode: false };
    } catch {
      return undefined;
    }
  }
}

/**
 * ECMAScript's white space (`\s`): WhiteSpace and LineTerminator (ECMA-262 §12.2, §12.3), written for a class. RE2's
 * `\s` is ASCII only. pattern-engine.test.ts compares it with V8's `\s` over every code point.
 */
const SPACE_RANGES = '\\u0009-\\u000d\\u0020\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff';
/** ECMAScript's `.` without the `s` flag: anything but a line terminator. RE2's `.` excludes only `\n`. */
const DOT_CLASS = '[^\\u000a\\u000d\\u2028\\u2029]';

/**
 * The pattern (valid in Unicode mode) as RE2 must be given it to answer as ECMAScript does: `.`, `\s` and `\S` are
 * spelled out as the classes ECMAScript means. Undefined when that cannot be done in place (`\S` inside a class) or
 * the pattern does not parse: then RE2 would read it differently.
 */
export function forRe2(source: string): string | undefined {
  const parsed = parseDocumentPattern(source);
  return parsed?.unicode === true ? spellForRe2(parsed.ast, source) : undefined;
}

function spellForRe2(ast: AST.Pattern, source: string): string | undefined {
  const edits: Array<{ start: number; end: number; text: string }> = [];
  let alike = true;
  visitRegExpAST(ast, {
    onCharacterSetEnter(node) {
      if (node.kind === 'any') edits.push({ start: node.start, end: node.end, text: DOT_CLASS });
      else if (node.kind === 'space') {
        const inClass = node.parent.type === 'CharacterClass';
        if (inClass && node.negate) alike = false;
        else edits.push({ start: node.start, end: node.end, text: inClass ? SPACE_RANGES : `[${node.negate ? '^' : ''}${SPACE_RANGES}]` });
      }
    },
  });
  if (!alike) return undefined;
  let out = source;
  for (const edit of edits.sort((a, b) => b.start - a.start)) out = out.slice(0, edit.start) + edit.text + out.slice(edit.end);
  return out;
}

/** Whether the pattern has a lookahead, a lookbehind or a backreference (what RE2 cannot run). */
function looksAround(ast: AST.Pattern): boolean {
  let found = false;
  visitRegExpAST(ast, {
    onAssertionEnter(node) {
      if (node.kind === 'lookahead' || node.kind === 'lookbehind') found = true;
    },
    onBackreferenceEnter() {
      found = true;
    },
  });
  return found;
}

/** V8, for inputs up to MAX_LOOKAROUND_INPUT characters; longer inputs do not match (see the file comment). */
class CappedMatcher implements PatternMatcher {
  readonly #v8: RegExp;

  constructor(v8: RegExp) {
    this.#v8 = v8;
  }

  test(text: string): boolean {
    return text.length <= MAX_LOOKAROUND_INPUT && this.#v8.test(text);
  }

  /** The RegExp's own form: ajv keys the compiled patterns it shares by it. */
  toString(): string {
    return this.#v8.toString();
  }
}

/** V8 for inputs up to LONG_INPUT characters, RE2 past it (same answers: the pattern reads alike on both). */
class LengthAwareMatcher implements PatternMatcher {
  readonly #short: RegExp;
  readonly #long: PatternMatcher;

  constructor(short: RegExp, long: PatternMatcher) {
    this.#short = short;
    this.#long = long;
  }

  test(text: string): boolean {
    return text.length > LONG_INPUT ? this.#long.test(text) : this.#short.test(text);
  }

  /** The RegExp's own form: ajv keys the compiled patterns it shares by it (two patterns must never share a key). */
  toString(): string {
    return this.#short.toString();
  }
}
