/**
 * SQL injection detector (OWASP WSTG-INPV-05; the payload families of OWASP's SQL Injection Prevention Cheat Sheet).
 *
 * The approach follows libinjection: tokenise the value the way a SQL lexer would, once as if it were pasted
 * outside any literal, once as if inside a single-quoted literal and once inside a double-quoted one, and look for
 * token shapes that only make sense as SQL. A quote alone proves nothing (O'Brien); what gives an injection away
 * is what follows the quote that would close the application's literal:
 *
 * - a tautology or boolean test: `' OR 1=1--`, `' or 'a'='a`, `" or ""="`, `' OR sleep(5)#`, `1 AND 1=2`
 * - a comment that cuts the rest of the query: `admin'--`, `admin'#`, `')/*`
 * - `UNION [ALL] SELECT` followed by a select list: `' UNION SELECT NULL,NULL--`, `1 union(select 1,2)`
 * - a stacked statement: `; DROP TABLE users`, `'; EXEC xp_cmdshell(...)`, `1; SELECT pg_sleep(5)`
 * - time-based blind probes: `SLEEP(5)`, `BENCHMARK(`, `pg_sleep(`, `WAITFOR DELAY '0:0:5'`, `DBMS_PIPE.RECEIVE_MESSAGE`
 *
 * Prose survives: "select a seat", "drop me a line; union members meet at 5" and "Tom's and Jerry's" have none of
 * those shapes. MySQL executable comments (`/*!50000UNION*&#47;`) are read as code, plain `/* *&#47;` as space.
 * The scanner is linear: one tokenising pass per context and fixed-size look-ahead at each token.
 */
import { F, charFlags, isAsciiLetter, isDigit, isSpace, isWordChar, meter } from './text.ts';

const enum K {
  Str = 1,
  Num,
  Word,
  Cmp,
  Logic,
  Arith,
  LParen,
  RParen,
  Comma,
  Semi,
  Dot,
  Comment,
  Var,
  Other,
  Breakout,
}

/** Token arrays of one tokenising pass (parallel arrays: no object per token). */
interface Tokens {
  readonly kind: K[];
  /** Lower-cased word, operator text, or '' for other kinds. */
  readonly text: string[];
  /** For words: 0, or 1 when a `(` follows after spaces, 2 when it follows at once (a function call). */
  readonly call: number[];
}

/** Longest look-ahead when matching parentheses, so nested input cannot make one check quadratic. */
const MAX_PAREN_SCAN = 64;

function push(out: Tokens, kind: K, text: string, call = 0): void {
  out.kind.push(kind);
  out.text.push(text);
  out.call.push(call);
}

/** Longest word whose text is kept (the longest keyword is `information_schema`); longer ones are plain identifiers. */
const MAX_KEYWORD = 20;

