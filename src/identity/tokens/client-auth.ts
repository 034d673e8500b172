/**
 * OAuth client authentication at the token and revocation endpoints (RFC 6749 §2.3): `client_secret_basic`
 * (HTTP Basic, RFC 6749 §2.3.1 / RFC 7617) or `client_secret_post` (client_id and client_secret in the form),
 * never both (RFC 6749 §2.3: "MUST NOT use more than one authentication method in each request").
 *
 * Failures are one answer: an unknown client, a disabled client and a wrong secret are all `invalid_client`, and
 * the unknown-client path hashes the presented secret and compares it in constant time against a dummy hash, so
 * it costs what the known-client path costs (OWASP Authentication Cheat Sheet, "authentication responses").
 *
 * Brute force (issue 3, point 9): failed authentications are counted per client_id and per client address over
 * `bruteForce.window`; at `maxFailuresPerAccount` (per client_id) or `maxFailuresPerAddress` (per address) the key
 * is locked for `bruteForce.lockFor`, once, with an `auth.brute-force-lockout` event. While locked, requests get
 * `invalid_client` without any check, so a locked-out guesser learns nothing more. The per-client_id lock lets
 * anyone lock a client out by guessing against its id (the usual lockout trade-off); the per-address count is
 * what stops one source, and operators see both in the events.
 */
import { randomBytes } from 'node:crypto';
import { constantTimeEqual } from '../../crypto/constant-time.ts';
import { hashSecret } from '../../crypto/hashing.ts';
import { authorizationHeaderCount } from '../../policies/jwt/bearer.ts';
import type { OAuthClientRecord } from '../../storage/ports.ts';
import type { GatewayContext } from '../../gateway/context.ts';
import type { IdentityDeps } from '../types.ts';

/** Longest client_id / client_secret looked at; longer ones fail authentication without a store lookup. */
const MAX_CLIENT_ID_LENGTH = 256;
const MAX_CLIENT_SECRET_LENGTH = 512;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** What the request presents. `public` is a client_id without a secret (a public client identifying itself). */
export type PresentedClient =
  | { readonly method: 'none' }
  | { readonly method: 'public'; readonly clientId: string }
  | { readonly method: 'basic' | 'post'; readonly clientId: string; readonly secret: string }
  /** Two methods, a client_secret without client_id, two Authorization headers: RFC 6749 `invalid_request`. */
  | { readonly method: 'invalid-request'; readonly reason: string }
  /** An Authorization header that is not a well-formed Basic credential: `invalid_client`. */
  | { readonly method: 'malformed'; readonly reason: string };

/** application/x-www-form-urlencoded decoding of one Basic component (RFC 6749 §2.3.1), or undefined. */
function formDecode(text: string): string | undefined {
  try {
    return decodeURIComponent(text.replaceAll('+', ' '));
  } catch {
    return undefined;
  }
}

function parseBasic(header: string): { clientId: string; secret: string } | string {
  if (header.length < 6 || header.slice(0, 6).toLowerCase() !== 'basic ') return 'Authorization scheme is not Basic';
  const encoded = header.slice(6).trim();
  if (encoded === '' || encoded.length > 4096 || !BASE64.test(encoded) || encoded.length % 4 !== 0) return 'Basic credential is not base64';
  let decoded: string;
  try {
    decoded = utf8.decode(Buffer.from(encoded, 'base64'));
  } catch {
    return 'Basic credential is not UTF-8';
  }
  const colon = decoded.indexOf(':');
  if (colon === -1) return 'Basic credential has no ":"';
  const clientId = formDecode(decoded.slice(0, colon));
  const secret = formDecode(decoded.slice(colon + 1));
  if (clientId === undefined || secret === undefined) return 'Basic credential is not form-urlencoded';
  return { clientId, secret };
}

