/**
 * Target-wide probes: CORS (item 13), documentation at well-known paths (item 14), HTTP methods (TRACE and methods
 * the document does not declare), old API versions still served (items 10, 15), and the rate limit (item 5).
 */
import { randomBytes } from 'node:crypto';
import { headerValue, type Exchange } from '../client.ts';
import { bump, isSuccess, pathValues, ran, report, sendOperation, usualPrincipal, type Principal, type ScanContext } from '../context.ts';
import { fillTemplate, type ScanOperation } from '../plan.ts';
import { DYNAMIC_RULES as R } from '../rules.ts';

/** Readable operations that answered their baseline with 2xx, in plan order. */
function workingReads(ctx: ScanContext): ScanOperation[] {
  return (ctx.plan?.operations ?? []).filter((op) => op.safe && op.method === 'GET' && isSuccess(ctx.baselines.get(op.key) ?? ({ status: 0 } as Exchange)));
}

async function rootRequest(ctx: ScanContext, method: string, headers: Record<string, string>, purpose: string, path = '/'): Promise<Exchange> {
  return ctx.client.send({ method, path, headers, principal: 'anonymous', purpose });
}

export async function probeCors(ctx: ScanContext): Promise<void> {
  ran(ctx, R.corsReflected, R.corsNull, R.corsWildcardCredentials, R.corsWildcard);
  const reads = workingReads(ctx);
  const targets: Array<{ op?: ScanOperation; principal: Principal }> = [];
  const authenticated = reads.find((op) => usualPrincipal(ctx, op) !== 'anonymous' && op.security !== 'public');
  const open = reads.find((op) => op.security === 'public' && op.pathParams.length === 0);
  if (authenticated) targets.push({ op: authenticated, principal: usualPrincipal(ctx, authenticated) });
  if (open) targets.push({ op: open, principal: 'anonymous' });
  if (targets.length === 0) targets.push({ principal: 'anonymous' });
  const evil = `https://${randomBytes(6).toString('hex')}.rampart-scan.example`;
  for (const { op, principal } of targets) {
    const send = (method: string, headers: Record<string, string>): Promise<Exchange> =>
      op ? sendOperation(ctx, op, principal, { method, headers, purpose: 'cors' }) : rootRequest(ctx, method, headers, 'cors');
    const where = op ? `${op.method} ${op.template}` : 'the root path';
    const simple = await send(op?.method ?? 'GET', { origin: evil });
    judge(ctx, simple, evil, where, principal !== 'anonymous');
    const preflight = await send('OPTIONS', {
      origin: evil,
      'access-control-request-method': op?.method ?? 'GET',
      'access-control-request-headers': 'authorization, content-type',
    });
    judge(ctx, preflight, evil, `${where} (preflight)`, principal !== 'anonymous');
    const nullOrigin = await send(op?.method ?? 'GET', { origin: 'null' });
    if (headerValue(nullOrigin.headers, 'access-control-allow-origin')?.trim() === 'null') {
      report(ctx, R.corsNull, nullOrigin, `${where} allows the null origin${credentialsAllowed(nullOrigin) ? ' with credentials' : ''}`);
    }
  }
}

function credentialsAllowed(exchange: Exchange): boolean {
  return headerValue(exchange.headers, 'access-control-allow-credentials')?.trim().toLowerCase() === 'true';
}

function judge(ctx: ScanContext, exchange: Exchange, origin: string, where: string, authenticated: boolean): void {
  const allowed = headerValue(exchange.headers, 'access-control-allow-origin')?.trim();
  if (allowed === undefined) return;
  const credentials = credentialsAllowed(exchange);
  if (allowed === origin) {
    report(ctx, R.corsReflected, exchange, `${where} reflects any Origin in Access-Control-Allow-Origin${credentials ? ' and allows credentials' : ''}`);
  } else if (allowed === '*' && credentials) {
    report(ctx, R.corsWildcardCredentials, exchange, `${where} answers Access-Control-Allow-Origin: * with Access-Control-Allow-Credentials: true`);
  } else if (allowed === '*' && authenticated) {
    report(ctx, R.corsWildcard, exchange, `${where} answers authenticated requests with Access-Control-Allow-Origin: *`);
  }
}