function tokenize(s: string, from: number, out: Tokens): void {
  const n = s.length;
  let i = from;
  let inExecutableComment = false;
  while (i < n) {
    meter.steps++;
    const c = s.charCodeAt(i);
    const d = i + 1 < n ? s.charCodeAt(i + 1) : -1;
    if (isSpace(c)) {
      i++;
    } else if (c === 0x2f /* / */ && d === 0x2a /* * */) {
      if (i + 2 < n && s.charCodeAt(i + 2) === 0x21 /* ! */) {
        // MySQL executable comment: the text inside runs as SQL.
        i += 3;
        while (i < n && isDigit(s.charCodeAt(i))) i++;
        inExecutableComment = true;
        continue;
      }
      const end = s.indexOf('*/', i + 2);
      if (end === -1) {
        push(out, K.Comment, '/*');
        return;
      }
      meter.steps += end - i;
      i = end + 2; // a closed comment is whitespace to SQL: UNION/**/SELECT
    } else if (c === 0x2a /* * */ && d === 0x2f && inExecutableComment) {
      inExecutableComment = false;
      i += 2;
    } else if ((c === 0x2d /* - */ && d === 0x2d) || c === 0x23 /* # */) {
      // '#x' marks a `#` glued to what follows ("#{name}" interpolation, "#1" numbering): weaker than a comment.
      push(out, K.Comment, c === 0x23 ? (d === -1 || isSpace(d) ? '#' : '#x') : '--');
      const nl = s.indexOf('\n', i);
      if (nl === -1) return;
      meter.steps += nl - i;
      i = nl + 1;
    } else if (c === 0x27 /* ' */ || c === 0x22 /* " */) {
      let j = i + 1;
      while (j < n) {
        meter.steps++;
        const e = s.charCodeAt(j);
        if (e === 0x5c /* \ */) j += 2;
        else if (e === c) {
          if (j + 1 < n && s.charCodeAt(j + 1) === c) j += 2;
          else break;
        } else j++;
      }
      push(out, K.Str, '');
      i = j + 1;
    } else if (c === 0x60 /* ` */) {
      const end = s.indexOf('`', i + 1);
      push(out, K.Word, '`');
      if (end === -1) return;
      meter.steps += end - i;
      i = end + 1;
    } else if (isDigit(c) || (c === 0x2e && isDigit(d))) {
      let j = i + 1;
      if (c === 0x30 && (d | 0x20) === 0x78 /* 0x */) {
        j = i + 2;
        while (j < n && isWordChar(s.charCodeAt(j))) j++;
      } else {
        while (j < n && (isDigit(s.charCodeAt(j)) || s.charCodeAt(j) === 0x2e)) j++;
        if (j < n && (s.charCodeAt(j) | 0x20) === 0x65 /* e */ && j + 1 < n && isDigit(s.charCodeAt(j + 1))) {
          j += 2;
          while (j < n && isDigit(s.charCodeAt(j))) j++;
        }
      }
      meter.steps += j - i;
      push(out, K.Num, '');
      i = j;
    } else if (isAsciiLetter(c) || c === 0x5f || c === 0x24 /* $ */) {
      let j = i + 1;
      while (j < n && (isWordChar(s.charCodeAt(j)) || s.charCodeAt(j) === 0x24)) j++;
      meter.steps += j - i;
      const word = j - i > MAX_KEYWORD ? '' : s.slice(i, j).toLowerCase();
      let k = j;
      while (k < n && isSpace(s.charCodeAt(k))) k++;
      push(out, K.Word, word, k < n && s.charCodeAt(k) === 0x28 ? (k === j ? 2 : 1) : 0);
      i = j;
    } else if (c === 0x40 /* @ */) {
      let j = i + 1;
      if (d === 0x40) j++;
      while (j < n && (isWordChar(s.charCodeAt(j)) || s.charCodeAt(j) === 0x2e)) j++;
      meter.steps += j - i;
      push(out, K.Var, s.slice(i, j).toLowerCase());
      i = j;
    } else if (c === 0x3d /* = */) {
      push(out, K.Cmp, '=');
      i += d === 0x3d ? 2 : 1;
    } else if (c === 0x3c /* < */) {
      if (d === 0x3c) {
        push(out, K.Arith, '<<');
        i += 2;
      } else {
        push(out, K.Cmp, '<');
        i += d === 0x3d || d === 0x3e ? (i + 2 < n && s.charCodeAt(i + 2) === 0x3e ? 3 : 2) : 1;
      }
    } else if (c === 0x3e /* > */) {
      if (d === 0x3e) {
        push(out, K.Arith, '>>');
        i += 2;
      } else {
        push(out, K.Cmp, '>');
        i += d === 0x3d ? 2 : 1;
      }
    } else if (c === 0x21 /* ! */) {
      if (d === 0x3d) {
        push(out, K.Cmp, '!=');
        i += 2;
      } else {
        push(out, K.Word, 'not');
        i++;
      }
    } else if ((c === 0x7c /* | */ || c === 0x26) /* & */ && d === c) {
      push(out, K.Logic, c === 0x7c ? '||' : '&&');
      i += 2;
    } else if (c === 0x28) {
      push(out, K.LParen, '');
      i++;
    } else if (c === 0x29) {
      push(out, K.RParen, '');
      i++;
    } else if (c === 0x2c) {
      push(out, K.Comma, '');
      i++;
    } else if (c === 0x3b) {
      push(out, K.Semi, '');
      i++;
    } else if (c === 0x2e) {
      push(out, K.Dot, '');
      i++;
    } else if (c === 0x2b || c === 0x2d || c === 0x2a || c === 0x2f || c === 0x25 || c === 0x5e || c === 0x7e || c === 0x7c || c === 0x26) {
      push(out, K.Arith, String.fromCharCode(c));
      i++;
    } else {
      push(out, K.Other, '');
      i++;
    }
  }
}

