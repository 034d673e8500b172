/**
 * The route table: matches the canonical path (gateway/canonical-path.ts), the method and the Host header to one
 * route. The path it sees is the same string policies see and the proxy forwards, so a route decision can never be
 * made on a different reading of the request than the upstream's (ARCHITECTURE.md "One request, one canonical path").
 *
 * Pattern language (validated once, at construction):
 * - begins with `/`; segments are literals or a whole-segment `{name}` (`[A-Za-z_][A-Za-z0-9_]*`, unique);
 * - a final `/**` is a prefix form matching the prefix itself and anything below it (`/status/**` matches `/status`,
 *   `/status/` and `/status/a/b`); `/**` alone matches everything;
 * - a trailing slash is significant: `/orders` and `/orders/` are different patterns, as they are different paths;
 * - literals must be in canonical form (decoded unreserved characters, upper-case escapes), or they could never match.
 *
 * Precedence, segment by segment: a literal beats `{param}`, which beats `/**`; when the more specific branch fails
 * further down, matching backtracks to the next one. At the same pattern an exact host beats a wildcard host, which
 * beats no host. A route whose method does not fit is skipped for the next-most-specific one; only when routes match
 * the path but none accepts the method is the answer 405 (RFC 9110 §15.5.6, with the `Allow` list).
 *
 * Hot path: a trie with a Map of literal children per node, no regular expressions, no closures and no per-request
 * allocation beyond the segment strings used as Map keys and, for routes with parameters, the params object.
 */
import { canonicalizeRequestTarget } from './canonical-path.ts';

export interface RouteEntry<T> {
  id: string;
  path: string;
  methods?: readonly string[];
  host?: string;
  value: T;
}

export type MatchResult<T> =
  | { kind: 'found'; value: T; params: Record<string, string> }
  | { kind: 'method-not-allowed'; allow: string[] }
  | { kind: 'not-found' };

const NOT_FOUND: MatchResult<never> = Object.freeze({ kind: 'not-found' });
const EMPTY_PARAMS: Record<string, string> = Object.freeze({}) as Record<string, string>;
const SLASH = 0x2f;

const HOST_EXACT = 0;
const HOST_WILDCARD = 1;
const HOST_ANY = 2;

interface Endpoint<T> {
  readonly id: string;
  readonly order: number;
  readonly value: T;
  /** Upper-case methods, with HEAD added whenever GET is present; null accepts every method but TRACE. */
  readonly methods: ReadonlySet<string> | null;
  readonly hostKind: number;
  /** Exact host, or the wildcard's suffix including its leading dot (`.example.com`). */
  readonly host: string;
  readonly paramNames: readonly string[];
  /** Pre-built answer for routes without parameters: no allocation when they match. */
  readonly staticResult: MatchResult<T> | null;
}

class TrieNode<T> {
  literals: Map<string, TrieNode<T>> | null = null;
  /**
   * When a node has exactly one literal child (`/api/v1/...`), it is compared in place with startsWith: no segment
   * string is allocated and hashed for the Map lookup. Set by finalise().
   */
  onlyLiteral: string | null = null;
  onlyLiteralChild: TrieNode<T> | null = null;
  param: TrieNode<T> | null = null;
  /** Routes whose pattern ends exactly here. */
  terminal: Endpoint<T>[] | null = null;
  /** Routes whose pattern is this node followed by `/**`. */
  prefix: Endpoint<T>[] | null = null;
}

type Segment = { kind: 'literal'; value: string } | { kind: 'param'; name: string };

interface ParsedPattern {
  /** Segments after the leading `/`; a trailing slash is a final empty literal, exactly as in a path. */
  readonly segments: readonly Segment[];
  readonly prefix: boolean;
}

const LITERAL_CHECK_OPTIONS = { allowSemicolons: true, maxLength: Number.MAX_SAFE_INTEGER, allowEncodedDelimiters: true };

function isParamName(name: string): boolean {
  if (name.length === 0) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    const letter = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f;
    const digit = c >= 0x30 && c <= 0x39;
    if (!letter && !(digit && i > 0)) return false;
  }
  return true;
}

