/**
 * `security-headers`: the browser-facing hardening headers on every response of a route (checklist item 12; OWASP
 * Secure Headers Project; OWASP REST Security Cheat Sheet "Security headers"; RFC 6797 for HSTS).
 *
 * The header list is built once per route in `create()`; a request only copies the prebuilt [name, value] pairs into
 * `ctx.responseHeaders`, which the gateway writes on whatever answer the request gets (upstream, problem or direct),
 * replacing same-named upstream headers.
 *
 * `override: false` (and `allowCaching`) are implemented as "fill in missing": the pairs are still pushed in
 * `onRequest` (so problems and direct replies, which have no upstream answer, get every header), and `onResponse`,
 * which runs before the gateway writes the upstream's headers, removes this policy's own pushed pair for each header
 * the upstream already sent. The upstream value then goes out unchanged; nothing of the upstream is ever deleted.
 * With `allowCaching` (or `cacheControl: null`) no Cache-Control is pushed at all: the upstream's passes through, and
 * the gateway's own problems keep their `no-store`.
 */
import type { ConfigIssue, PolicyDefinition, PolicyHandlers, RequestContext, UpstreamResponseView } from '../types.ts';
import { analyseCsp } from './csp.ts';
import { DEFAULT_HSTS_MAX_AGE, securityHeadersSchema, type SecurityHeadersConfig } from './schema.ts';

export { securityHeadersSchema, type SecurityHeadersConfig, type HstsConfig } from './schema.ts';

/** RFC 6797 gives no floor; 180 days is the minimum the OWASP HSTS Cheat Sheet and most scanners accept. */
export const HSTS_MINIMUM_MAX_AGE = 15_552_000;
/** Name under which the CSP's `report-to` refers to the Reporting-Endpoints entry (Reporting API §3.2). */
export const CSP_REPORT_GROUP = 'csp-endpoint';

// eslint-disable-next-line no-control-regex -- RFC 9110 §5.5: field values are visible ASCII, SP and HTAB
const NOT_FIELD_VALUE = /[^\u0020-\u007e\u0009]/;
// eslint-disable-next-line no-control-regex -- characters a URL in a CSP token or an sf-string cannot carry
const NOT_REPORT_URI = /[\s;,"\\\u0000-\u001f\u007f-\uffff]/;

export interface PrebuiltHeaders {
  /** Pairs sent over plain HTTP: [name, value, name, value, ...]. */
  readonly plain: readonly string[];
  /** Pairs sent over TLS: `plain` plus Strict-Transport-Security. */
  readonly secure: readonly string[];
}

function hstsValue(config: SecurityHeadersConfig): string {
  const { maxAge, includeSubDomains, preload } = config.hsts;
  return `max-age=${maxAge}${includeSubDomains ? '; includeSubDomains' : ''}${preload ? '; preload' : ''}`;
}

/** Whether the gateway sets Cache-Control (otherwise the upstream's passes through). */
function gatewaySetsCacheControl(config: SecurityHeadersConfig): config is SecurityHeadersConfig & { cacheControl: string } {
  return config.cacheControl !== null && !config.allowCaching;
}

/** The header pairs, in the order they are sent. Shared by `create()` and posture. */
export function buildSecurityHeaders(config: SecurityHeadersConfig): PrebuiltHeaders {
  const plain: string[] = [];
  let csp = config.contentSecurityPolicy.trim().replace(/;\s*$/, '');
  if (config.reportUri !== null) {
    // report-uri for browsers without the Reporting API (deprecated in CSP3 but still the only one Firefox uses),
    // report-to for those with it (CSP3 §6.5.1); a browser that knows report-to ignores report-uri.
    csp += `; report-uri ${config.reportUri}; report-to ${CSP_REPORT_GROUP}`;
  }
  plain.push('content-security-policy', csp);
  if (config.reportUri !== null) plain.push('reporting-endpoints', `${CSP_REPORT_GROUP}="${config.reportUri}"`);
  if (config.contentTypeOptions) plain.push('x-content-type-options', 'nosniff');
  if (config.frameOptions !== null) plain.push('x-frame-options', config.frameOptions);
  plain.push('referrer-policy', config.referrerPolicy);
  plain.push('cross-origin-resource-policy', config.crossOriginResourcePolicy);
  plain.push('cross-origin-opener-policy', config.crossOriginOpenerPolicy);
  if (config.permissionsPolicy !== null) plain.push('permissions-policy', config.permissionsPolicy);
  if (gatewaySetsCacheControl(config)) plain.push('cache-control', config.cacheControl);
  const secure = [...plain, 'strict-transport-security', hstsValue(config)];
  return { plain: Object.freeze(plain), secure: Object.freeze(secure) };
}

function check(config: SecurityHeadersConfig, path: string): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const cspPath = `${path}.contentSecurityPolicy`;
  const csp = analyseCsp(config.contentSecurityPolicy);
  for (const finding of csp.findings) {
    if (finding.kind === 'unsafe') issues.push({ path: cspPath, rule: 'csp-unsafe', message: finding.message });
    else if (finding.kind === 'warning') issues.push({ path: cspPath, severity: 'warning', message: finding.message });
    else issues.push({ path: cspPath, message: finding.message });
  }
  if (config.reportUri !== null) {
    const at = `${path}.reportUri`;
    if (NOT_REPORT_URI.test(config.reportUri)) {
      issues.push({ path: at, message: 'contains whitespace, control characters or one of ; , " \\ and cannot go into a header' });
    } else if (!isAcceptableReportUri(config.reportUri)) {
      issues.push({ path: at, message: 'must be a path on this gateway ("/...") or an absolute https URL' });
    }
    if (csp.directives.has('report-uri') || csp.directives.has('report-to')) {
      issues.push({
        path: cspPath,
        message: 'already has report-uri/report-to while reportUri is set; keep one of the two',
      });
    }
  }
  for (const field of ['permissionsPolicy', 'cacheControl'] as const) {
    const value = config[field];
    if (value !== null && NOT_FIELD_VALUE.test(value)) {
      issues.push({
        path: `${path}.${field}`,
        message: 'contains a line break or another character not allowed in a header value (header injection)',
      });
    }
  }
  const { maxAge, includeSubDomains, preload } = config.hsts;
  if (maxAge < HSTS_MINIMUM_MAX_AGE) {
    issues.push({
      path: `${path}.hsts.maxAge`,
      rule: 'hsts-short',
      message: `max-age ${maxAge}s is below 180 days (${HSTS_MINIMUM_MAX_AGE}s): browsers forget HTTPS-only between visits, reopening SSL stripping`,
    });
  }
  if (preload && (!includeSubDomains || maxAge < DEFAULT_HSTS_MAX_AGE)) {
    issues.push({
      path: `${path}.hsts.preload`,
      message: `preload requires includeSubDomains and max-age of at least ${DEFAULT_HSTS_MAX_AGE}s (hstspreload.org)`,
    });
  }
  if (!config.contentTypeOptions) {
    issues.push({
      path: `${path}.contentTypeOptions`,
      rule: 'nosniff-disabled',
      message: 'without X-Content-Type-Options: nosniff browsers may run a JSON or text answer as script or style',
    });
  }
  return issues;
}

