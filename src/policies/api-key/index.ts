/**
 * `api-key`: authenticates machine clients (consumers) with API keys `<prefix>_<publicId>_<secret>` (keys.ts),
 * created by `rampart api-keys create` and stored only as a keyed hash (issue 3 point 4). Authenticate phase; the
 * first authenticator that finds its credential decides (ARCHITECTURE.md "Policies").
 *
 * Per request:
 * - No key in the header (nor in the query) → NOT_RESPONSIBLE, so another authenticator of the route can try.
 * - The header twice (Node joins duplicates in `req.headers`, so `rawHeaders` decides), the query parameter twice,
 *   or a header plus a query key → 400 CREDENTIAL_CONFLICT: never pick one of several credentials (RFC 6750 §3.1).
 * - A key in the query string when `allowQuery` is off → 401: refused, and never logged (only the reason is).
 * - A client address locked after repeated failures (lockout.ts) → 401 before any lookup.
 * - A key verified within `cacheTtl` → its principal from memory, synchronously (no Promise, no store read).
 * - Otherwise: strict parse → `findApiKeyByPrefix` → constant-time hash comparison (CWE-208) → not revoked, not
 *   expired → consumer exists and is enabled. An unknown prefix still runs the comparison against a dummy hash, so
 *   it costs the same work as a known prefix with a wrong secret.
 *
 * Every failure gets the same 401 with `WWW-Authenticate: ApiKey realm="…", error="invalid_token"` (the error
 * code borrowed from RFC 6750 §3.1, as the issue's bad-input table asks); the reason goes to the log line and to an
 * `auth.api-key-failed` event (with the key's record prefix when it parsed, never the key).
 *
 * Revocation and caching: a gateway that verified a key within the last `cacheTtl` seconds keeps accepting it for
 * at most that long after `rampart api-keys revoke` (or after its consumer is disabled or deleted), because the
 * CLI runs in another process. `cacheTtl: 0` makes revocation immediate at the cost of one store read per request.
 *
 * Scopes: `principal.permissions` is the key's scope set, a narrowing set of permission names; it never grants a
 * permission the consumer's roles do not have. Resolving roles to permissions (and intersecting with this set)
 * arrives with the authorization issue (4). A key without scopes leaves `permissions` undefined: all of the roles.
 */
import type { Logger } from 'pino';
import { constantTimeEqual } from '../../crypto/constant-time.ts';
import { hashSecret } from '../../crypto/hashing.ts';
import { randomToken } from '../../crypto/random.ts';
import { API_KEY_TOUCH_RESOLUTION_MS, type ApiKeyRecord, type ConsumerRecord, type Stores } from '../../storage/ports.ts';
import type { ConfigIssue, Outcome, PolicyDefinition, PolicyDeps, PolicyHandlers, Principal, RequestContext, RespondWithProblem } from '../types.ts';
import { NOT_RESPONSIBLE, problem } from '../types.ts';
import { DEFAULT_MAX_CACHED_KEYS, VerifiedKeyCache, type VerifiedKey } from './cache.ts';
import { ApiKeyParser, MAX_API_KEY_LENGTH } from './keys.ts';
import { API_KEY_LOCKOUT, AddressLockout, LockMirror, addressBucket, type LockoutSettings } from './lockout.ts';
import { apiKeySchema, type ApiKeyConfig } from './schema.ts';

export { apiKeySchema, type ApiKeyConfig } from './schema.ts';
export { ApiKeyParser, generateApiKey, isRecordPrefix, DEFAULT_KEY_PREFIX, MAX_API_KEY_LENGTH } from './keys.ts';
export { API_KEY_LOCKOUT, addressBucket, type LockoutSettings } from './lockout.ts';

/**
 * What `create` needs beyond PolicyDeps: the pepper of `hashSecret` (derived from the master key; see
 * storage/configured.ts `openConfiguredStores`). PolicyDeps has no field for it yet; the runtime must pass it.
 */
export interface ApiKeyPolicyDeps extends PolicyDeps {
  readonly pepper?: Buffer;
}

