/**
 * `cors`: strict cross-origin resource sharing (checklist item 13; OWASP API8:2023; Fetch standard §3.2 "CORS
 * protocol"; OWASP HTML5 Security Cheat Sheet "Cross Origin Resource Sharing").
 *
 * What it guarantees:
 * - Only configured origins ever see `Access-Control-Allow-Origin`; the value is the request's origin only when that
 *   exact string is in the configured set or matches an anchored pattern (never a substring, prefix or suffix test),
 *   and never `*` together with credentials.
 * - `Origin: null` (sandboxed iframes, `file:`, cross-origin redirects, `data:` documents) is never allowed, whatever
 *   the config says: granting it grants every sandboxed attacker page.
 * - Origins are matched case-sensitively against the lower-case configured set. Browsers always send the ASCII
 *   serialization, which is lower case (HTML "ASCII serialization of an origin"), so `https://APP.EXAMPLE.COM` can
 *   only come from a non-browser client, for which CORS means nothing; treating it as not allowed keeps the match a
 *   single Set lookup and avoids reflecting a string no browser would have sent.
 * - `Vary: Origin` is on every response of the route, allowed or not, so a shared cache never serves one origin's
 *   answer (with its `Access-Control-Allow-Origin`) to another (cache poisoning; Fetch §3.2.4 "CORS protocol and
 *   HTTP caches").
 * - Preflights are answered by the gateway and never reach the upstream; the gateway's proxy removes the upstream's
 *   own `Access-Control-*` headers on every route, so an upstream cannot widen what the route allows.
 * - A disallowed origin's actual request is still forwarded (CORS is enforced by the browser, which will refuse to
 *   expose the answer); it gets no CORS headers and raises a `cors.origin-denied` security event.
 */
import type { ConfigIssue, Outcome, PolicyDefinition, PolicyHandlers, RequestContext } from '../types.ts';
import { problem } from '../types.ts';
import type { SecurityEvents } from '../../observe/events.ts';
import { compileOriginPattern, isLoopbackHost, parseConfiguredOrigin } from './origin.ts';
import { corsSchema, type CorsConfig } from './schema.ts';

export { corsSchema, type CorsConfig } from './schema.ts';

/**
 * Request headers a browser never lists in `Access-Control-Request-Headers` for their safelisted values (Fetch §2.2.2
 * "CORS-safelisted request-header"); a client that lists them anyway is not refused for it. `content-type` is not here:
 * it is only listed when its value is not safelisted (e.g. `application/json`), and then it must be allowed.
 */
const SAFELISTED_REQUEST_HEADERS: ReadonlySet<string> = new Set(['accept', 'accept-language', 'content-language']);

const PREFLIGHT_VARY = 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers';

/**
 * A serialized origin as browsers send it (HTML "ASCII serialization of an origin"): lower-case scheme and host,
 * optional port, nothing else. `null`, paths, userinfo and trailing dots fail it.
 */
const SERIALIZED_ORIGIN = /^https?:\/\/(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*|\[[0-9a-f:.]+\])(?::\d{1,5})?$/;

/** RFC 9110 §5.6.2 token: what a header name may be. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;

/** Origins in security events are attacker-controlled: bound what is recorded. */
const MAX_ORIGIN_IN_EVENT = 256;

