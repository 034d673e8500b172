/**
 * `address-limit` and `rate-limit`: request rates (GCRA), UTC calendar quotas and concurrency limits per key
 * (issue 6 point 1; checklist item 5; OWASP API4:2023 "Unrestricted Resource Consumption", OWASP API2:2023 for
 * credential guessing). One implementation, two policies, two phases (see schema.ts for why):
 *
 *   defaults:
 *     address-limit: { limits: [{ key: ip, rate: 50/s }] }              # before authentication, every route
 *   routes:
 *     - id: orders
 *       rate-limit:                                                     # after authentication and authorization
 *         limits:
 *           - { key: principal, rate: 20/s }
 *           - { key: consumer, quota: 10000, period: day }
 *           - { key: principal, concurrency: 5 }
 *
 * Counters live in the store the top-level `counters:` setting names (memory, or Redis shared by every gateway
 * process); the policies take that setting through `inheritConfig`, and one `CounterBackend` per runtime (shared
 * by every route, `deps.shared`) holds the store. The limit policies never need the master key or the identity
 * stores: with Redis, the connection itself is shared process-wide with `stores.counters` (redis/connection.ts).
 */
import type { Logger } from 'pino';
import type { ConfigIssue, PolicyDefinition, PolicyDeps, PolicyHandlers, RouteInfo } from '../types.ts';
import type { CounterStore } from '../../storage/ports.ts';
import { MemoryCounterStore } from '../../storage/memory/counters.ts';
import { RedisCounterStore } from '../../storage/redis/counters.ts';
import { openCounterStore } from '../../storage/counter-store.ts';
import { countersConfigOf, type CountersConfig } from '../../storage/counters-config.ts';
import { parseDuration } from '../../config/units.ts';
import { compileKey } from './keys.ts';
import { Limiter, type CompiledLimit, type LimitStores } from './limiter.ts';
import { limitPolicySchema, parseRate, type LimitConfig, type LimitPolicyConfig, type LimitVariant } from './schema.ts';

export { limitPolicySchema, type LimitConfig, type LimitPolicyConfig } from './schema.ts';
export { Limiter, policyItem } from './limiter.ts';

const DEFAULT_LEASE_MS = 5 * 60_000;
/** How long a runtime skips Redis after a failed call (see CounterBackend). */
const SUSPEND_MS = 1000;

/**
 * The counter stores of one runtime: the configured one and, when it is Redis, a memory store for
 * `onStoreFailure: local`. Store failures are logged at most every 10 s per runtime, so an outage under load is a
 * few lines, not one per request.
 *
 * A Redis that stops answering without closing the connection (paused, overloaded) would cost every request the
 * command timeout; after a failed call the backend therefore skips Redis for SUSPEND_MS (requests go straight to
 * the failure mode), then tries it again. A closed connection needs no such pause: commands fail at once while
 * ioredis reconnects.
 */
export class CounterBackend implements LimitStores {
  readonly primary: CounterStore;
  readonly local: MemoryCounterStore | undefined;
  readonly ready: Promise<boolean>;
  readonly #redis: RedisCounterStore | undefined;
  readonly #logger: Logger;
  #lastLogged = 0;
  #suppressed = 0;
  #suspendedUntil = 0;

  constructor(config: CountersConfig, logger: Logger) {
    this.#logger = logger;
    const log = { warn: (d: Record<string, unknown>, m: string) => logger.warn(d, m), info: (d: Record<string, unknown>, m: string) => logger.info(d, m) };
    this.primary = openCounterStore(config, { log });
    this.#redis = this.primary instanceof RedisCounterStore ? this.primary : undefined;
    this.local = this.#redis === undefined ? undefined : new MemoryCounterStore();
    this.ready = this.#redis === undefined ? Promise.resolve(true) : this.#redis.ready;
  }

  available(): boolean {
    return this.#redis === undefined || (this.#redis.available && (this.#suspendedUntil === 0 || Date.now() >= this.#suspendedUntil));
  }

  failed(error: unknown): void {
    const now = Date.now();
    this.#suspendedUntil = now + SUSPEND_MS;
    if (now - this.#lastLogged < 10_000) {
      this.#suppressed++;
      return;
    }
    this.#logger.warn(
      { err: error instanceof Error ? { name: error.name, message: error.message } : String(error), suppressed: this.#suppressed },
      'rate-limit: counter store call failed; routes apply onStoreFailure (closed: 503, local: per-process limits)',
    );
    this.#lastLogged = now;
    this.#suppressed = 0;
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.primary.close?.(), this.local?.close()]);
  }
}

export type CompiledLimits = { readonly ok: true; readonly limits: CompiledLimit[] } | { readonly ok: false; readonly issues: ConfigIssue[] };

function kindOf(limit: LimitConfig): 'rate' | 'quota' | 'concurrency' | undefined {
  const set = [limit.rate !== undefined, limit.quota !== undefined, limit.concurrency !== undefined].filter(Boolean).length;
  if (set !== 1) return undefined;
  return limit.rate !== undefined ? 'rate' : limit.quota !== undefined ? 'quota' : 'concurrency';
}

