/**
 * `POST {basePath}/login` with `{ "username": "...", "password": "..." }`: the first factor of the built-in
 * identity provider.
 *
 * Answers:
 * - 200 token response (RFC 6749 §5.1 shape): the user has no MFA and none is required; amr ["pwd"].
 * - 200 `{ "mfa_required": true, "mfa_token": "...", "methods": ["totp", "recovery_code"], "expires_in": 300 }`:
 *   the user has a confirmed TOTP secret; exchange the token and a code at `{basePath}/mfa/verify`.
 * - 403 `{ "mfa_enrollment_required": true, "enrollment_token": "...", "expires_in": 600 }`: MFA is required for
 *   this user (flag or role in `identity.mfa.requireFor`) and none is enrolled; the token only allows TOTP
 *   enrolment (`{basePath}/mfa/totp/enroll` and `/confirm`).
 * - 401 problem RAMPART_ERR_INVALID_CREDENTIAL for every credential failure: unknown user, wrong password,
 *   disabled user, empty or over-long input, and locked account or address. One answer, one body shape, so the
 *   answer never says whether a username exists (OWASP Authentication Cheat Sheet; CWE-204).
 * - 400/413/415 problems for requests that are not a login at all (not JSON, duplicate or prototype keys, unknown
 *   members, non-string values): protocol errors, decided before any user lookup, so they reveal nothing either.
 *
 * Equal cost: every credential check runs exactly one full argon2id verification, against the user's hash or,
 * for an unknown user, the dummy hash (`verifyOrDummy`), so unknown and known users cannot be told apart by time.
 * The one exception is a locked account or address: refused without verification, so a lockout cannot be used
 * to make the gateway burn argon2 time. That answer is still the same 401 (not 429 with Retry-After): a lock
 * applies equally to names that do not exist, but a distinct answer would still tell an attacker when to resume,
 * and the legitimate user learns it from support or the lockout event instead.
 */
import { PasswordHashError } from '../../crypto/passwords.ts';
import { normalizeUsername, type UserRecord } from '../../storage/ports.ts';
import type { IdentityDeps, TokenIssuer } from '../types.ts';
import { readStringFields, refuseUnlessPost, sendIdentityProblem, sendJson, type EndpointContext } from './http.ts';
import { MFA_TOKEN_TTL_MS, ENROLMENT_TOKEN_TTL_MS } from './pending.ts';
import { issueUserTokens, loginMfaState, mfaRequiredFor, type LoginMfaOptions } from './state.ts';

/** Usernames longer than this are never looked up (no user can have one); the attempt still costs a verification. */
export const MAX_USERNAME_LENGTH = 256;

export type LoginFailureReason = 'unknown-user' | 'wrong-password' | 'disabled' | 'empty' | 'locked' | 'stored-hash-unreadable';

/** What any identity endpoint function is: assignable to `IdentityEndpoint` (it needs only part of the context). */
export type EndpointFunction = (ctx: EndpointContext) => Promise<void>;

/** A password that matched an enabled user. */
export interface PasswordStep {
  readonly user: UserRecord;
  /** The normalised username (counter key). */
  readonly normalised: string;
  readonly at: number;
}

/**
 * The password step shared by token login and session login: the `{ username, password }` body, the lockout
 * check, exactly one argon2id verification (the user's hash or the dummy), and one answer for every failure.
 * Resolves the user, or undefined when it has already answered the request.
 */