/** Semantic checks JSON Schema cannot express; `path` is where this policy's settings sit. */
function check(config: CorsConfig, path: string): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  config.origins.forEach((value, index) => {
    const at = `${path}.origins[${index}]`;
    if (value === '*') {
      if (config.credentials) {
        issues.push({
          path: at,
          message:
            '"*" is not allowed with credentials: it would let every web site read credentialed responses (browsers ' +
            'also refuse the combination); list the origins',
        });
      } else {
        issues.push({
          path: at,
          rule: 'cors-wildcard-origin',
          message: '"*" lets every web site read responses of this route; list the origins that need access',
        });
      }
      return;
    }
    if (value.toLowerCase() === 'null') {
      issues.push({
        path: at,
        message:
          'the "null" origin is never allowed: sandboxed iframes, file: pages and redirected requests all send it, ' +
          'so any attacker page can claim it',
      });
      return;
    }
    const parsed = parseConfiguredOrigin(value);
    if (!parsed.ok) {
      issues.push({ path: at, message: `"${value}" is not a valid origin: it ${parsed.reason}` });
      return;
    }
    if (parsed.scheme === 'http' && !isLoopbackHost(parsed.host)) {
      issues.push({
        path: at,
        rule: 'cors-insecure-origin',
        message: `"${value}" is served over plain http: anyone on the network path can inject script into it and act with its access`,
      });
    }
  });
  config.originPatterns.forEach((value, index) => {
    const at = `${path}.originPatterns[${index}]`;
    const compiled = compileOriginPattern(value);
    if (!compiled.ok) {
      issues.push({ path: at, message: `"${value}" is not a valid origin pattern: it ${compiled.reason}` });
      return;
    }
    if (compiled.scheme === 'http' && !isLoopbackHost(compiled.suffix)) {
      issues.push({
        path: at,
        rule: 'cors-insecure-origin',
        message: `"${value}" matches plain-http origins: anyone on the network path can inject script into them`,
      });
    }
    if (config.credentials) {
      issues.push({
        path: at,
        rule: 'cors-credentials-pattern',
        message:
          `"${value}" grants credentialed access to every matching subdomain; one subdomain takeover or XSS ` +
          'anywhere under it reads authenticated responses; list exact origins instead',
      });
    }
  });
  // The method schema already refuses `*` (a method starts with a letter).
  for (const [field, list] of [
    ['allowHeaders', config.allowHeaders],
    ['exposeHeaders', config.exposeHeaders],
  ] as const) {
    list.forEach((value, index) => {
      if (value === '*') {
        issues.push({
          path: `${path}.${field}[${index}]`,
          message: '"*" is not supported (with credentials browsers read it as a literal name); list the names',
        });
      }
    });
  }
  if (config.origins.length === 0 && config.originPatterns.length === 0) {
    issues.push({
      path: `${path}.origins`,
      severity: 'warning',
      message: 'no origin is allowed, so every cross-origin request is refused; list origins or remove the policy',
    });
  }
  return issues;
}

