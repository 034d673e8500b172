/**
 * Config schema of the `session` policy (a route's `session: {...}`): browser sessions carried in a cookie
 * (issue 3 point 7, checklist item 11). Syntax here; meaning (lifetimes, SameSite, origin check) in `check()` of
 * index.ts. The login endpoint (identity/sessions/endpoints.ts) must be given the same cookie name, lifetimes and
 * SameSite value: `sessionSettings()` turns this config into the settings both sides use.
 */
import { DURATION_SCHEMA, parseDuration } from '../../config/units.ts';

export interface SessionConfig {
  readonly cookie: string;
  readonly idle: number | string;
  readonly absolute: number | string;
  readonly sameSite: 'strict' | 'lax';
  readonly csrf: {
    readonly header: string;
    readonly checkOrigin: boolean;
    readonly allowedOrigins: readonly string[];
  };
}

/** The config with durations in milliseconds and origins normalised (what the policy and the endpoints use). */
export interface SessionSettings {
  readonly cookie: string;
  readonly idleMs: number;
  readonly absoluteMs: number;
  readonly sameSite: 'strict' | 'lax';
  readonly csrfHeader: string;
  readonly checkOrigin: boolean;
  readonly allowedOrigins: readonly string[];
}

export const DEFAULT_SESSION_COOKIE = '__Host-rampart';
/** OWASP Session Management Cheat Sheet: 15–30 minutes idle for most applications, a few hours absolute. */
export const DEFAULT_IDLE_MS = 30 * 60_000;
export const DEFAULT_ABSOLUTE_MS = 12 * 3_600_000;
/** Beyond these a session is a weakened default (rule `long-session`). */
export const MAX_ABSOLUTE_MS = 24 * 3_600_000;
export const MAX_IDLE_MS = 12 * 3_600_000;

/**
 * The cookie name must carry the `__Host-` prefix (RFC 6265bis §4.1.3.2): browsers then accept it only with
 * `Secure`, `Path=/` and no `Domain`, so a sibling subdomain or a plain-HTTP page cannot plant or overwrite it
 * (cookie tossing, session fixation). The rest is an RFC 6265 token without separators.
 */
const COOKIE_NAME_PATTERN = '^__Host-[A-Za-z0-9_-]{1,64}$';
/** A serialised origin (RFC 6454 §6.2): scheme, host, optional port; no path, no trailing slash, never `null`. */
const ORIGIN_PATTERN = '^https?://[a-z0-9.-]+(:[0-9]{1,5})?$';

export const sessionSchema = {
  type: 'object',
  additionalProperties: false,
  description:
    'Authenticates browser clients by an opaque session cookie issued by the built-in identity service ' +
    '(POST {basePath}/session); unsafe methods also need the CSRF token and, by default, a same-origin Origin.',
  properties: {
    cookie: {
      type: 'string',
      default: DEFAULT_SESSION_COOKIE,
      pattern: COOKIE_NAME_PATTERN,
      description: 'Cookie name; must start with __Host- (Secure, Path=/, no Domain: RFC 6265bis §4.1.3.2).',
    },
    idle: { ...DURATION_SCHEMA, default: '30m', description: 'Idle timeout: a session unused this long ends.' },
    absolute: { ...DURATION_SCHEMA, default: '12h', description: 'Absolute lifetime from login, however active.' },
    sameSite: {
      enum: ['strict', 'lax'],
      default: 'strict',
      description: 'SameSite attribute of the cookie; lax lets top-level cross-site navigations carry it (rule session-samesite-lax).',
    },
    csrf: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        header: {
          type: 'string',
          default: 'x-csrf-token',
          minLength: 1,
          maxLength: 64,
          pattern: '^[a-z0-9][a-z0-9-]*$',
          description: 'Lower-case request header carrying the CSRF token returned at login (required on unsafe methods).',
        },
        checkOrigin: {
          type: 'boolean',
          default: true,
          description: 'Also require Origin (or Referer) to be this origin or an allowed one on unsafe methods.',
        },
        allowedOrigins: {
          type: 'array',
          default: [],
          maxItems: 64,
          uniqueItems: true,
          items: { type: 'string', pattern: ORIGIN_PATTERN, maxLength: 255 },
          description: 'Other origins (scheme://host[:port], lower case) whose pages may send unsafe requests.',
        },
      },
    },
  },
} as const;

/** Settings from a validated config (defaults filled in by the loader), or the defaults for absent members. */
export function sessionSettings(config: Partial<SessionConfig> = {}): SessionSettings {
  const csrf: Partial<SessionConfig['csrf']> = config.csrf ?? {};
  return Object.freeze({
    cookie: config.cookie ?? DEFAULT_SESSION_COOKIE,
    idleMs: config.idle === undefined ? DEFAULT_IDLE_MS : parseDuration(config.idle),
    absoluteMs: config.absolute === undefined ? DEFAULT_ABSOLUTE_MS : parseDuration(config.absolute),
    sameSite: config.sameSite ?? 'strict',
    csrfHeader: csrf.header ?? 'x-csrf-token',
    checkOrigin: csrf.checkOrigin ?? true,
    allowedOrigins: Object.freeze((csrf.allowedOrigins ?? []).map((origin) => origin.toLowerCase())),
  });
}
