/**
 * Cross-site scripting payloads (OWASP WSTG-INPV-01/02, OWASP XSS Filter Evasion Cheat Sheet) in values an
 * application may later render into HTML:
 *
 * - script elements and active embedding: `<script`, `</script`, `<iframe`, `<object`, `<embed`, `<base`, `<meta`
 * - event handler attributes on any tag: `<img src=x onerror=alert(1)>`, `<svg/onload=...>`, `<body onload=...>`,
 *   `<x onmouseover=...>`, also after `/` and quotes as browsers parse them
 * - script URLs in URL positions: `javascript:alert(1)`, `jav&#x09;ascript:` (entities and tab/newline inside the
 *   scheme are removed the way the URL parser removes them), `vbscript:`, `data:text/html`
 * - breaking out of a JavaScript string: `';alert(1)//`, `"-prompt(1)-"`, `` alert`1` ``
 *
 * "a<b", "x < y && y > z", "<3", generics (`Vec<String>`), plain markup such as `<b>bold</b>` and "JavaScript: The
 * Good Parts" pass.
 */
import { F, charFlags, isAsciiLetter, isDigit, isSpace, isWordChar, meter, startsWithAt } from './text.ts';

/** Elements that execute or load active content by their mere presence. */
const ACTIVE_TAGS = new Set(['script', 'iframe', 'frame', 'frameset', 'object', 'embed', 'applet', 'base', 'meta', 'portal']);
const MAX_TAG_SCAN = 1024;
/**
 * Attribute scans may overlap: a `<x ` inside an unquoted value of an earlier tag starts a scan of its own over text
 * the earlier one read (`<a b=<a b=<a b=...`, up to MAX_TAG_SCAN characters each: 125 reads per character, about a
 * second of CPU for a 1 MB body). Their total is bounded by this many characters per character of input (plus one
 * window); text that needs more is not prose, markup or code anyone sends, and is reported (fail closed) rather than
 * read further. Markup whose tags close (`>`) reads each character about once.
 */
const TAG_SCAN_PER_CHAR = 8;
/** Where the last hasEventHandler call stopped reading (how far past its start it read). */
let tagScanEnd = 0;

/** Scans the attributes of a tag opened at `i` (after the name); true when one is an event handler. */
function hasEventHandler(s: string, i: number): boolean {
  const limit = Math.min(s.length, i + MAX_TAG_SCAN);
  // Counted as read up to the limit unless it stops earlier at a tag end (a handler found ends the screening anyway).
  tagScanEnd = limit;
  while (i < limit) {
    meter.steps++;
    const c = s.charCodeAt(i);
    if (c === 0x3e /* > */ || c === 0x3c /* < */) {
      tagScanEnd = i;
      return false;
    }
    if (isSpace(c) || c === 0x2f /* / */ || c === 0x22 || c === 0x27) {
      i++;
      continue;
    }
    // Attribute name: up to space, '/', '>', '='.
    const start = i;
    while (i < limit) {
      const d = s.charCodeAt(i);
      if (isSpace(d) || d === 0x2f || d === 0x3e || d === 0x3d || d === 0x3c) break;
      i++;
    }
    meter.steps += i - start;
    const isHandler = i - start > 2 && (s.charCodeAt(start) | 0x20) === 0x6f && (s.charCodeAt(start + 1) | 0x20) === 0x6e && isAsciiLetter(s.charCodeAt(start + 2));
    let j = i;
    while (j < limit && isSpace(s.charCodeAt(j))) j++;
    if (s.charCodeAt(j) !== 0x3d /* = */) {
      i = j;
      continue;
    }
    if (isHandler) return true;
    // Skip the value: quoted or unquoted.
    j++;
    while (j < limit && isSpace(s.charCodeAt(j))) j++;
    const q = s.charCodeAt(j);
    if (q === 0x22 || q === 0x27) {
      j++;
      while (j < limit && s.charCodeAt(j) !== q) j++;
      meter.steps += j - i;
      i = j + 1;
    } else {
      while (j < limit && !isSpace(s.charCodeAt(j)) && s.charCodeAt(j) !== 0x3e) j++;
      i = j;
    }
  }
  return false;
}

/** Characters the URL parser drops inside a scheme (tab, LF, CR) and leading C0 controls and spaces (WHATWG URL). */
function isIgnoredInScheme(c: number): boolean {
  return c === 0x09 || c === 0x0a || c === 0x0d;
}

