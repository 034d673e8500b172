/**
 * Passkeys (WebAuthn L3) as a second factor of the built-in identity provider (issue 3, point 6), through
 * `@simplewebauthn/server`:
 *
 *   POST {basePath}/webauthn/register/options  {}                             (bearer)  → PublicKeyCredentialCreationOptionsJSON
 *   POST {basePath}/webauthn/register/verify   { "response": RegistrationResponseJSON } (bearer) → { credential_id }
 *   POST {basePath}/webauthn/login/options     { "mfa_token" }                           → PublicKeyCredentialRequestOptionsJSON
 *   POST {basePath}/webauthn/login/verify      { "mfa_token", "response": AuthenticationResponseJSON } → tokens (acr MFA)
 *
 * Passkeys here are a SECOND factor: the login options need the `mfa_token` a password login answered with, never
 * a bare username (no passwordless login, and no endpoint that says which names have credentials).
 *
 * Challenges live server-side only (`ChallengeStore`): 256 random bits from the library, at most one live
 * challenge per key (user id for registration, the mfa_token's hash for login), 5 minutes, single use — taken
 * (removed) synchronously before any await, so a replayed response finds no challenge. In process memory, like the
 * pending MFA tokens (login/pending.ts), with the same multi-node caveat.
 *
 * Registration needs a bearer access token of this provider (the service sets `ctx.principal` on endpoints
 * flagged `optionalBearer`). A user who already has a second factor (confirmed TOTP or a passkey) can add a
 * passkey only with a token that shows MFA: a stolen password alone must not be able to add the attacker's
 * authenticator (same rule as TOTP re-enrolment in mfa/endpoints.ts).
 *
 * Signature counters (WebAuthn L3 §6.1.1): `updateWebAuthnCounter` is an atomic compare-and-set that refuses a
 * counter that did not grow; such an assertion is refused and reported as `auth.webauthn-clone-suspected`.
 *
 * `amr` (RFC 8176): `hwk` is "proof-of-possession of a hardware-secured key", `swk` of a software-secured key.
 * Attestation is `none` (asking for attestation is a privacy cost and most passkeys give none), so the server
 * cannot prove where the key lives. It decides from the backup-state flag (BS, WebAuthn L3 §6.1): a backed-up
 * (synced) passkey's private key leaves the device through a sync fabric, so it is `swk`; a device-bound
 * credential (platform authenticator or security key, BS=0) is `hwk`. Chromium's DevTools virtual authenticator
 * reports BS=0, so the e2e test sees `hwk` even though that authenticator is software: the flag is the
 * authenticator's word, not proof. acr is ACR_MFA either way.
 */
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { BodyError, readJson } from '../../gateway/body.ts';
import { amrHasSecondFactor } from '../../policies/mfa/evidence.ts';
import type { Principal } from '../../policies/types.ts';
import type { UserRecord } from '../../storage/ports.ts';
import { ACR_MFA, type IdentityDeps, type TokenIssuer } from '../types.ts';
import { refuseUnlessPost, sendIdentityProblem, sendJson, type EndpointContext } from '../login/http.ts';
import type { EndpointFunction } from '../login/endpoint.ts';
import { issueUserTokens, loginMfaState, type LoginMfaOptions } from '../login/state.ts';

export const WEBAUTHN_CHALLENGE_TTL_MS = 5 * 60_000;
/** Browser-side timeout the options ask for; shorter than the server's challenge lifetime. */
const CEREMONY_TIMEOUT_MS = 2 * 60_000;

export interface WebAuthnOptions extends LoginMfaOptions {
  /** Relying party id: the registrable domain the credentials are scoped to (e.g. `example.com`, `localhost`). */
  readonly rpId: string;
  /** Shown by the authenticator at registration. */
  readonly rpName: string;
  /** Exact origins the ceremonies may run on (`https://app.example.com`); checked against clientDataJSON. */
  readonly origins: readonly string[];
  /** Shared challenge store (otherwise one per deps object, shared by the four endpoints built from it). */
  readonly challenges?: ChallengeStore;
}

const BEARER_CHALLENGE = Object.freeze({ 'www-authenticate': 'Bearer' });
const NEEDS_MFA_CHALLENGE = Object.freeze({
  'www-authenticate': `Bearer error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="${ACR_MFA}"`,
});

/** Bounded, single-use, expiring challenges. */
export class ChallengeStore {
  readonly #entries = new Map<string, { challenge: string; userId: string; expiresAt: number }>();
  readonly #maxEntries: number;
  readonly #ttlMs: number;

