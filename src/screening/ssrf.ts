/**
 * Server-side request forgery (OWASP API7:2023; OWASP SSRF Prevention Cheat Sheet): values an upstream may fetch
 * that point at the upstream's own network: loopback, RFC 1918 private ranges, link-local (cloud metadata at
 * 169.254.169.254 and fd00:ec2::254), CGNAT (RFC 6598), `localhost` and the cloud metadata host names, and URL
 * schemes that reach other protocols (`file:`, `gopher:`, `dict:`, `ldap:`).
 *
 * Hosts are read with the WHATWG URL parser, the one browsers and Node's fetch use, so the numeric forms it
 * accepts are normalised exactly as a fetching upstream would: decimal `http://2130706433/`, octal `0177.0.0.1`,
 * hex `0x7f000001`, short `127.1`, IPv6 `[::1]`, IPv4-mapped `[::ffff:7f00:1]`, userinfo tricks
 * `http://public@127.0.0.1/`, backslashes `http:\\127.0.0.1`. Address ranges are `node:net` BlockList rules, which
 * also match IPv4-mapped IPv6 addresses against the IPv4 rules.
 *
 * Values that are not URLs are taken for hosts only when they look like one, so ordinary data passes: a bare
 * number ("2130706433" is also a Los Angeles phone number) and versions or decimals ("10.2.1", "127.5") are not
 * hosts; a dotted quad ("10.0.0.7"), a hex or octal form, a loopback short form ("127.1"), an IPv6 address,
 * `host:port` and `localhost` are.
 */
import { BlockList, isIP } from 'node:net';
import { F, charFlags, isAsciiLetter, isDigit, isSpace, meter, startsWithAt } from './text.ts';
import { parseUrl } from '../text/url.ts';

const internal = new BlockList();
// IPv4: RFC 6890 special-purpose ranges an upstream can reach but the internet cannot.
for (const [network, prefix] of [
  ['0.0.0.0', 8], // "this network" (0.0.0.0 reaches the local host on Linux)
  ['10.0.0.0', 8], // RFC 1918
  ['100.64.0.0', 10], // RFC 6598 carrier-grade NAT
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local, cloud metadata 169.254.169.254
  ['172.16.0.0', 12], // RFC 1918
  ['192.0.0.0', 24], // IETF protocol assignments (incl. 192.0.0.192 Oracle Cloud metadata)
  ['192.168.0.0', 16], // RFC 1918
  ['198.18.0.0', 15], // benchmarking
  ['240.0.0.0', 4], // reserved, and 255.255.255.255 broadcast
] as const) {
  internal.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128], // unspecified
  ['::1', 128], // loopback
  ['fc00::', 7], // unique local (fd00:ec2::254 is the AWS IMDS IPv6 endpoint)
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated, still routed by some stacks)
] as const) {
  internal.addSubnet(network, prefix, 'ipv6');
}

/** Schemes that make an HTTP-fetching upstream speak another protocol or read files. */
const DANGEROUS_SCHEMES = new Set(['file', 'gopher', 'dict', 'ldap', 'ldaps', 'tftp', 'jar', 'netdoc', 'phar', 'php', 'expect', 'smb', 'sftp']);

/** Host names of cloud metadata services and cluster-internal names (exact). */
const INTERNAL_NAMES = new Set([
  'localhost', 'localhost.localdomain', 'ip6-localhost', 'ip6-loopback', 'metadata.google.internal', 'metadata.goog',
  'metadata', 'instance-data', 'kubernetes.default', 'kubernetes.default.svc', 'localtest.me', 'lvh.me',
]);
/** Domain suffixes that resolve to internal addresses (or to any address the name spells: DNS rebinding helpers). */
const INTERNAL_SUFFIXES = ['.localhost', '.internal', '.cluster.local', '.nip.io', '.sslip.io', '.xip.io', '.localtest.me', '.lvh.me'];

