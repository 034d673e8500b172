/**
 * `rampart posture`: what a gateway config enforces, per route and per checklist item, and why. It reads the
 * loaded config (never the raw file), so it judges exactly what the gateway would run. Items whose controls are
 * not built yet say so plainly: posture must never report more than the gateway does.
 */
import { CHECKLIST, type ChecklistItemId } from '../checklist/items.ts';
import type { AcceptedWeakening, GatewayConfig, RouteConfig } from '../config/load.ts';
import { countersConfigOf, leaseUnits } from '../storage/counters-config.ts';
import { parseRate } from '../policies/rate-limit/schema.ts';
import { tracingConfigOf } from '../observe/tracing.ts';
import { retentionByStore } from '../privacy/subject/report.ts';
import { describeUnbounded, unboundedInputsOf } from './contract-bounds.ts';

export type PostureStatus = 'enforced' | 'partial' | 'weakened' | 'missing' | 'not-applicable';

export interface PostureCell {
  readonly item: ChecklistItemId;
  readonly status: PostureStatus;
  readonly reason: string;
}

export interface RoutePosture {
  readonly route: string;
  readonly path: string;
  readonly methods: readonly string[] | 'any';
  readonly cells: readonly PostureCell[];
}

export interface PostureReport {
  readonly schemaVersion: 1;
  readonly mode: GatewayConfig['mode'];
  readonly items: ReadonlyArray<{ id: ChecklistItemId; title: string; owasp: readonly string[] }>;
  readonly routes: readonly RoutePosture[];
  /** Weakened defaults accepted by `acknowledge` entries: each listed, with its reason and expiry. */
  readonly acknowledged: readonly AcceptedWeakening[];
  readonly warnings: readonly string[];
  readonly summary: Readonly<Record<PostureStatus, number>>;
}

/** Which checklist item each weakened-default rule belongs to. */
const RULE_ITEM: Record<string, ChecklistItemId> = {
  'long-session': 11,
  'session-samesite-lax': 11,
  'session-csrf-origin-off': 11,
  'api-key-in-query': 1,
  'long-access-token': 11,
  'long-refresh-token': 11,
  'plain-http-listener': 3,
  'hsts-short': 3,
  'csp-unsafe': 12,
  'nosniff-disabled': 12,
  'security-headers-disabled': 12,
  'cors-wildcard-origin': 13,
  'cors-insecure-origin': 13,
  'cors-credentials-pattern': 13,
  'upstream-5xx-passthrough': 7,
  'admin-not-loopback': 8,
  'contract-undeclared-query': 4,
  'contract-undeclared-body': 4,
  'contract-passthrough': 4,
  'contract-responses-unfiltered': 16,
  'client-addresses-in-clear': 16,
};

/**
 * Accepted weakenings that apply to this route for this item: the route's own, a `defaults.<policy>` one only when
 * the route really uses that default, and gateway-wide ones (listeners, admin).
 */
function weakeningsFor(config: GatewayConfig, route: RouteConfig, item: ChecklistItemId): AcceptedWeakening[] {
  const prefix = `routes[${route.index}]`;
  return config.accepted.filter((a) => {
    if (RULE_ITEM[a.rule] !== item) return false;
    if (a.path === prefix || a.path.startsWith(`${prefix}.`)) return true;
    if (a.path.startsWith('routes[')) return false;
    if (a.path.startsWith('defaults.')) {
      const policy = a.path.slice('defaults.'.length).split('.')[0]!;
      return route.disabledPolicies.includes(policy) || route.policies.some((p) => p.source.startsWith(`defaults.${policy}`));
    }
    return true;
  });
}

/** The authentication methods a route accepts, as people read them: `jwt (corp-idp)`, `api-key`. */
function authenticators(route: RouteConfig): string[] {
  return route.policies.filter((p) => p.definition.authenticates).map((p) => (p.issuer ? `${p.definition.name} (${p.issuer})` : p.definition.name));
}

function isLoopbackUrl(url: string): boolean {
  const host = new URL(url).hostname;
  return host === 'localhost' || host === '[::1]' || /^127\./.test(host);
}

function has(route: RouteConfig, policy: string): boolean {
  return route.policies.some((p) => p.definition.name === policy);
}

function cell(item: ChecklistItemId, status: PostureStatus, reason: string): PostureCell {
  return { item, status, reason };
}