const LOGIC_WORDS = new Set(['or', 'and', 'xor']);
const COMPARISON_WORDS = new Set(['like', 'rlike', 'regexp', 'is', 'in', 'between', 'sounds', 'glob', 'similar']);
const CONSTANT_WORDS = new Set(['null', 'true', 'false']);
/** Words that are never a plain identifier operand (`' or select` is not a tautology; prose "or from" is not). */
const RESERVED = new Set(['select', 'from', 'where', 'union', 'by', 'order', 'group', 'having', 'into', 'values', 'set', 'as', 'on', 'to', 'the', 'a', 'an', 'of', 'for', 'with', 'if', 'else', 'then']);
const DROP_OBJECTS = new Set(['table', 'database', 'schema', 'view', 'index', 'user', 'procedure', 'function', 'trigger', 'column']);
const CREATE_OBJECTS = new Set(['table', 'database', 'schema', 'view', 'user', 'login', 'procedure', 'function', 'trigger']);
/** Words that announce SQL plumbing no prose contains. */
const TELLTALE_WORDS = new Set(['information_schema', 'xp_cmdshell', 'sp_oacreate', 'sp_executesql', 'sysobjects', 'pg_sleep', 'pg_read_file', 'utl_http', 'utl_inaddr', 'dbms_pipe', 'dbms_lock']);
/** Words after which a `sleep(` call is SQL syntax, not prose ("call sleep(1) between tries" is prose). */
const EXPRESSION_WORDS = new Set(['select', 'and', 'or', 'xor', 'then', 'else', 'if', 'when', 'where', 'not']);

class Matcher {
  readonly kind: K[];
  readonly text: string[];
  readonly call: number[];
  readonly n: number;
  constructor(t: Tokens) {
    this.kind = t.kind;
    this.text = t.text;
    this.call = t.call;
    this.n = t.kind.length;
  }

  isWord(i: number, word: string): boolean {
    return i < this.n && this.kind[i] === K.Word && this.text[i] === word;
  }

  isLogic(i: number): boolean {
    return i < this.n && (this.kind[i] === K.Logic || (this.kind[i] === K.Word && LOGIC_WORDS.has(this.text[i]!)));
  }

  /** Index after the parenthesised group starting at `i` (a `(`), or -1 when it does not close soon. */
  skipParens(i: number): number {
    let depth = 0;
    const limit = Math.min(this.n, i + MAX_PAREN_SCAN);
    for (let j = i; j < limit; j++) {
      meter.steps++;
      if (this.kind[j] === K.LParen) depth++;
      else if (this.kind[j] === K.RParen && --depth === 0) return j + 1;
    }
    // An unclosed group at the end of the value is still SQL (the application's own `)` closes it).
    return limit === this.n ? this.n : -1;
  }

  /** An operand at `i`: returns [end, strong] or undefined. Strong operands are literals, calls and groups. */
  operand(i: number, depth = 0): [number, boolean] | undefined {
    if (i >= this.n || depth > 3) return undefined;
    const k = this.kind[i]!;
    if (k === K.Num || k === K.Str || k === K.Var) return [i + 1, true];
    if (k === K.LParen) {
      const end = this.skipParens(i);
      return end === -1 ? undefined : [end, true];
    }
    if (k === K.Arith && (this.text[i] === '-' || this.text[i] === '+') && i + 1 < this.n && this.kind[i + 1] === K.Num) return [i + 2, true];
    if (k === K.Word) {
      const w = this.text[i]!;
      if (CONSTANT_WORDS.has(w)) return [i + 1, true];
      if (w === 'not' || w === 'exists') return this.operand(i + 1, depth + 1);
      if (this.call[i]) {
        const end = this.skipParens(i + 1);
        return end === -1 ? undefined : [end, true];
      }
      if (RESERVED.has(w) || LOGIC_WORDS.has(w) || COMPARISON_WORDS.has(w)) return undefined;
      // `users.password`, `a.b`: a qualified identifier is one operand.
      let j = i + 1;
      while (j + 1 < this.n && this.kind[j] === K.Dot && this.kind[j + 1] === K.Word) j += 2;
      return [j, false];
    }
    return undefined;
  }

  /** Whether a comparison (`= x`, `LIKE x`, `IS NULL`, `IN (...)`, `BETWEEN a AND b`) starts at `i`. */
  comparison(i: number): boolean {
    if (i >= this.n) return false;
    if (this.kind[i] === K.Cmp) return this.operand(i + 1) !== undefined;
    if (this.kind[i] === K.Word) {
      const w = this.text[i]!;
      if (w === 'not' && i + 1 < this.n && this.kind[i + 1] === K.Word && COMPARISON_WORDS.has(this.text[i + 1]!)) return this.comparison(i + 1);
      if (COMPARISON_WORDS.has(w)) return this.operand(i + 1) !== undefined;
    }
    return false;
  }