/** Reads the client credentials of a request (no store access). */
export function presentedClient(ctx: GatewayContext, form: ReadonlyMap<string, string>): PresentedClient {
  const header = ctx.req.headers.authorization;
  const formId = form.get('client_id');
  const formSecret = form.get('client_secret');
  if (formSecret !== undefined && formId === undefined) return { method: 'invalid-request', reason: 'client_secret without client_id' };
  if (header !== undefined) {
    if (authorizationHeaderCount(ctx.req.rawHeaders) > 1) return { method: 'invalid-request', reason: 'two Authorization headers' };
    if (formSecret !== undefined) return { method: 'invalid-request', reason: 'client_secret_basic and client_secret_post together' };
    const basic = parseBasic(header);
    if (typeof basic === 'string') return { method: 'malformed', reason: basic };
    // RFC 6749 §2.3.1 allows a client_id in the body beside Basic only when it names the same client.
    if (formId !== undefined && formId !== basic.clientId) return { method: 'invalid-request', reason: 'client_id differs from the Basic credential' };
    return { method: 'basic', clientId: basic.clientId, secret: basic.secret };
  }
  if (formId === undefined) return { method: 'none' };
  if (formSecret === undefined) return { method: 'public', clientId: formId };
  return { method: 'post', clientId: formId, secret: formSecret };
}

export type ClientVerdict =
  | { readonly ok: true; readonly client: OAuthClientRecord }
  | { readonly ok: false; readonly reason: 'locked' | 'unknown' | 'disabled' | 'secret' };

/**
 * Authenticates a client with its secret, with the brute-force counters. Same work for unknown, disabled and
 * known clients: one store lookup, one HMAC, one constant-time comparison.
 */
export class ClientAuthenticator {
  readonly #deps: IdentityDeps;
  /** A hash no secret can match (random pepper), compared against on the unknown-client path. */
  readonly #dummyHash: string;

  constructor(deps: IdentityDeps) {
    this.#deps = deps;
    this.#dummyHash = hashSecret(randomBytes(32).toString('base64url'), randomBytes(32));
  }

  async authenticate(ctx: GatewayContext, clientId: string, secret: string): Promise<ClientVerdict> {
    const { stores, pepper, now } = this.#deps;
    const at = now();
    const idKey = `identity:client-auth:id:${clientId}`;
    const addressKey = `identity:client-auth:addr:${ctx.clientAddress}`;
    const [idLock, addressLock] = await Promise.all([stores.counters.lockedUntil(idKey, at), stores.counters.lockedUntil(addressKey, at)]);
    if (idLock !== null || addressLock !== null) return { ok: false, reason: 'locked' };

    const plausible = clientId.length > 0 && clientId.length <= MAX_CLIENT_ID_LENGTH && secret.length <= MAX_CLIENT_SECRET_LENGTH;
    const client = plausible ? await stores.identities.getOAuthClient(clientId) : undefined;
    const presented = hashSecret(plausible ? secret : '', pepper);
    const matches = constantTimeEqual(presented, client?.secretHash ?? this.#dummyHash);
    if (client !== undefined && matches && !client.disabled) {
      await stores.counters.reset(idKey);
      return { ok: true, client };
    }
    const reason = client === undefined ? 'unknown' : client.disabled ? 'disabled' : 'secret';
    await this.#countFailure(ctx, at, clientId, idKey, addressKey, reason);
    return { ok: false, reason };
  }

  async #countFailure(ctx: GatewayContext, at: number, clientId: string, idKey: string, addressKey: string, reason: string): Promise<void> {
    const { stores, config, events } = this.#deps;
    const { windowMs, maxFailuresPerAccount, maxFailuresPerAddress, lockForMs } = config.bruteForce;
    const shownId = clientId.slice(0, 128);
    events.emit({
      type: 'auth.client-authentication-failed',
      severity: 'low',
      requestId: ctx.requestId,
      clientAddress: ctx.clientAddress,
      details: { clientId: shownId, reason },
    });
    const [idCount, addressCount] = await Promise.all([
      stores.counters.increment(idKey, windowMs, at),
      stores.counters.increment(addressKey, windowMs, at),
    ]);
    const lock = async (key: string, scope: 'client_id' | 'address') => {
      // The count starts again after the lock, so the first failure after it does not lock again at once.
      await stores.counters.reset(key);
      await stores.counters.lockUntil(key, at + lockForMs);
      events.emit({
        type: 'auth.brute-force-lockout',
        severity: 'medium',
        requestId: ctx.requestId,
        clientAddress: ctx.clientAddress,
        details: { target: 'oauth-client', scope, ...(scope === 'client_id' ? { clientId: shownId } : {}), until: at + lockForMs },
      });
    };
    if (idCount >= maxFailuresPerAccount) await lock(idKey, 'client_id');
    if (addressCount >= maxFailuresPerAddress) await lock(addressKey, 'address');
  }
}