/** The `audit:` block as the config holds it after defaults (src/audit/schema.ts). */
interface AuditDocument {
  authentication?: boolean;
  dataAccess?: boolean;
  authSuccess?: { record?: 'per-window' | 'every-request'; window?: string | number };
}

/** How successful authentications reach the audit chain (src/audit/auth-success.ts), in posture's words. */
function authSuccessStatement(audit: AuditDocument, recorded: boolean): string {
  if (!recorded) return 'successes not recorded';
  const settings = audit.authSuccess ?? {};
  if (settings.record === 'every-request') return 'every successful authentication';
  const window = settings.window ?? '60s';
  const length = typeof window === 'number' ? `${window / 1000}s` : window;
  return `successful authentications once per route, principal, credential and address per ${length} window with a request count`;
}

/**
 * Detectors and detector signals switched off (src/detect/schema.ts): a detector's `enabled: false`, a signal
 * object's `enabled: false` (`credentialStuffing.burst`, `adminActivity.rate`) and a signal switch set to false
 * (`adminActivity.newAddress`, `offHours`): every boolean of a detector's settings is such a switch.
 */
function disabledDetectors(document: Readonly<Record<string, unknown>>): string[] {
  const off: string[] = [];
  const detectors = (document['detectors'] as Record<string, Record<string, unknown>> | undefined) ?? {};
  for (const [name, settings] of Object.entries(detectors)) {
    if (settings['enabled'] === false) {
      off.push(name);
      continue;
    }
    for (const [key, value] of Object.entries(settings)) {
      if (value === false) off.push(`${name}.${key}`);
      else if (typeof value === 'object' && value !== null && (value as { enabled?: unknown }).enabled === false) off.push(`${name}.${key}`);
    }
  }
  return off;
}

type Evaluator = (route: RouteConfig, config: GatewayConfig) => PostureCell;

/** The rates of these limit policies that `counters.lease` leases, as `key rate (N units)`. */
function leasedRates(policies: readonly RouteConfig['policies'][number][], lease: ReturnType<typeof countersConfigOf>['lease']): string[] {
  const out: string[] = [];
  for (const policy of policies) {
    for (const limit of (policy.config as { limits?: Array<{ key: string; rate?: string; burst?: number }> }).limits ?? []) {
      const rate = limit.rate === undefined ? undefined : parseRate(limit.rate);
      if (rate === undefined) continue;
      // The burst as compileLimits reads it (rate-limit/index.ts).
      const units = leaseUnits(limit.burst ?? rate.count, lease);
      if (units >= 2) out.push(`${limit.key} ${limit.rate} (${units} units)`);
    }
  }
  return out;
}