  /** The end of the value or of the query fragment: what an injected condition is followed by. */
  terminal(i: number): boolean {
    if (i >= this.n) return true;
    const k = this.kind[i];
    return k === K.Comment || k === K.Semi || k === K.RParen || this.isLogic(i);
  }

  /** `OR 1=1`, `AND 'a'='a'`, `|| sleep(5)`, `OR true--` with the logical operator at `i`. */
  tautology(i: number, strict: boolean): boolean {
    const o = this.operand(i + 1);
    if (o === undefined) return false;
    const [end, strong] = o;
    if (this.comparison(end)) return true;
    if (!strong) return false;
    if (strict) {
      // In numeric context only calls and groups stand alone: "1 or 2" is a plausible answer, "1 or sleep(5)" is not.
      const k = this.kind[i + 1];
      return (k === K.LParen || (k === K.Word && this.call[i + 1]! > 0)) && this.terminal(end);
    }
    return this.terminal(end);
  }

  /** A select list at `i` (after SELECT): `NULL,NULL`, `1,2,3`, `*`, `@@version`, `password FROM users`. */
  selectList(i: number): boolean {
    while (this.isWord(i, 'all') || this.isWord(i, 'distinct')) i++;
    if (i >= this.n) return false;
    const k = this.kind[i];
    if (k === K.Num || k === K.Str || k === K.Var || k === K.LParen) return true;
    if (k === K.Arith && this.text[i] === '*') return true;
    if (k === K.Word) {
      if (CONSTANT_WORDS.has(this.text[i]!) || this.call[i]) return true;
      const o = this.operand(i);
      if (o === undefined) return false;
      return o[0] < this.n && (this.kind[o[0]] === K.Comma || this.isWord(o[0], 'from'));
    }
    return false;
  }

  /** A statement that only makes sense as SQL, starting at `i` (after a `;`). */
  statement(i: number): boolean {
    if (i >= this.n || this.kind[i] !== K.Word) return false;
    const w = this.text[i]!;
    const next = this.text[i + 1];
    switch (w) {
      case 'drop':
        return next !== undefined && DROP_OBJECTS.has(next) && this.kind[i + 2] !== undefined;
      case 'delete': {
        const from = this.isWord(i + 1, 'from') ? i + 1 : this.text[i + 1] === '*' && this.isWord(i + 2, 'from') ? i + 2 : -1;
        if (from === -1) return false;
        // `DELETE FROM users`, `... WHERE 1=1`; "delete from your list" is prose.
        const table = this.operand(from + 1);
        return table !== undefined && (this.terminal(table[0]) || this.isWord(table[0], 'where'));
      }
      case 'insert': {
        const table = this.isWord(i + 1, 'into') ? this.operand(i + 2) : undefined;
        if (table === undefined) return false;
        const after = table[0];
        return this.kind[after] === K.LParen || this.isWord(after, 'values') || this.isWord(after, 'select') || this.isWord(after, 'set');
      }
      case 'update':
        return this.kind[i + 1] === K.Word && this.isWord(i + 2, 'set');
      case 'select':
        return this.selectList(i + 1);
      case 'exec':
      case 'execute': {
        const k = this.kind[i + 1];
        return k === K.LParen || k === K.Str || k === K.Var || (k === K.Word && (next!.startsWith('xp_') || next!.startsWith('sp_')));
      }
      case 'declare':
        return this.kind[i + 1] === K.Var;
      case 'shutdown':
        return this.terminal(i + 1);
      case 'waitfor':
        return next === 'delay' || next === 'time';
      case 'create':
      case 'alter':
        return next !== undefined && CREATE_OBJECTS.has(next);
      case 'truncate':
        return next === 'table';
      case 'grant':
      case 'revoke':
        return this.kind[i + 1] === K.Word && (this.isWord(i + 2, 'on') || this.isWord(i + 2, 'to') || this.isWord(i + 2, 'privileges'));
      default:
        return false;
    }
  }