/** Matches `scheme` at `i` ignoring case and tab/newline inside; returns the index after the `:`, or -1. */
function schemeAt(s: string, i: number, scheme: string): number {
  let k = 0;
  let j = i;
  while (j < s.length && k < scheme.length) {
    const c = s.charCodeAt(j);
    if (isIgnoredInScheme(c)) {
      j++;
      continue;
    }
    if ((c | 0x20) !== scheme.charCodeAt(k) && c !== scheme.charCodeAt(k)) return -1;
    j++;
    k++;
  }
  if (k < scheme.length) return -1;
  while (j < s.length && (isIgnoredInScheme(s.charCodeAt(j)) || s.charCodeAt(j) === 0x20)) j++;
  return s.charCodeAt(j) === 0x3a ? j + 1 : -1;
}

/**
 * A script URL has code after the scheme: `javascript:alert(1)`, `javascript://%0a...`, `javascript:%61lert(1)`.
 * With a space after the colon, the first word must be a call (`javascript: alert(1)`), so a title such as
 * "JavaScript: The Good Parts (2008)" is not taken for one.
 */
function looksLikeCode(s: string, i: number): boolean {
  const limit = Math.min(s.length, i + 256);
  if (i < limit && isSpace(s.charCodeAt(i))) {
    let j = i;
    while (j < limit && isSpace(s.charCodeAt(j))) j++;
    const start = j;
    while (j < limit && (isWordChar(s.charCodeAt(j)) || s.charCodeAt(j) === 0x2e)) j++;
    meter.steps += j - i;
    return j > start && (s.charCodeAt(j) === 0x28 || s.charCodeAt(j) === 0x60);
  }
  for (let j = i; j < limit; j++) {
    meter.steps++;
    const c = s.charCodeAt(j);
    if (isSpace(c)) return false;
    if (c === 0x28 || c === 0x60 || c === 0x3d || c === 0x5c || c === 0x25 || c === 0x2f || c === 0x5b) return true;
  }
  return false;
}

/** Decodes HTML character references (`&#x09;`, `&#106;`, `&colon;`, `&Tab;`) the way attribute values are decoded. */
export function decodeEntities(s: string): string {
  if (s.indexOf('&') === -1) return s;
  let out = '';
  let last = 0;
  for (let i = 0; i < s.length; i++) {
    meter.steps++;
    if (s.charCodeAt(i) !== 0x26) continue;
    let j = i + 1;
    let cp = -1;
    if (s.charCodeAt(j) === 0x23 /* # */) {
      j++;
      const hex = (s.charCodeAt(j) | 0x20) === 0x78;
      if (hex) j++;
      const start = j;
      let value = 0;
      while (j < s.length && j - start < 8) {
        const c = s.charCodeAt(j);
        const digit = isDigit(c) ? c - 0x30 : hex && (c | 0x20) >= 0x61 && (c | 0x20) <= 0x66 ? (c | 0x20) - 0x57 : -1;
        if (digit < 0) break;
        value = value * (hex ? 16 : 10) + digit;
        j++;
      }
      if (j > start && value <= 0x10ffff) cp = value;
    } else {
      const start = j;
      while (j < s.length && j - start < 10 && isAsciiLetter(s.charCodeAt(j))) j++;
      const name = s.slice(start, j).toLowerCase();
      cp = NAMED[name] ?? -1;
    }
    if (cp < 0) continue;
    if (s.charCodeAt(j) === 0x3b) j++;
    out += s.slice(last, i) + String.fromCodePoint(cp);
    last = j;
    i = j - 1;
  }
  return last === 0 ? s : out + s.slice(last);
}

const NAMED: Record<string, number> = Object.assign(Object.create(null) as Record<string, number>, {
  lt: 0x3c, gt: 0x3e, quot: 0x22, apos: 0x27, amp: 0x26, colon: 0x3a, tab: 0x09, newline: 0x0a, lpar: 0x28, rpar: 0x29,
  sol: 0x2f, bsol: 0x5c, equals: 0x3d, grave: 0x60, semi: 0x3b, excl: 0x21, period: 0x2e, comma: 0x2c, num: 0x23,
});

/** Script-URL schemes; `data:` only with a media type that runs script. */
function scriptUrlAt(s: string, i: number): boolean {
  for (const scheme of ['javascript', 'vbscript', 'livescript']) {
    const after = schemeAt(s, i, scheme);
    if (after !== -1) return looksLikeCode(s, after);
  }
  return startsWithAt(s, i, 'data:text/html') || startsWithAt(s, i, 'data:image/svg+xml') || startsWithAt(s, i, 'data:application/x-javascript') || startsWithAt(s, i, 'data:text/javascript');
}

