/**
 * NoSQL operator injection (OWASP WSTG-INPV-05.6 "Testing for NoSQL Injection"): a client that sends an object
 * where the application expects a scalar turns `find({ user, pass })` into `find({ user: 'admin', pass: { $ne: 1 } })`.
 *
 * - In parsed JSON bodies: an object key that is a MongoDB operator (`$ne`, `$gt`, `$regex`, `$where`, ...).
 * - In query strings and form bodies: the bracket syntax that qs/express/PHP expand into the same object,
 *   `pass[$ne]=1`, `user[$regex]=^adm`.
 * - In string values: JSON text with operator keys (`{"$where": "sleep(100)"}` in a filter parameter) and the
 *   server-side JavaScript that `$where` and `mapReduce` run (`'; return true; var x='`, `this.password.match(...)`).
 *
 * JSON Schema keywords that start with `$` (`$ref`, `$id`, `$schema`, `$comment`, `$defs`) are not operators.
 */
import { F, charFlags, isAsciiLetter, isSpace, isWordChar, meter, skipSpaces, startsWithAt } from './text.ts';

/** MongoDB query, update and aggregation operators an attacker injects (MongoDB manual, "Operators"). */
const OPERATORS = new Set(
  [
    'eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'in', 'nin', 'and', 'or', 'not', 'nor', 'exists', 'type', 'expr', 'jsonschema',
    'mod', 'regex', 'options', 'text', 'search', 'where', 'all', 'elemmatch', 'size', 'geowithin', 'geointersects',
    'near', 'nearsphere', 'function', 'accumulator', 'lookup', 'graphlookup', 'unionwith', 'merge', 'out', 'match',
    'group', 'project', 'set', 'unset', 'inc', 'push', 'pull', 'pullall', 'addtoset', 'rename', 'mul', 'min', 'max',
    'setoninsert', 'currentdate', 'pop', 'bit', 'slice', 'sort', 'natural', 'sample', 'facet', 'replaceroot',
  ],
);

/** Whether an object key is a MongoDB operator (`$ne`, `$Where` too: the check ignores case, drivers do not). */
export function isNoSqlOperatorKey(key: string): boolean {
  if (key.length < 3 || key.length > 16 || key.charCodeAt(0) !== 0x24 /* $ */) return false;
  return OPERATORS.has(key.slice(1).toLowerCase());
}

/** Reads `$word` at `i`; returns the index after it when the word is an operator, else -1. */
function operatorAt(s: string, i: number): number {
  if (s.charCodeAt(i) !== 0x24) return -1;
  let j = i + 1;
  while (j < s.length && j - i <= 16 && isAsciiLetter(s.charCodeAt(j))) j++;
  return isNoSqlOperatorKey(s.slice(i, j)) ? j : -1;
}

/** Server-side JavaScript shapes of `$where` injection, each checked at a `;`, `{`, `|` or `t` of `this.`. */
function javascriptAt(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  if (c === 0x3b /* ; */ || c === 0x7b /* { */) {
    const j = skipSpaces(s, i + 1);
    if (startsWithAt(s, j, 'return')) {
      const k = skipSpaces(s, j + 6);
      return startsWithAt(s, k, 'true') || startsWithAt(s, k, '1') || startsWithAt(s, k, 'this.') || startsWithAt(s, k, 'db.') || startsWithAt(s, k, 'sleep(');
    }
    return startsWithAt(s, j, 'while(true)') || startsWithAt(s, j, 'while(1)') || startsWithAt(s, j, 'sleep(') || startsWithAt(s, j, 'db.');
  }
  if ((c === 0x74 || c === 0x54) && startsWithAt(s, i, 'this.') && (i === 0 || !isWordChar(s.charCodeAt(i - 1)))) {
    // this.password.match(/.*/), this.isAdmin == true, this.a.length > 0
    let j = i + 5;
    while (j < s.length && isWordChar(s.charCodeAt(j))) j++;
    if (j === i + 5) return false;
    j = skipSpaces(s, j);
    return startsWithAt(s, j, '.match(') || startsWithAt(s, j, '==') || startsWithAt(s, j, '!=') || startsWithAt(s, j, '.length') || startsWithAt(s, j, '.constructor');
  }
  return false;
}

/** Operator syntax inside a string: `[$ne]`, `"$gt":`, `{$where:`, or `$where` JavaScript. */
export function detectNoSql(s: string, flags = charFlags(s)): boolean {
  if ((flags & (F.DOLLAR | F.SEMI | F.BRACE | F.DOT)) === 0) return false;
  const n = s.length;
  for (let i = 0; i < n; i++) {
    meter.steps++;
    const c = s.charCodeAt(i);
    if (c === 0x24 /* $ */) {
      const end = operatorAt(s, i);
      if (end === -1) continue;
      const before = i > 0 ? s.charCodeAt(i - 1) : -1;
      const after = end < n ? s.charCodeAt(end) : -1;
      // pass[$ne]=1 (qs / PHP bracket syntax)
      if (before === 0x5b /* [ */ && after === 0x5d /* ] */) return true;
      // {"$gt": ""} or {'$gt': ''} inside a string
      if ((before === 0x22 || before === 0x27) && after === before && s.charCodeAt(skipSpaces(s, end + 1)) === 0x3a) return true;
      // {$where: ...} (shell syntax)
      if ((before === 0x7b || before === 0x2c || isSpace(before)) && s.charCodeAt(skipSpaces(s, end)) === 0x3a) {
        let k = i - 1;
        while (k >= 0 && isSpace(s.charCodeAt(k))) k--;
        if (k >= 0 && (s.charCodeAt(k) === 0x7b || s.charCodeAt(k) === 0x2c)) return true;
      }
    } else if ((c === 0x3b || c === 0x7b || c === 0x74 || c === 0x54) && javascriptAt(s, i)) {
      return true;
    }
  }
  return false;
}
