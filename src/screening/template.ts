/**
 * Server-side template injection markers (OWASP WSTG-INPV-18; PortSwigger "Server-side template injection"):
 * a value that a template engine would evaluate if the application rendered it as a template.
 *
 * Delimiters alone are not enough: `{{name}}`, `${user.name}` and `#{id}` are everyday placeholders in text about
 * templates. A marker counts when its expression has a tell-tale of probing or exploitation:
 *
 * - arithmetic on literals, the universal probe: `{{7*7}}`, `${7*7}`, `#{7*7}`, `<%= 7*7 %>`, `{{7*'7'}}`, `*{7*7}`
 * - object-graph walking: `{{''.__class__.__mro__}}`, `{{config.items()}}`, `{{self}}`, `{{lipsum.__globals__}}`,
 *   `${T(java.lang.Runtime).getRuntime().exec('id')}`, `{{constructor.constructor('...')()}}` (AngularJS sandbox)
 * - Log4Shell lookups (CVE-2021-44228): `${jndi:ldap://...}`, `${${lower:j}ndi:...}`, `${${::-j}ndi:...}`
 * - statements: `{% import os %}`, `<#assign ex="freemarker...">`, `#set($x=...)`, `<% ... %>` scriptlets
 */
import { F, charFlags, isDigit, isSpace, isWordChar, meter, startsWithAt } from './text.ts';

/** Longest expression looked at after an opening delimiter (payloads are short; the bound keeps the scan linear). */
const MAX_EXPRESSION = 256;

/** Substrings of an expression that only probing or exploitation uses (lower case). */
const TELLTALES = [
  '__', '.class', 'getclass', 'runtime', 'processbuilder', 'java.', 'javax.', 'new(', 'exec(', 'eval(', 'system(', 'popen(',
  'import', 'require(', 'process.', 'constructor', 'config.', 'request.application', 'request.environ', "request['",
  'lipsum', 'cycler', 'joiner', 'namespace', 'jndi:', '::-', 'lower:', 'upper:', 'env:', 'sys:', '${', 'freemarker',
  '|attr(', 'subclasses', 'globals', 'builtins', 'getruntime', 'forname', '.invoke(', 'settings.', 'self.', 'url_for',
  'get_flashed_messages', 'range(', 'dump(', 'include(', 'file(', 'readfile', 'passthru', 'shell_exec', '.mro',
];

/** Jinja/Twig/Django statements that import, include or execute (checked on the first 16 characters only). */
const STATEMENT = /^\s*(import|include|extends|set|for|if|print|exec|macro|block|debug|load|from)\b/i;

/** Expressions that are exploitation on their own: `{{config}}`, `{{self}}`, `${T(...)}` (Spring EL type reference). */
const WHOLE = new Set(['config', 'self', 'request', 'settings', '_self', 'this', 'app']);

/** `7*7`, `7 * 7`, `7*'7'`, `9+9`: an operator between a digit and a (quoted) digit. */
function hasArithmetic(e: string): boolean {
  for (let i = 0; i < e.length; i++) {
    meter.steps++;
    if (!isDigit(e.charCodeAt(i))) continue;
    let j = i + 1;
    while (j < e.length && isSpace(e.charCodeAt(j))) j++;
    const op = e.charCodeAt(j);
    if (op !== 0x2a && op !== 0x2b && op !== 0x2f && op !== 0x2d && op !== 0x25) continue;
    j++;
    while (j < e.length && isSpace(e.charCodeAt(j))) j++;
    if (e.charCodeAt(j) === 0x27 || e.charCodeAt(j) === 0x22) j++;
    if (isDigit(e.charCodeAt(j))) return true;
  }
  return false;
}