function parsePattern(path: string): ParsedPattern | string {
  if (typeof path !== 'string' || path.charCodeAt(0) !== SLASH) return 'must begin with "/"';
  if (path === '/**') return { segments: [], prefix: true };
  const parts = path.slice(1).split('/');
  let prefix = false;
  if (parts[parts.length - 1] === '**') {
    prefix = true;
    parts.pop();
  }
  const segments: Segment[] = [];
  const names = new Set<string>();
  for (let j = 0; j < parts.length; j++) {
    const part = parts[j] as string;
    if (part === '') {
      // The only empty segment a canonical path has is the one after a trailing slash.
      if (j !== parts.length - 1 || prefix) return 'empty segment ("//")';
      segments.push({ kind: 'literal', value: '' });
      continue;
    }
    if (part.includes('**')) return '"**" is only allowed as the final segment "/**"';
    if (part === '*') return 'a lone "*" would be a literal; use "{name}" for one segment or a final "/**" for a prefix';
    if (part.charCodeAt(0) === 0x7b /* { */ && part.charCodeAt(part.length - 1) === 0x7d /* } */) {
      const name = part.slice(1, -1);
      if (!isParamName(name)) return `invalid parameter name "${name}" (expected [A-Za-z_][A-Za-z0-9_]*)`;
      // "__proto__" as an own key of a plain object is silently dropped by assignment.
      if (name === '__proto__') return 'parameter name "__proto__" is not allowed';
      if (names.has(name)) return `duplicate parameter name "${name}"`;
      names.add(name);
      segments.push({ kind: 'param', name });
      continue;
    }
    if (part.includes('{') || part.includes('}')) return `"{" and "}" are only allowed around a whole segment ("${part}")`;
    if (part === '.' || part === '..') return 'dot segments are not allowed';
    if (part.includes('?') || part.includes('#')) return `"?" and "#" are not allowed in a path pattern ("${part}")`;
    const check = canonicalizeRequestTarget('/' + part, LITERAL_CHECK_OPTIONS);
    if (!check.ok) return `segment "${part}" can never match a canonical path (${check.reason})`;
    if (check.path !== '/' + part) {
      return `segment "${part}" is not in canonical form and would never match; write "${check.path.slice(1)}"`;
    }
    segments.push({ kind: 'literal', value: part });
  }
  return { segments, prefix };
}

/** Null when `path` is a valid route pattern, else the reason it is not. */
export function validateRoutePattern(path: string): string | null {
  const parsed = parsePattern(path);
  return typeof parsed === 'string' ? parsed : null;
}

/** The pattern with parameter names erased: two patterns with the same shape match exactly the same paths. */
function patternShape(parsed: ParsedPattern): string {
  let shape = '';
  for (const segment of parsed.segments) shape += '/' + (segment.kind === 'param' ? '{}' : segment.value);
  return parsed.prefix ? shape + '/**' : shape === '' ? '/' : shape;
}

function isHostLabel(label: string): boolean {
  if (label.length === 0 || label.length > 63) return false;
  for (let i = 0; i < label.length; i++) {
    const c = label.charCodeAt(i);
    const ok = (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || (c === 0x2d && i > 0 && i < label.length - 1);
    if (!ok) return false;
  }
  return true;
}

function isIpv6Literal(host: string): boolean {
  if (host.length < 4 || host.charCodeAt(0) !== 0x5b || host.charCodeAt(host.length - 1) !== 0x5d) return false;
  for (let i = 1; i < host.length - 1; i++) {
    const c = host.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || c === 0x3a || c === 0x2e)) return false;
  }
  return true;
}

/** The reason a route host is invalid, or null (for config checks). */
export function validateRouteHost(host: string): string | null {
  const parsed = parseHost(host);
  return typeof parsed === 'string' ? parsed : null;
}

/** Parses a route's host: `api.example.com`, `*.example.com` (one or more labels) or `[::1]`; no port. */
function parseHost(host: string | undefined): { kind: number; host: string } | string {
  if (host === undefined) return { kind: HOST_ANY, host: '' };
  let name = host.toLowerCase();
  if (name.endsWith('.')) name = name.slice(0, -1);
  if (isIpv6Literal(name)) return { kind: HOST_EXACT, host: name };
  const wildcard = name.startsWith('*.');
  const labels = (wildcard ? name.slice(2) : name).split('.');
  for (const label of labels) {
    if (!isHostLabel(label)) return `invalid host "${host}" (hostname labels, an optional leading "*.", no port)`;
  }
  return wildcard ? { kind: HOST_WILDCARD, host: name.slice(1) } : { kind: HOST_EXACT, host: name };
}

