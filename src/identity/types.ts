/**
 * Contracts inside the built-in identity provider, shared by its parts: token issuing (tokens/), user login and
 * MFA (login/, mfa/), and the service that routes its endpoints (service.ts).
 */
import type { GatewayContext } from '../gateway/context.ts';
import type { Stores } from '../storage/ports.ts';
import type { Logger } from 'pino';
import type { SecurityEvents } from '../observe/events.ts';

/** `identity:` after validation, durations in ms. */
export interface IdentityConfig {
  readonly issuer: string;
  readonly audience: string;
  readonly basePath: string;
  readonly accessTokenTtlMs: number;
  readonly refreshTokenTtlMs: number;
  readonly signing: { readonly alg: 'ES256' | 'EdDSA' | 'RS256'; readonly rotateEveryMs: number; readonly overlapMs: number };
  readonly mfa: { readonly totpIssuer: string; readonly requireFor: readonly string[]; readonly stepUpTtlMs: number };
  readonly bruteForce: {
    readonly windowMs: number;
    readonly maxFailuresPerAccount: number;
    readonly maxFailuresPerAddress: number;
    readonly lockForMs: number;
  };
  readonly maxBodySize: number;
  /** Passkeys' relying party; defaults to the issuer's host and origin. */
  readonly webauthn?: { readonly rpId?: string; readonly rpName?: string; readonly origins?: readonly string[] };
  /** `identity.sessions` as written (the session policy's settings; see policies/session/schema.ts). */
  readonly sessions?: Readonly<Record<string, unknown>>;
}

export interface IdentityDeps {
  readonly config: IdentityConfig;
  readonly stores: Stores;
  /** Pepper for hashSecret (derived from the master key). */
  readonly pepper: Buffer;
  readonly logger: Logger;
  readonly events: SecurityEvents;
  /** Injectable clock, epoch ms. */
  readonly now: () => number;
}

/** What a token is issued for. */
export interface TokenGrant {
  readonly subject: string;
  readonly kind: 'user' | 'client';
  readonly roles: readonly string[];
  readonly tenant?: string;
  /** RFC 8176 methods, e.g. ['pwd'], ['pwd', 'otp'], ['pwd', 'hwk']. */
  readonly amr: readonly string[];
  /** e.g. 'urn:rampart:acr:mfa' after MFA; absent for single-factor. */
  readonly acr?: string;
  /** When the user (or client) authenticated, epoch ms (OIDC auth_time; step-up freshness). */
  readonly authTime: number;
  readonly scopes: readonly string[];
  readonly clientId?: string;
  /** Issue a refresh token too (a new family). */
  readonly refresh: boolean;
}

/** RFC 6749 §5.1 token response. */
export interface TokenResponse {
  readonly access_token: string;
  readonly token_type: 'Bearer';
  readonly expires_in: number;
  readonly refresh_token?: string;
  readonly scope?: string;
}

/** Issues and checks the gateway's own tokens (tokens/issuer.ts implements it). */
export interface TokenIssuer {
  issue(grant: TokenGrant): Promise<TokenResponse>;
  /** The published key set: current, upcoming and recently retired public keys. */
  jwks(): Promise<{ keys: Array<Record<string, unknown>> }>;
  /** Rotates keys when due (called on a timer and at start). */
  rotateIfDue(): Promise<void>;
  close(): Promise<void>;
}

/** One endpoint of the identity service: answers the request itself (ctx.res must be ended). */
export type IdentityEndpoint = (ctx: GatewayContext) => Promise<void>;

export const ACR_MFA = 'urn:rampart:acr:mfa';