function suspicious(expression: string): boolean {
  const e = expression.trim().toLowerCase();
  meter.steps += e.length;
  if (e.length === 0) return false;
  if (WHOLE.has(e)) return true;
  if (hasArithmetic(e)) return true;
  // Spring EL type reference T(java.lang.Runtime), also with spaces: T (java.lang.Runtime)
  for (let i = 0; i < e.length; i++) {
    if (e.charCodeAt(i) === 0x74 /* t */ && (i === 0 || !isWordChar(e.charCodeAt(i - 1)))) {
      let j = i + 1;
      while (j < e.length && isSpace(e.charCodeAt(j))) j++;
      if (e.charCodeAt(j) === 0x28) return true;
    }
  }
  for (const t of TELLTALES) {
    if (e.includes(t)) return true;
  }
  return false;
}

/**
 * Finds closing delimiters for one string. Each closer's next occurrence is remembered, so however many openers
 * the value holds (`{{{{{{...`), the text is searched for each closer once: linear.
 */
class Closers {
  readonly #s: string;
  readonly #next = new Map<string, number>();
  constructor(s: string) {
    this.#s = s;
  }

  /** The expression from `start` to the next `close`, at most MAX_EXPRESSION long; undefined when there is none. */
  expression(start: number, close: string): [text: string, end: number] | undefined {
    let at = this.#next.get(close);
    if (at === undefined || (at !== -1 && at < start)) {
      at = this.#s.indexOf(close, start);
      meter.steps += (at === -1 ? this.#s.length : at) - start;
      this.#next.set(close, at);
    }
    // An unclosed expression at the end of the value still reaches the engine (the template closes it).
    const end = at === -1 ? this.#s.length : at;
    if (end - start > MAX_EXPRESSION) return undefined;
    return [this.#s.slice(start, end), at === -1 ? end : end + close.length];
  }
}

export function detectTemplate(s: string, flags = charFlags(s)): boolean {
  if ((flags & (F.BRACE | F.LT | F.PAREN | F.DOLLAR)) === 0) return false;
  const n = s.length;
  let closers: Closers | undefined;
  for (let i = 0; i + 1 < n; i++) {
    meter.steps++;
    const c = s.charCodeAt(i);
    const d = s.charCodeAt(i + 1);
    let found: [string, number] | undefined;
    if (c === 0x7b /* { */ && d === 0x7b) {
      found = (closers ??= new Closers(s)).expression(i + 2, '}}');
    } else if ((c === 0x24 /* $ */ || c === 0x23 /* # */ || c === 0x2a /* * */ || c === 0x40 /* @ */) && d === 0x7b) {
      found = (closers ??= new Closers(s)).expression(i + 2, '}');
    } else if (c === 0x3c /* < */ && d === 0x25 /* % */) {
      // ERB / JSP / EJS scriptlets: <%= expr %>, <% code %>
      const body = (closers ??= new Closers(s)).expression(i + 2, '%>')?.[0];
      if (body !== undefined && body.length > 0 && (body.startsWith('=') || body.startsWith('-') || isSpace(body.charCodeAt(0)))) return true;
      continue;
    } else if (c === 0x7b && d === 0x25 /* {% */) {
      const body = (closers ??= new Closers(s)).expression(i + 2, '%}')?.[0];
      if (body !== undefined && STATEMENT.test(body.slice(0, 16))) return true;
      continue;
    } else if (c === 0x3c && d === 0x23 /* <# */) {
      if (startsWithAt(s, i + 2, 'assign') || startsWithAt(s, i + 2, 'import') || startsWithAt(s, i + 2, 'include') || startsWithAt(s, i + 2, 'list')) return true;
      continue;
    } else if (c === 0x23 && (startsWithAt(s, i + 1, 'set(') || startsWithAt(s, i + 1, 'foreach(') || startsWithAt(s, i + 1, 'evaluate('))) {
      return true; // Velocity directives
    } else if (c === 0x24 && startsWithAt(s, i + 1, 'class.')) {
      return true; // Velocity $class.inspect(...)
    }
    if (found !== undefined) {
      if (suspicious(found[0])) return true;
      // Openers inside this expression were looked at as part of it (telltales are substrings): skip past it.
      i = found[1] - 1;
    }
  }
  return false;
}
