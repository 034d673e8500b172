/**
 * Loading and validating the declarative config: YAML or JSON → `${env:NAME}` substitution → JSON Schema with
 * defaults → each policy's own schema → semantic checks (routes, upstreams, deny by default, policy checks) →
 * acknowledgements of weakened defaults. Every problem is collected and reported at once with the exact path;
 * nothing here throws for bad input, and a bad config never reaches the running gateway.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isIP } from 'node:net';
import YAML from 'yaml';
import { deeperThan, valueDeeperThan } from './nesting.ts';
import { ADMIN_SCHEMA, CONFIG_SCHEMA, LISTENER_SCHEMA, ROUTE_CORE_KEYS } from './schema.ts';
import { formatAjvErrors } from './errors.ts';
import { validatorOnFirstUse, type ConfigValidator } from './config-ajv.ts';
import { resolveConfigReferences } from './env.ts';
import { loadOpenApiSync } from '../openapi/load.ts';
import { checkAuditSettings } from '../audit/configured.ts';
import { keyRingSettingsOf } from '../storage/configured.ts';
import { checkDetectorsConfig, type DetectorsConfig } from '../detect/schema.ts';
import { countersConfigOf } from '../storage/counters-config.ts';
import { checkAlertsConfig, type AlertDestinationConfig } from '../alerts/schema.ts';
import { API_ROUTE, expandApis, relabel, type ApiRouteInfo } from './apis.ts';
import { DOCS_ROUTE, docsAccessWeakening, type DocsMerge, type DocsRouteMark, type DocsRouteSettings } from '../docs/settings.ts';
import { parseDuration, parseSize } from './units.ts';
import { POLICIES } from '../policies/registry.ts';
import { PHASES, type ConfigIssue, type PolicyDefinition } from '../policies/types.ts';
import type { UpstreamConfig, UpstreamTargetConfig } from '../gateway/upstream/types.ts';
import { findRouteConflicts, validateRouteHost, validateRoutePattern } from '../gateway/router.ts';
import { parseCidr } from '../gateway/addresses.ts';
import { BUILT_IN_SERVICES } from '../gateway/services.ts';
import type { IdentityConfig } from '../identity/types.ts';
import { checkRoles } from '../authz/roles.ts';

export type Mode = 'production' | 'development';

export interface ListenerConfig {
  readonly host: string;
  readonly port: number;
  readonly tls?: {
    readonly cert: string;
    readonly key: string;
    readonly minVersion: 'TLSv1.2' | 'TLSv1.3';
    /** Resolved PEM files of the client-certificate CAs (mutual TLS), or undefined. */
    readonly clientCa?: readonly string[];
    readonly clientCert: 'request' | 'require';
  };
  readonly http: 'serve' | 'redirect' | 'refuse';
  readonly redirectPort?: number;
}

export interface ConfiguredPolicy {
  readonly definition: PolicyDefinition<unknown>;
  readonly config: unknown;
  /** Where the settings came from, e.g. `routes[2].cors` or `defaults.cors`; `(built-in)` for on-by-default. */
  readonly source: string;
  /** Authenticators run in the order the route lists them, not by their definition's order. */
  readonly position?: number;
  /** For authenticators configured from `issuers`: the issuer's name. */
  readonly issuer?: string;
}

export interface RouteConfig {
  readonly index: number;
  readonly id: string;
  readonly path: string;
  readonly methods: readonly string[] | undefined;
  readonly host: string | undefined;
  readonly upstream: UpstreamConfig;
  /** Set when the route is served by the gateway itself (`upstream: rampart:NAME`). */
  readonly service: string | undefined;
  readonly public: boolean;
  readonly websocket: boolean;
  readonly sensitivity: 'normal' | 'sensitive' | 'admin';
  /** How the principal reaches the upstream (issue 3, point 8). */
  readonly forwardIdentity: { readonly as: 'headers' | 'jwt'; readonly header: string; readonly audience: string };
  readonly preserveHost: boolean;
  /** The upstream's own documentation paths pass (see DOCUMENTATION_PATH); refused otherwise. */
  readonly exposeDocs: boolean;
  /** `upstream: rampart:docs` routes: the document served (or the contracts merged) and the page title. */
  readonly docs: DocsRouteSettings | undefined;
  /** Set for routes expanded from `apis:` (version, prefix, deprecation). */
  readonly api: ApiRouteInfo | undefined;
  readonly maxBodyBytes: number;
  readonly replaceUpstream5xx: boolean;
  /** Policies in execution order (phase, then order). */
  readonly policies: readonly ConfiguredPolicy[];
  /** Policies switched off on this route with `name: false`. */
  readonly disabledPolicies: readonly string[];
  /** Request headers carrying secret credentials on this route: never forwarded, always redacted. */
  readonly secretHeaders: readonly string[];
  /** Query parameters carrying secret credentials: removed before forwarding. */
  readonly secretQueryParams: readonly string[];
}

export interface Acknowledgement {
  readonly rule: string;
  readonly path: string;
  readonly reason: string;
  readonly expires: string;
}

/** A weakened default that an acknowledgement accepted: posture lists every one. */
export interface AcceptedWeakening extends Acknowledgement {
  readonly message: string;
}