  /** Shapes that are SQL wherever they appear. */
  anywhere(): boolean {
    for (let i = 0; i < this.n; i++) {
      meter.steps++;
      const k = this.kind[i];
      if (k === K.Semi) {
        if (this.statement(i + 1)) return true;
        continue;
      }
      if (k !== K.Word) continue;
      const w = this.text[i]!;
      if (w === 'union') {
        let j = i + 1;
        if (this.isWord(j, 'all') || this.isWord(j, 'distinct')) j++;
        if (this.kind[j] === K.LParen) j++;
        if (this.isWord(j, 'select') && this.selectList(j + 1)) return true;
      } else if (TELLTALE_WORDS.has(w)) {
        return true;
      } else if (w === 'waitfor') {
        if ((this.isWord(i + 1, 'delay') || this.isWord(i + 1, 'time')) && this.kind[i + 2] === K.Str) return true;
      } else if ((w === 'sleep' || w === 'benchmark') && this.call[i] === 2) {
        // SLEEP(5), BENCHMARK(5000000,MD5(1)): MySQL built-ins take no space before `(`; a numeric first argument,
        // in an expression position ("sleep (8 hours)" is prose).
        if (this.kind[i + 1] !== K.LParen || this.kind[i + 2] !== K.Num) continue;
        if (i === 0) return true;
        const p = this.kind[i - 1];
        if (p === K.Logic || p === K.LParen || p === K.Comma || p === K.Cmp || p === K.Arith || p === K.Semi || p === K.Breakout) return true;
        if (p === K.Word && EXPRESSION_WORDS.has(this.text[i - 1]!)) return true;
      } else if ((w === 'load_file' || w === 'extractvalue' || w === 'updatexml') && this.call[i]) {
        return true;
      } else if (w === 'into' && (this.isWord(i + 1, 'outfile') || this.isWord(i + 1, 'dumpfile'))) {
        return true;
      }
    }
    return false;
  }

  /** What may follow the quote that closes the application's literal (token `i` is the first after it). */
  afterBreakout(i: number): boolean {
    while (i < this.n && this.kind[i] === K.RParen) i++;
    if (i >= this.n) return false;
    const k = this.kind[i];
    // admin'-- / admin'# / admin')/* ; a `#` must end the value or be followed by a space ("#{x}" is interpolation).
    if (k === K.Comment) return this.text[i] !== '#x';
    if (k === K.Semi) return i + 1 >= this.n || this.kind[i + 1] === K.Comment;
    if (this.isLogic(i)) return this.tautology(i, false);
    if (k === K.Cmp) {
      const next = this.kind[i + 1];
      return next === K.Str || next === K.Num; // '=' tautology: WHERE name=''='' ...
    }
    if (k === K.Arith && (this.text[i] === '+' || this.text[i] === '-')) {
      // String concatenation with a subquery or a call: '+(SELECT ...)+', '-sleep(5)-'
      return (this.kind[i + 1] === K.LParen && this.isWord(i + 2, 'select')) || (this.kind[i + 1] === K.Word && this.call[i + 1]! > 0 && this.kind[i + 2] === K.LParen);
    }
    if (k === K.Word) return this.clause(i);
    return false;
  }

  /** `ORDER BY 3`, `GROUP BY x HAVING`, `HAVING 1=1`, `PROCEDURE ANALYSE(`: column and clause probing. */
  clause(i: number): boolean {
    const w = this.text[i];
    if ((w === 'order' || w === 'group') && this.isWord(i + 1, 'by')) {
      return this.kind[i + 2] === K.Num || (w === 'group' && this.isWord(i + 3, 'having'));
    }
    if (w === 'having') {
      const o = this.operand(i + 1);
      return o !== undefined && this.comparison(o[0]);
    }
    return w === 'procedure' && this.isWord(i + 1, 'analyse');
  }

  /** The value is a number followed by SQL: `1 OR 1=1`, `1) AND SLEEP(5)`, `-1 ORDER BY 3`. */
  numeric(): boolean {
    let i = 0;
    if (this.kind[0] === K.Arith && this.text[0] === '-') i++;
    if (this.kind[i] !== K.Num) return false;
    i++;
    while (i < this.n && this.kind[i] === K.RParen) i++;
    if (this.isLogic(i)) return this.tautology(i, true);
    return this.kind[i] === K.Word && this.clause(i);
  }
}

function emptyTokens(): Tokens {
  return { kind: [], text: [], call: [] };
}