const EVALUATORS: Record<ChecklistItemId, Evaluator> = {
  1: (route, config) => {
    const methods = authenticators(route);
    if (methods.length === 0) return cell(1, 'missing', 'public: true: anyone may call this route (deny by default waived explicitly)');
    const accepts = `accepts ${methods.join(', ')}`;
    const weak = weakeningsFor(config, route, 1);
    if (weak.length > 0) return cell(1, 'weakened', `${accepts}; ${weak.map((w) => `${w.message} (acknowledged: ${w.reason})`).join('; ')}`);
    if (has(route, 'mfa')) return cell(1, 'enforced', `${accepts}; MFA required`);
    if (route.sensitivity !== 'normal') return cell(1, 'partial', `${accepts}; a ${route.sensitivity} route without MFA or step-up`);
    return cell(1, 'enforced', accepts);
  },
  2: (route) => {
    if (route.public && authenticators(route).length === 0) return cell(2, 'missing', 'public route: no principal, so no role or permission is checked');
    const policy = route.policies.find((p) => p.definition.name === 'authorize');
    if (!policy) return cell(2, 'missing', 'no authorize policy: any authenticated caller is allowed');
    const config = policy.config as {
      permissions?: string[] | Record<string, string[]>;
      rule?: string;
      object?: unknown;
      properties?: { write?: unknown };
      tenant?: unknown;
      opa?: unknown;
    };
    const granted = Array.isArray(config.permissions) ? config.permissions : Object.values(config.permissions ?? {}).flat();
    const gaps: string[] = [];
    if (granted.length === 0 && !config.rule && !config.opa) gaps.push('any authenticated principal is allowed (no permission required)');
    if (/\{[A-Za-z_][A-Za-z0-9_]*\}/.test(route.path) && !config.object) gaps.push('object ids in the path without an object-level rule (BOLA)');
    const writes = route.methods === undefined || route.methods.some((m) => m === 'POST' || m === 'PUT' || m === 'PATCH');
    if (writes && !config.properties?.write) gaps.push('writable bodies without property rules (mass assignment)');
    const has = [
      granted.length > 0 ? `permissions ${[...new Set(granted)].join(', ')}` : undefined,
      config.rule ? 'a CEL rule' : undefined,
      config.object ? 'object-level check' : undefined,
      config.properties?.write ? 'property write rules' : undefined,
      config.tenant ? 'tenant isolation' : undefined,
      config.opa ? 'OPA decision' : undefined,
    ].filter(Boolean);
    if (gaps.length > 0) return cell(2, 'partial', `${has.join('; ') || 'authorize policy'}; missing: ${gaps.join('; ')}`);
    return cell(2, 'enforced', has.join('; '));
  },
  3: (_route, config) => {
    const plain = config.listeners.filter((l) => !l.tls && l.http === 'serve');
    const tls = config.listeners.filter((l) => l.tls);
    const sqlite = config.storage.startsWith('sqlite:') && config.storage !== 'sqlite::memory:';
    const atRest = !config.needsStores
      ? 'at rest: no stored secrets on this gateway'
      : sqlite
        ? `at rest: stored secrets sealed under the key ring of ${config.storage} (data keys wrapped by keyring.masterKey${config.masterKey === undefined ? ', a development key file: set keyring.masterKey' : ''})`
        : `at rest: ${config.storage} holds secrets in process memory only (no key ring)`;
    if (plain.length > 0) {
      const accepted = config.accepted.some((a) => a.rule === 'plain-http-listener');
      return cell(3, accepted ? 'weakened' : 'missing', `a listener serves plain HTTP${accepted ? ' (acknowledged)' : ''}; ${atRest}`);
    }
    if (tls.length === 0) return cell(3, 'missing', `no TLS listener; ${atRest}`);
    const min = tls.map((l) => l.tls!.minVersion).sort()[0];
    const weak = config.accepted.filter((a) => RULE_ITEM[a.rule] === 3 && (!a.path.startsWith('routes[') || a.path.startsWith(`routes[${_route.index}]`)));
    if (weak.length > 0) {
      return cell(3, 'weakened', `${weak.map((w) => `${w.message} (acknowledged: ${w.reason})`).join('; ')}; ${atRest}`);
    }
    const plainUpstreams = _route.upstream.targets.map((t) => t.url).filter((url) => url.startsWith('http:') && !isLoopbackUrl(url));
    const mutual = _route.policies.some((p) => p.definition.name === 'mtls') ? '; clients authenticate with certificates (mTLS)' : '';
    const upstreamTls = _route.upstream.tls?.cert !== undefined ? '; mTLS to the upstream' : '';
    const upstreamNote = plainUpstreams.length > 0 ? `; plain HTTP to the upstream outside loopback (${plainUpstreams.join(', ')})` : '';
    const restOk = !config.needsStores || (sqlite && config.masterKey !== undefined);
    const status = plainUpstreams.length === 0 && restOk ? 'enforced' : 'partial';
    return cell(3, status, `in transit: TLS (min ${min}, AEAD ciphers, HSTS), plain HTTP redirected or refused${mutual}${upstreamTls}${upstreamNote}; ${atRest}`);
  },
  4: (route, config) => {
    const contract = route.policies.find((p) => p.definition.name === 'contract');
    const screen = route.policies.find((p) => p.definition.name === 'screen');
    const screening = screen === undefined ? '' : `; injection screening (${(screen.config as { mode?: string }).mode ?? 'block'})`;
    if (contract === undefined) {
      return cell(4, screen === undefined ? 'missing' : 'partial', `no contract: parameters and bodies are not validated (canonical path, headers and body size only)${screening}`);
    }
    const file = (contract.config as { openapi: string }).openapi.split('/').pop();
    const weak = weakeningsFor(config, route, 4);
    const what = `requests validated against ${file} (parameters, bodies, media types; undeclared query and body properties refused)${screening}`;
    if (weak.length > 0) return cell(4, 'weakened', `${what}; ${weak.map((w) => `${w.message} (acknowledged: ${w.reason})`).join('; ')}`);
    // OWASP API4:2023: a field the contract leaves unbounded is limited only by the body size limit.
    const unbounded = unboundedInputsOf(route) ?? [];
    if (unbounded.length > 0) return cell(4, 'partial', `${what}; the contract leaves ${describeUnbounded(unbounded)} bounded only by the body size limit`);
    return cell(4, 'enforced', `${what}; every string, array and number of the requests is bounded by the contract`);
  },
  5: (route, config) => {
    const limits = route.policies.filter((p) => p.definition.name === 'rate-limit' || p.definition.name === 'address-limit');
    const described = limits.map((p) => {
      const list = (p.config as { limits?: Array<{ key: string; rate?: string; quota?: number; period?: string; concurrency?: number }> }).limits ?? [];
      return `${p.definition.name}: ${list.map((l) => `${l.key} ${l.rate ?? (l.quota !== undefined ? `${l.quota}/${l.period}` : `${l.concurrency} in flight`)}`).join(', ')}`;
    });
    const counters = countersConfigOf(config.document);
    const store = counters.store;
    const shedding = config.limits.maxInFlight > 0 ? `; load shedding at ${config.limits.maxInFlight} in flight` : '';
    const authenticates = route.policies.some((p) => p.definition.authenticates) || route.service === 'identity';
    const beforeAuth = route.policies.some((p) => p.definition.name === 'address-limit');
    if (limits.length === 0) return cell(5, 'missing', `no rate limit on this route${shedding}`);
    let where = store.startsWith('redis') ? 'shared in Redis' : 'per process (memory)';
    if (store.startsWith('redis')) {
      // Said, not scored: a lease moves admissions by a bounded number of units per process (storage/redis/counters.ts).
      const leased = leasedRates(limits, counters.lease);
      if (leased.length > 0) where += `; leased (counters.lease): ${leased.join(', ')}: up to that many units per process more, or fewer, than exact GCRA within a window (lease: false for exact)`;
    }
    if (authenticates && !beforeAuth) {
      return cell(5, 'partial', `${described.join('; ')} (${where}); no address-limit before authentication, so credential guessing is limited only by the lockouts${shedding}`);
    }
    return cell(5, 'enforced', `${described.join('; ')} (${where})${shedding}`);
  },
  6: (route, config) => {
    if (!config.accessLog.enabled) return cell(6, 'missing', 'access log is off');
    const audit = config.document.audit as AuditDocument | undefined;
    // Said, not scored: traces help follow an attack across services, but their absence loses no record.
    const tracing = tracingConfigOf(config.document) === undefined ? 'tracing off (observability.tracing)' : 'OpenTelemetry tracing on';
    if (audit === undefined) return cell(6, 'partial', `access log and security events in the log only: no tamper-evident audit store (audit:); ${tracing}`);
    // What this route's audit policy records: the loader puts it on every route once `audit:` is configured, so a
    // route without it said `audit: false`.
    const routeAudit = route.policies.find((p) => p.definition.name === 'audit')?.config as { dataAccess?: boolean; authentication?: boolean } | undefined;
    const dataAccess = routeAudit !== undefined && routeAudit.dataAccess !== false;
    const authentication = routeAudit !== undefined && routeAudit.authentication !== false;
    const gaps: string[] = [];
    if (config.document.events === undefined) gaps.push('no events store (events:)');
    const off = disabledDetectors(config.document);
    if (off.length > 0) gaps.push(`detectors disabled: ${off.join(', ')}`);
    const alerts = (config.document.alerts as unknown[] | undefined) ?? [];
    if (alerts.length === 0) gaps.push('alerts with no destination (alerts:)');
    if (!route.public) {
      if (routeAudit === undefined) gaps.unshift('the audit policy is off on this route (audit: false): neither successful authentications nor data access are recorded');
      else {
        if (!dataAccess) gaps.unshift('data access on this route is not audited (audit: { dataAccess: true })');
        if (!authentication) gaps.unshift('successful authentications are not audited (audit.authentication: false)');
      }
    }
    // How successes are kept is said, so an auditor reading the chain knows one entry may stand for many requests.
    const successes = authSuccessStatement(audit, authentication);
    const have = `tamper-evident audit chain (authentication failures, ${successes}, denials${dataAccess ? ', data access' : ''}), anomaly detectors, ${alerts.length} alert destination(s)`;
    return cell(6, gaps.length === 0 ? 'enforced' : 'partial', gaps.length === 0 ? `${have}; ${tracing}` : `${have}; ${gaps.join('; ')}; ${tracing}`);
  },
  7: (route, config) => {
    if (route.service !== undefined) return cell(7, 'enforced', 'answered by the gateway itself: RFC 9457 problems with correlation ids');
    if (route.replaceUpstream5xx) {
      // The scanner showed the gap: an upstream's own 4xx bodies reach the client as the upstream wrote them.
      return cell(7, 'partial', "the gateway's errors are RFC 9457 problems with correlation ids and upstream 5xx bodies are replaced; the upstream's own 4xx bodies pass as it wrote them");
    }
    const accepted = weakeningsFor(config, route, 7).length > 0;
    return cell(7, accepted ? 'weakened' : 'missing', 'upstream 5xx bodies reach clients (errors.replaceUpstream5xx: false)');
  },
  8: (route, config) => {
    const weak = weakeningsFor(config, route, 8);
    if (weak.length > 0) return cell(8, 'weakened', weak.map((w) => `${w.message} (acknowledged: ${w.reason})`).join('; '));
    return cell(8, 'enforced', 'all traffic through the gateway: one canonical path, banner headers stripped, hop-by-hop headers removed');
  },
  9: () => cell(9, 'not-applicable', 'security testing is the scanner\'s job (rampart scan), not a gateway control'),
  10: (route) => {
    const api = route.api;
    if (api?.version !== undefined) {
      const how = api.selection === 'path' ? `path prefix ${api.prefix}` : api.selection === 'header' ? `header ${api.header}` : 'Accept version parameter';
      const fallback = api.selection === 'path' ? '' : api.defaultVersion === undefined ? '; a version is required (400 without one)' : `; default ${api.defaultVersion}`;
      return cell(10, 'enforced', `API ${api.api} version ${api.version} selected by ${how}${fallback}; unknown versions answer 404 listing ${api.supported.join(', ')}`);
    }
    return /^\/v\d+(\/|$)/.test(route.path)
      ? cell(10, 'partial', 'version in a hand-written path prefix; declare it under apis[].versions for selection, unknown-version answers and deprecation')
      : cell(10, 'missing', 'no API version in the route');
  },
  11: (route, config) => {
    const methods = authenticators(route);
    if (methods.length === 0) return cell(11, 'not-applicable', 'public route: no session or token');
    const notes: string[] = [];
    let status: PostureStatus = 'enforced';
    for (const p of route.policies.filter((q) => q.definition.authenticates)) {
      const name = p.definition.name;
      if (name === 'jwt') notes.push(`jwt (${p.issuer ?? 'static keys'}): exp required, verified with ${(p.config as { clockSkew?: number }).clockSkew ?? 30}s skew`);
      else if (name === 'oauth2-introspection') notes.push(`introspection (${p.issuer}): active and exp checked, cached at most ${(p.config as { cache?: { maxTtl?: number } }).cache?.maxTtl ?? 60}s`);
      else if (name === 'identity-token' && config.identity) {
        notes.push(`gateway tokens: access ${Math.round(config.identity.accessTokenTtlMs / 60000)} min, refresh families ${Math.round(config.identity.refreshTokenTtlMs / 86_400_000)} d with rotation and reuse detection`);
      } else if (name === 'session') {
        const c = p.config as { cookie: string; idle: string | number; absolute: string | number; sameSite: string; csrf: { checkOrigin: boolean } };
        notes.push(
          `session cookie ${c.cookie}: Secure, HttpOnly, SameSite=${c.sameSite}, idle ${c.idle}, absolute ${c.absolute}, ` +
            `CSRF token${c.csrf.checkOrigin ? ' and Origin check' : ' (no Origin check)'}; id stored hashed, renewed at login`,
        );
      } else if (name === 'api-key') {
        notes.push('API keys: revocable, expiry optional per key (rampart api-keys list shows keys without one)');
        status = 'partial';
      } else notes.push(name);
    }
    const weak = weakeningsFor(config, route, 11);
    if (weak.length > 0) return cell(11, 'weakened', [...notes, ...weak.map((w) => `${w.message} (acknowledged: ${w.reason})`)].join('; '));
    return cell(11, status, notes.join('; '));
  },
  12: (route, config) => {
    if (!has(route, 'security-headers')) {
      const accepted = weakeningsFor(config, route, 12).length > 0;
      return cell(12, accepted ? 'weakened' : 'missing', 'security headers are off on this route');
    }
    const weak = weakeningsFor(config, route, 12);
    if (weak.length > 0) return cell(12, 'weakened', weak.map((w) => `${w.message} (acknowledged: ${w.reason})`).join('; '));
    return cell(12, 'enforced', 'strict CSP, nosniff, no-referrer, CORP, no-store, HSTS on TLS');
  },
  13: (route, config) => {
    if (!has(route, 'cors')) return cell(13, 'enforced', 'no CORS policy: no cross-origin access is granted');
    const weak = weakeningsFor(config, route, 13);
    if (weak.length > 0) return cell(13, 'weakened', weak.map((w) => `${w.message} (acknowledged: ${w.reason})`).join('; '));
    return cell(13, 'enforced', 'exact origin allow-list, null origin refused, Vary: Origin, preflight answered by the gateway');
  },
  14: (route, config) => {
    if (route.service === 'docs') {
      if (route.public) return cell(14, 'weakened', 'documentation served to anyone (public: true)');
      const what = route.docs?.merge === undefined ? 'the named document' : `the merged document of ${route.docs.merge.scope === 'api' ? `API ${route.docs.merge.api}'s contracts` : "the gateway's contracts"}`;
      // The config check refuses a docs route without docs:read unless acknowledged (src/docs/settings.ts).
      const source = route.docs?.source ?? `routes[${route.index}]`;
      const accepted = config.accepted.filter((a) => a.rule === 'docs-without-docs-read' && (a.path === source || a.path.startsWith(`${source}.`)));
      if (accepted.length > 0) return cell(14, 'weakened', accepted.map((w) => `${w.message} (acknowledged: ${w.reason})`).join('; '));
      const needs = route.policies.find((p) => p.definition.name === 'authorize');
      const permissions = JSON.stringify((needs?.config as { permissions?: unknown } | undefined)?.permissions);
      return cell(14, 'enforced', `${what} served to principals holding ${permissions}, x-internal parts removed, a nonce CSP, no external requests`);
    }
    return route.exposeDocs
      ? cell(14, 'weakened', "exposeDocs: true lets the upstream's own documentation paths (/swagger.json, /openapi.json, ...) through")
      : cell(14, 'enforced', "the upstream's documentation paths are refused; documentation is served only by rampart:docs routes");
  },
  15: (route) => {
    const api = route.api;
    if (api === undefined) return cell(15, 'missing', 'not declared under apis[]: no deprecation or sunset can be announced for it');
    const d = api.deprecation;
    if (d === undefined) return cell(15, 'enforced', `current${api.version === undefined ? '' : ` version ${api.version}`}: deprecation and sunset can be announced under ${api.source}`);
    const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
    if (d.sunsetAt !== undefined && d.sunsetAt <= Date.now()) return cell(15, 'enforced', `retired on ${day(d.sunsetAt)}: answers 410 Gone with the link`);
    const missing = [d.sunsetAt === undefined ? 'a sunset date' : '', d.link === undefined ? 'a migration link' : ''].filter((m) => m !== '');
    const what = `deprecated since ${day(d.deprecatedAt)}${d.sunsetAt === undefined ? '' : `, sunset ${day(d.sunsetAt)}`}, ${d.brownouts.length} brownout(s); Deprecation/Sunset/Link headers on every answer`;
    return missing.length > 0 ? cell(15, 'partial', `${what}; lacks ${missing.join(' and ')} (${d.source})`) : cell(15, 'enforced', what);
  },
  16: (route, config) => {
    const parts: string[] = [];
    const contract = route.policies.find((p) => p.definition.name === 'contract');
    const responses = (contract?.config as { responses?: { undeclared?: string } } | undefined)?.responses?.undeclared ?? 'remove';
    if (contract !== undefined && responses !== 'allow') parts.push(`answers minimized to the contract (${responses === 'reject' ? 'undeclared properties: 502' : 'undeclared properties removed'}, writeOnly removed)`);
    const reads = route.policies.find((p) => p.definition.name === 'authorize' && (p.config as { properties?: { read?: unknown } }).properties?.read !== undefined);
    if (reads !== undefined) parts.push('read rules per role');
    const pii = route.policies.find((p) => p.definition.name === 'pii');
    if (pii !== undefined) parts.push(`PII detection (${(pii.config as { mode?: string }).mode ?? 'mask'})`);
    // Stores that keep personal data with no retention (privacy.retention): the gateway keeps them forever.
    // (Accounts live as long as the account: identities are not a retention question.)
    const unbounded = retentionByStore(config)
      .filter((store) => store.enforcedBy === 'none' && store.store !== 'identities')
      .map((store) => store.store);
    if (unbounded.length > 0) parts.push(`no retention for ${unbounded.join(', ')} (privacy.retention)`);
    const weak = weakeningsFor(config, route, 16);
    if (weak.length > 0) return cell(16, 'weakened', [...parts, ...weak.map((w) => `${w.message} (acknowledged: ${w.reason})`)].join('; '));
    if (parts.length === 0) return cell(16, 'partial', 'banner headers stripped and 5xx bodies replaced; answers are not minimized (no contract), no PII detection');
    return cell(16, contract !== undefined && responses !== 'allow' && unbounded.length === 0 ? 'enforced' : 'partial', parts.join('; '));
  },
};