/** `alert(1)`, `prompt\`1\``, `eval(...)` right after a JavaScript string or statement boundary. */
const SINKS = ['alert', 'prompt', 'confirm', 'eval', 'document.cookie', 'document.domain'];

function sinkAfterBreakout(s: string, i: number): boolean {
  // `i` is the character after a quote, `;`, `-`, `+`, `(`, `=` or `>`; spaces allowed.
  let j = i;
  while (j < s.length && isSpace(s.charCodeAt(j))) j++;
  for (const sink of SINKS) {
    if (!startsWithAt(s, j, sink)) continue;
    let k = j + sink.length;
    if (sink.startsWith('document.')) return !isWordChar(s.charCodeAt(k));
    while (k < s.length && isSpace(s.charCodeAt(k))) k++;
    const c = s.charCodeAt(k);
    if (c === 0x28 || c === 0x60) return true;
  }
  return false;
}

function detectIn(s: string, flags: number): boolean {
  // Script URLs need a `:`, sinks a `(` or a backtick, markup a `<`: look only for what can be there.
  const schemes = (flags & F.COLON) !== 0;
  const sinks = (flags & (F.PAREN | F.BACKTICK)) !== 0;
  if (!schemes && !sinks && (flags & F.LT) === 0) return false;
  const n = s.length;
  let tagScanLeft = TAG_SCAN_PER_CHAR * n + MAX_TAG_SCAN;
  for (let i = 0; i < n; i++) {
    meter.steps++;
    const c = s.charCodeAt(i);
    if (c === 0x3c /* < */) {
      let j = i + 1;
      if (s.charCodeAt(j) === 0x2f) j++;
      if (!isAsciiLetter(s.charCodeAt(j))) continue;
      const start = j;
      while (j < n && j - start < 32 && (isWordChar(s.charCodeAt(j)) || s.charCodeAt(j) === 0x2d || s.charCodeAt(j) === 0x3a)) j++;
      meter.steps += j - start;
      const name = s.slice(start, j).toLowerCase();
      const next = j < n ? s.charCodeAt(j) : -1;
      const boundary = next === -1 || isSpace(next) || next === 0x2f || next === 0x3e;
      if (ACTIVE_TAGS.has(name) && boundary) return true;
      if (boundary && j < n) {
        if (hasEventHandler(s, j)) return true;
        tagScanLeft -= tagScanEnd - j;
        if (tagScanLeft < 0) return true;
      }
      i = j - 1;
    } else if (schemes && ((c | 0x20) === 0x6a /* j */ || (c | 0x20) === 0x76 /* v */ || (c | 0x20) === 0x6c /* l */ || (c | 0x20) === 0x64) /* d */) {
      // Script URLs in URL positions: the start of the value, or after = " ' ( ` or whitespace inside markup.
      if (i > 0 && isWordChar(s.charCodeAt(i - 1))) continue;
      if (scriptUrlAt(s, i)) {
        if (i === 0) return true;
        const p = s.charCodeAt(i - 1);
        if (p === 0x3d || p === 0x22 || p === 0x27 || p === 0x28 || p === 0x60 || isSpace(p) || p < 0x20) return true;
      }
    } else if (sinks && (c === 0x27 || c === 0x22 || c === 0x3b || c === 0x2d || c === 0x2b || c === 0x28 || c === 0x3d || c === 0x3e || c === 0x7b || c === 0x7d)) {
      if (sinkAfterBreakout(s, i + 1)) return true;
    } else if (sinks && c === 0x65 /* e */ && startsWithAt(s, i, 'expression(') && i > 0 && s.charCodeAt(i - 1) === 0x3a) {
      return true; // IE CSS expression(): style="width:expression(alert(1))"
    }
  }
  return false;
}

export function detectXss(s: string, flags = charFlags(s)): boolean {
  if ((flags & (F.LT | F.COLON | F.PAREN | F.BACKTICK | F.AMP)) === 0) return false;
  if (detectIn(s, flags)) return true;
  if ((flags & F.AMP) === 0) return false;
  // Attribute values are entity-decoded by the browser before the URL is parsed: jav&#x09;ascript&colon;...
  const decoded = decodeEntities(s);
  return decoded !== s && detectIn(decoded, charFlags(decoded));
}