export interface GatewayConfig {
  readonly mode: Mode;
  readonly listeners: readonly ListenerConfig[];
  readonly admin: { readonly host: string; readonly port: number } | false;
  readonly trustedProxies: readonly string[];
  readonly limits: {
    readonly maxHeaderBytes: number;
    readonly maxBodyBytes: number;
    readonly maxResponseBodyBytes: number;
    readonly maxUrlLength: number;
    readonly headersTimeout: number;
    readonly requestTimeout: number;
    readonly keepAliveTimeout: number;
    readonly maxInFlight: number;
  };
  readonly paths: { readonly allowSemicolons: boolean };
  readonly accessLog: { readonly enabled: boolean; readonly destination: string; readonly redact: readonly string[] };
  readonly logLevel: string;
  readonly drainTimeout: number;
  readonly cspReport: { readonly path: string; readonly maxBytes: number };
  /** Store URL with a sqlite path resolved against the config file's directory. */
  readonly storage: string;
  /** The master key's text, when configured (parsed when the stores open). */
  readonly masterKey: string | undefined;
  /** True when some route's policy or service needs the stores. */
  readonly needsStores: boolean;
  /** The built-in identity provider, when `identity:` is configured. */
  readonly identity: IdentityConfig | undefined;
  readonly acknowledgements: readonly Acknowledgement[];
  readonly accepted: readonly AcceptedWeakening[];
  readonly warnings: readonly string[];
  readonly routes: readonly RouteConfig[];
  /** The validated document with defaults filled in (for `config check --print` and the admin API). */
  readonly document: Record<string, unknown>;
}

export type LoadResult = { ok: true; config: GatewayConfig } | { ok: false; errors: string[]; warnings: string[] };

export interface LoadOptions {
  /** Directory that relative file paths (TLS cert/key) are resolved against. */
  readonly baseDir?: string;
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** "Today" for acknowledgement expiry; injectable for tests. */
  readonly now?: Date;
}

const validateDocument = validatorOnFirstUse(CONFIG_SCHEMA);
/** One validator per policy schema, each compiled when a config first uses that policy. */
const policyValidators = new Map<string, ConfigValidator>();
for (const [name, def] of POLICIES) policyValidators.set(name, validatorOnFirstUse(def.schema));

export function loadConfigFile(file: string, options: Omit<LoadOptions, 'baseDir'> = {}): LoadResult {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    return { ok: false, errors: [`${file}: cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`], warnings: [] };
  }
  return loadConfigText(text, { ...options, baseDir: dirname(resolve(file)) }, file);
}

/** Aliases a config may use: a handful in practice; each lookup scans every anchor (quadratic in their number). */
const MAX_CONFIG_ALIASES = 1000;

/**
 * Repeated keys of any mapping, found with one set per mapping (linear), reported as the parser did with its
 * `uniqueKeys` (`name:line:col: Map keys must be unique`), and too many aliases.
 */
function duplicateKeysAndAliases(doc: YAML.Document, lineCounter: YAML.LineCounter, name: string): string[] {
  const problems: string[] = [];
  let aliases = 0;
  YAML.visit(doc, {
    Alias() {
      aliases++;
    },
    Map(_key, map) {
      const seen = new Set<unknown>();
      for (const pair of map.items) {
        const key = pair.key;
        // Scalars compare by value (1 and "1" differ, as in the parser's check); other keys by node identity.
        const id = YAML.isScalar(key) ? key.value : key;
        if (!seen.has(id)) {
          seen.add(id);
          continue;
        }
        const offset = YAML.isNode(key) && key.range ? key.range[0] : 0;
        const { line, col } = lineCounter.linePos(offset);
        problems.push(`${name}:${line}:${col}: Map keys must be unique`);
      }
    },
  });
  if (aliases > MAX_CONFIG_ALIASES) problems.push(`${name}: more than ${MAX_CONFIG_ALIASES} aliases`);
  return problems;
}

/** A Rampart config nests about ten levels; far past that is an attack or a mistake (see nesting.ts). */
const MAX_CONFIG_DEPTH = 64;

export function loadConfigText(text: string, options: LoadOptions = {}, name = 'config'): LoadResult {
  // Before the parser: deep enough nesting aborts the process inside it (nesting.ts), and a reload must leave the
  // running config serving.
  const deepLine = deeperThan(text, MAX_CONFIG_DEPTH);
  if (deepLine !== undefined) return { ok: false, errors: [`${name}:${deepLine}: nested deeper than ${MAX_CONFIG_DEPTH} levels`], warnings: [] };
  // YAML is a superset of JSON, so one parser serves both. A duplicated key is an error, not "last one wins"
  // (checked below: the parser's own uniqueKeys compares each key with every earlier one, quadratic in a mapping's
  // size); maxAliasCount bounds alias expansion ("billion laughs").
  const lineCounter = new YAML.LineCounter();
  const doc = YAML.parseDocument(text, { uniqueKeys: false, prettyErrors: true, lineCounter });
  if (doc.errors.length === 0) {
    const problems = duplicateKeysAndAliases(doc, lineCounter, name);
    if (problems.length > 0) return { ok: false, errors: problems, warnings: [] };
  }
  if (doc.errors.length > 0) {
    return {
      ok: false,
      errors: doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        return `${name}${pos ? `:${pos.line}:${pos.col}` : ''}: ${e.message.split('\n')[0]}`;
      }),
      warnings: [],
    };
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    return { ok: false, errors: [`${name}: ${(error as Error).message}`], warnings: [] };
  }
  // Aliases nest one anchored structure in another: the value can be deeper than its text.
  if (valueDeeperThan(value, MAX_CONFIG_DEPTH)) return { ok: false, errors: [`${name}: nested deeper than ${MAX_CONFIG_DEPTH} levels (through aliases)`], warnings: [] };
  return loadConfigObject(value, options);
}


function isHttpUrl(value: string): URL | null {
  try {
    const url = new URL(value);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
    return url;
  } catch {
    return null;
  }
}

type RawTarget = string | { url: string; weight: number };
type RawUpstream = string | RawTarget[] | ({ targets: RawTarget[] } & Record<string, unknown>);