export async function passwordStep(
  ctx: EndpointContext,
  deps: IdentityDeps,
  state: ReturnType<typeof loginMfaState>,
  refuse: (ctx: EndpointContext, normalised: string, reason: LoginFailureReason) => void,
  what: string,
): Promise<PasswordStep | undefined> {
  const { config, stores, logger, now } = deps;
  const { guard, passwords } = state;
  if (refuseUnlessPost(ctx)) return undefined;
  const body = await readStringFields(ctx, config.maxBodySize, ['username', 'password'] as const);
  if (body === undefined) return undefined;
  if (body.username === undefined || body.password === undefined) {
    sendIdentityProblem(ctx, 'RAMPART_ERR_BAD_REQUEST', `${what} needs username and password`);
    return undefined;
  }
  const { username, password } = body;
  const lookable = username.length > 0 && username.length <= MAX_USERNAME_LENGTH;
  // Counter keys use the normalised name (so `Alice` and a fullwidth `Ａｌｉｃｅ` share one counter); an over-long
  // name is cut first only to bound the normalisation work (the store hashes long counter keys itself).
  const normalised = normalizeUsername(username.slice(0, MAX_USERNAME_LENGTH + 1));
  const at = now();

  if ((await guard.lockFor(normalised, ctx.clientAddress, at)) !== undefined) {
    refuse(ctx, normalised, 'locked');
    return undefined;
  }

  const user: UserRecord | undefined = lookable ? await stores.identities.findUserByUsername(username) : undefined;
  let matches: boolean;
  try {
    // Exactly one full argon2id verification on every path below: the user's hash, or the dummy hash.
    matches = await passwords.verifyOrDummy(user?.passwordHash, password);
  } catch (error) {
    if (!(error instanceof PasswordHashError)) throw error;
    logger.error({ requestId: ctx.requestId, userId: user?.id }, 'stored password hash is unreadable');
    matches = false;
  }
  if (!matches || user === undefined || user.disabled) {
    const reason: LoginFailureReason =
      user === undefined ? (username.length === 0 || password.length === 0 ? 'empty' : 'unknown-user') : !matches ? 'wrong-password' : 'disabled';
    await guard.recordFailure(ctx, normalised, at, 'password');
    refuse(ctx, normalised, reason);
    return undefined;
  }
  return { user, normalised, at };
}

export function loginEndpoint(deps: IdentityDeps, issuer: TokenIssuer, options: LoginMfaOptions = {}): EndpointFunction {
  const { config, stores, events } = deps;
  const state = loginMfaState(deps, options);
  const { guard, pending } = state;

  function refuse(ctx: EndpointContext, normalised: string, reason: LoginFailureReason): void {
    events.emit({
      type: 'auth.login-failed',
      severity: 'low',
      requestId: ctx.requestId,
      routeId: ctx.routeId,
      clientAddress: ctx.clientAddress,
      details: { reason, user: guard.userRef(normalised) },
    });
    sendIdentityProblem(ctx, 'RAMPART_ERR_INVALID_CREDENTIAL', `login refused: ${reason}`);
  }

  return async function login(ctx: EndpointContext): Promise<void> {
    const step = await passwordStep(ctx, deps, state, refuse, 'login');
    if (step === undefined) return;
    const { user, normalised, at } = step;

    const totp = await stores.identities.getTotp(user.id);
    const hasTotp = totp?.confirmedAt != null;
    // No DamagedRecordHandler, on purpose: skipping a damaged passkey would make a user whose only passkey is damaged
    // look like a user without MFA and log them in on the password alone. A damaged row fails the login instead.
    const hasPasskey = (await stores.identities.listWebAuthnCredentials(user.id)).length > 0;
    // Any enrolled second factor (TOTP or passkey) is asked for; a user who must have one and has none enrols.
    const next = hasTotp || hasPasskey ? 'mfa' : mfaRequiredFor(user, config) ? 'enrol' : 'none';
    // The account's failure count is cleared only once the whole login succeeds: a correct password followed by
    // failed second factors must keep counting towards the lockout.
    if (next !== 'mfa') await guard.recordSuccess(normalised);
    events.emit({
      type: 'auth.login-succeeded',
      severity: 'info',
      requestId: ctx.requestId,
      routeId: ctx.routeId,
      clientAddress: ctx.clientAddress,
      details: { userId: user.id, factor: 'password', next },
    });
    if (next === 'mfa') {
      const mfaToken = pending.create('mfa', user.id, at, at);
      const methods = [...(hasTotp ? ['totp', 'recovery_code'] : []), ...(hasPasskey ? ['webauthn'] : [])];
      sendJson(ctx, 200, { mfa_required: true, mfa_token: mfaToken, methods, expires_in: MFA_TOKEN_TTL_MS / 1000 });
      return;
    }
    if (next === 'enrol') {
      const enrollmentToken = pending.create('enrol', user.id, at, at);
      sendJson(ctx, 403, { mfa_enrollment_required: true, enrollment_token: enrollmentToken, expires_in: ENROLMENT_TOKEN_TTL_MS / 1000 });
      return;
    }
    sendJson(ctx, 200, await issueUserTokens(issuer, user, { amr: ['pwd'], authTime: at, refresh: true }));
  };
}