/** Index of the quote that would close a literal of `quote` the value was pasted into, or -1. */
function breakoutIndex(s: string, quote: number): number {
  for (let i = 0; i < s.length; i++) {
    meter.steps++;
    const c = s.charCodeAt(i);
    if (c === 0x5c) i++;
    else if (c === quote) {
      if (i + 1 < s.length && s.charCodeAt(i + 1) === quote) i++;
      else return i;
    }
  }
  return -1;
}

/**
 * Words without which no unquoted shape fires (`1 UNION SELECT 1`, `SLEEP(5)`, `INTO OUTFILE`, `pg_sleep`): a
 * case-insensitive alternation of literals, linear.
 */
const SQL_WORDS = new RegExp(['union', 'sleep', 'benchmark', 'waitfor', 'outfile', 'dumpfile', 'load_file', 'extractvalue', 'updatexml', ...TELLTALE_WORDS].join('|'), 'i');
/** Statements that may follow a `;` in a stacked query (see Matcher.statement). */
const STATEMENT_WORDS = new Set(['drop', 'delete', 'insert', 'update', 'select', 'exec', 'execute', 'declare', 'shutdown', 'waitfor', 'create', 'alter', 'truncate', 'grant', 'revoke']);

/** Whether some `;` is followed (after spaces and inline comments) by a statement keyword. */
function semicolonStatement(s: string): boolean {
  // Where the next `*/` is (remembered, so that `;/*;/*;/*...` does not search the rest of the text again and again).
  let close = -2;
  for (let i = s.indexOf(';'); i !== -1; i = s.indexOf(';', i + 1)) {
    let j = i + 1;
    for (;;) {
      while (j < s.length && isSpace(s.charCodeAt(j))) j++;
      if (s.charCodeAt(j) === 0x2f && s.charCodeAt(j + 1) === 0x2a && s.charCodeAt(j + 2) === 0x21) {
        j += 3; // MySQL executable comment: its text is SQL
        while (j < s.length && isDigit(s.charCodeAt(j))) j++;
      } else if (s.charCodeAt(j) === 0x2f && s.charCodeAt(j + 1) === 0x2a) {
        if (close !== -1 && close < j + 2) {
          close = s.indexOf('*/', j + 2);
          meter.steps += (close === -1 ? s.length : close) - j;
        }
        if (close === -1) break;
        j = close + 2;
      } else break;
    }
    let k = j;
    while (k < s.length && k - j <= 8 && isAsciiLetter(s.charCodeAt(k))) k++;
    meter.steps += k - i;
    if (k > j && STATEMENT_WORDS.has(s.slice(j, k).toLowerCase())) return true;
  }
  return false;
}

function hasLetter(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (isAsciiLetter(s.charCodeAt(i))) return true;
  return false;
}

/** The value starts with a number, possibly after `-`, `(` or spaces: the numeric-context shapes (`1 OR 1=1`). */
function startsWithNumber(s: string): boolean {
  let i = 0;
  while (i < s.length && (isSpace(s.charCodeAt(i)) || s.charCodeAt(i) === 0x2d || s.charCodeAt(i) === 0x28)) i++;
  return i < s.length && isDigit(s.charCodeAt(i));
}

export function detectSql(s: string, flags = charFlags(s)): boolean {
  // Without a quote, every shape needs a leading number, a `;` before a statement keyword or one of a few words:
  // prose, even with parentheses and semicolons ("Item 3 (blue; size M)"), is excluded without tokenising.
  if ((flags & (F.QUOTE | F.BACKTICK)) === 0 && !(startsWithNumber(s) && hasLetter(s)) && !((flags & F.SEMI) !== 0 && semicolonStatement(s)) && !SQL_WORDS.test(s)) return false;
  // Context 1: the value pasted as is (numeric parameters, and the shapes that are SQL anywhere).
  const plain = emptyTokens();
  tokenize(s, 0, plain);
  const m = new Matcher(plain);
  if (m.anywhere() || m.numeric()) return true;
  // Contexts 2 and 3: the value pasted inside a '...' or "..." literal.
  for (const quote of [0x27, 0x22]) {
    const at = breakoutIndex(s, quote);
    if (at === -1) continue;
    const tokens = emptyTokens();
    tokens.kind.push(K.Breakout);
    tokens.text.push('');
    tokens.call.push(0);
    tokenize(s, at + 1, tokens);
    const q = new Matcher(tokens);
    if (q.afterBreakout(1) || q.anywhere()) return true;
  }
  return false;
}
