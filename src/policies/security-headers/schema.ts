/**
 * Config schema of the `security-headers` policy (checklist item 12; OWASP Secure Headers Project; OWASP REST
 * Security Cheat Sheet "Security headers"). The defaults are the strict API profile: an API answers data, never a
 * document, so nothing may be framed, scripted, sniffed, cached or referred.
 */

/**
 * Features a JSON API never needs; each is denied to every origin (`feature=()`, W3C Permissions Policy §5). A
 * browser that renders a response as a document then cannot use them either.
 */
export const DEFAULT_PERMISSIONS_POLICY = [
  'accelerometer',
  'autoplay',
  'camera',
  'display-capture',
  'encrypted-media',
  'fullscreen',
  'geolocation',
  'gyroscope',
  'hid',
  'magnetometer',
  'microphone',
  'midi',
  'payment',
  'picture-in-picture',
  'publickey-credentials-get',
  'screen-wake-lock',
  'serial',
  'sync-xhr',
  'usb',
  'xr-spatial-tracking',
]
  .map((feature) => `${feature}=()`)
  .join(', ');

export const DEFAULT_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'";

/** One year (RFC 6797 §11.2 recommends a long max-age; hstspreload.org requires at least this for preload). */
export const DEFAULT_HSTS_MAX_AGE = 31_536_000;

const REFERRER_POLICIES = [
  'no-referrer',
  'no-referrer-when-downgrade',
  'origin',
  'origin-when-cross-origin',
  'same-origin',
  'strict-origin',
  'strict-origin-when-cross-origin',
  'unsafe-url',
] as const;

export const securityHeadersSchema = {
  type: 'object',
  additionalProperties: false,
  description:
    'Security response headers on every response of the route (upstream answers, problems and gateway replies).',
  properties: {
    contentSecurityPolicy: {
      type: 'string',
      minLength: 1,
      maxLength: 8192,
      default: DEFAULT_CONTENT_SECURITY_POLICY,
      description:
        'Content-Security-Policy (CSP Level 3). The default forbids every resource and all framing, which is ' +
        'right for JSON; a route serving HTML (documentation) sets its own.',
    },
    contentTypeOptions: {
      type: 'boolean',
      default: true,
      description: 'Send X-Content-Type-Options: nosniff, so browsers never guess a script or style out of data.',
    },
    frameOptions: {
      type: ['string', 'null'],
      enum: ['DENY', 'SAMEORIGIN', null],
      default: 'DENY',
      description:
        'X-Frame-Options for browsers without CSP frame-ancestors (clickjacking, OWASP REST Security Cheat ' +
        'Sheet); null omits it.',
    },
    referrerPolicy: {
      type: 'string',
      enum: REFERRER_POLICIES,
      default: 'no-referrer',
      description: 'Referrer-Policy: the default sends no Referer, so URLs with identifiers or tokens do not leak.',
    },
    crossOriginResourcePolicy: {
      type: 'string',
      enum: ['same-origin', 'same-site', 'cross-origin'],
      default: 'same-origin',
      description:
        'Cross-Origin-Resource-Policy: which sites may embed responses (no-cors loads, Spectre-style leaks). ' +
        'CORS requests from allowed origins are not affected.',
    },
    crossOriginOpenerPolicy: {
      type: 'string',
      enum: ['same-origin', 'same-origin-allow-popups', 'noopener-allow-popups', 'unsafe-none'],
      default: 'same-origin',
      description:
        'Cross-Origin-Opener-Policy: isolates a response rendered as a document from cross-origin windows. ' +
        'It costs an API nothing and protects error pages and documentation.',
    },
    cacheControl: {
      type: ['string', 'null'],
      minLength: 1,
      maxLength: 1024,
      default: 'no-store',
      description:
        'Cache-Control the gateway sets (OWASP REST Security: "no-store" for responses with sensitive data). ' +
        'null lets the upstream decide.',
    },
    allowCaching: {
      type: 'boolean',
      default: false,
      description: 'Let the upstream\'s Cache-Control through unchanged (same as cacheControl: null).',
    },
    hsts: {
      type: 'object',
      additionalProperties: false,
      default: { maxAge: DEFAULT_HSTS_MAX_AGE, includeSubDomains: true, preload: false },
      description: 'Strict-Transport-Security (RFC 6797), sent only on responses over TLS (RFC 6797 §7.2).',
      properties: {
        maxAge: {
          type: 'integer',
          minimum: 0,
          maximum: 63_072_000,
          default: DEFAULT_HSTS_MAX_AGE,
          description: 'Seconds the browser keeps using HTTPS only (max-age). Below 180 days is a weakened default.',
        },
        includeSubDomains: {
          type: 'boolean',
          default: true,
          description: 'Apply to every subdomain too (includeSubDomains).',
        },
        preload: {
          type: 'boolean',
          default: false,
          description:
            'Add the preload token (hstspreload.org; requires includeSubDomains and max-age of at least one year).',
        },
      },
    },
    permissionsPolicy: {
      type: ['string', 'null'],
      minLength: 1,
      maxLength: 4096,
      default: DEFAULT_PERMISSIONS_POLICY,
      description: 'Permissions-Policy; the default denies every powerful browser feature. null omits it.',
    },
    reportUri: {
      type: ['string', 'null'],
      minLength: 1,
      maxLength: 2048,
      default: null,
      description:
        'Where browsers send CSP violation reports: an absolute https URL or a path on this gateway (e.g. ' +
        '"/.rampart/csp-report"). Adds report-uri and report-to to the CSP and a Reporting-Endpoints header.',
    },
    override: {
      type: 'boolean',
      default: true,
      description:
        'Replace the upstream\'s values of these headers. false keeps an upstream value and only fills in the ' +
        'headers the upstream did not send.',
    },
  },
} as const;

export interface HstsConfig {
  readonly maxAge: number;
  readonly includeSubDomains: boolean;
  readonly preload: boolean;
}

export type ReferrerPolicy = (typeof REFERRER_POLICIES)[number];

export interface SecurityHeadersConfig {
  readonly contentSecurityPolicy: string;
  readonly contentTypeOptions: boolean;
  readonly frameOptions: 'DENY' | 'SAMEORIGIN' | null;
  readonly referrerPolicy: ReferrerPolicy;
  readonly crossOriginResourcePolicy: 'same-origin' | 'same-site' | 'cross-origin';
  readonly crossOriginOpenerPolicy: 'same-origin' | 'same-origin-allow-popups' | 'noopener-allow-popups' | 'unsafe-none';
  readonly cacheControl: string | null;
  readonly allowCaching: boolean;
  readonly hsts: HstsConfig;
  readonly permissionsPolicy: string | null;
  readonly reportUri: string | null;
  readonly override: boolean;
}
