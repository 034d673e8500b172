/**
 * Password login of the built-in identity provider, and what the MFA endpoints share with it.
 */
export { loginEndpoint, MAX_USERNAME_LENGTH, type EndpointFunction, type LoginFailureReason } from './endpoint.ts';
export { BruteForceGuard, progressiveDelayMs, type Delay, type Lock } from './brute-force.ts';
export { PendingAuthStore, MFA_TOKEN_TTL_MS, ENROLMENT_TOKEN_TTL_MS, type PendingEntry, type PendingPurpose } from './pending.ts';
export { createLoginMfaState, loginMfaState, mfaRequiredFor, type LoginMfaOptions, type LoginMfaState, type PasswordVerifier } from './state.ts';
export type { EndpointContext } from './http.ts';
