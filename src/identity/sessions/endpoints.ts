/**
 * Browser sessions of the built-in identity provider (issue 3 point 7): the login that issues a session cookie and
 * the logout that ends it. The `session` policy (policies/session/) authenticates requests carrying the cookie.
 *
 *   POST {basePath}/session         `{ "username", "password" }` → 200 `{ "csrf_token": "..." }` + Set-Cookie
 *   POST {basePath}/session/logout  revokes the cookie's session → 204 + Set-Cookie clearing it
 *
 * Session login shares the password login's building blocks (login/): the same brute-force guard and counters,
 * the same single argon2id verification on every path (dummy hash for unknown users), the same 401 for every
 * credential failure, the same hardened JSON body reader. The JSON media type is itself a login-CSRF defence: a
 * cross-site form cannot send `application/json` without a CORS preflight.
 *
 * MFA: session login is password-only for now. The pending-challenge state of login/ ends in tokens
 * (`mfaVerifyEndpoint` issues access tokens, not sessions), so a user with a confirmed TOTP secret, or one who must
 * enrol, is refused — after the password checked out, so the answer reveals nothing to someone without it — with
 * 403 `{ "error": "mfa_required", "error_description": ... }`: such users sign in at `{basePath}/login`.
 *
 * The session id is `randomToken(32)` (256 bits); the store keeps only its keyed hash (`sessionIdHash`), and the
 * CSRF token's keyed hash. A new id at every login; a session cookie presented at login is revoked (no fixation,
 * OWASP Session Management Cheat Sheet "Renew the Session ID After Any Privilege Level Change").
 */
import { randomToken } from '../../crypto/random.ts';
import { sendDirect } from '../../gateway/respond.ts';
import {
  clearSessionCookie,
  csrfTokenHash,
  findSessionCookie,
  sessionIdHash,
  sessionSetCookie,
  sessionSettings,
  SESSION_ID_BYTES,
  type SessionConfig,
  type SessionSettings,
} from '../../policies/session/index.ts';
import type { IdentityDeps } from '../types.ts';
import { passwordStep, type EndpointFunction, type LoginFailureReason } from '../login/endpoint.ts';
import { refuseUnlessPost, sendIdentityProblem, type EndpointContext } from '../login/http.ts';
import { loginMfaState, mfaRequiredFor, type LoginMfaOptions } from '../login/state.ts';

export interface SessionEndpointOptions extends LoginMfaOptions {
  /** The `session` policy config of the routes the cookie is used on (cookie name, idle, absolute, sameSite). */
  readonly session?: Partial<SessionConfig>;
}

const NO_STORE = Object.freeze({ 'cache-control': 'no-store', pragma: 'no-cache' });

function answer(ctx: EndpointContext, status: number, setCookie: string, body?: unknown): void {
  const headers: Record<string, string> = { ...NO_STORE, 'set-cookie': setCookie };
  if (body !== undefined) headers['content-type'] = 'application/json';
  sendDirect(ctx.res, status, ctx.requestId, ctx.responseHeaders, headers, body === undefined ? undefined : JSON.stringify(body));
}

/** Revokes the session(s) whose cookie this request carries (both, when a duplicate was planted). */
async function revokePresented(deps: IdentityDeps, settings: SessionSettings, ctx: EndpointContext, at: number): Promise<number> {
  const header = ctx.req.headers.cookie;
  const found = findSessionCookie(header, settings.cookie);
  if (found.kind === 'one') return (await deps.stores.sessions.revokeSession(sessionIdHash(found.value, deps.pepper), at)) ? 1 : 0;
  if (found.kind !== 'duplicate' || header === undefined) return 0;
  let revoked = 0;
  for (const part of header.split(';')) {
    const trimmed = part.trim();
    if (!trimmed.startsWith(`${settings.cookie}=`)) continue;
    const value = trimmed.slice(settings.cookie.length + 1);
    if (findSessionCookie(`${settings.cookie}=${value}`, settings.cookie).kind !== 'one') continue;
    if (await deps.stores.sessions.revokeSession(sessionIdHash(value, deps.pepper), at)) revoked++;
  }
  return revoked;
}