function create(config: CorsConfig, deps: { readonly events: SecurityEvents; readonly routeId: string }): PolicyHandlers {
  // Everything below is built once per route; the handlers only look things up.
  const allowedOrigins = new Set<string>();
  let allowAnyOrigin = false;
  for (const value of config.origins) {
    if (value === '*') {
      // `*` with credentials is a config error; should it ever get here, fail closed and grant nothing.
      allowAnyOrigin = !config.credentials;
      continue;
    }
    const parsed = parseConfiguredOrigin(value);
    if (parsed.ok) allowedOrigins.add(parsed.origin);
  }
  const patterns: RegExp[] = [];
  for (const value of config.originPatterns) {
    const compiled = compileOriginPattern(value);
    if (compiled.ok) patterns.push(compiled.regex);
  }
  const { credentials, allowPrivateNetwork } = config;
  const allowedMethods: ReadonlySet<string> = new Set(config.methods);
  const allowedRequestHeaders: ReadonlySet<string> = new Set(config.allowHeaders.map((name) => name.toLowerCase()));
  const methodsValue = config.methods.join(', ');
  const allowHeadersValue = config.allowHeaders.map((name) => name.toLowerCase()).join(', ');
  const exposeHeadersValue = config.exposeHeaders.length > 0 ? config.exposeHeaders.join(', ') : undefined;
  const maxAgeValue = String(config.maxAge);
  const preflightDeniedHeaders: Readonly<Record<string, string>> = Object.freeze({ vary: PREFLIGHT_VARY });
  const { events, routeId } = deps;

  function isAllowedOrigin(origin: string): boolean {
    if (allowedOrigins.has(origin)) return true;
    for (let i = 0; i < patterns.length; i++) {
      if (patterns[i]!.test(origin)) return true;
    }
    // `null` fails SERIALIZED_ORIGIN, so even `*` never grants it.
    return allowAnyOrigin && SERIALIZED_ORIGIN.test(origin);
  }

  function reportDeniedOrigin(ctx: RequestContext, origin: string, preflight: boolean): void {
    events.emit({
      type: 'cors.origin-denied',
      severity: 'low',
      requestId: ctx.requestId,
      routeId,
      clientAddress: ctx.clientAddress,
      details: {
        origin: origin.length > MAX_ORIGIN_IN_EVENT ? origin.slice(0, MAX_ORIGIN_IN_EVENT) : origin,
        preflight,
      },
    });
  }

  /** Every name in `Access-Control-Request-Headers` must be allowed or safelisted (Fetch §4.8 CORS-preflight fetch). */
  function requestHeadersAllowed(requested: string): boolean {
    for (const part of requested.split(',')) {
      const name = part.trim().toLowerCase();
      if (name === '') continue;
      if (!TOKEN.test(name)) return false;
      if (!allowedRequestHeaders.has(name) && !SAFELISTED_REQUEST_HEADERS.has(name)) return false;
    }
    return true;
  }

  function preflight(ctx: RequestContext, origin: string, requestedMethod: string): Outcome {
    if (!isAllowedOrigin(origin)) {
      reportDeniedOrigin(ctx, origin, true);
      return problem('RAMPART_ERR_CORS_PREFLIGHT_DENIED', 'origin not allowed', preflightDeniedHeaders);
    }
    // Method names are case-sensitive (Fetch §2.2.1); browsers upper-case only the six standard ones.
    if (!allowedMethods.has(requestedMethod)) {
      return problem('RAMPART_ERR_CORS_PREFLIGHT_DENIED', 'method not allowed', preflightDeniedHeaders);
    }
    const requestedHeaders = ctx.req.headers['access-control-request-headers'];
    if (requestedHeaders !== undefined && !requestHeadersAllowed(requestedHeaders)) {
      return problem('RAMPART_ERR_CORS_PREFLIGHT_DENIED', 'request header not allowed', preflightDeniedHeaders);
    }
    // Private Network Access (WICG): a public page reaching a private address asks first; granted only on opt-in.
    const privateNetwork = ctx.req.headers['access-control-request-private-network'] === 'true';
    if (privateNetwork && !allowPrivateNetwork) {
      return problem('RAMPART_ERR_CORS_PREFLIGHT_DENIED', 'private network access not allowed', preflightDeniedHeaders);
    }
    const headers: Record<string, string> = {
      'access-control-allow-origin': allowAnyOrigin ? '*' : origin,
      'access-control-allow-methods': methodsValue,
      'access-control-max-age': maxAgeValue,
      vary: PREFLIGHT_VARY,
    };
    if (requestedHeaders !== undefined && allowHeadersValue !== '') {
      headers['access-control-allow-headers'] = allowHeadersValue;
    }
    if (credentials) headers['access-control-allow-credentials'] = 'true';
    if (privateNetwork) headers['access-control-allow-private-network'] = 'true';
    return { kind: 'direct', status: 204, headers };
  }

  return {
    onRequest(ctx: RequestContext): Outcome {
      const origin = ctx.req.headers.origin;
      if (origin === undefined) {
        ctx.responseHeaders.push('vary', 'Origin');
        return undefined;
      }
      if (ctx.method === 'OPTIONS') {
        const requestedMethod = ctx.req.headers['access-control-request-method'];
        // A preflight is OPTIONS + Origin + Access-Control-Request-Method (Fetch §3.2.2); its answer carries its own
        // Vary, so nothing is pushed to the shared response headers.
        if (requestedMethod !== undefined) return preflight(ctx, origin, requestedMethod);
      }
      const responseHeaders = ctx.responseHeaders;
      if (isAllowedOrigin(origin)) {
        // With `*` configured (and therefore no credentials) answer the literal `*`, never a reflection.
        responseHeaders.push('access-control-allow-origin', allowAnyOrigin ? '*' : origin);
        if (credentials) responseHeaders.push('access-control-allow-credentials', 'true');
        if (exposeHeadersValue !== undefined) responseHeaders.push('access-control-expose-headers', exposeHeadersValue);
      } else {
        reportDeniedOrigin(ctx, origin, false);
      }
      responseHeaders.push('vary', 'Origin');
      return undefined;
    },

  };
}

export const corsPolicy: PolicyDefinition<CorsConfig> = {
  name: 'cors',
  phase: 'edge',
  order: 20,
  schema: corsSchema,
  check,
  create,
};