function normalizeUpstream(raw: RawUpstream, path: string, errors: string[], baseDir: string): UpstreamConfig {
  const object: Record<string, unknown> =
    typeof raw === 'string' || Array.isArray(raw) ? { targets: typeof raw === 'string' ? [raw] : raw } : raw;
  // ajv does not apply defaults inside anyOf branches, so the object form is filled in here, for every form.
  validateUpstreamDefaults(object);
  const targets: UpstreamTargetConfig[] = [];
  const rawTargets = (object.targets as RawTarget[]).map((t) => (typeof t === 'string' ? t : { ...t, weight: t.weight ?? 1 }));
  rawTargets.forEach((target, i) => {
    const url = typeof target === 'string' ? target : target.url;
    const weight = typeof target === 'string' ? 1 : target.weight;
    const targetPath = typeof raw === 'string' ? path : Array.isArray(raw) ? `${path}[${i}]` : `${path}.targets[${i}]`;
    const parsed = isHttpUrl(url);
    if (!parsed) {
      errors.push(`${targetPath}: must be an http(s) URL`);
      return;
    }
    if (parsed.username || parsed.password) errors.push(`${targetPath}: must not carry credentials in the URL`);
    if (parsed.search || parsed.hash) errors.push(`${targetPath}: must not have a query or fragment`);
    targets.push({ url, weight });
  });
  let tls: UpstreamConfig['tls'];
  const rawTls = object.tls as { ca?: string; cert?: string; key?: string; servername?: string } | undefined;
  if (rawTls !== undefined) {
    const file = (key: 'ca' | 'cert' | 'key') => {
      const value = rawTls[key];
      if (value === undefined) return undefined;
      const resolved = resolve(baseDir, value);
      if (!existsSync(resolved)) errors.push(`${path}.tls.${key}: file not found: ${value}`);
      return resolved;
    };
    tls = { ca: file('ca'), cert: file('cert'), key: file('key'), servername: rawTls.servername };
    if ((tls.cert === undefined) !== (tls.key === undefined)) errors.push(`${path}.tls: cert and key go together`);
    if (targets.some((target) => !target.url.startsWith('https:'))) errors.push(`${path}.tls: applies to https:// targets only`);
  }
  const t = object.timeouts as Record<string, string | number>;
  const ph = object.passiveHealth as Record<string, unknown>;
  const ah = object.activeHealth as Record<string, unknown> | undefined;
  const rt = object.retries as Record<string, number>;
  const cb = object.circuitBreaker as Record<string, unknown>;
  return {
    targets,
    balance: object.balance as UpstreamConfig['balance'],
    ...(tls === undefined ? {} : { tls }),
    connectionsPerTarget: object.connectionsPerTarget as number,
    timeouts: { connect: parseDuration(t.connect!), response: parseDuration(t.response!), bodyIdle: parseDuration(t.bodyIdle!) },
    passiveHealth: {
      enabled: ph.enabled as boolean,
      consecutiveFailures: ph.consecutiveFailures as number,
      ejectFor: parseDuration(ph.ejectFor as string),
      maxEjectedPercent: ph.maxEjectedPercent as number,
    },
    activeHealth: ah && {
      path: ah.path as string,
      interval: parseDuration(ah.interval as string),
      timeout: parseDuration(ah.timeout as string),
      healthyThreshold: ah.healthyThreshold as number,
      unhealthyThreshold: ah.unhealthyThreshold as number,
      expectStatus: ah.expectStatus as [number, number],
    },
    retries: { attempts: rt.attempts!, budgetRatio: rt.budgetRatio!, minPerSecond: rt.minPerSecond! },
    circuitBreaker: {
      enabled: cb.enabled as boolean,
      failureRateThreshold: cb.failureRateThreshold as number,
      minimumRequests: cb.minimumRequests as number,
      window: parseDuration(cb.window as string),
      openFor: parseDuration(cb.openFor as string),
      halfOpenRequests: cb.halfOpenRequests as number,
    },
  };
}

// ajv applies no defaults inside anyOf branches: the object forms are filled in by their own validators.
const fillListenerDefaults = validatorOnFirstUse(LISTENER_SCHEMA);
const fillAdminDefaults = validatorOnFirstUse(ADMIN_SCHEMA);

/** Loopback only: `localhost`, `::1` or 127.0.0.0/8. Anything else (a name, '', 0.0.0.0) may be reachable. */
function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}

const upstreamObjectSchema = (CONFIG_SCHEMA.properties.routes.items.properties.upstream.anyOf as readonly unknown[])[2] as object;
const validateUpstreamObject = validatorOnFirstUse(upstreamObjectSchema);
function validateUpstreamDefaults(object: Record<string, unknown>): void {
  validateUpstreamObject(object);
}

const PHASE_INDEX = new Map<string, number>(PHASES.map((phase, i) => [phase, i]));

function sortPolicies(list: ConfiguredPolicy[]): ConfiguredPolicy[] {
  return list.sort(
    (a, b) =>
      PHASE_INDEX.get(a.definition.phase)! - PHASE_INDEX.get(b.definition.phase)! ||
      (a.position ?? a.definition.order) - (b.position ?? b.definition.order),
  );
}

/** Which policy an `issuers` entry configures: `{ introspection: {...} }` is RFC 7662, anything else a JWT issuer. */
function issuerPolicy(issuer: Record<string, unknown>): { policy: string; config: Record<string, unknown> } {
  if (issuer.introspection !== undefined && typeof issuer.introspection === 'object' && issuer.introspection !== null) {
    const { introspection, ...rest } = issuer;
    return { policy: 'oauth2-introspection', config: { ...rest, ...(introspection as Record<string, unknown>) } };
  }
  return { policy: 'jwt', config: { ...issuer } };
}

export function loadConfigObject(input: unknown, options: LoadOptions = {}): LoadResult {
  // `${env:}`, `${file:}` and `${secret:}` resolve first; no resolved value appears in a message (env.ts).
  const references = resolveConfigReferences(input, { env: options.env ?? process.env, baseDir: options.baseDir ?? process.cwd() });
  return references.finish(loadResolvedObject(references.value as Record<string, unknown>, references.errors, options));
}

