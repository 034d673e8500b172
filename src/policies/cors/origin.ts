/**
 * Parsing of configured origins and origin patterns for the `cors` policy. Runs at config time only.
 *
 * A browser sends the ASCII serialization of an origin (HTML "serialization of an origin"; Fetch §3.1 `Origin`):
 * lower-case scheme and host, punycode for internationalised names, the port only when it is not the scheme's
 * default, no path and no trailing slash. A configured origin that is not in that form can never match, or worse,
 * invites the prefix/suffix matching that produced the classic bypasses (`https://example.com.evil.net`,
 * `https://evilexample.com`); so anything else is a config error with the reason.
 */
import { isIPv4, isIPv6 } from 'node:net';

export type ParsedOrigin =
  | { readonly ok: true; readonly origin: string; readonly scheme: 'http' | 'https'; readonly host: string }
  | { readonly ok: false; readonly reason: string };

export type CompiledPattern =
  | { readonly ok: true; readonly regex: RegExp; readonly scheme: 'http' | 'https'; readonly suffix: string }
  | { readonly ok: false; readonly reason: string };

const DEFAULT_PORTS: Readonly<Record<string, string>> = { http: '80', https: '443' };
/** One DNS label (RFC 1035 §2.3.1 as relaxed by RFC 1123 §2.1), lower case, 1-63 characters. */
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
/** The same label as a regex fragment for compiled patterns; bounded quantifiers keep it linear. */
const LABEL_SOURCE = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
// eslint-disable-next-line no-control-regex -- control characters are exactly what this refuses
const UNSAFE_CHARACTERS = /[\u0000-\u0020\u007f]/;

interface Split {
  readonly scheme: string;
  readonly host: string;
  readonly port: string | undefined;
}

/** Splits `scheme://host[:port]`, refusing every extra part with a reason a person can act on. */
function splitOrigin(value: string): Split | string {
  if (UNSAFE_CHARACTERS.test(value)) return 'contains whitespace or control characters';
  const schemeEnd = value.indexOf('://');
  if (schemeEnd <= 0) return 'is not of the form scheme://host[:port]';
  const scheme = value.slice(0, schemeEnd).toLowerCase();
  if (scheme !== 'http' && scheme !== 'https') return `has scheme "${scheme}"; only http and https origins exist for CORS`;
  const rest = value.slice(schemeEnd + 3);
  if (rest.includes('@')) return 'contains userinfo (user@); an origin never does';
  if (rest.includes('?')) return 'contains a query; an origin never does';
  if (rest.includes('#')) return 'contains a fragment; an origin never does';
  const slash = rest.indexOf('/');
  if (slash !== -1) {
    return slash === rest.length - 1
      ? 'ends with a slash; browsers send the origin without one, so it would never match'
      : 'contains a path; an origin is scheme, host and port only';
  }
  if (rest.includes('\\')) return 'contains a backslash';
  let host: string;
  let port: string | undefined;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close === -1) return 'has an unterminated IPv6 literal';
    host = rest.slice(0, close + 1);
    const after = rest.slice(close + 1);
    if (after !== '') {
      if (!after.startsWith(':')) return 'has characters after the IPv6 literal';
      port = after.slice(1);
    }
  } else {
    const colon = rest.indexOf(':');
    host = colon === -1 ? rest : rest.slice(0, colon);
    port = colon === -1 ? undefined : rest.slice(colon + 1);
  }
  if (host === '') return 'has an empty host';
  if (port !== undefined) {
    if (port === '*') return 'has a wildcard port; list each port';
    if (!/^[0-9]{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) return `has an invalid port "${port}"`;
    if (port === DEFAULT_PORTS[scheme]) {
      return `names the default port ${port}; browsers omit it, so write it without ":${port}"`;
    }
  }
  return { scheme, host, port };
}

/** Checks an ASCII host name label by label; returns a reason or undefined. */
function hostNameProblem(host: string, original: string, scheme: string): string | undefined {
  // eslint-disable-next-line no-control-regex -- any non-ASCII character
  if (/[^\u0000-\u007f]/.test(host)) {
    let ascii = '';
    try {
      ascii = new URL(`${scheme}://${host}`).host;
    } catch {
      return 'has a host name that is not valid';
    }
    return `has a non-ASCII host name; browsers send the punycode form, write "${original.replace(host, ascii)}"`;
  }
  if (host.endsWith('.')) return 'has a host name with a trailing dot';
  for (const label of host.toLowerCase().split('.')) {
    if (!LABEL.test(label)) return `has an invalid host name label "${label}"`;
  }
  return undefined;
}

/** True for hosts browsers treat as potentially trustworthy over plain http (W3C Secure Contexts §3.1). */
export function isLoopbackHost(host: string): boolean {
  return (
    host === 'localhost' ||
    host.endsWith('.localhost') ||
    host === '[::1]' ||
    (isIPv4(host) && host.startsWith('127.'))
  );
}