/** The 8 groups of a valid IPv6 address (as `isIP` accepts it, without zone). */
function ipv6Groups(address: string): number[] | undefined {
  let text = address;
  const lastColon = text.lastIndexOf(':');
  if (text.indexOf('.', lastColon) !== -1) {
    // Embedded dotted quad (RFC 4291 §2.2 form 3): rewrite it as two hex groups.
    const v4 = text.slice(lastColon + 1).split('.').map(Number);
    if (v4.length !== 4) return undefined;
    text = `${text.slice(0, lastColon + 1)}${((v4[0]! << 8) | v4[1]!).toString(16)}:${((v4[2]! << 8) | v4[3]!).toString(16)}`;
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const h = head === '' ? [] : head.split(':');
  const r = rest === undefined || rest === '' ? [] : rest.split(':');
  const fill = 8 - h.length - r.length;
  if (fill < 0 || (rest === undefined && fill !== 0)) return undefined;
  return [...h, ...Array<string>(fill).fill('0'), ...r].map((g) => parseInt(g, 16));
}

/** Whether an IP address (v4, or v6 without brackets and zone) is in an internal range. */
export function isInternalAddress(address: string): boolean {
  const version = isIP(address);
  if (version === 4) return internal.check(address, 'ipv4');
  if (version !== 6) return false;
  if (internal.check(address, 'ipv6')) return true; // includes ::ffff:a.b.c.d against the IPv4 rules
  // IPv4 embedded in IPv6: IPv4-compatible ::a.b.c.d (RFC 4291 §2.5.5.1), NAT64 64:ff9b::/96 (RFC 6052), 6to4
  // 2002:AABB:CCDD::/48 (RFC 3056): a translator on the path turns them back into the IPv4 address.
  const g = ipv6Groups(address.toLowerCase());
  if (g === undefined) return false;
  let hi: number | undefined;
  let lo: number | undefined;
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0) [hi, lo] = [g[6], g[7]];
  else if (g[0] === 0x64 && g[1] === 0xff9b && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0) [hi, lo] = [g[6], g[7]];
  else if (g[0] === 0x2002) [hi, lo] = [g[1], g[2]];
  if (hi === undefined || lo === undefined) return false;
  return internal.check(`${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`, 'ipv4');
}

/** Whether a host name (as the URL parser gives it: lower case, IPv6 in brackets) is internal. */
export function isInternalHostname(hostname: string): boolean {
  let host = hostname.toLowerCase();
  while (host.endsWith('.')) host = host.slice(0, -1);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  const zone = host.indexOf('%');
  if (zone !== -1) host = host.slice(0, zone);
  if (isIP(host) !== 0) return isInternalAddress(host);
  if (INTERNAL_NAMES.has(host)) return true;
  for (const suffix of INTERNAL_SUFFIXES) if (host.endsWith(suffix)) return true;
  return false;
}

/** Parses `candidate` as a URL and judges its scheme and host; undefined when it is not a URL at all. */
function judgeUrl(candidate: string): boolean | undefined {
  let scheme = '';
  for (let i = 0; i < candidate.length && i < 33; i++) {
    if (candidate.charCodeAt(i) === 0x3a) {
      scheme = candidate.slice(0, i).toLowerCase();
      break;
    }
  }
  if (DANGEROUS_SCHEMES.has(scheme)) return true;
  let url: URL;
  try {
    url = parseUrl(candidate);
  } catch {
    // The parser refused it (e.g. an IPv6 zone, `[fe80::1%25eth0]`). An upstream's own parser may be laxer, so
    // judge the authority by hand rather than let an unparseable internal URL through.
    return judgeAuthority(candidate);
  }
  const host = url.hostname;
  if (host === '') return false;
  if (isInternalHostname(host)) return true;
  // Non-special schemes (`myapp://2130706433`) keep their host opaque: judge it as a bare host.
  return !SPECIAL_SCHEMES.has(url.protocol) && bareHost(host);
}

const SPECIAL_SCHEMES = new Set(['http:', 'https:', 'ws:', 'wss:', 'ftp:', 'file:']);

function judgeAuthority(candidate: string): boolean {
  const start = candidate.indexOf('//') === -1 ? candidate.indexOf('\\\\') : candidate.indexOf('//');
  if (start === -1) return false;
  let end = start + 2;
  while (end < candidate.length && !'/?#\\'.includes(candidate[end]!)) end++;
  let authority = candidate.slice(start + 2, end);
  const at = authority.lastIndexOf('@');
  if (at !== -1) authority = authority.slice(at + 1);
  let host = authority;
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    host = close === -1 ? authority.slice(1) : authority.slice(1, close);
    host = decodeURIComponentSafe(host);
    const zone = host.indexOf('%');
    if (zone !== -1) host = host.slice(0, zone);
    return isInternalAddress(host);
  }
  const colon = host.lastIndexOf(':');
  if (colon !== -1) host = host.slice(0, colon);
  return isInternalHostname(host) || bareHost(host);
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function isNumericHostChar(c: number): boolean {
  return isDigit(c) || c === 0x2e || (c | 0x20) === 0x78 || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66);
}

/**
 * Whether a whole value is an internal host (with an optional port), in a form that is clearly a host: see the file
 * comment for the shapes that count and those that do not.
 */