function loadResolvedObject(substituted: Record<string, unknown>, errors: string[], options: LoadOptions): LoadResult {
  if (substituted === null || typeof substituted !== 'object' || Array.isArray(substituted)) {
    return { ok: false, errors: ['(root): must be an object'], warnings: [] };
  }
  // `apis:` expands into routes first, so its routes are checked exactly like hand-written ones.
  const expansion = expandApis(substituted, options.baseDir ?? process.cwd());
  if (expansion.errors.length > 0) return { ok: false, errors: [...errors, ...expansion.errors], warnings: [] };
  const labels = expansion.labels;
  const result = loadDocument(expansion.document, errors, options, labels);
  if (labels.size === 0) return result;
  const relabelAll = (list: readonly string[]) => [...new Set(list.map((m) => relabel(m, labels)))];
  if (!result.ok) return { ok: false, errors: relabelAll(result.errors), warnings: relabelAll(result.warnings) };
  return { ok: true, config: { ...result.config, warnings: relabelAll(result.config.warnings) } };
}

/**
 * Checks and resolves `docs:` (served by `upstream: rampart:docs`): the document must load for enforcement, and a
 * docs route that is not public must require `docs:read` unless that weakened default is acknowledged
 * (docs/settings.ts). Routes expanded from `apis[].docs` serve the merged document of the contracts.
 */
function docsSettings(
  raw: Record<string | symbol, unknown>,
  path: string,
  service: string | undefined,
  errors: string[],
  baseDir: string,
  weakenings: Array<{ rule: string; path: string; message: string }>,
  defaults: Readonly<Record<string, unknown>>,
  apiIds: readonly string[],
): RouteConfig['docs'] {
  const settings = raw.docs as { openapi?: string; merge?: 'gateway' | { api: string }; title?: string } | undefined;
  if (settings === undefined) {
    if (service === 'docs') errors.push(`${path}.docs: rampart:docs needs docs: { openapi: FILE } or docs: { merge: gateway }`);
    return undefined;
  }
  if (service !== 'docs') errors.push(`${path}.docs: only applies to routes with upstream: rampart:docs`);
  if (!(raw.match as { path: string }).path.endsWith('/**')) errors.push(`${path}.match.path: a docs route serves a tree: end it with /**`);
  let file: string | undefined;
  if (settings.openapi !== undefined) {
    file = resolve(baseDir, settings.openapi);
    const loaded = loadOpenApiSync(file);
    if (!loaded.ok) for (const issue of loaded.errors) errors.push(`${path}.docs.openapi: ${issue.text}`);
  }
  const weakening = service === 'docs' ? docsAccessWeakening(raw, path, defaults) : undefined;
  if (weakening !== undefined) weakenings.push(weakening);
  // Routes expanded from `apis[].docs` carry their merge in DOCS_ROUTE; a hand-written route asks with `merge:`.
  const mark = raw[DOCS_ROUTE] as DocsRouteMark | undefined;
  let merge: DocsMerge | undefined = mark?.merge;
  if (settings.merge !== undefined) {
    if (settings.merge === 'gateway') merge = { scope: 'gateway' };
    else if (apiIds.includes(settings.merge.api)) merge = { scope: 'api', api: settings.merge.api };
    else {
      const known = apiIds.length === 0 ? 'the config has no apis:' : `known: ${apiIds.join(', ')}`;
      errors.push(`${path}.docs.merge.api: no API with id "${settings.merge.api}" (${known})`);
    }
  }
  return { openapi: file, title: settings.title, merge, source: mark?.source ?? path };
}

/** Whether a route is an entry of the route table (header/media-type versions sit behind their group's first). */
export function inRouteTable(route: RouteConfig): boolean {
  return route.api?.groupKey === undefined || route.api.groupPrimary;
}

/**
 * `labels`: the `apis[a].routes[r]` name of each route expanded from `apis:` (by its `routes[N]` index), as messages
 * show them (relabel): an acknowledgement may name a weakening by either path.
 */