/** Compiles (and checks) the limits of one policy instance; `routeId` namespaces unnamed limits. */
export function compileLimits(config: LimitPolicyConfig, path: string, routeId: string, variant: LimitVariant): CompiledLimits {
  const issues: ConfigIssue[] = [];
  const limits: CompiledLimit[] = [];
  const names = new Set<string>();
  const short = variant === 'address' ? 'address' : 'rate';
  config.limits.forEach((limit, index) => {
    const at = `${path}.limits[${index}]`;
    const kind = kindOf(limit);
    if (kind === undefined) {
      issues.push({ path: at, message: 'needs exactly one of rate, quota (with period) or concurrency' });
      return;
    }
    if (limit.burst !== undefined && kind !== 'rate') issues.push({ path: `${at}.burst`, message: 'only applies to a rate' });
    if (kind === 'quota' && limit.period === undefined) issues.push({ path: `${at}.period`, message: 'a quota needs period: day or month' });
    if (limit.period !== undefined && kind !== 'quota') issues.push({ path: `${at}.period`, message: 'only applies to a quota (use rate for N/d)' });
    if (limit.lease !== undefined && kind !== 'concurrency') issues.push({ path: `${at}.lease`, message: 'only applies to concurrency' });
    const name = limit.name ?? `${short}-${index}`;
    if (names.has(name)) issues.push({ path: `${at}.name`, message: `"${name}" is used by another limit of this policy` });
    names.add(name);
    const namespace = limit.name !== undefined ? `rl:n:${limit.name}:` : `rl:r:${routeId}:${short}${index}:`;
    const key = compileKey(limit.key, at, namespace, variant === 'principal');
    if (!key.ok) {
      issues.push({ path: `${at}.key`, message: key.message });
      return;
    }
    let intervalMs = 0;
    let burst = 0;
    if (kind === 'rate') {
      const rate = parseRate(limit.rate!);
      if (rate === undefined) {
        issues.push({ path: `${at}.rate`, message: 'must be N/s, N/m, N/h or N/d' });
        return;
      }
      intervalMs = rate.intervalMs;
      burst = limit.burst ?? rate.count;
    }
    let leaseMs = DEFAULT_LEASE_MS;
    if (limit.lease !== undefined) {
      leaseMs = parseDuration(limit.lease);
      if (leaseMs < 1000) issues.push({ path: `${at}.lease`, message: 'must be at least 1s' });
    }
    limits.push({
      name,
      kind,
      keyKind: key.kind,
      keyOf: key.keyOf,
      intervalMs,
      burst,
      quota: limit.quota ?? 0,
      period: limit.period ?? 'day',
      slots: limit.concurrency ?? 0,
      leaseMs,
    });
  });
  return issues.length > 0 ? { ok: false, issues } : { ok: true, limits };
}

function checkLimits(variant: LimitVariant) {
  return (config: LimitPolicyConfig, path: string, route: RouteInfo): ConfigIssue[] => {
    const compiled = compileLimits(config, path, route.id, variant);
    const issues: ConfigIssue[] = compiled.ok ? [] : [...compiled.issues];
    config.limits.forEach((limit, index) => {
      const at = `${path}.limits[${index}].key`;
      const callerKey = ['principal', 'consumer', 'api-key'].includes(limit.key) || (limit.key.startsWith('cel:') && /\bprincipal\b/.test(limit.key));
      if (variant === 'principal' && route.public && callerKey) {
        issues.push({ path: at, message: 'this route is public: no caller is authenticated, so this limit never applies', severity: 'warning' });
      }
      if (variant === 'principal' && !route.public && limit.key === 'ip') {
        issues.push({
          path: at,
          message: 'counted after authentication: requests that fail authentication are not counted; use address-limit to slow credential guessing',
          severity: 'warning',
        });
      }
    });
    return issues;
  };
}

export interface LimitRuntimeOptions {
  /** Clock for the memory store (tests); Redis uses its own unless its store says otherwise. */
  readonly now?: () => number;
}

export async function createLimitHandlers(
  variant: LimitVariant,
  config: LimitPolicyConfig,
  deps: PolicyDeps,
  options: LimitRuntimeOptions = {},
): Promise<PolicyHandlers> {
  const policy = variant === 'address' ? 'address-limit' : 'rate-limit';
  const compiled = compileLimits(config, policy, deps.routeId, variant);
  // The loader ran check() first; this fails only for a caller that skipped it: at startup, never per request.
  if (!compiled.ok) throw new Error(`${policy}: invalid config: ${compiled.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
  const counters = countersConfigOf({ counters: config.counters });
  const logger = deps.logger.child({ policy });
  // One backend per runtime and counter store, shared by every route and both policies.
  const backend = deps.shared.get(`rate-limit:counters:${counters.timeoutMs}|${counters.keyPrefix}|${counters.store}`, () => new CounterBackend(counters, deps.logger));
  if (!(await backend.ready)) {
    logger.warn({ onStoreFailure: config.onStoreFailure ?? counters.onFailure }, `${policy}: the counter store does not answer yet; applying onStoreFailure until it does`);
  }
  const limiter = new Limiter(compiled.limits, backend, {
    onStoreFailure: config.onStoreFailure ?? counters.onFailure,
    headers: config.headers ?? true,
    now: options.now ?? Date.now,
    logger,
    policy,
  });
  return { onRequest: (ctx) => limiter.check(ctx) };
}

/** Both policies take the gateway's `counters:` setting; a route may override only onStoreFailure. */
function inheritCounters(document: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const counters = (document.counters as Record<string, unknown> | undefined) ?? {};
  return { counters, onStoreFailure: counters.onFailure ?? 'closed' };
}

export const addressLimitPolicy: PolicyDefinition<LimitPolicyConfig> = {
  name: 'address-limit',
  phase: 'limit-address',
  order: 10,
  schema: limitPolicySchema('address'),
  inheritConfig: inheritCounters,
  check: checkLimits('address'),
  create: (config, deps) => createLimitHandlers('address', config, deps),
};

export const rateLimitPolicy: PolicyDefinition<LimitPolicyConfig> = {
  name: 'rate-limit',
  phase: 'limit-principal',
  order: 10,
  schema: limitPolicySchema('principal'),
  inheritConfig: inheritCounters,
  check: checkLimits('principal'),
  create: (config, deps) => createLimitHandlers('principal', config, deps),
};
