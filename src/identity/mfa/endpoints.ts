/**
 * MFA endpoints of the built-in identity provider (issue 3, point 6):
 *
 *   POST {basePath}/mfa/totp/enroll   {}  or  { "enrollment_token" }     → { otpauth_uri, qr_code }
 *   POST {basePath}/mfa/totp/confirm  { "code" [, "enrollment_token"] }  → { recovery_codes [, tokens…] }
 *   POST {basePath}/mfa/verify        { "mfa_token", "code" | "recovery_code" } → tokens (acr MFA)
 *   POST {basePath}/mfa/step-up       { "code" }  (bearer)               → fresh access token (acr MFA)
 *
 * Who is asking: enrolment and confirmation accept either an access token of this identity provider (the route
 * in front lists `authenticate: [identity-token]`, so the gateway has set `ctx.principal`) or the
 * `enrollment_token` the login answered with when MFA is required; never both. Step-up needs the bearer token.
 *
 * Every failed code (TOTP or recovery) counts in the brute-force counters of the account and the address
 * (issue 3, point 9) and locks them like failed passwords. Every failure answers the same 401 problem.
 *
 * Recovery codes and `amr`: RFC 8176 registers no value for a recovery code. A recovery code is a pre-issued,
 * single-use password held on paper (something you have), i.e. a one-time password in the sense of `otp`, so
 * tokens obtained with one carry amr ["pwd", "otp"] and acr MFA like a TOTP login; which one was used is in the
 * `auth.mfa-succeeded` security event (`method: recovery_code`) and the answer's `recovery_codes_remaining`.
 */
import QRCode from 'qrcode';
import type { UserRecord } from '../../storage/ports.ts';
import type { Principal } from '../../policies/types.ts';
import { amrHasSecondFactor } from '../../policies/mfa/evidence.ts';
import { ACR_MFA, type IdentityDeps, type TokenIssuer } from '../types.ts';
import { readStringFields, refuseUnlessPost, sendIdentityProblem, sendJson, type EndpointContext } from '../login/http.ts';
import type { EndpointFunction } from '../login/endpoint.ts';
import type { PendingEntry } from '../login/pending.ts';
import { issueUserTokens, loginMfaState, type LoginMfaOptions, type LoginMfaState } from '../login/state.ts';
import { generateRecoveryCodes, hashRecoveryCode, normaliseRecoveryCode } from './recovery-codes.ts';
import { generateTotpSecret, isTotpCodeShape, matchTotpStep, totpUri } from './totp.ts';

const BEARER_CHALLENGE = Object.freeze({ 'www-authenticate': 'Bearer' });
const NEEDS_MFA_CHALLENGE = Object.freeze({
  'www-authenticate': `Bearer error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="${ACR_MFA}"`,
});

type Caller =
  | { readonly via: 'bearer'; readonly user: UserRecord; readonly principal: Principal }
  | { readonly via: 'enrolment'; readonly user: UserRecord; readonly token: string };

/** Common checks of the identity provider's own bearer principal; the user, or why not. */
async function ownUser(deps: IdentityDeps, principal: Principal): Promise<UserRecord | string> {
  if (principal.kind !== 'user') return 'principal is not a user';
  const claims = principal.claims ?? {};
  if (claims.iss !== deps.config.issuer) return 'principal is not from the built-in identity provider';
  const user = await deps.stores.identities.getUser(principal.subject);
  if (user === undefined) return 'user no longer exists';
  if (user.disabled) return 'user is disabled';
  // Tokens issued at or before sessionsValidAfter are revoked (password change, logout everywhere); iat is in seconds.
  const iat = typeof claims.iat === 'number' ? claims.iat : 0;
  if (iat * 1000 <= user.sessionsValidAfter) return 'token issued before the user\'s credentials were revoked';
  return user;
}

function hasNoBody(ctx: EndpointContext): boolean {
  const headers = ctx.req.headers;
  return headers['content-type'] === undefined && headers['transfer-encoding'] === undefined && (headers['content-length'] ?? '0') === '0';
}

interface Shared {
  readonly deps: IdentityDeps;
  readonly state: LoginMfaState;
}

/**
 * Reads the body (an empty body is `{}` when a bearer principal is present) and finds the caller. Answers the
 * problem itself and resolves undefined when there is none.
 */