/** Test hooks. */
export interface ApiKeyRuntimeOptions {
  /** Clock in epoch milliseconds. */
  readonly now?: () => number;
  readonly lockout?: LockoutSettings;
  readonly maxCachedKeys?: number;
}

/** Header names that carry other credentials or framing; an API key there would be misread by someone. */
const RESERVED_HEADERS: ReadonlySet<string> = new Set([
  'authorization',
  'proxy-authorization',
  'cookie',
  'host',
  'content-length',
  'content-type',
  'transfer-encoding',
  'connection',
  'upgrade',
  'forwarded',
  'x-forwarded-for',
]);

type Verification =
  | { readonly ok: true; readonly principal: Principal; readonly key: ApiKeyRecord }
  | { readonly ok: false; readonly reason: string };

function frozenPrincipal(key: ApiKeyRecord, consumer: ConsumerRecord): Principal {
  return Object.freeze({
    subject: consumer.name,
    kind: 'consumer' as const,
    method: 'api-key',
    roles: consumer.roles,
    tenant: consumer.tenant ?? undefined,
    // The key's scopes narrow the consumer's roles (issue 3 point 4); null means "all of the roles".
    permissions: key.scopes === null ? undefined : new Set(key.scopes),
    claims: Object.freeze({ keyId: key.id, keyPrefix: key.prefix, consumerId: consumer.id }),
    credentialId: key.id,
  });
}

/** Counts header lines named `name` (lower-case) as the client sent them. */
function countRawHeader(raw: readonly string[], name: string): number {
  let count = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const field = raw[i]!;
    if (field.length === name.length && field.toLowerCase() === name) count++;
  }
  return count;
}