function isAcceptableReportUri(value: string): boolean {
  if (value.startsWith('/')) return !value.startsWith('//');
  try {
    const url = new URL(value);
    return url.protocol === 'https:' && url.username === '' && url.password === '';
  } catch {
    return false;
  }
}

/** What `rampart posture` says about a route's security headers. */
export interface SecurityHeadersPosture {
  /** Headers on responses over TLS, in order, as sent. */
  readonly headers: ReadonlyArray<readonly [name: string, value: string]>;
  /** Strict-Transport-Security value (never sent over plain HTTP). */
  readonly hsts: string;
  /** `gateway`: Cache-Control set by Rampart; `upstream`: the upstream's Cache-Control passes through. */
  readonly caching: 'gateway' | 'upstream';
  /** False when upstream values win (`override: false`). */
  readonly override: boolean;
  /** Plain-language notes for the report, e.g. why caching is allowed. */
  readonly notes: readonly string[];
}

export function describeSecurityHeaders(config: SecurityHeadersConfig): SecurityHeadersPosture {
  const { secure } = buildSecurityHeaders(config);
  const headers: Array<readonly [string, string]> = [];
  for (let i = 0; i < secure.length; i += 2) headers.push([secure[i]!, secure[i + 1]!]);
  const notes: string[] = ['Strict-Transport-Security is sent over TLS only (RFC 6797 §7.2)'];
  const caching = gatewaySetsCacheControl(config) ? 'gateway' : 'upstream';
  if (caching === 'upstream') {
    notes.push("responses may be cached: the upstream's Cache-Control passes through (route choice)");
  } else if (!/\bno-store\b/i.test(config.cacheControl!)) {
    notes.push(`Cache-Control is "${config.cacheControl}" rather than no-store: shared caches may keep responses`);
  }
  if (!config.override) notes.push("upstream values win: these headers only fill in what the upstream did not send");
  if (config.reportUri !== null) notes.push(`CSP violations are reported to ${config.reportUri}`);
  if (config.frameOptions === null) notes.push('X-Frame-Options is off; framing is governed by CSP frame-ancestors alone');
  if (config.permissionsPolicy === null) notes.push('Permissions-Policy is off');
  if (config.hsts.preload) notes.push('HSTS asks for browser preload lists');
  return { headers, hsts: hstsValue(config), caching, override: config.override, notes };
}

/** Removes this policy's own pushed `name`/`value` pair; entries pushed by other policies are left alone. */
function removePushedHeader(list: string[], name: string, value: string): void {
  for (let i = 0; i < list.length; i += 2) {
    if (list[i] === name && list[i + 1] === value) {
      list.splice(i, 2);
      return;
    }
  }
}

function create(config: SecurityHeadersConfig): PolicyHandlers {
  const { plain, secure } = buildSecurityHeaders(config);
  const onRequest = (ctx: RequestContext): undefined => {
    // RFC 6797 §7.2: an HSTS host must not send the header over non-secure transport (and §8.1: a UA ignores it).
    const list = ctx.secure ? secure : plain;
    const target = ctx.responseHeaders;
    for (let i = 0; i < list.length; i++) target.push(list[i]!);
    return undefined;
  };
  if (config.override) return { onRequest };

  // Fill-in mode: the pairs, by name, that give way to an upstream value.
  const yieldingPairs = new Map<string, string>();
  for (let i = 0; i < secure.length; i += 2) yieldingPairs.set(secure[i]!, secure[i + 1]!);
  return {
    onRequest,
    onResponse(ctx: RequestContext, response: UpstreamResponseView): void {
      const headers = response.headers;
      for (const [name, value] of yieldingPairs) {
        if (headers[name] !== undefined) removePushedHeader(ctx.responseHeaders, name, value);
      }
    },
  };
}

export const securityHeadersPolicy: PolicyDefinition<SecurityHeadersConfig> = {
  name: 'security-headers',
  phase: 'edge',
  // First in the edge phase, so every answer — including a refusal by any later edge policy — carries the headers.
  order: 0,
  onByDefault: true,
  schema: securityHeadersSchema,
  check,
  create,
};