/** RFC 9110 §5.6.2 token: the syntax of a method name. */
function isToken(value: string): boolean {
  if (value.length === 0) return false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    const alnum = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
    if (!alnum && "!#$%&'*+-.^_`|~".indexOf(String.fromCharCode(c)) < 0) return false;
  }
  return true;
}

/**
 * Upper-case methods with HEAD added when GET is present (RFC 9110 §9.3.2: a server answering GET answers HEAD).
 * Null means every method but TRACE (see NOT_IMPLIED). Node hands over upper-case method names, so configured names
 * are upper-cased here once.
 */
/**
 * Methods a route without `methods` does not accept: only a route that lists them does. TRACE echoes the request
 * back, credentials and cookies included (Cross-Site Tracing; RFC 9110 §9.3.8 warns of exactly that, and the OWASP
 * testing guide, WSTG-CONF-06, expects it off): an API has no use for it unless someone asks for it by name.
 */
const NOT_IMPLIED: ReadonlySet<string> = new Set(['TRACE']);
/** What a route without `methods` answers to, for the Allow header of a 405 (RFC 9110 §15.5.6). */
const IMPLIED_METHODS: readonly string[] = ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT'];

function normaliseMethods(methods: readonly string[] | undefined): string[] | null | { error: string } {
  if (methods === undefined) return null;
  if (methods.length === 0) return { error: 'methods must not be empty (omit it to accept every method)' };
  const set = new Set<string>();
  for (const method of methods) {
    if (typeof method !== 'string' || !isToken(method)) return { error: `invalid method "${String(method)}"` };
    set.add(method.toUpperCase());
  }
  if (set.has('GET')) set.add('HEAD');
  return [...set].sort();
}

function hostLabel(kind: number, host: string): string {
  return kind === HOST_ANY ? '' : kind === HOST_WILDCARD ? ` on host *${host}` : ` on host ${host}`;
}

export class Router<T> {
  private readonly root = new TrieNode<T>();
  private readonly hasHostRoutes: boolean;
  // Per-match scratch state. match() is synchronous and never calls out, so one set per router is safe.
  private path = '';
  private method = '';
  private requestHost = '';
  private found: Endpoint<T> | null = null;
  private readonly paramStarts: number[] = [];
  private readonly paramEnds: number[] = [];
  /** Routes that matched path and host but not the method; only the first `mismatchCount` entries are live. */
  private readonly mismatches: Endpoint<T>[] = [];
  private mismatchCount = 0;

  /** Throws on an invalid pattern, host or method list, naming the route. Conflicts are findRouteConflicts()'s job. */
  constructor(routes: readonly RouteEntry<T>[]) {
    let hasHostRoutes = false;
    let maxParams = 0;
    routes.forEach((route, order) => {
      const parsed = parsePattern(route.path);
      if (typeof parsed === 'string') throw new Error(`route "${route.id}": invalid path pattern "${route.path}": ${parsed}`);
      const host = parseHost(route.host);
      if (typeof host === 'string') throw new Error(`route "${route.id}": ${host}`);
      const methods = normaliseMethods(route.methods);
      if (methods !== null && !Array.isArray(methods)) throw new Error(`route "${route.id}": ${methods.error}`);
      if (host.kind !== HOST_ANY) hasHostRoutes = true;
      const paramNames: string[] = [];
      let node = this.root;
      for (const segment of parsed.segments) {
        if (segment.kind === 'param') {
          paramNames.push(segment.name);
          node.param ??= new TrieNode<T>();
          node = node.param;
        } else {
          node.literals ??= new Map();
          let child = node.literals.get(segment.value);
          if (child === undefined) {
            child = new TrieNode<T>();
            node.literals.set(segment.value, child);
          }
          node = child;
        }
      }
      maxParams = Math.max(maxParams, paramNames.length);
      const endpoint: Endpoint<T> = {
        id: route.id,
        order,
        value: route.value,
        methods: methods === null ? null : new Set(methods),
        hostKind: host.kind,
        host: host.host,
        paramNames,
        staticResult:
          paramNames.length === 0 ? Object.freeze({ kind: 'found' as const, value: route.value, params: EMPTY_PARAMS }) : null,
      };
      if (parsed.prefix) (node.prefix ??= []).push(endpoint);
      else (node.terminal ??= []).push(endpoint);
    });
    this.hasHostRoutes = hasHostRoutes;
    for (let i = 0; i < maxParams; i++) {
      this.paramStarts.push(0);
      this.paramEnds.push(0);
    }
    finalise(this.root);
  }