function loadDocument(document: Record<string, unknown>, errors: string[], options: LoadOptions, labels: ReadonlyMap<number, string> = new Map()): LoadResult {
  const warnings: string[] = [];
  if (!validateDocument(document)) {
    errors.push(...formatAjvErrors(validateDocument.errors ?? []));
    return { ok: false, errors, warnings };
  }
  if (errors.length > 0) return { ok: false, errors, warnings };

  const mode = document.mode as Mode;
  const baseDir = options.baseDir ?? process.cwd();
  /** Weakened defaults found by checks; each must be acknowledged or it is an error. */
  const weakenings: Array<{ rule: string; path: string; message: string }> = [];
  const addIssues = (issues: readonly ConfigIssue[]) => {
    for (const issue of issues) {
      if (issue.severity === 'warning') warnings.push(`${issue.path}: ${issue.message}`);
      else if (issue.rule) weakenings.push({ rule: issue.rule, path: issue.path, message: issue.message });
      else errors.push(`${issue.path}: ${issue.message}`);
    }
  };

  // Listeners.
  const rawListen = document.listen as Record<string, unknown> | Array<Record<string, unknown>>;
  const listenList = Array.isArray(rawListen) ? rawListen : [rawListen];
  const listeners: ListenerConfig[] = listenList.map((l, i) => {
    const path = Array.isArray(rawListen) ? `listen[${i}]` : 'listen';
    fillListenerDefaults(l);
    const tls = l.tls as
      | { cert: string; key: string; minVersion: 'TLSv1.2' | 'TLSv1.3'; clientCa?: string | string[]; clientCert: 'request' | 'require' }
      | undefined;
    if (tls) {
      for (const key of ['cert', 'key'] as const) {
        const file = resolve(baseDir, tls[key]);
        if (!existsSync(file)) errors.push(`${path}.tls.${key}: file not found: ${tls[key]}`);
        tls[key] = file;
      }
      if (tls.clientCa !== undefined) {
        const list = Array.isArray(tls.clientCa) ? tls.clientCa : [tls.clientCa];
        tls.clientCa = list.map((entry, i) => {
          const file = resolve(baseDir, entry);
          const where = Array.isArray(l.tls && (l.tls as { clientCa?: unknown }).clientCa) ? `${path}.tls.clientCa[${i}]` : `${path}.tls.clientCa`;
          if (!existsSync(file)) errors.push(`${where}: file not found: ${entry}`);
          else if (!readFileSync(file, 'utf8').includes('-----BEGIN CERTIFICATE-----')) errors.push(`${where}: not a PEM certificate file: ${entry}`);
          return file;
        });
      }
      if (l.http !== undefined) errors.push(`${path}.http: only applies to plain-HTTP listeners`);
    }
    const http = (l.http as ListenerConfig['http'] | undefined) ?? 'serve';
    if (!tls && http === 'serve') {
      // Checklist item 3: data in transit is encrypted. A plain listener that serves the API is a weakened default.
      const issue = { rule: 'plain-http-listener', path, message: 'serves the API over plain HTTP (no TLS); use tls, or http: redirect | refuse' };
      if (mode === 'production') weakenings.push(issue);
      else warnings.push(`${path}: serves plain HTTP (allowed in development mode only)`);
    }
    const listenerTls: ListenerConfig['tls'] =
      tls === undefined ? undefined : { ...tls, clientCa: tls.clientCa === undefined ? undefined : (tls.clientCa as string[]) };
    return { host: l.host as string, port: l.port as number, tls: listenerTls, http, redirectPort: l.redirectPort as number | undefined };
  });

  const trustedProxies = document.trustedProxies as string[];
  trustedProxies.forEach((cidr, i) => {
    if (!parseCidr(cidr)) errors.push(`trustedProxies[${i}]: must be an IP address or CIDR (e.g. 10.0.0.0/8)`);
  });

  const admin = document.admin as false | { host: string; port: number };
  if (admin) fillAdminDefaults(admin);
  if (admin && !isLoopbackHost(admin.host)) {
    weakenings.push({ rule: 'admin-not-loopback', path: 'admin.host', message: 'the admin listener is reachable beyond loopback' });
  }

  // Policy defaults.
  const defaults = document.defaults as Record<string, unknown>;
  const defaultPolicies = new Map<string, unknown>();
  for (const [name, value] of Object.entries(defaults)) {
    const def = POLICIES.get(name);
    if (!def) {
      errors.push(`defaults.${name}: unknown policy (known: ${[...POLICIES.keys()].join(', ')})`);
      continue;
    }
    if (value === false) {
      defaultPolicies.set(name, false);
      continue;
    }
    const validate = policyValidators.get(name)!;
    const config = def.inheritConfig ? { ...def.inheritConfig(document), ...(value as Record<string, unknown>) } : value;
    if (!validate(config)) errors.push(...formatAjvErrors(validate.errors ?? [], `defaults.${name}`));
    else defaultPolicies.set(name, config);
  }

  // Issuers: validated once each, against the schema of the policy that will use them.
  const issuers = new Map<string, { policy: string; config: unknown } | null>();
  for (const [name, raw] of Object.entries(document.issuers as Record<string, Record<string, unknown>>)) {
    const { policy, config } = issuerPolicy(raw);
    const validate = policyValidators.get(policy);
    if (!validate) {
      errors.push(`issuers.${name}: the ${policy} policy is not available in this build`);
      issuers.set(name, null);
      continue;
    }
    const withName = { ...config, name };
    if (!validate(withName)) {
      errors.push(...formatAjvErrors(validate.errors ?? [], `issuers.${name}`));
      issuers.set(name, null);
      continue;
    }
    const def = POLICIES.get(policy)!;
    if (def.check) addIssues(def.check(withName as never, `issuers.${name}`, { id: '*', public: false, methods: undefined, tls: false }));
    issuers.set(name, { policy, config: withName });
  }

  /** A policy's settings with what it takes from the gateway config (inheritConfig) filled in, route settings winning. */
  const withInherited = (def: PolicyDefinition<unknown>, value: unknown): unknown =>
    def.inheritConfig ? { ...def.inheritConfig(document), ...(value as Record<string, unknown>) } : value;

  // Policies the gateway config turns on for every route (implicitConfig), with their settings, validated once here.
  const implicitPolicies = new Map<string, unknown>();
  for (const [name, def] of POLICIES) {
    const implicit = def.implicitConfig?.(document);
    if (implicit === undefined) continue;
    const validate = policyValidators.get(name)!;
    if (!validate(implicit)) errors.push(...formatAjvErrors(validate.errors ?? [], `(${name} on every route)`));
    else implicitPolicies.set(name, implicit);
  }
  /** On for every route unless a route or `defaults` says false: built in, or turned on by the gateway config. */
  const onForEveryRoute = (def: PolicyDefinition<unknown>): boolean => def.onByDefault === true || implicitPolicies.has(def.name);

  addIssues(checkRoles(document.roles as never, 'roles'));

  // Routes.
  const rawRoutes = document.routes as Array<Record<string, unknown>>;
  const apiIds = ((document.apis as Array<{ id: string }> | undefined) ?? []).map((api) => api.id);
  const seenIds = new Map<string, number>();
  const routes: RouteConfig[] = [];
  rawRoutes.forEach((raw, index) => {
    const path = `routes[${index}]`;
    const id = raw.id as string;
    if (seenIds.has(id)) errors.push(`${path}.id: "${id}" is already used by routes[${seenIds.get(id)}]`);
    seenIds.set(id, index);
    const match = raw.match as { path: string; methods?: string[]; host?: string };
    const patternError = validateRoutePattern(match.path);
    if (patternError) errors.push(`${path}.match.path: ${patternError}`);
    const hostError = match.host === undefined ? null : validateRouteHost(match.host);
    if (hostError) errors.push(`${path}.match.host: ${hostError}`);
    // `rampart:NAME` routes to a service of the gateway itself (identity endpoints, CSP reports) instead of an upstream.
    const service = typeof raw.upstream === 'string' && raw.upstream.startsWith('rampart:') ? raw.upstream.slice('rampart:'.length) : undefined;
    if (service !== undefined && !BUILT_IN_SERVICES.includes(service)) {
      errors.push(`${path}.upstream: no gateway service named "${service}" (available: ${BUILT_IN_SERVICES.join(', ')})`);
    }
    const upstream = normalizeUpstream(service === undefined ? (raw.upstream as RawUpstream) : { targets: [] }, `${path}.upstream`, errors, baseDir);
    const docs = docsSettings(raw, path, service, errors, baseDir, weakenings, defaults, apiIds);
    const isPublic = raw.public as boolean;
    const websocket = raw.websocket as boolean;
    const sensitivity = raw.sensitivity as RouteConfig['sensitivity'];
    const routeInfo = { id, public: isPublic, methods: match.methods, tls: listeners.some((l) => l.tls), sensitivity, baseDir };

    const configured: ConfiguredPolicy[] = [];
    const disabled: string[] = [];
    const seen = new Set<string>();
    const listed = new Set<string>();
    ((raw.authenticate as Array<string | Record<string, string>> | undefined) ?? []).forEach((entry, position) => {
      const entryPath = `${path}.authenticate[${position}]`;
      const [name, issuerName] = typeof entry === 'string' ? [entry, undefined] : Object.entries(entry)[0]!;
      const def = POLICIES.get(name);
      if (!def || !def.authenticates) {
        const known = [...POLICIES.values()].filter((p) => p.authenticates).map((p) => p.name);
        errors.push(`${entryPath}: "${name}" is not an authentication policy (known: ${known.join(', ') || 'none yet'})`);
        return;
      }
      if (listed.has(name) && issuerName === undefined) {
        errors.push(`${entryPath}: "${name}" is listed twice`);
        return;
      }
      listed.add(name);
      let config: unknown;
      let source = entryPath;
      if (issuerName !== undefined) {
        const issuer = issuers.get(issuerName);
        if (issuer === undefined) {
          errors.push(`${entryPath}.${name}: no issuer named "${issuerName}" in issuers`);
          return;
        }
        if (issuer === null) return; // already reported at issuers.NAME
        if (issuer.policy !== name) {
          errors.push(`${entryPath}.${name}: issuer "${issuerName}" is configured for ${issuer.policy}, not ${name}`);
          return;
        }
        config = structuredClone(issuer.config);
        source = `issuers.${issuerName}`;
      } else {
        // Settings for a named method come from the route (`api-key: {...}`), then `defaults`, then the schema.
        const own = raw[name];
        const value = own !== undefined ? own : (defaultPolicies.get(name) ?? {});
        if (own !== undefined) source = `${path}.${name}`;
        const validate = policyValidators.get(name)!;
        config = { ...(def.inheritConfig?.(document) ?? {}), ...(structuredClone(value) as Record<string, unknown>) };
        if (!validate(config)) {
          errors.push(...formatAjvErrors(validate.errors ?? [], source));
          return;
        }
      }
      configured.push({ definition: def, config, source, position, issuer: issuerName });
    });
    for (const [key, value] of Object.entries(raw)) {
      if (ROUTE_CORE_KEYS.has(key)) continue;
      const def = POLICIES.get(key);
      if (!def) {
        errors.push(`${path}.${key}: is not a known setting or policy`);
        continue;
      }
      if (def.authenticates) {
        // Settings of an authentication method; the method runs only where `authenticate` lists it.
        if (!listed.has(key)) errors.push(`${path}.${key}: settings for an authentication method the route does not list in authenticate`);
        seen.add(key);
        continue;
      }
      seen.add(key);
      if (value === false) {
        disabled.push(key);
        if (onForEveryRoute(def)) {
          weakenings.push({ rule: `${key}-disabled`, path: `${path}.${key}`, message: `turns off ${key}, which is on by default` });
        }
        continue;
      }
      const validate = policyValidators.get(key)!;
      // Inherited settings go in before validation, so the schema's defaults never mask them.
      const config = withInherited(def, value);
      if (!validate(config)) {
        errors.push(...formatAjvErrors(validate.errors ?? [], `${path}.${key}`));
        continue;
      }
      configured.push({ definition: def, config, source: `${path}.${key}` });
    }
    for (const [name, value] of defaultPolicies) {
      if (seen.has(name) || value === false || POLICIES.get(name)!.authenticates) continue;
      // Each route gets its own copy: a policy must never share mutable config between routes.
      configured.push({ definition: POLICIES.get(name)!, config: structuredClone(value), source: `defaults.${name}` });
      seen.add(name);
    }
    for (const [name, def] of POLICIES) {
      if (seen.has(name) || !onForEveryRoute(def)) continue;
      if (defaultPolicies.get(name) === false) {
        weakenings.push({ rule: `${name}-disabled`, path: `defaults.${name}`, message: `turns off ${name}, which is on by default` });
        disabled.push(name);
        continue;
      }
      const implicit = implicitPolicies.get(name);
      if (implicit !== undefined) {
        configured.push({ definition: def, config: structuredClone(implicit), source: `(${name}: on every route)` });
        continue;
      }
      const config = {};
      policyValidators.get(name)!(config); // fills in defaults
      configured.push({ definition: def, config, source: '(built-in)' });
    }
    for (const policy of configured) {
      if (policy.definition.check) addIssues(policy.definition.check(policy.config as never, policy.source, routeInfo));
    }

    // BFLA (OWASP API5:2023): an admin function needs an authenticated caller and an admin permission.
    if (sensitivity === 'admin' && !configured.some((p) => p.definition.name === 'authorize')) {
      errors.push(`${path}: an admin route needs an authorize policy requiring an admin permission`);
    }
    if (sensitivity === 'admin' && isPublic) errors.push(`${path}: an admin route cannot be public`);
    // Deny by default (ARCHITECTURE.md): a route either authenticates or says public: true.
    const authenticates = configured.some((p) => p.definition.authenticates);
    if (!authenticates && !isPublic) {
      errors.push(`${path}: has no authentication policy; add one or say public: true (deny by default)`);
    }
    if (authenticates && isPublic) warnings.push(`${path}: public: true with an authentication policy; the policy still applies`);

    routes.push({
      index,
      id,
      path: match.path,
      methods: match.methods,
      host: match.host?.toLowerCase(),
      upstream,
      service,
      public: isPublic,
      websocket,
      sensitivity,
      forwardIdentity: {
        as: (raw.forwardIdentity as { as: 'headers' | 'jwt' }).as,
        header: (raw.forwardIdentity as { header: string }).header,
        audience: (raw.forwardIdentity as { audience?: string }).audience ?? id,
      },
      preserveHost: raw.preserveHost as boolean,
      exposeDocs: raw.exposeDocs === true,
      docs,
      api: (raw as Record<symbol, unknown>)[API_ROUTE] as ApiRouteInfo | undefined,
      maxBodyBytes: raw.maxBodySize === undefined ? -1 : parseSize(raw.maxBodySize as string | number),
      replaceUpstream5xx: (raw.errors as { replaceUpstream5xx: boolean }).replaceUpstream5xx,
      policies: sortPolicies(configured),
      disabledPolicies: disabled,
      secretHeaders: [...new Set(configured.flatMap((p) => p.definition.secretHeaders?.(p.config as never) ?? []))],
      secretQueryParams: [...new Set(configured.flatMap((p) => p.definition.secretQueryParams?.(p.config as never) ?? []))],
    });
    const replace = (raw.errors as { replaceUpstream5xx: boolean }).replaceUpstream5xx;
    if (!replace) {
      weakenings.push({ rule: 'upstream-5xx-passthrough', path: `${path}.errors.replaceUpstream5xx`, message: 'upstream 5xx bodies reach clients' });
    }
  });

  // Versions selected by header or media type share their path: one route of each group is in the table.
  const tabled = routes.filter(inRouteTable);
  for (const conflict of findRouteConflicts(tabled.map((r) => ({ id: r.id, path: r.path, methods: r.methods, host: r.host, value: r })))) {
    errors.push(`routes[${tabled[conflict.index]!.index}].match: ${conflict.message}`);
  }

  const identity = document.identity === undefined ? undefined : identityConfig(document.identity as Record<string, unknown>);
  routes.forEach((r) => {
    if (r.service === 'identity' && identity === undefined) errors.push(`routes[${r.index}].upstream: rampart:identity needs the identity: section`);
    if (r.forwardIdentity.as === 'jwt' && identity === undefined) {
      errors.push(`routes[${r.index}].forwardIdentity.as: jwt needs the identity: section (its signing keys sign the assertion)`);
    }
  });
  if (identity) {
    // RFC 9700 §2.2.2 / OWASP Session Management: tokens expire, and not far in the future.
    if (identity.accessTokenTtlMs <= 0) errors.push('identity.accessTokenTtl: access tokens must expire');
    else if (identity.accessTokenTtlMs > 3_600_000) {
      weakenings.push({ rule: 'long-access-token', path: 'identity.accessTokenTtl', message: 'access tokens live longer than 1 hour' });
    }
    if (identity.refreshTokenTtlMs <= 0) errors.push('identity.refreshTokenTtl: refresh tokens must expire');
    else if (identity.refreshTokenTtlMs > 90 * 86_400_000) {
      weakenings.push({ rule: 'long-refresh-token', path: 'identity.refreshTokenTtl', message: 'refresh-token families live longer than 90 days' });
    }
    if (identity.signing.overlapMs >= identity.signing.rotateEveryMs) errors.push('identity.signing.overlap: must be shorter than rotateEvery');
    if (mode === 'production' && !identity.issuer.startsWith('https://')) errors.push('identity.issuer: must be an https URL in production');
  }

  // Client addresses are personal data (GDPR art. 4(1), CJEU C-582/14 Breyer): logs, audit and events keep them
  // hashed or truncated by default; keeping them in clear is a weakened default (src/privacy/log-privacy.ts).
  if ((document.privacy as { addresses?: string } | undefined)?.addresses === 'keep') {
    weakenings.push({ rule: 'client-addresses-in-clear', path: 'privacy.addresses', message: 'client addresses are written in clear to logs, audit entries and events' });
  }

  // Spans carry request paths and routes: sent in clear across a network, anyone on the way reads them.
  const tracingEndpoint = (document.observability as { tracing?: { endpoint: string } } | undefined)?.tracing?.endpoint;
  if (tracingEndpoint !== undefined) {
    const endpoint = URL.canParse(tracingEndpoint) ? new URL(tracingEndpoint) : undefined;
    if (endpoint === undefined) errors.push('observability.tracing.endpoint: is not a URL');
    else if (endpoint.protocol === 'http:' && !isLoopbackHost(endpoint.hostname.replace(/^\[(.*)\]$/, '$1'))) {
      const issue = { rule: 'tracing-plain-http', path: 'observability.tracing.endpoint', message: 'spans (paths, routes, statuses) go to the collector over plain HTTP' };
      if (mode === 'production') weakenings.push(issue);
      else warnings.push(`${issue.path}: ${issue.message} (allowed in development mode only)`);
    }
  }

  // Acknowledgements: the only way to accept a weakened default; each must match a finding and be in date.
  const today = (options.now ?? new Date()).toISOString().slice(0, 10);
  const acknowledgements = document.acknowledge as Acknowledgement[];
  const used = new Set<number>();
  const accepted: AcceptedWeakening[] = [];
  const uniqueWeakenings = [...new Map(weakenings.map((w) => [`${w.rule} ${w.path}`, w])).values()];
  for (const weakening of uniqueWeakenings) {
    // The refusal message shows a route expanded from `apis:` by its `apis[a].routes[r]` path and tells people to
    // acknowledge that path: it matches, as does the expanded `routes[N]` one.
    const shown = relabel(weakening.path, labels);
    const ackIndex = acknowledgements.findIndex((a) => a.rule === weakening.rule && (a.path === weakening.path || a.path === shown));
    const ack = acknowledgements[ackIndex];
    if (!ack) {
      errors.push(
        `${weakening.path}: ${weakening.message} (weakens a default; to accept it add acknowledge: [{ rule: ${weakening.rule}, path: "${weakening.path}", reason, expires }])`,
      );
      continue;
    }
    used.add(ackIndex);
    if (ack.expires < today) {
      errors.push(`acknowledge[${ackIndex}]: expired on ${ack.expires} (${weakening.path}: ${weakening.message})`);
      continue;
    }
    // Kept under the expanded path, which posture matches against each route (`routes[N]`).
    accepted.push({ ...ack, path: weakening.path, message: weakening.message });
  }
  acknowledgements.forEach((ack, i) => {
    if (!used.has(i)) warnings.push(`acknowledge[${i}]: matches no weakened default (rule ${ack.rule} at ${ack.path})`);
  });

  if (errors.length > 0) return { ok: false, errors: [...new Set(errors)], warnings };

  const storageText = document.storage as string;
  let storage = storageText;
  if (storageText.startsWith('sqlite:') && storageText !== 'sqlite::memory:') storage = `sqlite:${resolve(baseDir, storageText.slice('sqlite:'.length))}`;
  else if (storageText !== 'memory:' && storageText !== 'sqlite::memory:') errors.push('storage: must be sqlite:<path> or memory:');
  const needsStores = identity !== undefined || routes.some((r) => r.policies.some((p) => p.definition.requiresStores));
  const masterKey = (document.keyring as { masterKey?: string } | undefined)?.masterKey;
  errors.push(...checkAuditSettings(document));
  try {
    keyRingSettingsOf(document);
  } catch (error) {
    errors.push((error as Error).message);
  }
  errors.push(...checkDetectorsConfig(document.detectors as DetectorsConfig, countersConfigOf(document)));
  errors.push(...checkAlertsConfig(document.alerts as AlertDestinationConfig[], mode));
  if ((document.audit !== undefined || document.events !== undefined) && masterKey === undefined && mode === 'production') {
    errors.push('keyring.masterKey: is required in production for audit: and events: (the chain key and the keyed hashes of addresses derive from it)');
  }
  if (needsStores && masterKey === undefined && mode === 'production') {
    errors.push('keyring.masterKey: is required in production when stored credentials are used (e.g. "${env:RAMPART_MASTER_KEY}")');
  }
  if (errors.length > 0) return { ok: false, errors: [...new Set(errors)], warnings };

  const limits = document.limits as Record<string, string | number>;
  const accessLog = document.accessLog as GatewayConfig['accessLog'];
  const cspReport = document.cspReport as GatewayConfig['cspReport'];
  const maxBodyBytes = parseSize(limits.maxBodySize!);
  return {
    ok: true,
    config: {
      mode,
      listeners,
      admin,
      trustedProxies,
      limits: {
        maxHeaderBytes: parseSize(limits.maxHeaderSize!),
        maxBodyBytes,
        maxResponseBodyBytes: parseSize(limits.maxResponseBodySize!),
        maxUrlLength: limits.maxUrlLength as number,
        headersTimeout: parseDuration(limits.headersTimeout!),
        requestTimeout: parseDuration(limits.requestTimeout!),
        keepAliveTimeout: parseDuration(limits.keepAliveTimeout!),
        maxInFlight: limits.maxInFlight as number,
      },
      paths: document.paths as GatewayConfig['paths'],
      accessLog: {
        ...accessLog,
        destination: accessLog.destination === 'stdout' ? 'stdout' : resolve(baseDir, accessLog.destination),
      },
      logLevel: document.logLevel as string,
      drainTimeout: parseDuration((document.shutdown as { drainTimeout: string }).drainTimeout),
      cspReport,
      storage,
      masterKey,
      needsStores,
      identity,
      acknowledgements,
      accepted,
      warnings,
      routes: routes.map((r) => (r.maxBodyBytes < 0 ? { ...r, maxBodyBytes } : r)),
      document,
    },
  };
}