async function callerAndBody<K extends string>(
  shared: Shared,
  ctx: EndpointContext,
  fields: readonly K[],
): Promise<{ caller: Caller; body: Partial<Record<K | 'enrollment_token', string>> } | undefined> {
  const { deps, state } = shared;
  const all = [...fields, 'enrollment_token' as const];
  const body: Partial<Record<K | 'enrollment_token', string>> | undefined =
    ctx.principal !== undefined && hasNoBody(ctx) ? {} : await readStringFields(ctx, deps.config.maxBodySize, all);
  if (body === undefined) return undefined;
  const at = deps.now();
  if (ctx.principal !== undefined) {
    if (body.enrollment_token !== undefined) {
      sendIdentityProblem(ctx, 'RAMPART_ERR_CREDENTIAL_CONFLICT', 'both a bearer token and an enrollment_token');
      return undefined;
    }
    const user = await ownUser(deps, ctx.principal);
    if (typeof user === 'string') {
      sendIdentityProblem(ctx, 'RAMPART_ERR_INVALID_CREDENTIAL', user, BEARER_CHALLENGE);
      return undefined;
    }
    return { caller: { via: 'bearer', user, principal: ctx.principal }, body };
  }
  const token = body.enrollment_token;
  if (token === undefined) {
    sendIdentityProblem(ctx, 'RAMPART_ERR_UNAUTHENTICATED', 'neither a bearer token nor an enrollment_token', BEARER_CHALLENGE);
    return undefined;
  }
  const entry = state.pending.peek('enrol', token, at);
  const user = entry === undefined ? undefined : await deps.stores.identities.getUser(entry.userId);
  if (entry === undefined || user === undefined || user.disabled || user.sessionsValidAfter >= entry.passwordVerifiedAt) {
    sendIdentityProblem(ctx, 'RAMPART_ERR_INVALID_CREDENTIAL', 'enrollment_token unknown, expired or revoked');
    return undefined;
  }
  return { caller: { via: 'enrolment', user, token }, body };
}

/** `POST …/mfa/totp/enroll`: a new, unconfirmed secret (replacing an unconfirmed one) and its QR code. */
export function enrollEndpoint(deps: IdentityDeps, _issuer: TokenIssuer, options: LoginMfaOptions = {}): EndpointFunction {
  const shared: Shared = { deps, state: loginMfaState(deps, options) };
  return async function enroll(ctx: EndpointContext): Promise<void> {
    if (refuseUnlessPost(ctx)) return;
    const found = await callerAndBody(shared, ctx, []);
    if (found === undefined) return;
    const { caller } = found;
    const { user } = caller;
    const existing = await deps.stores.identities.getTotp(user.id);
    if (existing?.confirmedAt != null) {
      // Replacing a working authenticator needs that authenticator (or another second factor): a stolen password
      // alone must not be able to move the victim's MFA to the attacker's phone. An enrolment token is never enough.
      if (caller.via === 'enrolment') {
        sendIdentityProblem(ctx, 'RAMPART_ERR_FORBIDDEN', 'TOTP already confirmed; enrolment token cannot replace it');
        return;
      }
      if (!amrHasSecondFactor(caller.principal.amr)) {
        sendIdentityProblem(ctx, 'RAMPART_ERR_INSUFFICIENT_AUTHENTICATION', 're-enrolment needs a token with MFA', NEEDS_MFA_CHALLENGE);
        return;
      }
    }
    const at = deps.now();
    const secret = generateTotpSecret();
    // Over a confirmed secret, the new one waits in memory until confirmed (ReplacementSecrets): the working
    // authenticator keeps protecting the account until the new one is proven.
    if (existing?.confirmedAt != null) shared.state.replacements.set(user.id, secret, at);
    else await deps.stores.identities.setTotpSecret(user.id, secret, at);
    const uri = totpUri(deps.config.mfa.totpIssuer, user.username, secret);
    secret.fill(0);
    const qr = await QRCode.toDataURL(uri, { errorCorrectionLevel: 'M', type: 'image/png', margin: 2 });
    deps.events.emit({
      type: 'mfa.totp-enrolment-started',
      severity: 'info',
      requestId: ctx.requestId,
      routeId: ctx.routeId,
      clientAddress: ctx.clientAddress,
      details: { userId: user.id, via: caller.via, replacing: existing !== undefined },
    });
    sendJson(ctx, 200, { otpauth_uri: uri, qr_code: qr });
  };
}

/**
 * `POST …/mfa/totp/confirm`: the first valid code confirms the secret and returns 10 recovery codes, once. From an
 * enrolment token, the answer also carries tokens (amr pwd+otp, acr MFA): enrolment finishes the login.
 */
