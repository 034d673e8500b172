/**
 * Path traversal (OWASP WSTG-ATHZ-01; CWE-22) in values an application may join to a file path: a `..` segment
 * (`../../etc/passwd`, `..\..\windows\win.ini`, Tomcat's `..;/`), filter-evasion forms (`....//` which a single
 * `../` strip turns back into `../`), a NUL byte that truncates the path in C-backed APIs (`file.png%00.php`), and
 * the well-known files traversal payloads aim at.
 *
 * Encoded forms (`%2e%2e%2f`, double `%252e%252e%252f`, overlong UTF-8 `%c0%ae%c0%ae%c0%af`, IIS `%u002e`,
 * fullwidth `．．／`) reach this detector decoded (see text.ts `someVariant`). A `..` inside a word ("wait...",
 * "1..10") is not a segment and passes.
 */
import { F, charFlags, meter, startsWithAt } from './text.ts';

/** Files that traversal and local-file-inclusion payloads aim at (OWASP WSTG-ATHZ-01 examples), by first character. */
const TARGETS = new Map<number, string[]>();
for (const target of ['etc/passwd', 'etc/shadow', 'etc/hosts', 'proc/self/', 'win.ini', 'boot.ini', 'system32\\', 'web-inf/', '.htpasswd', '.ssh/id_', 'windows/system32']) {
  const first = target.charCodeAt(0);
  TARGETS.set(first, [...(TARGETS.get(first) ?? []), target]);
}

function targetAt(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  const targets = TARGETS.get(c >= 0x41 && c <= 0x5a ? c | 0x20 : c);
  if (targets === undefined) return false;
  for (const target of targets) if (startsWithAt(s, i, target)) return true;
  return false;
}

/** `/`, `\`, and the slashes IIS and some Java stacks fold to `/` (division slash U+2215, fraction slash U+2044). */
function isSeparator(c: number): boolean {
  return c === 0x2f /* / */ || c === 0x5c /* \ */ || c === 0x2215 || c === 0x2044;
}

export function detectTraversal(s: string, flags = charFlags(s)): boolean {
  if ((flags & (F.DOT | F.SLASH | F.NUL)) === 0) return false;
  const n = s.length;
  for (let i = 0; i < n; i++) {
    meter.steps++;
    const c = s.charCodeAt(i);
    if (c === 0) return true; // NUL byte
    if (c === 0x2e /* . */ && i + 1 < n && s.charCodeAt(i + 1) === 0x2e) {
      // Count the run of dots.
      let j = i;
      while (j < n && s.charCodeAt(j) === 0x2e) j++;
      meter.steps += j - i;
      const before = i === 0 ? 0x2f : s.charCodeAt(i - 1);
      const after = j === n ? -1 : s.charCodeAt(j);
      const run = j - i;
      if (isSeparator(before) || i === 0) {
        // `..` as a whole segment: ../ ..\ or a trailing `..`; `..;/` (Tomcat path parameter); `....//` evasion.
        if (run === 2 && (after === -1 || isSeparator(after) || (after === 0x3b && isSeparator(s.charCodeAt(j + 1))))) return true;
        if (run >= 3 && isSeparator(after) && (run === 4 || isSeparator(s.charCodeAt(j + 1)))) return true;
      }
      i = j - 1;
    } else if ((c === 0x2f || c === 0x5c || c === 0x2e || i === 0) && i + 1 < n) {
      if (targetAt(s, c === 0x2f || c === 0x5c ? i + 1 : i)) return true;
    }
  }
  return false;
}