function identityConfig(raw: Record<string, unknown>): IdentityConfig {
  const signing = raw.signing as Record<string, string | number>;
  const mfa = raw.mfa as { totpIssuer: string; requireFor: string[]; stepUpTtl: string | number };
  const brute = raw.bruteForce as Record<string, string | number>;
  return {
    issuer: raw.issuer as string,
    audience: raw.audience as string,
    basePath: raw.basePath as string,
    accessTokenTtlMs: parseDuration(raw.accessTokenTtl as string),
    refreshTokenTtlMs: parseDuration(raw.refreshTokenTtl as string),
    signing: {
      alg: signing.alg as IdentityConfig['signing']['alg'],
      rotateEveryMs: parseDuration(signing.rotateEvery!),
      overlapMs: parseDuration(signing.overlap!),
    },
    mfa: { totpIssuer: mfa.totpIssuer, requireFor: mfa.requireFor, stepUpTtlMs: parseDuration(mfa.stepUpTtl) },
    bruteForce: {
      windowMs: parseDuration(brute.window!),
      maxFailuresPerAccount: brute.maxFailuresPerAccount as number,
      maxFailuresPerAddress: brute.maxFailuresPerAddress as number,
      lockForMs: parseDuration(brute.lockFor!),
    },
    maxBodySize: raw.maxBodySize as number,
    sessions: (raw.sessions as Record<string, unknown> | undefined) ?? {},
    webauthn: raw.webauthn as IdentityConfig['webauthn'],
  };
}

/** The published JSON Schema: the document schema with each policy's schema under the route and defaults keys. */
export function publishedSchema(): Record<string, unknown> {
  const schema = structuredClone(CONFIG_SCHEMA) as unknown as {
    properties: { routes: { items: { properties: Record<string, unknown>; additionalProperties: unknown } }; defaults: Record<string, unknown> };
  };
  const policyProps: Record<string, unknown> = {};
  for (const [name, def] of POLICIES) policyProps[name] = { anyOf: [def.schema, { const: false }] };
  Object.assign(schema.properties.routes.items.properties, policyProps);
  schema.properties.routes.items.additionalProperties = false;
  schema.properties.defaults = { type: 'object', additionalProperties: false, properties: policyProps };
  return schema as unknown as Record<string, unknown>;
}