export function sessionLoginEndpoint(deps: IdentityDeps, options: SessionEndpointOptions = {}): EndpointFunction {
  const { config, stores, events, pepper } = deps;
  const settings = sessionSettings(options.session);
  const state = loginMfaState(deps, options);
  const { guard } = state;

  function refuse(ctx: EndpointContext, normalised: string, reason: LoginFailureReason): void {
    events.emit({
      type: 'auth.login-failed',
      severity: 'low',
      requestId: ctx.requestId,
      routeId: ctx.routeId,
      clientAddress: ctx.clientAddress,
      details: { reason, user: guard.userRef(normalised), via: 'session' },
    });
    sendIdentityProblem(ctx, 'RAMPART_ERR_INVALID_CREDENTIAL', `session login refused: ${reason}`);
  }

  return async function sessionLogin(ctx: EndpointContext): Promise<void> {
    const step = await passwordStep(ctx, deps, state, refuse, 'session login');
    if (step === undefined) return;
    const { user, normalised, at } = step;
    const totp = await stores.identities.getTotp(user.id);
    // No DamagedRecordHandler, on purpose: a skipped damaged passkey would let an MFA account open a password-only
    // session. A damaged row fails the request instead (fail closed).
    const passkeys = await stores.identities.listWebAuthnCredentials(user.id);
    if (totp?.confirmedAt != null || passkeys.length > 0 || mfaRequiredFor(user, config)) {
      events.emit({
        type: 'auth.login-succeeded',
        severity: 'info',
        requestId: ctx.requestId,
        routeId: ctx.routeId,
        clientAddress: ctx.clientAddress,
        details: { userId: user.id, factor: 'password', next: 'refused-session-needs-mfa' },
      });
      answer(ctx, 403, clearSessionCookie(settings), {
        error: 'mfa_required',
        error_description: `this account uses MFA; session login is password-only: sign in at ${config.basePath}/login`,
      });
      return;
    }
    // Only a completed login clears the account's failure count: a correct password alone must not reset the
    // count of failed second factors (else password holders could guess MFA codes without limit).
    await guard.recordSuccess(normalised);
    // No fixation: whatever session the browser held before is ended, and the new id is fresh randomness.
    await revokePresented(deps, settings, ctx, at);
    const sessionId = randomToken(SESSION_ID_BYTES);
    const csrfToken = randomToken(32);
    await stores.sessions.createSession({
      idHash: sessionIdHash(sessionId, pepper),
      userId: user.id,
      createdAt: at,
      absoluteExpiresAt: at + settings.absoluteMs,
      idleTimeoutMs: settings.idleMs,
      amr: ['pwd'],
      acr: null,
      csrfTokenHash: csrfTokenHash(csrfToken, pepper),
    });
    events.emit({
      type: 'auth.login-succeeded',
      severity: 'info',
      requestId: ctx.requestId,
      routeId: ctx.routeId,
      clientAddress: ctx.clientAddress,
      details: { userId: user.id, factor: 'password', next: 'session' },
    });
    answer(ctx, 200, sessionSetCookie(settings, sessionId), { csrf_token: csrfToken });
  };
}

/**
 * Logout: revokes the presented session and clears the cookie; 204 whatever the cookie's state (idempotent, and it
 * reveals nothing about the session). Not CSRF-checked: SameSite keeps cross-site requests from carrying the
 * cookie, and the worst a forged logout does is log the user out.
 */
export function sessionLogoutEndpoint(deps: IdentityDeps, options: Pick<SessionEndpointOptions, 'session'> = {}): EndpointFunction {
  const settings = sessionSettings(options.session);
  const clear = clearSessionCookie(settings);
  return async function sessionLogout(ctx: EndpointContext): Promise<void> {
    if (refuseUnlessPost(ctx)) return;
    const revoked = await revokePresented(deps, settings, ctx, deps.now());
    if (revoked > 0) {
      deps.events.emit({ type: 'auth.session-logout', severity: 'info', requestId: ctx.requestId, routeId: ctx.routeId, clientAddress: ctx.clientAddress, details: { revoked } });
    }
    answer(ctx, 204, clear);
  };
}