function bareHost(value: string): boolean {
  if (value.length === 0 || value.length > 260) return false;
  // Host characters only (letters, digits, `.-:[]%_`): "SKU-1000" goes on, "$1,299.99" and prose stop here.
  let dot = false;
  let colon = false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x2e) dot = true;
    else if (c === 0x3a) colon = true;
    else if (!(isAsciiLetter(c) || isDigit(c) || c === 0x2d || c === 0x5b || c === 0x5d || c === 0x25 || c === 0x5f)) return false;
  }
  let host = value;
  if (host.startsWith('[')) {
    const close = host.indexOf(']');
    if (close === -1) return false;
    const rest = host.slice(close + 1);
    if (rest !== '' && !/^:\d{1,5}$/.test(rest)) return false;
    host = host.slice(1, close);
    const zone = host.indexOf('%');
    return isInternalAddress(zone === -1 ? host : host.slice(0, zone));
  }
  if (colon) {
    const zone = host.indexOf('%');
    const literal = zone === -1 ? host : host.slice(0, zone);
    if (isIP(literal) === 6) return isInternalAddress(literal);
    const last = host.lastIndexOf(':');
    if (!/^\d{1,5}$/.test(host.slice(last + 1))) return false;
    host = host.slice(0, last);
  }
  host = host.toLowerCase();
  while (host.endsWith('.')) host = host.slice(0, -1);
  if (host === '') return false;
  // Single-label words that are also ordinary data ("metadata") count only inside URLs.
  if (host === 'localhost') return true;
  if (dot) {
    if (INTERNAL_NAMES.has(host)) return true;
    for (const suffix of INTERNAL_SUFFIXES) if (host.endsWith(suffix)) return true;
  } else if (!host.startsWith('0x')) {
    return false; // one label, not hex: a word or a bare decimal
  }
  for (let i = 0; i < host.length; i++) if (!isNumericHostChar(host.charCodeAt(i))) return false;
  const parts = host.split('.');
  if (parts.length > 4 || parts.some((p) => p === '')) return false;
  // Only these shapes are hosts (see the file comment); decide before parsing, most numbers stop here.
  const hexOrOctal = parts.some((p) => p.startsWith('0x')) || (parts[0]!.length > 1 && parts[0]!.startsWith('0'));
  if (parts.length !== 4 && !hexOrOctal && !(parts.length >= 2 && parts[0] === '127')) return false;
  let address: string;
  try {
    address = parseUrl(`http://${host}/`).hostname;
  } catch {
    return false;
  }
  // Short decimal forms count only for loopback ("127.1", "127.0.1"), so versions ("10.2.1") and decimals pass.
  return isIP(address) === 4 && internal.check(address, 'ipv4');
}

function isUrlEnd(c: number): boolean {
  return isSpace(c) || c === 0x22 || c === 0x27 || c === 0x3c || c === 0x3e || c === 0x60 || c < 0x20;
}

function isSchemeChar(c: number): boolean {
  return isAsciiLetter(c) || isDigit(c) || c === 0x2b || c === 0x2d || c === 0x2e;
}

const MAX_URL = 2048;

export function detectSsrf(s: string, flags = charFlags(s)): boolean {
  // Hosts and URLs have a `.`, `:`, `[` or slashes, except `localhost` and single-number hex forms (`0x7f000001`).
  if ((flags & (F.COLON | F.DOT | F.BRACKET | F.SLASH)) === 0) {
    const t = s.trim();
    return (startsWithAt(t, 0, 'localhost') || startsWithAt(t, 0, '0x')) && bareHost(t);
  }
  const n = s.length;
  // A whole value that is a host, or a scheme-relative URL.
  const trimmed = s.trim();
  if (trimmed.startsWith('//') || trimmed.startsWith('\\\\')) {
    if (judgeUrl(`http:${trimmed.replace(/^\\\\/, '//')}`) === true) return true;
  } else if (bareHost(trimmed)) {
    return true;
  }
  if ((flags & F.COLON) === 0) return false;
  // URLs anywhere in the value: scheme ":" followed by "//", "\\", "/\" or "\/".
  for (let i = 1; i + 2 < n; i++) {
    meter.steps++;
    if (s.charCodeAt(i) !== 0x3a) continue;
    const a = s.charCodeAt(i + 1);
    const b = s.charCodeAt(i + 2);
    const slashes = (a === 0x2f || a === 0x5c) && (b === 0x2f || b === 0x5c);
    let start = i;
    while (start > 0 && i - start < 32 && isSchemeChar(s.charCodeAt(start - 1))) start--;
    if (start === i || !isAsciiLetter(s.charCodeAt(start))) continue;
    const scheme = s.slice(start, i).toLowerCase();
    // Dangerous schemes count with a single slash too (`file:/etc/passwd`); "file: report.pdf" is prose.
    if (!slashes && !(DANGEROUS_SCHEMES.has(scheme) && (a === 0x2f || a === 0x5c))) continue;
    let end = i + 1;
    while (end < n && end - start < MAX_URL && !isUrlEnd(s.charCodeAt(end))) end++;
    meter.steps += end - start;
    if (judgeUrl(s.slice(start, end)) === true) return true;
    i = end - 1;
  }
  return false;
}