/** Where frameworks publish API descriptions and documentation UIs (Swagger UI, springdoc, ReDoc, FastAPI). */
export const DOCUMENTATION_PATHS: readonly string[] = [
  '/swagger.json',
  '/swagger.yaml',
  '/openapi.json',
  '/openapi.yaml',
  '/v2/api-docs',
  '/v3/api-docs',
  '/swagger-ui/',
  '/swagger-ui.html',
  '/swagger/index.html',
  '/api-docs',
  '/redoc',
  '/docs',
];

function looksLikeDocumentation(exchange: Exchange): string | undefined {
  if (!isSuccess(exchange)) return undefined;
  const body = exchange.body.slice(0, 65536);
  if (/^\s*\{[\s\S]*"(openapi|swagger)"\s*:\s*"\d/.test(body)) return 'an OpenAPI/Swagger document (JSON)';
  if (/^(openapi|swagger)\s*:\s*["']?\d/m.test(body)) return 'an OpenAPI/Swagger document (YAML)';
  if (/swagger-ui|SwaggerUIBundle|<redoc\b|redoc\.standalone|rapi-doc/i.test(body)) return 'a documentation UI';
  return undefined;
}

export async function probeDocumentation(ctx: ScanContext): Promise<void> {
  ran(ctx, R.docsPublic);
  const base = ctx.plan?.basePath ?? '';
  const paths = new Set(DOCUMENTATION_PATHS);
  if (base !== '') for (const path of DOCUMENTATION_PATHS) paths.add(`${base}${path}`);
  for (const path of paths) {
    // Documented operations are meant to be called (a spec that lists /openapi.json as public says so).
    if (ctx.plan?.operationFor('GET', path)) continue;
    const exchange = await rootRequest(ctx, 'GET', {}, 'docs', path);
    const what = looksLikeDocumentation(exchange);
    if (what) report(ctx, R.docsPublic, exchange, `${what} is served anonymously`);
  }
}

export async function probeMethods(ctx: ScanContext): Promise<void> {
  ran(ctx, R.traceEnabled, R.unexpectedMethod);
  const trace = await rootRequest(ctx, 'TRACE', { 'x-rampart-trace': 'probe' }, 'methods');
  if (isSuccess(trace)) report(ctx, R.traceEnabled, trace, 'the server answers TRACE');
  const plan = ctx.plan;
  if (!plan) return;
  const seen = new Set<string>();
  let probes = 0;
  for (const op of plan.operations) {
    if (op.method !== 'GET' || seen.has(op.template) || probes >= 40) continue;
    seen.add(op.template);
    const declared = new Set(plan.operations.filter((o) => o.template === op.template).map((o) => o.method));
    const principal = usualPrincipal(ctx, op);
    if (!declared.has('TRACE') && probes === 0) {
      // TRACE on a real route as well: some servers answer it on the root only, or only on routes.
      probes++;
      const exchange = await rootRequest(ctx, 'TRACE', { 'x-rampart-trace': 'probe' }, 'methods', fillTemplate(op.template, pathValues(ctx, op, principal)));
      if (isSuccess(exchange)) report(ctx, R.traceEnabled, exchange, 'the server answers TRACE');
    }
    if (declared.has('SEARCH')) continue;
    // SEARCH is safe by definition (RFC 5323) and no API declares it by accident: a 2xx means the route ignored the method.
    probes++;
    const exchange = await sendOperation(ctx, op, principal, { method: 'SEARCH', purpose: 'methods' });
    const baseline = ctx.baselines.get(op.key);
    if (isSuccess(exchange) && (!baseline || isSuccess(baseline))) {
      report(ctx, R.unexpectedMethod, exchange, `${op.template} answers the undeclared method SEARCH with ${exchange.status}`, `SEARCH ${op.template}`);
    }
  }
}

const VERSION_SEGMENT = /^v(\d{1,3})(?:\.\d+)?$/i;

/** Lower versions of documented paths (`/v3/...` → `/v2/...`, `/v1/...`) that still answer without Sunset. */
export async function probeOldVersions(ctx: ScanContext): Promise<void> {
  const plan = ctx.plan;
  if (!plan) return;
  const tried = new Set<string>();
  let sent = 0;
  for (const op of plan.operations) {
    if (op.method !== 'GET' || sent >= 40) continue;
    const segments = op.template.split('/');
    const index = segments.findIndex((s) => VERSION_SEGMENT.test(s));
    if (index < 0) continue;
    ran(ctx, R.oldVersionLive);
    const current = Number(VERSION_SEGMENT.exec(segments[index]!)![1]);
    for (let version = current - 1; version >= Math.max(1, current - 3) && sent < 40; version--) {
      const old = [...segments];
      old[index] = `v${version}`;
      const template = old.join('/');
      if (tried.has(template) || plan.operations.some((o) => o.template === template && o.method === 'GET')) continue;
      tried.add(template);
      const principal = usualPrincipal(ctx, op);
      const values = pathValues(ctx, op, principal);
      sent++;
      const exchange = await sendOld(ctx, template, values, principal);
      if (isSuccess(exchange) && headerValue(exchange.headers, 'sunset') === undefined) {
        report(ctx, R.oldVersionLive, exchange, `v${version} of ${op.template} is still served, without a Sunset header`, template);
      }
    }
  }
}

async function sendOld(ctx: ScanContext, template: string, values: Record<string, string>, principal: Principal): Promise<Exchange> {
  const applied = principal === 'anonymous' ? { headers: {} } : await ctx.credentials.apply(principal);
  let path = fillTemplate(template, values);
  if (applied.query) path += `?${new URLSearchParams([[applied.query[0], applied.query[1]]]).toString()}`;
  return ctx.client.send({ method: 'GET', path, headers: { ...applied.headers }, principal, purpose: 'versions' });
}

/** A bounded burst to one cheap operation: no 429 at all means no rate limit at that rate. */
export async function probeRateLimit(ctx: ScanContext): Promise<void> {
  const burst = ctx.tuning.rateLimitBurst;
  if (burst <= 0) return;
  ran(ctx, R.rateLimitMissing, R.rateLimitHeaders);
  const candidates = workingReads(ctx).filter((op) => op.pathParams.length === 0);
  const op = candidates.find((o) => o.security === 'public') ?? candidates[0];
  if (ctx.plan && !op) {
    bump(ctx, 'rateLimitNotAssessed');
    return;
  }
  const principal = op ? usualPrincipal(ctx, op) : 'anonymous';
  const count = Math.min(burst, Math.max(0, ctx.client.budget.remaining));
  let limited: Exchange | undefined;
  let last: Exchange | undefined;
  const clock = performance.now();
  for (let i = 0; i < count; i++) {
    last = op
      ? await sendOperation(ctx, op, principal, { purpose: 'rate-limit', unpaced: true, retryOn429: false })
      : await ctx.client.send({ method: 'GET', path: '/', principal: 'anonymous', purpose: 'rate-limit', unpaced: true, retryOn429: false });
    if (last.status === 429 || (last.status === 503 && headerValue(last.headers, 'retry-after') !== undefined)) {
      limited = last;
      break;
    }
  }
  if (!last) return;
  const where = op ? `${op.method} ${op.template}` : 'GET /';
  if (!limited) {
    const seconds = Math.max(0.001, (performance.now() - clock) / 1000);
    report(ctx, R.rateLimitMissing, last, `${where}: no 429 in a burst of ${count} requests (about ${Math.round(count / seconds)} per second)`);
    return;
  }
  const headers = limited.headers;
  const told = headerValue(headers, 'retry-after') !== undefined || headerValue(headers, 'ratelimit') !== undefined || headerValue(headers, 'ratelimit-reset') !== undefined || headerValue(headers, 'x-ratelimit-reset') !== undefined;
  if (!told) report(ctx, R.rateLimitHeaders, limited, `${where}: 429 without Retry-After or RateLimit headers`);
}