export function confirmEndpoint(deps: IdentityDeps, issuer: TokenIssuer, options: LoginMfaOptions = {}): EndpointFunction {
  const shared: Shared = { deps, state: loginMfaState(deps, options) };
  const { guard, pending, totp } = shared.state;
  const { identities } = deps.stores;

  return async function confirm(ctx: EndpointContext): Promise<void> {
    if (refuseUnlessPost(ctx)) return;
    const found = await callerAndBody(shared, ctx, ['code']);
    if (found === undefined) return;
    const { caller, body } = found;
    const { user } = caller;
    const at = deps.now();
    if (body.code === undefined) {
      sendIdentityProblem(ctx, 'RAMPART_ERR_BAD_REQUEST', 'confirm needs a code');
      return;
    }
    const record = await identities.getTotp(user.id);
    const replacement = record?.confirmedAt != null ? shared.state.replacements.get(user.id, at) : undefined;
    if (record === undefined || (record.confirmedAt !== null && replacement === undefined)) {
      sendIdentityProblem(ctx, 'RAMPART_ERR_BAD_REQUEST', record === undefined ? 'no TOTP enrolment in progress' : 'TOTP already confirmed');
      return;
    }
    if ((await guard.lockFor(user.usernameNormalized, ctx.clientAddress, at)) !== undefined) {
      failed(ctx, deps, user, 'locked', 'totp');
      return;
    }
    // From an enrolment token: claim it before checking the code, so two concurrent confirmations cannot both
    // finish the login; a wrong code gives it back with one attempt fewer.
    let claimed: PendingEntry | undefined;
    if (caller.via === 'enrolment') {
      claimed = pending.take('enrol', caller.token, at);
      if (claimed === undefined) {
        sendIdentityProblem(ctx, 'RAMPART_ERR_INVALID_CREDENTIAL', 'enrollment_token used concurrently or expired');
        return;
      }
    }
    let refusal: string | undefined;
    if (replacement !== undefined) {
      const step = await matchTotpStep(replacement, body.code, at);
      if (step === null) refusal = isTotpCodeShape(body.code) ? 'wrong-code' : 'malformed';
      else {
        await identities.setTotpSecret(user.id, replacement, at);
        await identities.recordTotpStep(user.id, step);
        shared.state.replacements.delete(user.id);
      }
    } else {
      const outcome = await totp.verifyAndConsume(user.id, body.code, at, true);
      if (!outcome.ok) refusal = outcome.reason;
    }
    if (refusal !== undefined) {
      if (claimed !== undefined) pending.giveBack(claimed, at);
      await guard.recordFailure(ctx, user.usernameNormalized, at, 'mfa');
      failed(ctx, deps, user, refusal, 'totp');
      return;
    }
    await identities.confirmTotp(user.id, at);
    const codes = generateRecoveryCodes();
    await identities.replaceRecoveryCodes(
      user.id,
      codes.map((code) => hashRecoveryCode(user.id, normaliseRecoveryCode(code)!, deps.pepper)),
      at,
    );
    await guard.recordSuccess(user.usernameNormalized);
    deps.events.emit({
      type: 'mfa.totp-enrolled',
      severity: 'info',
      requestId: ctx.requestId,
      routeId: ctx.routeId,
      clientAddress: ctx.clientAddress,
      details: { userId: user.id, via: caller.via, replaced: replacement !== undefined },
    });
    if (caller.via === 'enrolment') {
      const tokens = await issueUserTokens(issuer, user, { amr: ['pwd', 'otp'], acr: ACR_MFA, authTime: at, refresh: true });
      sendJson(ctx, 200, { recovery_codes: codes, ...tokens });
      return;
    }
    sendJson(ctx, 200, { recovery_codes: codes });
  };
}

function failed(ctx: EndpointContext, deps: IdentityDeps, user: UserRecord | undefined, reason: string, method: string): void {
  deps.events.emit({
    type: 'auth.mfa-failed',
    severity: reason === 'replayed' ? 'medium' : 'low',
    requestId: ctx.requestId,
    routeId: ctx.routeId,
    clientAddress: ctx.clientAddress,
    details: { reason, method, ...(user !== undefined ? { userId: user.id } : {}) },
  });
  sendIdentityProblem(ctx, 'RAMPART_ERR_INVALID_CREDENTIAL', `mfa refused: ${reason}`);
}