  /**
   * `path` must be the canonical path (canonicalizeRequestTarget), `host` the Host header (port and case do not
   * matter). Params are substrings of the canonical path, exactly as they appear in it (escapes stay encoded).
   * The returned object may be shared between calls: treat it as read-only.
   */
  match(method: string, host: string | undefined, path: string): MatchResult<T> {
    if (path.charCodeAt(0) !== SLASH) return NOT_FOUND;
    this.path = path;
    this.method = method;
    this.requestHost = this.hasHostRoutes ? normaliseRequestHost(host) : '';
    this.found = null;
    this.mismatchCount = 0;
    const matched = this.walk(this.root, 1, 0);
    const found = this.found as Endpoint<T> | null;
    let result: MatchResult<T>;
    if (matched && found !== null) result = found.staticResult ?? this.buildResult(found);
    else if (this.mismatchCount > 0) result = { kind: 'method-not-allowed', allow: this.allowList() };
    else result = NOT_FOUND;
    this.path = '';
    this.found = null;
    return result;
  }

  /**
   * Depth-first over the trie in precedence order (literal, then `{param}`, then `/**`), so the first route that
   * accepts host and method is the most specific one. `start` is the index where the next segment begins; past the
   * end of the path every segment has been consumed.
   */
  private walk(node: TrieNode<T>, start: number, depth: number): boolean {
    const path = this.path;
    const length = path.length;
    if (start > length) {
      if (node.terminal !== null && this.accept(node.terminal)) return true;
      return node.prefix !== null && this.accept(node.prefix);
    }
    let end = path.indexOf('/', start);
    if (end < 0) end = length;
    const onlyLiteral = node.onlyLiteral;
    if (onlyLiteral !== null) {
      if (end - start === onlyLiteral.length && path.startsWith(onlyLiteral, start)) {
        if (this.walk(node.onlyLiteralChild as TrieNode<T>, end + 1, depth)) return true;
      }
    } else if (node.literals !== null) {
      const child = node.literals.get(path.slice(start, end));
      if (child !== undefined && this.walk(child, end + 1, depth)) return true;
    }
    if (node.param !== null && end > start) {
      this.paramStarts[depth] = start;
      this.paramEnds[depth] = end;
      if (this.walk(node.param, end + 1, depth + 1)) return true;
    }
    return node.prefix !== null && this.accept(node.prefix);
  }

  private accept(endpoints: Endpoint<T>[]): boolean {
    for (let i = 0; i < endpoints.length; i++) {
      const endpoint = endpoints[i] as Endpoint<T>;
      if (!this.hostMatches(endpoint)) continue;
      if (endpoint.methods === null ? !NOT_IMPLIED.has(this.method) : endpoint.methods.has(this.method)) {
        this.found = endpoint;
        return true;
      }
      this.mismatches[this.mismatchCount++] = endpoint;
    }
    return false;
  }

  private hostMatches(endpoint: Endpoint<T>): boolean {
    if (endpoint.hostKind === HOST_ANY) return true;
    const host = this.requestHost;
    if (endpoint.hostKind === HOST_EXACT) return host === endpoint.host;
    return host.length > endpoint.host.length && host.endsWith(endpoint.host);
  }

  private buildResult(endpoint: Endpoint<T>): MatchResult<T> {
    const params: Record<string, string> = {};
    const names = endpoint.paramNames;
    for (let i = 0; i < names.length; i++) {
      params[names[i] as string] = this.path.slice(this.paramStarts[i], this.paramEnds[i]);
    }
    return { kind: 'found', value: endpoint.value, params };
  }