/** Parses one configured exact origin. `*` and `null` are handled by the caller. */
export function parseConfiguredOrigin(value: string): ParsedOrigin {
  const split = splitOrigin(value);
  if (typeof split === 'string') return { ok: false, reason: split };
  const { scheme, host } = split;
  if (host.startsWith('[')) {
    if (!isIPv6(host.slice(1, -1))) return { ok: false, reason: 'has an invalid IPv6 literal' };
  } else if (host.includes('*')) {
    return { ok: false, reason: 'contains a wildcard; put patterns under originPatterns' };
  } else {
    const problem = hostNameProblem(host, value, scheme);
    if (problem) return { ok: false, reason: problem };
  }
  // The WHATWG URL parser produces exactly the serialization a browser sends (IPv6 compression, IPv4 forms,
  // lower case), so matching at run time is a plain Set lookup with no normalisation per request.
  let origin: string;
  try {
    origin = new URL(value).origin;
  } catch {
    return { ok: false, reason: 'is not a valid origin' };
  }
  return { ok: true, origin, scheme: scheme as 'http' | 'https', host: new URL(origin).hostname };
}

/**
 * Public suffixes under which anyone can register a name, so `*.<suffix>` would admit strangers. This is a short
 * built-in excerpt of the Public Suffix List (https://publicsuffix.org/): multi-label country suffixes are matched
 * by shape (`co.uk`, `com.au`, ...) and the best-known shared hosting suffixes by name. Single-label suffixes
 * (`*.com`) are refused by the label count.
 */
const SECOND_LEVEL_PUBLIC_LABELS = new Set([
  'ac', 'co', 'com', 'edu', 'gen', 'go', 'gob', 'gov', 'gv', 'ltd', 'me', 'mil', 'ne', 'net', 'nic', 'nom', 'or',
  'org', 'plc', 'sch',
]);
const SHARED_HOSTING_SUFFIXES = new Set([
  'amazonaws.com', 'appspot.com', 'azurewebsites.net', 'blogspot.com', 'cloudfront.net', 'firebaseapp.com',
  'fly.dev', 'github.io', 'gitlab.io', 'glitch.me', 'herokuapp.com', 'netlify.app', 'ngrok-free.app', 'ngrok.io',
  'onrender.com', 'pages.dev', 'vercel.app', 'web.app', 'workers.dev',
]);

/** Whether `suffix` (the fixed labels right of the wildcards) is, by the excerpt above, a public suffix. */
export function isPublicSuffix(suffix: string): boolean {
  const labels = suffix.split('.');
  if (labels.length < 2) return true;
  if (SHARED_HOSTING_SUFFIXES.has(suffix)) return true;
  return labels.length === 2 && labels[1]!.length === 2 && SECOND_LEVEL_PUBLIC_LABELS.has(labels[0]!);
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Compiles `scheme://*.fixed.suffix[:port]` into an anchored regex where each `*` is exactly one DNS label.
 * Anchoring both ends and matching the scheme and port literally is what defeats `https://app.example.com.evil.net`
 * (suffix check) and `https://evilexample.com` (the dot before the suffix is literal).
 */
export function compileOriginPattern(value: string): CompiledPattern {
  const split = splitOrigin(value);
  if (typeof split === 'string') return { ok: false, reason: split };
  const { scheme, host, port } = split;
  if (host.startsWith('[') || isIPv4(host.replaceAll('*', '0'))) {
    return { ok: false, reason: 'uses an IP address; patterns are for DNS names, list addresses under origins' };
  }
  const labels = host.split('.');
  let wildcards = 0;
  while (wildcards < labels.length && labels[wildcards] === '*') wildcards++;
  if (wildcards === 0) {
    return host.includes('*')
      ? { ok: false, reason: 'has a wildcard that is not a whole leftmost label (write "*.example.com")' }
      : { ok: false, reason: 'has no wildcard; list exact origins under origins' };
  }
  const fixed = labels.slice(wildcards);
  if (fixed.some((label) => label.includes('*'))) {
    return { ok: false, reason: 'has a wildcard that is not a whole leftmost label (write "*.example.com")' };
  }
  const suffix = fixed.join('.');
  if (suffix === '') return { ok: false, reason: 'matches every host; the wildcard covers the registrable domain' };
  const problem = hostNameProblem(suffix, value, scheme);
  if (problem) return { ok: false, reason: problem };
  const lowerSuffix = suffix.toLowerCase();
  if (isPublicSuffix(lowerSuffix)) {
    return {
      ok: false,
      reason: `lets the wildcard cover the registrable domain under the public suffix "${lowerSuffix}"; anyone could register a matching origin`,
    };
  }
  const source =
    `^${scheme}://` +
    `${LABEL_SOURCE}\\.`.repeat(wildcards) +
    escapeRegex(lowerSuffix) +
    (port === undefined ? '' : `:${port}`) +
    '$';
  return { ok: true, regex: new RegExp(source), scheme: scheme as 'http' | 'https', suffix: lowerSuffix };
}
