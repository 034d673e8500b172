/**
 * `session` policy (issue 3 point 7, checklist item 11): authenticates browser clients by the opaque session cookie
 * the identity service issues at `POST {basePath}/session` (identity/sessions/endpoints.ts).
 *
 * Per request:
 * - No cookie of our name → NOT_RESPONSIBLE (the route's next authenticator may try). Two of them → 401.
 * - Unsafe method (RFC 9110 §9.2.1): the Origin check runs first, before any store access (see csrf.ts).
 * - `touchSession(hash, now)`: one atomic validate-and-slide in the store, which enforces revocation, idle timeout
 *   and absolute lifetime. Only the keyed hash of the id is ever looked up or stored.
 * - The user is read fresh: a deleted or disabled user, or a session created at or before `sessionsValidAfter`
 *   (raised by a password change or "log out everywhere"), is refused and the session revoked.
 * - Unsafe method: the CSRF token header must match the session's token hash (constant time) → else 403.
 * Nothing is cached across requests: a revoked session fails on its very next request. The cost is two store
 * reads per request (session, user), both by primary key.
 *
 * Failures are 401 RAMPART_ERR_INVALID_CREDENTIAL with `WWW-Authenticate: Cookie realm="rampart"` and a
 * Set-Cookie that clears the dead cookie. There is no registered HTTP authentication scheme for cookies; RFC 9110
 * §15.5.2 still requires a challenge on every 401, and a scheme no browser knows is the right one: browsers show no
 * login dialog for it (they would for Basic), scripts can read it and redirect to the login page.
 * CSRF failures are 403 RAMPART_ERR_FORBIDDEN: the caller is authenticated, the request is not acceptable.
 */
import { constantTimeEqual } from '../../crypto/constant-time.ts';
import { hashSecret } from '../../crypto/hashing.ts';
import type { SessionRecord, Stores, UserRecord } from '../../storage/ports.ts';
import {
  NOT_RESPONSIBLE,
  problem,
  type ConfigIssue,
  type Outcome,
  type PolicyDefinition,
  type PolicyDeps,
  type PolicyHandlers,
  type Principal,
  type RequestContext,
  type RespondWithProblem,
  type RouteInfo,
} from '../types.ts';
import { clearSessionCookie, findSessionCookie } from './cookie.ts';
import { isUnsafeMethod, originRefusal } from './csrf.ts';
import { MAX_ABSOLUTE_MS, MAX_IDLE_MS, sessionSchema, sessionSettings, type SessionConfig, type SessionSettings } from './schema.ts';

export { sessionSchema, sessionSettings, DEFAULT_SESSION_COOKIE, type SessionConfig, type SessionSettings } from './schema.ts';
export { findSessionCookie, sessionSetCookie, clearSessionCookie, SESSION_ID_BYTES, type CookieLookup } from './cookie.ts';
export { isUnsafeMethod, originRefusal, ownOrigin } from './csrf.ts';

export const SESSION_CHALLENGE = 'Cookie realm="rampart"';

/** Hash of a session id as stored: a purpose label keeps it from ever matching another secret's hash. */
export function sessionIdHash(sessionId: string, pepper: Buffer): string {
  return hashSecret(`rampart-session:${sessionId}`, pepper);
}

/** Hash of a session's CSRF token as stored in `csrfTokenHash`. */
export function csrfTokenHash(token: string, pepper: Buffer): string {
  return hashSecret(`rampart-csrf:${token}`, pepper);
}

/** The principal of an active session of `user` (roles and tenant read fresh from the user record). */
export function sessionPrincipal(session: SessionRecord, user: UserRecord): Principal {
  return {
    subject: user.id,
    kind: 'user',
    method: 'session',
    roles: user.roles,
    ...(user.tenant !== null ? { tenant: user.tenant } : {}),
    amr: session.amr,
    claims: { auth_time: Math.floor(session.createdAt / 1000), ...(session.acr !== null ? { acr: session.acr } : {}) },
  };
}