export function evaluatePosture(config: GatewayConfig): PostureReport {
  const routes = config.routes.map((route) => ({
    route: route.id,
    path: route.path,
    methods: route.methods ?? ('any' as const),
    cells: CHECKLIST.map((item) => EVALUATORS[item.id](route, config)),
  }));
  const summary: Record<PostureStatus, number> = { enforced: 0, partial: 0, weakened: 0, missing: 0, 'not-applicable': 0 };
  for (const route of routes) for (const c of route.cells) summary[c.status]++;
  return {
    schemaVersion: 1,
    mode: config.mode,
    items: CHECKLIST.map((item) => ({ id: item.id, title: item.title, owasp: item.owasp })),
    routes,
    acknowledged: config.accepted,
    warnings: config.warnings,
    summary,
  };
}

const SYMBOL: Record<PostureStatus, string> = {
  enforced: 'OK',
  partial: '~',
  weakened: '!',
  missing: 'X',
  'not-applicable': '-',
};

export function formatPostureTable(report: PostureReport): string {
  const lines: string[] = [];
  const idWidth = Math.max(5, ...report.routes.map((r) => r.route.length));
  const header = 'route'.padEnd(idWidth) + ' ' + report.items.map((i) => String(i.id).padStart(3)).join('');
  lines.push(`Rampart posture (${report.mode} mode)`, '', header, '-'.repeat(header.length));
  for (const route of report.routes) {
    lines.push(route.route.padEnd(idWidth) + ' ' + route.cells.map((c) => SYMBOL[c.status].padStart(3)).join(''));
  }
  lines.push('', 'OK enforced   ~ partial   ! weakened (acknowledged)   X missing   - not applicable', '');
  lines.push('Items:');
  for (const item of report.items) lines.push(`  ${String(item.id).padStart(2)}  ${item.title} (${item.owasp.join(', ')})`);
  lines.push('', 'Reasons:');
  for (const route of report.routes) {
    lines.push(`  ${route.route} ${route.path} [${route.methods === 'any' ? 'any method' : route.methods.join(', ')}]`);
    for (const c of route.cells) lines.push(`    ${String(c.item).padStart(2)} ${c.status.padEnd(14)} ${c.reason}`);
  }
  if (report.acknowledged.length > 0) {
    lines.push('', 'Acknowledged weakened defaults:');
    for (const a of report.acknowledged) lines.push(`  ${a.path}: ${a.message} (rule ${a.rule}; ${a.reason}; expires ${a.expires})`);
  }
  if (report.warnings.length > 0) {
    lines.push('', 'Warnings:');
    for (const w of report.warnings) lines.push(`  ${w}`);
  }
  const s = report.summary;
  lines.push('', `Summary: ${s.enforced} enforced, ${s.partial} partial, ${s.weakened} weakened, ${s.missing} missing, ${s['not-applicable']} not applicable`);
  return lines.join('\n');
}