  constructor(maxEntries = 10_000, ttlMs = WEBAUTHN_CHALLENGE_TTL_MS) {
    this.#maxEntries = maxEntries;
    this.#ttlMs = ttlMs;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Remembers the challenge for `key`, replacing an earlier one (one live ceremony per key). */
  put(key: string, userId: string, challenge: string, now: number): void {
    this.#entries.delete(key);
    if (this.#entries.size >= this.#maxEntries) {
      for (const [k, entry] of this.#entries) if (now >= entry.expiresAt) this.#entries.delete(k);
      // Still full: drop the oldest (Map iterates in insertion order).
      while (this.#entries.size >= this.#maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
    }
    this.#entries.set(key, { challenge, userId, expiresAt: now + this.#ttlMs });
  }

  /** Removes and returns the live challenge of `key` for `userId` (single use, even when it is then refused). */
  take(key: string, userId: string, now: number): string | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    this.#entries.delete(key);
    if (now >= entry.expiresAt || entry.userId !== userId) return undefined;
    return entry.challenge;
  }
}

const challengeStores = new WeakMap<IdentityDeps, ChallengeStore>();

function challengesFor(deps: IdentityDeps, options: WebAuthnOptions): ChallengeStore {
  if (options.challenges) return options.challenges;
  let store = challengeStores.get(deps);
  if (store === undefined) {
    store = new ChallengeStore();
    challengeStores.set(deps, store);
  }
  return store;
}

function checkOptions(options: WebAuthnOptions): void {
  if (options.rpId.length === 0) throw new Error('webauthn: rpId is empty');
  if (options.origins.length === 0) throw new Error('webauthn: no origins');
  for (const origin of options.origins) {
    const url = new URL(origin);
    if (url.origin !== origin) throw new Error(`webauthn: origin "${origin}" is not a bare origin (scheme://host[:port])`);
    const host = url.hostname;
    if (host !== options.rpId && !host.endsWith(`.${options.rpId}`)) throw new Error(`webauthn: origin "${origin}" is not within rpId "${options.rpId}"`);
  }
}

/** The identity provider's own bearer principal as a live user, or why not (mirrors mfa/endpoints.ts). */
async function bearerUser(deps: IdentityDeps, principal: Principal): Promise<UserRecord | string> {
  if (principal.kind !== 'user') return 'principal is not a user';
  const claims = principal.claims ?? {};
  if (claims.iss !== deps.config.issuer) return 'principal is not from the built-in identity provider';
  const user = await deps.stores.identities.getUser(principal.subject);
  if (user === undefined) return 'user no longer exists';
  if (user.disabled) return 'user is disabled';
  const iat = typeof claims.iat === 'number' ? claims.iat : 0;
  if (iat * 1000 <= user.sessionsValidAfter) return "token issued before the user's credentials were revoked";
  return user;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * The JSON body with only `allowed` members; `response` must be a credential object (id, rawId, type
 * public-key, response object), every other member a string. Answers the problem itself on failure.
 */
async function readCeremonyBody(
  ctx: EndpointContext,
  maxBytes: number,
  allowed: readonly string[],
  required: readonly string[],
): Promise<Record<string, unknown> | undefined> {
  const hasNoBody = ctx.req.headers['content-type'] === undefined && (ctx.req.headers['content-length'] ?? '0') === '0' && ctx.req.headers['transfer-encoding'] === undefined;
  let body: unknown = {};
  if (!hasNoBody) {
    try {
      // Depth 6: body → response → response → transports[] / clientExtensionResults → …
      body = await readJson(ctx, maxBytes, 6);
    } catch (error) {
      if (error instanceof BodyError) {
        sendIdentityProblem(ctx, error.code, error.message);
        return undefined;
      }
      throw error;
    }
  }
  if (!isObject(body)) {
    sendIdentityProblem(ctx, 'RAMPART_ERR_BAD_REQUEST', 'body is not a JSON object');
    return undefined;
  }
  for (const [key, value] of Object.entries(body)) {
    if (!allowed.includes(key)) {
      sendIdentityProblem(ctx, 'RAMPART_ERR_BAD_REQUEST', `unexpected member "${key.slice(0, 64)}"`);
      return undefined;
    }
    const ok =
      key === 'response'
        ? isObject(value) && typeof value.id === 'string' && typeof value.rawId === 'string' && value.type === 'public-key' && isObject(value.response)
        : typeof value === 'string';
    if (!ok) {
      sendIdentityProblem(ctx, 'RAMPART_ERR_BAD_REQUEST', `member "${key}" has the wrong shape`);
      return undefined;
    }
  }
  for (const key of required) {
    if (body[key] === undefined) {
      sendIdentityProblem(ctx, 'RAMPART_ERR_BAD_REQUEST', `missing member "${key}"`);
      return undefined;
    }
  }
  return body;
}

interface RegistrationCaller {
  readonly user: UserRecord;
}

/** The bearer caller allowed to register a passkey, or undefined after answering the refusal. */
async function registrationCaller(deps: IdentityDeps, ctx: EndpointContext): Promise<RegistrationCaller | undefined> {
  const principal = ctx.principal;
  if (principal === undefined) {
    sendIdentityProblem(ctx, 'RAMPART_ERR_UNAUTHENTICATED', 'passkey registration needs a bearer access token', BEARER_CHALLENGE);
    return undefined;
  }
  const user = await bearerUser(deps, principal);
  if (typeof user === 'string') {
    sendIdentityProblem(ctx, 'RAMPART_ERR_INVALID_CREDENTIAL', user, BEARER_CHALLENGE);
    return undefined;
  }
  const totp = await deps.stores.identities.getTotp(user.id);
  // No DamagedRecordHandler, on purpose: a skipped damaged passkey would let a single-factor token add a passkey to
  // an account that has a second factor. A damaged row fails the request instead (fail closed).
  const hasSecondFactor = totp?.confirmedAt != null || (await deps.stores.identities.listWebAuthnCredentials(user.id)).length > 0;
  if (hasSecondFactor && !amrHasSecondFactor(principal.amr)) {
    sendIdentityProblem(ctx, 'RAMPART_ERR_INSUFFICIENT_AUTHENTICATION', 'adding a passkey next to a second factor needs a token with MFA', NEEDS_MFA_CHALLENGE);
    return undefined;
  }
  return { user };
}

/** `POST …/webauthn/register/options` (bearer): creation options; the challenge stays here. */
export function webauthnRegisterOptionsEndpoint(deps: IdentityDeps, _issuer: TokenIssuer, options: WebAuthnOptions): EndpointFunction {
  checkOptions(options);
  const challenges = challengesFor(deps, options);
  const encoder = new TextEncoder();
  return async function registerOptions(ctx: EndpointContext): Promise<void> {
    if (refuseUnlessPost(ctx)) return;
    const caller = await registrationCaller(deps, ctx);
    if (caller === undefined) return;
    if ((await readCeremonyBody(ctx, deps.config.maxBodySize, [], [])) === undefined) return;
    const { user } = caller;
    // Strict (no DamagedRecordHandler): the exclude list must name every registered authenticator.
    const existing = await deps.stores.identities.listWebAuthnCredentials(user.id);
    const creation = await generateRegistrationOptions({
      rpName: options.rpName,
      rpID: options.rpId,
      userName: user.username,
      // The opaque, stable user id (never the username: WebAuthn L3 §14.6.1, user handle contents).
      userID: encoder.encode(user.id),
      timeout: CEREMONY_TIMEOUT_MS,
      attestationType: 'none',
      excludeCredentials: existing.map((credential) => ({ id: credential.id, transports: [...credential.transports] })),
      authenticatorSelection: { residentKey: 'preferred', userVerification: 'preferred' },
    });
    challenges.put(`register:${user.id}`, user.id, creation.challenge, deps.now());
    sendJson(ctx, 200, creation);
  };
}

/** `POST …/webauthn/register/verify` (bearer) `{ response }`: stores the new credential. */
export function webauthnRegisterVerifyEndpoint(deps: IdentityDeps, _issuer: TokenIssuer, options: WebAuthnOptions): EndpointFunction {
  checkOptions(options);
  const challenges = challengesFor(deps, options);
  const origins = [...options.origins];
  return async function registerVerify(ctx: EndpointContext): Promise<void> {
    if (refuseUnlessPost(ctx)) return;
    const caller = await registrationCaller(deps, ctx);
    if (caller === undefined) return;
    const body = await readCeremonyBody(ctx, deps.config.maxBodySize, ['response'], ['response']);
    if (body === undefined) return;
    const { user } = caller;
    const at = deps.now();
    const expectedChallenge = challenges.take(`register:${user.id}`, user.id, at);
    if (expectedChallenge === undefined) {
      sendIdentityProblem(ctx, 'RAMPART_ERR_INVALID_CREDENTIAL', 'no live registration challenge');
      return;
    }
    let verification: Awaited<ReturnType<typeof verifyRegistrationResponse>>;
    try {
      verification = await verifyRegistrationResponse({
        response: body.response as RegistrationResponseJSON,
        expectedChallenge,
        expectedOrigin: origins,
        expectedRPID: options.rpId,
        requireUserVerification: false,
      });
    } catch (error) {
      registrationFailed(ctx, deps, user, (error as Error).message);
      return;
    }
    if (!verification.verified) {
      registrationFailed(ctx, deps, user, 'not verified');
      return;
    }
    const { credential } = verification.registrationInfo;
    if ((await deps.stores.identities.getWebAuthnCredential(credential.id)) !== undefined) {
      // A credential id is bound to one user for good (WebAuthn L3 §7.1 step 26).
      registrationFailed(ctx, deps, user, 'credential id already registered');
      return;
    }
    await deps.stores.identities.addWebAuthnCredential({
      id: credential.id,
      userId: user.id,
      publicKey: credential.publicKey,
      counter: credential.counter,
      transports: credential.transports ?? [],
      createdAt: at,
    });
    deps.events.emit({
      type: 'mfa.webauthn-registered',
      severity: 'info',
      requestId: ctx.requestId,
      routeId: ctx.routeId,
      clientAddress: ctx.clientAddress,
      details: { userId: user.id, credentialId: credential.id, backedUp: verification.registrationInfo.credentialBackedUp },
    });
    sendJson(ctx, 200, { credential_id: credential.id });
  };
}

function registrationFailed(ctx: EndpointContext, deps: IdentityDeps, user: UserRecord, reason: string): void {
  deps.events.emit({
    type: 'mfa.webauthn-registration-failed',
    severity: 'low',
    requestId: ctx.requestId,
    routeId: ctx.routeId,
    clientAddress: ctx.clientAddress,
    details: { userId: user.id, reason: reason.slice(0, 200) },
  });
  sendIdentityProblem(ctx, 'RAMPART_ERR_INVALID_CREDENTIAL', `passkey registration refused: ${reason.slice(0, 200)}`);
}

function loginFailed(ctx: EndpointContext, deps: IdentityDeps, user: UserRecord | undefined, reason: string): void {
  deps.events.emit({
    type: 'auth.mfa-failed',
    severity: 'low',
    requestId: ctx.requestId,
    routeId: ctx.routeId,
    clientAddress: ctx.clientAddress,
    details: { reason: reason.slice(0, 200), method: 'webauthn', ...(user !== undefined ? { userId: user.id } : {}) },
  });
  sendIdentityProblem(ctx, 'RAMPART_ERR_INVALID_CREDENTIAL', `mfa refused: ${reason.slice(0, 200)}`);
}

/** `POST …/webauthn/login/options` `{ mfa_token }`: request options listing the user's credentials. */
export function webauthnLoginOptionsEndpoint(deps: IdentityDeps, _issuer: TokenIssuer, options: WebAuthnOptions): EndpointFunction {
  checkOptions(options);
  const challenges = challengesFor(deps, options);
  const { pending } = loginMfaState(deps, options);
  return async function loginOptions(ctx: EndpointContext): Promise<void> {
    if (refuseUnlessPost(ctx)) return;
    const body = await readCeremonyBody(ctx, deps.config.maxBodySize, ['mfa_token'], ['mfa_token']);
    if (body === undefined) return;
    const at = deps.now();
    // Peeked, not taken: the token is spent by the verify step.
    const entry = pending.peek('mfa', body.mfa_token, at);
    // Strict (no DamagedRecordHandler), like every read that decides about a second factor: a damaged row fails the
    // request rather than quietly narrowing what the user may sign in with.
    const credentials = entry === undefined ? [] : await deps.stores.identities.listWebAuthnCredentials(entry.userId);
    if (entry === undefined || credentials.length === 0) {
      loginFailed(ctx, deps, undefined, entry === undefined ? 'mfa_token unknown, used or expired' : 'user has no passkey');
      return;
    }
    const request = await generateAuthenticationOptions({
      rpID: options.rpId,
      timeout: CEREMONY_TIMEOUT_MS,
      userVerification: 'preferred',
      allowCredentials: credentials.map((credential) => ({ id: credential.id, transports: [...credential.transports] })),
    });
    challenges.put(`login:${entry.hash}`, entry.userId, request.challenge, at);
    sendJson(ctx, 200, request);
  };
}

/** `POST …/webauthn/login/verify` `{ mfa_token, response }`: the assertion finishes the login with acr MFA. */
export function webauthnLoginVerifyEndpoint(deps: IdentityDeps, issuer: TokenIssuer, options: WebAuthnOptions): EndpointFunction {
  checkOptions(options);
  const challenges = challengesFor(deps, options);
  const { pending, guard } = loginMfaState(deps, options);
  const { identities } = deps.stores;
  const origins = [...options.origins];
  return async function loginVerify(ctx: EndpointContext): Promise<void> {
    if (refuseUnlessPost(ctx)) return;
    const body = await readCeremonyBody(ctx, deps.config.maxBodySize, ['mfa_token', 'response'], ['mfa_token', 'response']);
    if (body === undefined) return;
    const at = deps.now();
    // Both taken before anything is awaited: of concurrent requests with one token, one goes on; the challenge
    // is single use whatever the outcome, so a replayed assertion never meets its challenge again.
    const entry = pending.take('mfa', body.mfa_token, at);
    if (entry === undefined) {
      loginFailed(ctx, deps, undefined, 'mfa_token unknown, used or expired');
      return;
    }
    const expectedChallenge = challenges.take(`login:${entry.hash}`, entry.userId, at);
    const user = await identities.getUser(entry.userId);
    if (user === undefined || user.disabled || user.sessionsValidAfter >= entry.passwordVerifiedAt) {
      loginFailed(ctx, deps, user, 'user gone, disabled or credentials revoked since the password step');
      return;
    }
    if ((await guard.lockFor(user.usernameNormalized, ctx.clientAddress, at)) !== undefined) {
      loginFailed(ctx, deps, user, 'locked');
      return;
    }
    const response = body.response as AuthenticationResponseJSON;
    const credential = await identities.getWebAuthnCredential(response.id);
    let reason: string | undefined;
    let verified: Awaited<ReturnType<typeof verifyAuthenticationResponse>> | undefined;
    if (expectedChallenge === undefined) reason = 'no live authentication challenge';
    else if (credential === undefined || credential.userId !== user.id) reason = 'credential unknown or not this user\'s';
    else {
      try {
        verified = await verifyAuthenticationResponse({
          response,
          expectedChallenge,
          expectedOrigin: origins,
          expectedRPID: options.rpId,
          // Counter 0 here: the library's own counter check is a read-then-compare; the store's atomic
          // compare-and-set below is the one that decides (and reports a clone), also under concurrent requests.
          credential: { id: credential.id, publicKey: new Uint8Array(credential.publicKey), counter: 0, transports: [...credential.transports] },
          requireUserVerification: false,
        });
        if (!verified.verified) reason = 'assertion not verified';
      } catch (error) {
        reason = (error as Error).message;
      }
    }
    if (reason === undefined && verified !== undefined && credential !== undefined) {
      // Compare-and-set on the signature counter: a counter that did not grow means a second copy of the key.
      if (!(await identities.updateWebAuthnCounter(credential.id, verified.authenticationInfo.newCounter, at))) {
        deps.events.emit({
          type: 'auth.webauthn-clone-suspected',
          severity: 'high',
          requestId: ctx.requestId,
          routeId: ctx.routeId,
          clientAddress: ctx.clientAddress,
          details: { userId: user.id, credentialId: credential.id, storedCounter: credential.counter, presentedCounter: verified.authenticationInfo.newCounter },
        });
        reason = 'signature counter did not grow (cloned authenticator?)';
      }
    }
    if (reason !== undefined || verified === undefined) {
      pending.giveBack(entry, at);
      await guard.recordFailure(ctx, user.usernameNormalized, at, 'mfa');
      loginFailed(ctx, deps, user, reason ?? 'not verified');
      return;
    }
    await guard.recordSuccess(user.usernameNormalized);
    const keyKind = verified.authenticationInfo.credentialBackedUp ? 'swk' : 'hwk';
    deps.events.emit({
      type: 'auth.mfa-succeeded',
      severity: 'info',
      requestId: ctx.requestId,
      routeId: ctx.routeId,
      clientAddress: ctx.clientAddress,
      details: { userId: user.id, method: 'webauthn', credentialId: credential!.id, amr: keyKind },
    });
    sendJson(ctx, 200, await issueUserTokens(issuer, user, { amr: ['pwd', keyKind], acr: ACR_MFA, authTime: at, refresh: true }));
  };
}