/** `POST …/mfa/verify`: the second step of a login whose answer was `mfa_required`. */
export function mfaVerifyEndpoint(deps: IdentityDeps, issuer: TokenIssuer, options: LoginMfaOptions = {}): EndpointFunction {
  const { guard, pending, totp } = loginMfaState(deps, options);
  const { identities } = deps.stores;
  const fields = ['mfa_token', 'code', 'recovery_code'] as const;

  return async function mfaVerify(ctx: EndpointContext): Promise<void> {
    if (refuseUnlessPost(ctx)) return;
    const body = await readStringFields(ctx, deps.config.maxBodySize, fields);
    if (body === undefined) return;
    if (body.mfa_token === undefined || (body.code === undefined) === (body.recovery_code === undefined)) {
      sendIdentityProblem(ctx, 'RAMPART_ERR_BAD_REQUEST', 'mfa verify needs mfa_token and exactly one of code and recovery_code');
      return;
    }
    const method = body.code !== undefined ? 'totp' : 'recovery_code';
    const at = deps.now();
    // Taken (removed) before anything is awaited: of concurrent requests with one token, one goes on.
    const entry = pending.take('mfa', body.mfa_token, at);
    if (entry === undefined) {
      failed(ctx, deps, undefined, 'mfa_token unknown, used or expired', method);
      return;
    }
    const user = await identities.getUser(entry.userId);
    if (user === undefined || user.disabled || user.sessionsValidAfter >= entry.passwordVerifiedAt) {
      failed(ctx, deps, user, 'user gone, disabled or credentials revoked since the password step', method);
      return;
    }
    if ((await guard.lockFor(user.usernameNormalized, ctx.clientAddress, at)) !== undefined) {
      failed(ctx, deps, user, 'locked', method);
      return;
    }
    let reason: string | undefined;
    if (body.code !== undefined) {
      const outcome = await totp.verifyAndConsume(user.id, body.code, at);
      if (!outcome.ok) reason = outcome.reason;
    } else {
      const normalised = normaliseRecoveryCode(body.recovery_code);
      if (normalised === null) reason = 'malformed';
      else if (!(await identities.useRecoveryCode(user.id, hashRecoveryCode(user.id, normalised, deps.pepper), at))) reason = 'wrong-or-used-recovery-code';
    }
    if (reason !== undefined) {
      pending.giveBack(entry, at);
      await guard.recordFailure(ctx, user.usernameNormalized, at, 'mfa');
      failed(ctx, deps, user, reason, method);
      return;
    }
    await guard.recordSuccess(user.usernameNormalized);
    const remaining = method === 'recovery_code' ? await identities.countUnusedRecoveryCodes(user.id) : undefined;
    deps.events.emit({
      type: 'auth.mfa-succeeded',
      severity: method === 'recovery_code' ? 'medium' : 'info',
      requestId: ctx.requestId,
      routeId: ctx.routeId,
      clientAddress: ctx.clientAddress,
      details: { userId: user.id, method, ...(remaining !== undefined ? { recoveryCodesRemaining: remaining } : {}) },
    });
    const tokens = await issueUserTokens(issuer, user, { amr: ['pwd', 'otp'], acr: ACR_MFA, authTime: at, refresh: true });
    sendJson(ctx, 200, remaining !== undefined ? { ...tokens, recovery_codes_remaining: remaining } : tokens);
  };
}

/**
 * `POST …/mfa/step-up` `{ "code" }` with a bearer access token of this provider: a fresh access token (no refresh
 * token) with acr MFA, amr + otp and auth_time now, for routes that demand recent MFA (RFC 9470 max_age).
 */
export function stepUpEndpoint(deps: IdentityDeps, issuer: TokenIssuer, options: LoginMfaOptions = {}): EndpointFunction {
  const { guard, totp } = loginMfaState(deps, options);

  return async function stepUp(ctx: EndpointContext): Promise<void> {
    if (refuseUnlessPost(ctx)) return;
    const principal = ctx.principal;
    if (principal === undefined) {
      sendIdentityProblem(ctx, 'RAMPART_ERR_UNAUTHENTICATED', 'step-up needs a bearer access token', BEARER_CHALLENGE);
      return;
    }
    const body = await readStringFields(ctx, deps.config.maxBodySize, ['code']);
    if (body === undefined) return;
    if (body.code === undefined) {
      sendIdentityProblem(ctx, 'RAMPART_ERR_BAD_REQUEST', 'step-up needs a code');
      return;
    }
    const user = await ownUser(deps, principal);
    if (typeof user === 'string') {
      sendIdentityProblem(ctx, 'RAMPART_ERR_INVALID_CREDENTIAL', user, BEARER_CHALLENGE);
      return;
    }
    const at = deps.now();
    if ((await guard.lockFor(user.usernameNormalized, ctx.clientAddress, at)) !== undefined) {
      failed(ctx, deps, user, 'locked', 'totp');
      return;
    }
    const outcome = await totp.verifyAndConsume(user.id, body.code, at);
    if (!outcome.ok) {
      await guard.recordFailure(ctx, user.usernameNormalized, at, 'mfa');
      failed(ctx, deps, user, outcome.reason, 'totp');
      return;
    }
    await guard.recordSuccess(user.usernameNormalized);
    const amr = [...new Set([...(principal.amr ?? ['pwd']), 'otp'])];
    deps.events.emit({
      type: 'auth.step-up-succeeded',
      severity: 'info',
      requestId: ctx.requestId,
      routeId: ctx.routeId,
      clientAddress: ctx.clientAddress,
      details: { userId: user.id },
    });
    sendJson(ctx, 200, await issueUserTokens(issuer, user, { amr, acr: ACR_MFA, authTime: at, refresh: false }));
  };
}