  private allowList(): string[] {
    const allow = new Set<string>();
    for (let i = 0; i < this.mismatchCount; i++) {
      for (const method of (this.mismatches[i] as Endpoint<T>).methods ?? IMPLIED_METHODS) allow.add(method);
    }
    return [...allow].sort();
  }
}

/**
 * Orders each node's endpoints: exact host first, then wildcards (longest suffix first), then host-less routes;
 * declaration order breaks ties. Also sets the single-literal shortcut.
 */
function finalise<T>(node: TrieNode<T>): void {
  const byHost = (a: Endpoint<T>, b: Endpoint<T>) =>
    a.hostKind - b.hostKind || b.host.length - a.host.length || a.order - b.order;
  node.terminal?.sort(byHost);
  node.prefix?.sort(byHost);
  if (node.param !== null) finalise(node.param);
  if (node.literals !== null) {
    if (node.literals.size === 1) {
      const [literal, child] = node.literals.entries().next().value as [string, TrieNode<T>];
      node.onlyLiteral = literal;
      node.onlyLiteralChild = child;
    }
    for (const child of node.literals.values()) finalise(child);
  }
}

/** Host header without port, lower-cased, without a trailing dot (RFC 9110 §7.2; RFC 1034 §3.1 for the dot). */
function normaliseRequestHost(host: string | undefined): string {
  if (host === undefined || host.length === 0) return '';
  let end = host.length;
  if (host.charCodeAt(0) === 0x5b /* [ */) {
    const close = host.indexOf(']');
    end = close < 0 ? host.length : close + 1;
  } else {
    const colon = host.indexOf(':');
    if (colon >= 0) end = colon;
  }
  if (end > 0 && host.charCodeAt(end - 1) === 0x2e) end--;
  const name = end === host.length ? host : host.slice(0, end);
  return name.toLowerCase();
}

/**
 * Pairs of routes that can never both be reached: equal patterns after renaming parameters (`/o/{a}` vs `/o/{b}`),
 * the same host, and overlapping methods (no methods = every method). `index` is the later route, `otherIndex` the
 * earlier one (which would win). Routes with invalid patterns or hosts are skipped: validateRoutePattern reports them.
 */
export function findRouteConflicts(
  routes: readonly RouteEntry<unknown>[],
): Array<{ index: number; otherIndex: number; message: string }> {
  const conflicts: Array<{ index: number; otherIndex: number; message: string }> = [];
  const groups = new Map<string, Array<{ index: number; methods: string[] | null }>>();
  routes.forEach((route, index) => {
    const parsed = parsePattern(route.path);
    const host = parseHost(route.host);
    const methods = normaliseMethods(route.methods);
    if (typeof parsed === 'string' || typeof host === 'string') return;
    if (methods !== null && !Array.isArray(methods)) return;
    const shape = patternShape(parsed);
    const key = `${host.kind}\u0000${host.host}\u0000${shape}`;
    let group = groups.get(key);
    if (group === undefined) {
      group = [];
      groups.set(key, group);
    }
    for (const earlier of group) {
      const shared = sharedMethods(earlier.methods, methods);
      if (shared === undefined) continue;
      const other = routes[earlier.index] as RouteEntry<unknown>;
      const methodText = shared === null ? 'every method' : shared.join(', ');
      conflicts.push({
        index,
        otherIndex: earlier.index,
        message:
          `route "${route.id}" conflicts with route "${other.id}": both match ${methodText} on ${shape}` +
          `${hostLabel(host.kind, host.host)}; "${other.id}" is declared first and would always win`,
      });
    }
    group.push({ index, methods });
  });
  return conflicts;
}

/** Methods both accept: null for "every method" (but NOT_IMPLIED), undefined when disjoint. */
function sharedMethods(a: string[] | null, b: string[] | null): string[] | null | undefined {
  if (a === null && b === null) return null;
  const shared = a === null ? b!.filter((method) => !NOT_IMPLIED.has(method)) : b === null ? a.filter((method) => !NOT_IMPLIED.has(method)) : a.filter((method) => b.includes(method));
  return shared.length === 0 ? undefined : shared;
}
