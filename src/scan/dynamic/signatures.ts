/**
 * What the dynamic scan recognises in responses: stack traces, database and shell errors, system files read
 * through traversal, framework banners, private addresses, and personal data. Pure functions over strings, shared
 * by the passive analysers and the injection probes. The patterns are the well-known public signatures used by
 * scanners such as OWASP ZAP's passive rules and sqlmap's error-based tests; none is specific to one API.
 */

export interface SignatureMatch {
  /** Which family matched, e.g. `node`, `postgresql`. */
  readonly kind: string;
  /** The matched text, bounded (for evidence). */
  readonly text: string;
}

/** A signature: a pattern, or a function that finds the matched text (for shapes a pattern can only scan slowly). */
type Signature = RegExp | ((text: string) => string | undefined);

function firstMatch(table: ReadonlyArray<readonly [string, Signature]>, text: string): SignatureMatch | undefined {
  for (const [kind, signature] of table) {
    const found = typeof signature === 'function' ? signature(text) : signature.exec(text)?.[0];
    if (found !== undefined) return { kind, text: found.slice(0, 200) };
  }
  return undefined;
}

const SLASH = 0x2f;
const COLON = 0x3a;

/** The part after `.rb` of a Ruby backtrace line, read where a `.rb:` is (sticky). */
const RUBY_TAIL = /\.rb:\d{1,9}:in `[^'\n]{1,200}'/y;

/**
 * A Ruby backtrace line, `/app/models/order.rb:42:in `find'` (what `/\/[^\s:]{1,300}\.rb:\d+:in `...'/` says), found
 * from each `.rb:` instead of from each `/`: the pattern tried every slash of a body up to 300 characters ahead, and
 * a hostile `/a/a/a…` answer of 256 KiB cost 190 ms (on every answer of a 2,000-request scan). Here each `.rb:`
 * looks back at most 301 characters for the slash that starts the path (the path holds no whitespace and no colon,
 * so the look-backs of two `.rb:` never overlap): linear in the body.
 */
function findRubyTrace(text: string): string | undefined {
  for (let at = text.indexOf('.rb:'); at !== -1; at = text.indexOf('.rb:', at + 1)) {
    RUBY_TAIL.lastIndex = at;
    const tail = RUBY_TAIL.exec(text);
    if (tail === null) continue;
    // The leftmost slash with 1-300 path characters (no whitespace, no colon) between it and `.rb`.
    let start = -1;
    for (let i = at - 1, n = 0; i >= 0 && n <= 300; i--, n++) {
      const c = text.charCodeAt(i);
      if (c === COLON || c === 0x20 || (c >= 0x09 && c <= 0x0d) || c === 0xa0 || c === 0x2028 || c === 0x2029 || c === 0xfeff) break;
      if (c === SLASH && i < at - 1) start = i;
    }
    if (start !== -1) return text.slice(start, at) + tail[0];
  }
  return undefined;
}

/** Stack traces of the common runtimes (CWE-209). */
const STACK_TRACES: ReadonlyArray<readonly [string, Signature]> = [
  ['node', /\bat (?:async )?[\w$.<>[\] ]{0,200}\(?(?:file:\/\/)?(?:\/|[A-Za-z]:\\|node:)[^\s)]{0,500}:\d+:\d+\)?/],
  ['java', /\bat [\w$]{1,200}(?:\.[\w$<>]{1,200}){1,30}\((?:[\w$]{1,200}\.java:\d+|Native Method|Unknown Source)\)/],
  ['python', /Traceback \(most recent call last\)|File "[^"\n]{1,300}", line \d+, in \w+/],
  ['dotnet', /\bat [\w.<>`]{1,300}\([^)\n]{0,300}\) in [^\n]{1,300}:line \d+/],
  ['php', /(?:#\d+ \/[^\s(]{1,300}\.php\(\d+\)|PHP (?:Fatal|Parse) error:|Stack trace:\s*#0)/],
  ['ruby', findRubyTrace],
  // Bounded: `panic: .+\n\s*goroutine` scanned from every `panic: ` to the end of its line, so a body of `panic: `
  // repeated cost O(n²) (3.9 s at 256 KiB, on every answer). `[^\n]` rather than `.` also takes a CRLF line end.
  ['go', /goroutine \d+ \[running\]:|panic: [^\n]{1,500}\n\s{0,200}goroutine/],
];

export function findStackTrace(text: string): SignatureMatch | undefined {
  return firstMatch(STACK_TRACES, text);
}

/** Database error messages (sqlmap's error-based DBMS fingerprints, abridged). */
const SQL_ERRORS: ReadonlyArray<readonly [string, RegExp]> = [
  ['mysql', /You have an error in your SQL syntax|Warning: mysql_|MySqlException|com\.mysql\.jdbc|SQLSTATE\[\w+\]|ER_PARSE_ERROR|ER_DATA_TOO_LONG/],
  ['postgresql', /PostgreSQL.{0,40}ERROR|PSQLException|unterminated quoted string at or near|syntax error at or near "|pg_query\(\)|invalid input syntax for (?:type )?\w+/],
  ['mssql', /Unclosed quotation mark after the character string|Microsoft OLE DB Provider for SQL Server|SqlException|Incorrect syntax near '/],
  ['oracle', /\bORA-\d{5}\b|quoted string not properly terminated/],
  ['sqlite', /SQLITE_(?:ERROR|CONSTRAINT)|SqliteError|sqlite3\.OperationalError|unrecognized token: "|near "[^"]{0,40}": syntax error|CHECK constraint failed/],
  ['generic', /\bSQL syntax\b.{0,40}\berror\b|org\.hibernate\.|java\.sql\.SQL\w*Exception|\bJDBC\b.{0,30}Exception/],
];

export function findSqlError(text: string): SignatureMatch | undefined {
  return firstMatch(SQL_ERRORS, text);
}

/** Document-database errors that show an operator reached the query (MongoDB and its drivers, CouchDB). */
const NOSQL_ERRORS: ReadonlyArray<readonly [string, RegExp]> = [
  ['mongodb', /MongoServerError|MongoError|unknown (?:top level )?operator: ?\$\w+|Cannot apply \$\w+|\$where is not allowed|BSONTypeError|CastError: Cast to \w+ failed/],
  ['couchdb', /"error":"(?:invalid_selector|bad_request)".{0,80}"reason":"Invalid operator/],
];

export function findNoSqlError(text: string): SignatureMatch | undefined {
  return firstMatch(NOSQL_ERRORS, text);
}

/** Shell errors for an unknown command (POSIX sh, bash, cmd.exe). */
const SHELL_ERRORS: ReadonlyArray<readonly [string, RegExp]> = [
  ['sh', /(?:^|\n|")(?:\/bin\/)?(?:ba|da|z)?sh: (?:\d+: |line \d+: )?[\w.-]+: (?:command )?not found/],
  ['bash', /syntax error near unexpected token `/],
  ['cmd', /is not recognized as an internal or external command/],
];

export function findShellError(text: string): SignatureMatch | undefined {
  return firstMatch(SHELL_ERRORS, text);
}

/** Contents of files every system has, read through a traversal. */
const SYSTEM_FILES: ReadonlyArray<readonly [string, RegExp]> = [
  ['/etc/passwd', /\broot:[^:\n]*:0:0:/],
  ['win.ini', /\[fonts\][\s\S]{0,200}\[extensions\]|; for 16-bit app support/],
];

export function findSystemFile(text: string): SignatureMatch | undefined {
  return firstMatch(SYSTEM_FILES, text);
}

/** Framework error pages and exception names in server error bodies. */
const FRAMEWORK_BANNERS: ReadonlyArray<readonly [string, RegExp]> = [
  ['spring', /Whitelabel Error Page/],
  ['tomcat', /Apache Tomcat\/\d|<h3>Apache Tomcat/],
  ['apache', /<address>Apache\/\d/],
  ['nginx', /<center>nginx\/\d/],
  ['django', /Django Version:|You're seeing this error because you have <code>DEBUG = True/],
  ['werkzeug', /Werkzeug Debugger|werkzeug\.exceptions/],
  ['rails', /Rails\.root:|ActionController::RoutingError/],
  ['aspnet', /ASP\.NET is configured to show verbose error messages|Microsoft \.NET Framework Version:|Server Error in '\/' Application/],
  ['laravel', /Illuminate\\|Whoops, looks like something went wrong/],
  ['express', /<pre>(?:TypeError|ReferenceError|SyntaxError|RangeError|Error): /],
  // Exception class names (`TypeError:`, `SqliteError:`, `NullPointerException(`): a bare "Error" does not count.
  ['exception', /\b[A-Z][A-Za-z]+(?:Error|Exception)\b[:(]|\b(?:KeyError|AttributeError|ValueError|ZeroDivisionError|UnhandledPromiseRejection)\b/],
  ['version', /\b(?:Express|PHP|Python|Node\.js|OpenSSL|Jetty|Kestrel|Werkzeug|gunicorn|uvicorn)\/\d+\.\d+/],
];

export function findFrameworkBanner(text: string): SignatureMatch | undefined {
  return firstMatch(FRAMEWORK_BANNERS, text);
}

/** Headers that name server software; `Server` only when it carries a version. */
export function bannerHeaders(headers: Readonly<Record<string, string | string[] | undefined>>): string[] {
  const out: string[] = [];
  for (const name of ['x-powered-by', 'x-aspnet-version', 'x-aspnetmvc-version', 'x-generator', 'x-runtime-version']) {
    const value = headers[name];
    if (value !== undefined) out.push(`${name}: ${String(value).slice(0, 100)}`);
  }
  const server = headers['server'];
  if (typeof server === 'string' && /\d+\.\d+|\/\d/.test(server)) out.push(`server: ${server.slice(0, 100)}`);
  return out;
}

function validIpv4(text: string): boolean {
  return text.split('.').every((part) => part.length <= 3 && Number(part) <= 255 && !(part.length > 1 && part.startsWith('0')));
}

/**
 * Private (RFC 1918), shared (RFC 6598), link-local and unique-local (RFC 4193) addresses, and host names under
 * internal-only suffixes. Loopback is not listed: every service knows its own 127.0.0.1.
 */
const IPV4 = /(?<![\d.])(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})(?!\.?\d)/g;
/**
 * An internal-only suffix (`svc.cluster.local` is `local` with two labels before it) right after a dot, not followed
 * by more of a name. The host name is read backwards from it (internalHostBefore): a pattern that started at every
 * word boundary with `(?:[a-z0-9-]{1,63}\.){1,8}` backtracked 63 characters at each of them, and a hostile
 * `a-a-a-…` answer of 256 KiB cost 90 ms though it holds no such suffix at all.
 */
const INTERNAL_SUFFIX = /(?<=\.)(?:internal|intranet|corp|lan|local)\b(?![.-]?[a-z0-9])/gi;

function isLabelChar(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x2d;
}

/**
 * The host name ending with the suffix at `suffix` (its dot at `suffix - 1`): 1 to 8 labels of 1-63 letters, digits
 * and hyphens, each followed by a dot, starting at a word boundary; undefined when there is none. At most 8 × 64
 * characters are read back, so the whole scan stays linear in the body.
 */
function internalHostBefore(text: string, suffix: number, end: number): string | undefined {
  let start = -1;
  let dot = suffix - 1;
  for (let labels = 0; labels < 8; labels++) {
    let i = dot - 1;
    while (i >= 0 && dot - 1 - i < 64 && isLabelChar(text.charCodeAt(i))) i--;
    const length = dot - 1 - i;
    // A label longer than 63 (the run goes on): no name boundary here, as `\b[a-z0-9-]{1,63}` would not find one.
    if (length === 0 || length > 63 || (i >= 0 && isLabelChar(text.charCodeAt(i)))) break;
    const before = i >= 0 ? text.charCodeAt(i) : -1;
    // `\b` at the name's start: not inside a word (the letters and digits were read as label; an underscore is left).
    if (before === 0x5f) break;
    start = i + 1;
    if (before !== 0x2e) break;
    dot = i;
  }
  if (start === -1) return undefined;
  // `\b` cannot sit before a leading hyphen (a hyphen is not a word character): the name starts after them.
  while (text.charCodeAt(start) === 0x2d) start++;
  return text.charCodeAt(start) === 0x2e ? undefined : text.slice(start, end);
}
const ULA_IPV6 = /\b[fF][cdCD][0-9a-fA-F]{2}:(?::{0,2}[0-9a-fA-F]{1,4}){1,7}\b/g;

export function findInternalAddresses(text: string): string[] {
  const found = new Set<string>();
  for (const m of text.matchAll(IPV4)) {
    const ip = m[1]!;
    if (!validIpv4(ip)) continue;
    const [a, b] = ip.split('.').map(Number) as [number, number];
    const isPrivate =
      a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127) || (a === 169 && b === 254);
    if (isPrivate) found.add(ip);
  }
  for (const m of text.matchAll(INTERNAL_SUFFIX)) {
    const host = internalHostBefore(text, m.index, m.index + m[0].length);
    if (host !== undefined) found.add(host.toLowerCase());
  }
  for (const m of text.matchAll(ULA_IPV6)) found.add(m[0].toLowerCase());
  return [...found].slice(0, 10);
}

// --- personal data and secrets ------------------------------------------------------------------------------------

/** Luhn check (ISO/IEC 7812-1) over the digits of a candidate card number. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return digits.length > 0 && sum % 10 === 0;
}

const EMAIL = /^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}$/;
const SSN = /^(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}$/;
const CARD = /^(?:\d[ -]?){12,18}\d$/;

export type PiiKind = 'email' | 'card-number' | 'ssn';

/** The kind of personal data a whole string value is, if any (whole values only: no substring guessing). */
export function piiKind(value: string): PiiKind | undefined {
  if (value.length > 320) return undefined;
  if (EMAIL.test(value)) return 'email';
  if (SSN.test(value)) return 'ssn';
  if (CARD.test(value)) {
    const digits = value.replace(/[ -]/g, '');
    // Card numbers are 13–19 digits with a valid Luhn sum and a known issuer prefix (2-6).
    if (digits.length >= 13 && digits.length <= 19 && /^[2-6]/.test(digits) && luhnValid(digits)) return 'card-number';
  }
  return undefined;
}

/** Splits `passwordHash`, `api_key`, `API-Key` into lower-case words. */
export function nameWords(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    // `HTMLParser` → `HTML Parser`. A lookahead, not `([A-Z]+)([A-Z][a-z])`: that ran `[A-Z]+` to the end of an
    // upper-case run from each of its letters, O(n²) on a hostile property name (`A` × 32 KiB took 0.4 s).
    .replace(/([A-Z])(?=[A-Z][a-z])/g, '$1 ')
    .split(/[^A-Za-z0-9]+/)
    .filter((w) => w !== '')
    .map((w) => w.toLowerCase());
}

const SECRET_WORDS = new Set(['password', 'passwd', 'pwd', 'secret', 'hash', 'salt', 'token', 'apikey', 'privatekey', 'cvv', 'cvc', 'ssn', 'pin', 'otp', 'totp', 'mfa']);
const SECRET_PAIRS = new Set(['api key', 'private key', 'access key', 'card number', 'social security', 'account number', 'security code', 'refresh token', 'session id']);

/** Whether a property name says it holds a secret or personal identifier (`passwordHash`, `api_key`, `cardNumber`). */
export function sensitiveName(name: string): boolean {
  const words = nameWords(name);
  if (words.some((w) => SECRET_WORDS.has(w))) return true;
  if (words.length === 1 && (words[0] === 'pan' || words[0] === 'iban')) return true;
  for (let i = 0; i + 1 < words.length; i++) if (SECRET_PAIRS.has(`${words[i]} ${words[i + 1]}`)) return true;
  return false;
}