export interface SessionRuntimeOptions {
  /** Clock in epoch milliseconds (tests inject one). */
  readonly now?: () => number;
}

const MAX_CSRF_TOKEN_LENGTH = 128;

export function createSessionHandlers(config: Partial<SessionConfig>, deps: PolicyDeps, options: SessionRuntimeOptions = {}): PolicyHandlers {
  const stores: Stores | undefined = deps.stores;
  if (stores === undefined) throw new Error('session: the stores are not open (the gateway opens them when a route uses session)');
  const maybePepper = deps.pepper;
  if (!Buffer.isBuffer(maybePepper) || maybePepper.length < 32) throw new Error('session: the secret-hash pepper is missing from the policy deps');
  const pepper: Buffer = maybePepper;
  const settings: SessionSettings = sessionSettings(config);
  const { sessions, identities } = stores;
  const { events } = deps;
  const logger = deps.logger.child({ policy: 'session' });
  const now = options.now ?? Date.now;
  const cookieName = settings.cookie;
  const csrfHeader = settings.csrfHeader;
  const allowedOrigins: ReadonlySet<string> = new Set(settings.allowedOrigins);
  const failureHeaders = Object.freeze({ 'www-authenticate': SESSION_CHALLENGE, 'set-cookie': clearSessionCookie(settings) });

  function fail(ctx: RequestContext, reason: string): RespondWithProblem {
    events.emit({ type: 'auth.session-failed', severity: 'low', requestId: ctx.requestId, routeId: ctx.routeId, clientAddress: ctx.clientAddress, details: { reason } });
    return problem('RAMPART_ERR_INVALID_CREDENTIAL', `session: ${reason}`, failureHeaders);
  }

  function csrfFailure(ctx: RequestContext, reason: string): RespondWithProblem {
    events.emit({
      type: 'auth.csrf-refused',
      severity: 'medium',
      requestId: ctx.requestId,
      routeId: ctx.routeId,
      clientAddress: ctx.clientAddress,
      details: { reason, method: ctx.method },
    });
    return problem('RAMPART_ERR_FORBIDDEN', `csrf: ${reason}`);
  }

  async function authenticate(ctx: RequestContext, sessionId: string, unsafe: boolean): Promise<Outcome> {
    const hash = sessionIdHash(sessionId, pepper);
    const at = now();
    let session: SessionRecord | undefined;
    let user: UserRecord | undefined;
    try {
      session = await sessions.touchSession(hash, at);
      if (session === undefined) return fail(ctx, 'unknown, revoked or expired session');
      user = await identities.getUser(session.userId);
      if (user === undefined || user.disabled || session.createdAt <= user.sessionsValidAfter) {
        await sessions.revokeSession(hash, at);
        return fail(ctx, user === undefined ? 'user no longer exists' : user.disabled ? 'user disabled' : 'session predates a password change or logout everywhere');
      }
    } catch (error) {
      // Fail closed, and say so: a store outage is not a bad cookie.
      logger.error({ err: error }, 'session: store unavailable');
      return problem('RAMPART_ERR_AUTH_UNAVAILABLE', 'session: store unavailable');
    }
    if (unsafe) {
      const token = ctx.req.headers[csrfHeader];
      if (typeof token !== 'string' || token.length === 0) return csrfFailure(ctx, 'missing token');
      if (token.length > MAX_CSRF_TOKEN_LENGTH || session.csrfTokenHash === null) return csrfFailure(ctx, 'wrong token');
      // Hashes of equal length compared in constant time: no timing signal about the stored token.
      if (!constantTimeEqual(csrfTokenHash(token, pepper), session.csrfTokenHash)) return csrfFailure(ctx, 'wrong token');
    }
    ctx.principal = sessionPrincipal(session, user);
    return undefined;
  }

  return {
    challenge: SESSION_CHALLENGE,
    credentialSource: 'cookie',
    hasCredential(ctx: RequestContext): boolean {
      return findSessionCookie(ctx.req.headers.cookie, cookieName).kind !== 'absent';
    },
    onRequest(ctx: RequestContext): Outcome | Promise<Outcome> {
      const found = findSessionCookie(ctx.req.headers.cookie, cookieName);
      if (found.kind === 'absent') return NOT_RESPONSIBLE;
      if (found.kind === 'duplicate') return fail(ctx, `cookie ${cookieName} sent more than once`);
      if (found.kind === 'malformed') return fail(ctx, found.reason);
      const unsafe = isUnsafeMethod(ctx.method);
      if (unsafe && settings.checkOrigin) {
        const refusal = originRefusal(ctx.req, ctx.secure, allowedOrigins);
        if (refusal !== undefined) return csrfFailure(ctx, refusal);
      }
      return authenticate(ctx, found.value, unsafe);
    },
  };
}