export async function createApiKeyHandlers(config: ApiKeyConfig, deps: ApiKeyPolicyDeps, options: ApiKeyRuntimeOptions = {}): Promise<PolicyHandlers> {
  const stores: Stores | undefined = deps.stores;
  if (stores === undefined) throw new Error('api-key: the stores are not open (the gateway opens them when a route uses api-key)');
  const pepper = deps.pepper;
  if (!Buffer.isBuffer(pepper) || pepper.length < 32) throw new Error('api-key: the secret-hash pepper is missing from the policy deps');
  const now = options.now ?? Date.now;
  const { identities, counters } = stores;
  const { events } = deps;
  const logger: Logger = deps.logger.child({ policy: 'api-key' });
  const { header, allowQuery, queryParam, realm } = config;
  const parser = new ApiKeyParser(config.prefix);
  const keyLength = parser.keyLength;
  const cacheTtlMs = config.cacheTtl * 1000;
  const cache = new VerifiedKeyCache(options.maxCachedKeys ?? DEFAULT_MAX_CACHED_KEYS);
  const lockout = new AddressLockout(
    counters,
    deps.shared.get('api-key:lock-mirror', () => new LockMirror()),
    options.lockout ?? API_KEY_LOCKOUT,
    events,
    logger,
  );
  // A hash nobody's key has: unknown prefixes are compared against it (same work as a wrong secret).
  const dummyHash = hashSecret(randomToken(32), pepper);
  const invalidHeaders = Object.freeze({ 'www-authenticate': `ApiKey realm="${realm}", error="invalid_token"` });
  const conflictHeaders = Object.freeze({ 'www-authenticate': `ApiKey realm="${realm}", error="invalid_request"` });
  /** Verifications in flight by key hash: concurrent first requests with one key share one store round trip. */
  const inFlight = new Map<string, Promise<Verification>>();

  /** The query's key values, or undefined when it has none. Allocation-free unless the query may hold the parameter. */
  function queryKeys(query: string): string[] | undefined {
    if (query === '' || (!query.includes(queryParam) && !query.includes('%'))) return undefined;
    const values = new URLSearchParams(query).getAll(queryParam);
    return values.length === 0 ? undefined : values;
  }

  function event(ctx: RequestContext, type: string, details: Record<string, unknown>): void {
    events.emit({ type, severity: 'low', requestId: ctx.requestId, routeId: ctx.routeId, clientAddress: ctx.clientAddress, details: { method: 'api-key', ...details } });
  }

  function conflict(ctx: RequestContext, reason: string): RespondWithProblem {
    event(ctx, 'credential.conflict', { reason });
    return problem('RAMPART_ERR_CREDENTIAL_CONFLICT', `api-key: ${reason}`, conflictHeaders);
  }

  /** The one answer for every bad key; the reason goes to the log and the event, and the failure is counted. */
  function fail(ctx: RequestContext, bucket: string, at: number, reason: string, recordPrefix?: string): Promise<RespondWithProblem> {
    event(ctx, 'auth.api-key-failed', recordPrefix === undefined ? { reason } : { reason, prefix: recordPrefix });
    const answer = problem('RAMPART_ERR_INVALID_CREDENTIAL', `api-key: ${reason}${recordPrefix === undefined ? '' : ` (key ${recordPrefix})`}`, invalidHeaders);
    return lockout.recordFailure(bucket, at, ctx).then(() => answer);
  }

  /**
   * The lock's end comes from the counter store, and stored data is input too: an end outside the Date range
   * (beyond year 275760, NaN) is left out of the detail instead of letting toISOString() throw (a RangeError here
   * turned a locked answer into a misleading "store unavailable", or escaped onRequest on the mirrored-lock path).
   */
  function locked(until: number): RespondWithProblem {
    const end = new Date(until);
    const shown = Number.isNaN(end.getTime()) ? '' : ` until ${end.toISOString()}`;
    return problem('RAMPART_ERR_INVALID_CREDENTIAL', `api-key: client address locked after repeated failures${shown}`, invalidHeaders);
  }

  function touch(entry: { keyId: string; touchedAt: number }, at: number): void {
    entry.touchedAt = at;
    identities.touchApiKey(entry.keyId, at).catch((error: unknown) => logger.warn({ err: error, keyId: entry.keyId }, 'api-key: cannot record last use'));
  }

  async function lookUp(hash: string, recordPrefix: string, at: number): Promise<Verification> {
    const key = await identities.findApiKeyByPrefix(recordPrefix);
    const matches = constantTimeEqual(hash, key?.hash ?? dummyHash);
    if (key === undefined) return { ok: false, reason: 'unknown key prefix' };
    if (!matches) return { ok: false, reason: 'wrong secret' };
    if (key.revokedAt !== null) return { ok: false, reason: 'key revoked' };
    if (key.expiresAt !== null && at >= key.expiresAt) return { ok: false, reason: 'key expired' };
    const consumer = await identities.getConsumer(key.consumerId);
    if (consumer === undefined) return { ok: false, reason: 'consumer no longer exists' };
    if (consumer.disabled) return { ok: false, reason: 'consumer disabled' };
    return { ok: true, principal: frozenPrincipal(key, consumer), key };
  }

  function verify(hash: string, recordPrefix: string, at: number): Promise<Verification> {
    let pending = inFlight.get(hash);
    if (pending === undefined) {
      pending = lookUp(hash, recordPrefix, at).finally(() => inFlight.delete(hash));
      inFlight.set(hash, pending);
    }
    return pending;
  }

  async function verifyUncached(ctx: RequestContext, value: string, hash: string, bucket: string, at: number): Promise<Outcome> {
    const recordPrefix = parser.recordPrefixOf(value);
    if (recordPrefix === undefined) return fail(ctx, bucket, at, `malformed key: ${parser.describeMalformed(value)}`);
    let result: Verification;
    try {
      const lockedUntil = await lockout.storeLockedUntil(bucket, at);
      if (lockedUntil !== undefined) return locked(lockedUntil);
      result = await verify(hash, recordPrefix, at);
    } catch (error) {
      // Fail closed, and say so: a store outage is not a bad key, so it is neither counted nor answered as one.
      logger.error({ err: error, keyPrefix: recordPrefix }, 'api-key: store unavailable');
      return problem('RAMPART_ERR_AUTH_UNAVAILABLE', `api-key: store unavailable (key ${recordPrefix})`);
    }
    if (!result.ok) return fail(ctx, bucket, at, result.reason, recordPrefix);
    const { principal, key } = result;
    ctx.principal = principal;
    const validUntil = Math.min(at + cacheTtlMs, key.expiresAt ?? Number.MAX_SAFE_INTEGER);
    const entry: VerifiedKey = { principal, keyId: key.id, validUntil, touchedAt: 0 };
    if (cacheTtlMs > 0 && validUntil > at) cache.set(hash, entry, at);
    if (key.lastUsedAt === null || at >= key.lastUsedAt + API_KEY_TOUCH_RESOLUTION_MS) touch(entry, at);
    else entry.touchedAt = key.lastUsedAt;
    return undefined;
  }

  return {
    challenge: `ApiKey realm="${realm}"`,

    // The key's own header (or query parameter): a different place from a bearer token.
    credentialSource: 'api-key',
    hasCredential(ctx: RequestContext): boolean {
      return ctx.req.headers[header] !== undefined || queryKeys(ctx.query) !== undefined;
    },

    onRequest(ctx: RequestContext): Outcome | Promise<Outcome> {
      const headerValue = ctx.req.headers[header];
      const fromQuery = queryKeys(ctx.query);
      if (headerValue === undefined && fromQuery === undefined) return NOT_RESPONSIBLE;

      let value: string;
      if (headerValue !== undefined) {
        // Node joins repeated header lines with ", "; a real key never contains a comma, so only then count lines.
        if (typeof headerValue !== 'string' || (headerValue.includes(',') && countRawHeader(ctx.req.rawHeaders, header) > 1)) {
          return conflict(ctx, `header ${header} sent more than once`);
        }
        if (fromQuery !== undefined) return conflict(ctx, `key in both the ${header} header and the query string`);
        value = headerValue;
      } else {
        if (fromQuery!.length > 1) return conflict(ctx, `query parameter ${queryParam} sent more than once`);
        value = fromQuery![0]!;
      }

      const at = now();
      const bucket = addressBucket(ctx.clientAddress);
      const lockedUntil = lockout.lockedUntil(bucket, at);
      if (lockedUntil !== undefined) return locked(lockedUntil);
      if (headerValue === undefined && !allowQuery) {
        return fail(ctx, bucket, at, `key in the query string (${queryParam}) refused: allowQuery is off`);
      }
      // Length first: hostile input of any size is never hashed or matched.
      if (value.length !== keyLength) {
        const reason = value.length > MAX_API_KEY_LENGTH ? `longer than ${MAX_API_KEY_LENGTH} characters` : parser.describeMalformed(value);
        return fail(ctx, bucket, at, `malformed key: ${reason}`);
      }
      const hash = hashSecret(value, pepper);
      const cached = cache.get(hash, at);
      if (cached !== undefined) {
        ctx.principal = cached.principal;
        if (at >= cached.touchedAt + API_KEY_TOUCH_RESOLUTION_MS) touch(cached, at);
        return undefined;
      }
      return verifyUncached(ctx, value, hash, bucket, at);
    },

    close(): void {
      cache.clear();
      inFlight.clear();
    },
  };
}

function check(config: ApiKeyConfig, path: string): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  if (config.allowQuery) {
    issues.push({
      path: `${path}.allowQuery`,
      rule: 'api-key-in-query',
      message:
        'accepts API keys in the query string: URLs end up in access logs, proxy logs, browser history and Referer ' +
        'headers, where keys leak (OWASP API2:2023)',
    });
  }
  if (RESERVED_HEADERS.has(config.header)) {
    issues.push({ path: `${path}.header`, message: `"${config.header}" carries other credentials or message framing; use a dedicated header such as x-api-key` });
  }
  return issues;
}

export const apiKeyPolicy: PolicyDefinition<ApiKeyConfig> = {
  name: 'api-key',
  phase: 'authenticate',
  order: 30,
  schema: apiKeySchema,
  authenticates: true,
  requiresStores: true,
  secretHeaders: (config) => [config.header],
  secretQueryParams: (config) => (config.allowQuery ? [config.queryParam] : []),
  check,
  create: (config, deps) => createApiKeyHandlers(config, deps),
};
