/**
 * State the login and MFA endpoints share: the pending-token table, the brute-force guard and the TOTP verifier.
 * Endpoints built from the same `IdentityDeps` object share one state (kept in a WeakMap keyed by it), so
 * `loginEndpoint(deps, issuer)` and `mfaVerifyEndpoint(deps, issuer)` see the same `mfa_token`s without the
 * caller wiring anything. Pass `options.state` to share explicitly.
 */
import { PasswordHasher } from '../../crypto/passwords.ts';
import type { UserRecord } from '../../storage/ports.ts';
import { TotpVerifier } from '../mfa/totp.ts';
import type { IdentityConfig, IdentityDeps, TokenIssuer, TokenResponse } from '../types.ts';
import { BruteForceGuard, type Delay } from './brute-force.ts';
import { ENROLMENT_TOKEN_TTL_MS, PendingAuthStore } from './pending.ts';

/** What verifies passwords: the default argon2id hasher, or one whose `verify` a test wraps. */
export type PasswordVerifier = Pick<PasswordHasher, 'verifyOrDummy'>;

export interface LoginMfaOptions {
  /** Replaces the password verifier (tests spy on which hash is verified). */
  readonly passwords?: PasswordVerifier;
  /** Replaces the progressive delay's timer (tests record the delays instead of waiting). */
  readonly delay?: Delay;
  /** Explicit shared state (otherwise one per deps object). */
  readonly state?: LoginMfaState;
}

export interface LoginMfaState {
  readonly pending: PendingAuthStore;
  /** New TOTP secrets of users replacing a confirmed one, until confirmed (see mfa/endpoints.ts). */
  readonly replacements: ReplacementSecrets;
  readonly guard: BruteForceGuard;
  readonly totp: TotpVerifier;
  readonly passwords: PasswordVerifier;
}

const states = new WeakMap<IdentityDeps, LoginMfaState>();
const defaultHasher = new PasswordHasher();

export function createLoginMfaState(deps: IdentityDeps, options: Omit<LoginMfaOptions, 'state'> = {}): LoginMfaState {
  return {
    pending: new PendingAuthStore({ pepper: deps.pepper }),
    replacements: new ReplacementSecrets(),
    guard: new BruteForceGuard({
      config: deps.config.bruteForce,
      counters: deps.stores.counters,
      events: deps.events,
      pepper: deps.pepper,
      ...(options.delay ? { delay: options.delay } : {}),
    }),
    totp: new TotpVerifier(deps.stores.identities),
    passwords: options.passwords ?? defaultHasher,
  };
}

/** The state shared by every endpoint built from `deps` (created by the first one). */
export function loginMfaState(deps: IdentityDeps, options: LoginMfaOptions = {}): LoginMfaState {
  if (options.state) return options.state;
  let state = states.get(deps);
  if (state === undefined) {
    state = createLoginMfaState(deps, options);
    states.set(deps, state);
  }
  return state;
}

/** Whether the user must use MFA: flagged individually, or holding a role listed in `identity.mfa.requireFor`. */
export function mfaRequiredFor(user: UserRecord, config: IdentityConfig): boolean {
  return user.mfaRequired || user.roles.some((role) => config.mfa.requireFor.includes(role));
}

/** Access (and optionally refresh) token for a user, roles and tenant read fresh from the store record. */
export function issueUserTokens(
  issuer: TokenIssuer,
  user: UserRecord,
  grant: { readonly amr: readonly string[]; readonly acr?: string; readonly authTime: number; readonly refresh: boolean },
): Promise<TokenResponse> {
  return issuer.issue({
    subject: user.id,
    kind: 'user',
    roles: user.roles,
    ...(user.tenant !== null ? { tenant: user.tenant } : {}),
    amr: grant.amr,
    ...(grant.acr !== undefined ? { acr: grant.acr } : {}),
    authTime: grant.authTime,
    scopes: [],
    refresh: grant.refresh,
  });
}

/**
 * A user who already has a confirmed TOTP secret and enrols a new authenticator keeps the old secret until the new
 * one is confirmed: replacing it at once would leave the account with a password only if the enrolment is never
 * finished (and would let a stolen MFA token silently downgrade the account). The new secret waits here, in
 * process memory, for `ENROLMENT_TOKEN_TTL_MS`, one per user, at most `maxEntries` users.
 */
export class ReplacementSecrets {
  readonly #entries = new Map<string, { secret: Buffer; expiresAt: number }>();
  readonly #maxEntries: number;

  constructor(maxEntries = 10_000) {
    this.#maxEntries = maxEntries;
  }

  set(userId: string, secret: Buffer, now: number): void {
    this.delete(userId);
    if (this.#entries.size >= this.#maxEntries) {
      for (const [key, entry] of this.#entries) if (now >= entry.expiresAt) this.delete(key);
      if (this.#entries.size >= this.#maxEntries) this.delete(this.#entries.keys().next().value!);
    }
    this.#entries.set(userId, { secret: Buffer.from(secret), expiresAt: now + ENROLMENT_TOKEN_TTL_MS });
  }

  get(userId: string, now: number): Buffer | undefined {
    const entry = this.#entries.get(userId);
    if (entry === undefined) return undefined;
    if (now >= entry.expiresAt) {
      this.delete(userId);
      return undefined;
    }
    return entry.secret;
  }

  delete(userId: string): void {
    const entry = this.#entries.get(userId);
    if (entry === undefined) return;
    entry.secret.fill(0);
    this.#entries.delete(userId);
  }
}