function check(config: SessionConfig, path: string, route: RouteInfo): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const settings = sessionSettings(config);
  if (settings.idleMs <= 0) issues.push({ path: `${path}.idle`, message: 'a session without an idle timeout never ends while used; set e.g. 30m' });
  if (settings.absoluteMs <= 0) issues.push({ path: `${path}.absolute`, message: 'a session without an absolute lifetime can live forever; set e.g. 12h' });
  if (settings.absoluteMs > MAX_ABSOLUTE_MS) {
    issues.push({ path: `${path}.absolute`, rule: 'long-session', message: 'absolute session lifetime over 24h: a stolen cookie stays useful for days (OWASP Session Management)' });
  }
  if (settings.idleMs > MAX_IDLE_MS) {
    issues.push({ path: `${path}.idle`, rule: 'long-session', message: 'idle timeout over 12h: an unattended browser stays logged in (OWASP Session Management)' });
  }
  if (settings.idleMs > 0 && settings.absoluteMs > 0 && settings.idleMs > settings.absoluteMs) {
    issues.push({ path: `${path}.idle`, severity: 'warning', message: 'idle timeout longer than the absolute lifetime has no effect' });
  }
  if (settings.sameSite === 'lax') {
    issues.push({
      path: `${path}.sameSite`,
      rule: 'session-samesite-lax',
      message: 'SameSite=Lax sends the session cookie on cross-site top-level navigations (GET links): only the CSRF token protects unsafe methods then',
    });
  }
  if (!settings.checkOrigin) {
    issues.push({ path: `${path}.csrf.checkOrigin`, rule: 'session-csrf-origin-off', message: 'the Origin check of unsafe methods is off: only the CSRF token defends against cross-site requests' });
  }
  if (!route.tls) {
    issues.push({ path, severity: 'warning', message: 'route is reachable over plain HTTP: browsers keep Secure (__Host-) cookies only from HTTPS pages' });
  }
  return issues;
}

export const sessionPolicy: PolicyDefinition<SessionConfig> = {
  name: 'session',
  phase: 'authenticate',
  order: 40,
  schema: sessionSchema,
  authenticates: true,
  requiresStores: true,
  // One source of truth for cookie name, lifetimes and SameSite: `identity.sessions` (when the lead adds it to the
  // identity config) configures both the login endpoint and every route's policy; a route may still override.
  inheritConfig(document) {
    const identity = document.identity as { sessions?: unknown } | undefined;
    const sessions = identity?.sessions;
    return sessions !== null && typeof sessions === 'object' && !Array.isArray(sessions) ? { ...(sessions as Record<string, unknown>) } : {};
  },
  // The whole Cookie header and the CSRF token are redacted in logs and not forwarded: the session id must not
  // reach upstream logs. (An upstream that needs its own cookies needs the gateway to strip only ours: not done.)
  secretHeaders: (config) => ['cookie', sessionSettings(config).csrfHeader],
  check,
  create: (config, deps) => createSessionHandlers(config, deps),
};
