/**
 * Passive checks: every answer the scan receives, whatever probe sent it, is read for what it gives away (issue 8
 * point 2: error handling, security headers and CSP, verbose server headers, session cookie flags, deprecation
 * headers, excessive data exposure). Nothing here sends a request.
 *
 * Findings about target-wide behaviour (a missing header, stack traces from the error handler) are one finding per
 * rule listing every operation that showed it; data exposure is one finding per operation.
 */
import { headerValue, headerValues, jsonBody, type Exchange } from './client.ts';
import { ran, type ScanContext } from './context.ts';
import { evidenceOf, locationOf } from './findings.ts';
import { DYNAMIC_RULES as R } from './rules.ts';
import {
  bannerHeaders,
  findFrameworkBanner,
  findInternalAddresses,
  findSqlError,
  findStackTrace,
  piiKind,
  sensitiveName,
} from './signatures.ts';
import type { ScanOperation } from './plan.ts';
import { isObject, joinPointer } from '../../openapi/pointer.ts';
import { isFreeForm, objectShape, resolveSchema, typesOf } from '../../openapi/schema-info.ts';

const PRINCIPALS = new Set(['userA', 'userB', 'admin']);
const SESSION_NAME = /sess|sid|auth|token|jwt|login|remember|identity/i;
const ANTI_CSRF_NAME = /csrf|xsrf/i;
/** Purposes whose 2xx answers are the operation's normal output (probes with hostile input are not). */
const NORMAL_PURPOSES = new Set(['baseline', 'create', 'read-back']);

export class PassiveAnalyser {
  readonly #ctx: ScanContext;
  readonly #https: boolean;
  readonly #opByKey: Map<string, ScanOperation>;
  readonly #cookiesSeen = new Set<string>();

  constructor(ctx: ScanContext) {
    this.#ctx = ctx;
    this.#https = ctx.client.origin.protocol === 'https:';
    this.#opByKey = new Map((ctx.plan?.operations ?? []).map((op) => [op.key, op]));
    ran(ctx, R.stackTrace, R.sqlError, R.verbose5xx, R.internalAddress, R.bannerHeaders, R.cookieInsecure, R.pastSunset);
    if (ctx.plan) ran(ctx, R.notProblemJson, R.cspMissing, R.cspWeak, R.nosniffMissing, R.cacheControl, R.undocumentedFields, R.sensitiveFields);
    if (ctx.plan?.operations.some((op) => op.deprecated)) ran(ctx, R.deprecationHeaders);
    if (this.#https) ran(ctx, R.hstsMissing);
  }

  observe(exchange: Exchange): void {
    if (exchange.status === 0) return;
    this.#errors(exchange);
    this.#cookies(exchange);
    this.#sunset(exchange);
    // Header and contract checks judge the API's operations; answers to paths the scanner made up (docs paths,
    // old versions, undeclared methods) are judged by their own probes.
    const op = exchange.operation !== undefined && exchange.method === this.#opByKey.get(exchange.operation)?.method ? this.#opByKey.get(exchange.operation) : undefined;
    if (!op && this.#ctx.plan) return;
    this.#headers(exchange);
    if (!op) return;
    this.#problemJson(exchange);
    if (op.security !== 'public') this.#cacheControl(exchange);
    this.#deprecation(exchange, op);
    if (NORMAL_PURPOSES.has(exchange.purpose) && exchange.status >= 200 && exchange.status <= 299) this.#exposure(exchange, op);
  }

  #report(rule: (typeof R)[keyof typeof R], exchange: Exchange, message: string, group?: string, note?: string): void {
    this.#ctx.collector.add(rule, { location: locationOf(exchange, this.#ctx.masker), message, group, evidence: () => evidenceOf(exchange, this.#ctx.masker, note) });
  }

  #errors(exchange: Exchange): void {
    const body = exchange.body;
    const stack = findStackTrace(body);
    if (stack) this.#report(R.stackTrace, exchange, `responses contain ${stack.kind} stack traces`, undefined, `matched: ${stack.text}`);
    const sql = findSqlError(body);
    if (sql) this.#report(R.sqlError, exchange, `responses contain ${sql.kind} database errors`, undefined, `matched: ${sql.text}`);
    if (exchange.status >= 500) {
      const banner = findFrameworkBanner(body);
      if (banner) this.#report(R.verbose5xx, exchange, 'server errors reveal exception or framework details', undefined, `matched: ${banner.text}`);
    }
    const sent = `${exchange.path}\n${exchange.requestBody ?? ''}\n${Object.values(exchange.requestHeaders).join('\n')}`;
    const headerText = Object.entries(exchange.headers)
      .map(([name, value]) => `${name}: ${Array.isArray(value) ? value.join(', ') : String(value)}`)
      .join('\n');
    const addresses = findInternalAddresses(`${headerText}\n${body}`).filter((address) => !sent.toLowerCase().includes(address));
    if (addresses.length > 0) {
      this.#report(R.internalAddress, exchange, 'responses name internal addresses or hosts', undefined, `found: ${addresses.join(', ')}`);
    }
  }

  #headers(exchange: Exchange): void {
    const banners = bannerHeaders(exchange.headers);
    if (banners.length > 0) this.#report(R.bannerHeaders, exchange, `responses name the server software (${banners.map((b) => b.split(':')[0]).join(', ')})`, undefined, banners.join('\n'));
    const csp = headerValue(exchange.headers, 'content-security-policy');
    if (csp === undefined || csp.trim() === '') {
      this.#report(R.cspMissing, exchange, 'responses carry no Content-Security-Policy');
    } else {
      const weakness = cspWeakness(csp);
      if (weakness) this.#report(R.cspWeak, exchange, `the Content-Security-Policy is weak: ${weakness}`, undefined, `content-security-policy: ${csp.slice(0, 300)}`);
    }
    if ((headerValue(exchange.headers, 'x-content-type-options') ?? '').trim().toLowerCase() !== 'nosniff') {
      this.#report(R.nosniffMissing, exchange, 'responses carry no X-Content-Type-Options: nosniff');
    }
    if (this.#https) {
      const hsts = headerValue(exchange.headers, 'strict-transport-security');
      const maxAge = hsts ? /max-age\s*=\s*"?(\d+)/i.exec(hsts)?.[1] : undefined;
      if (maxAge === undefined || Number(maxAge) === 0) this.#report(R.hstsMissing, exchange, 'HTTPS responses carry no Strict-Transport-Security with a max-age');
    }
  }

  #problemJson(exchange: Exchange): void {
    if (exchange.status < 400 || exchange.body === '') return;
    const type = (headerValue(exchange.headers, 'content-type') ?? '').toLowerCase();
    if (!type.startsWith('application/problem+json')) {
      this.#report(R.notProblemJson, exchange, `error responses are not application/problem+json (${type.split(';')[0] || 'no content type'})`);
    }
  }

  #cacheControl(exchange: Exchange): void {
    if (!PRINCIPALS.has(exchange.principal) || exchange.status < 200 || exchange.status > 299) return;
    const cc = (headerValue(exchange.headers, 'cache-control') ?? '').toLowerCase();
    if (!/\bno-store\b|\bprivate\b/.test(cc)) this.#report(R.cacheControl, exchange, 'authenticated responses can be stored by caches (no Cache-Control: no-store or private)');
  }

  #cookies(exchange: Exchange): void {
    for (const line of headerValues(exchange.headers, 'set-cookie')) {
      const [pair = '', ...rawAttributes] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const attributes = rawAttributes.map((a) => a.trim().toLowerCase());
      // Deletions (Max-Age=0, an empty value) carry no session.
      if (value === '' || attributes.some((a) => a === 'max-age=0' || /^max-age=-/.test(a))) continue;
      if (ANTI_CSRF_NAME.test(name)) continue;
      const sessionLike = SESSION_NAME.test(name) || (value.length >= 16 && /^[A-Za-z0-9+/=_.%-]+$/.test(value));
      if (!sessionLike) continue;
      const missing: string[] = [];
      if (!attributes.includes('secure')) missing.push('Secure');
      if (!attributes.includes('httponly')) missing.push('HttpOnly');
      if (!attributes.some((a) => /^samesite=(strict|lax)$/.test(a))) missing.push('SameSite');
      if (missing.length === 0) continue;
      this.#report(R.cookieInsecure, exchange, `cookie ${name} is set without ${missing.join(', ')}`, `cookie:${name}`);
      this.#cookiesSeen.add(name);
    }
  }

  #sunset(exchange: Exchange): void {
    if (exchange.status < 200 || exchange.status > 299) return;
    const sunset = headerValue(exchange.headers, 'sunset');
    if (sunset === undefined) return;
    const at = Date.parse(sunset);
    if (!Number.isNaN(at) && at < Date.now()) this.#report(R.pastSunset, exchange, `still served after its Sunset date (${sunset})`);
  }

  #deprecation(exchange: Exchange, op: ScanOperation): void {
    if (!op.deprecated || exchange.status < 200 || exchange.status > 299) return;
    const missing = ['deprecation', 'sunset'].filter((name) => headerValue(exchange.headers, name) === undefined);
    if (missing.length > 0) {
      this.#report(R.deprecationHeaders, exchange, `deprecated operations answer without ${missing.map((m) => m[0]!.toUpperCase() + m.slice(1)).join(' and ')} headers`);
    }
  }

  #exposure(exchange: Exchange, op: ScanOperation): void {
    const plan = this.#ctx.plan;
    if (!plan || !op.jsonResponse) return;
    const body = jsonBody(exchange);
    if (body === undefined) return;
    const found: Undeclared[] = [];
    undeclaredProperties(plan.model.document, plan.model.version, op.jsonResponse.schema, op.jsonResponse.pointer, body, '', found, 0);
    const sensitive = found.filter((u) => sensitiveName(u.name) || (typeof u.value === 'string' && piiKind(u.value) !== undefined));
    const other = found.filter((u) => !sensitive.includes(u));
    const names = (list: Undeclared[]) => [...new Set(list.map((u) => u.path))].slice(0, 12);
    if (sensitive.length > 0) {
      const kinds = [...new Set(sensitive.map((u) => (typeof u.value === 'string' ? piiKind(u.value) : undefined) ?? 'secret-named'))];
      this.#report(R.sensitiveFields, exchange, `${op.method} ${op.template} returns undeclared sensitive properties: ${names(sensitive).join(', ')}`, op.key, `kinds: ${kinds.join(', ')}`);
    }
    if (other.length > 0) {
      this.#report(R.undocumentedFields, exchange, `${op.method} ${op.template} returns undeclared properties: ${names(other).join(', ')}`, op.key);
    }
  }
}

/** Why a CSP does not stop injected script, or undefined when it does. */
export function cspWeakness(csp: string): string | undefined {
  const directives = new Map<string, string[]>();
  for (const part of csp.split(';')) {
    const [name, ...values] = part.trim().split(/\s+/);
    if (name) directives.set(name.toLowerCase(), values.map((v) => v.toLowerCase()));
  }
  const scripts = directives.get('script-src') ?? directives.get('default-src');
  if (!scripts) return 'no default-src or script-src';
  if (scripts.includes("'unsafe-inline'") && !scripts.some((v) => v.startsWith("'nonce-") || v.startsWith("'sha"))) return "'unsafe-inline' scripts allowed";
  if (scripts.includes("'unsafe-eval'")) return "'unsafe-eval' allowed";
  if (scripts.some((v) => v === '*' || v === 'http:' || v === 'https:' || v === 'data:')) return 'scripts from any source allowed';
  return undefined;
}

export interface Undeclared {
  readonly path: string;
  readonly name: string;
  readonly value: unknown;
}

const MAX_ITEMS = 20;
const MAX_DEPTH = 8;

/** Properties of `value` that the schema does not declare (only where the schema lists its properties). */
export function undeclaredProperties(
  document: unknown,
  version: '2.0' | '3.0' | '3.1',
  node: unknown,
  pointer: string,
  value: unknown,
  path: string,
  out: Undeclared[],
  depth: number,
): void {
  if (depth > MAX_DEPTH || out.length > 50) return;
  const { value: schema, pointer: at } = resolveSchema(document, node, pointer);
  if (!isObject(schema)) return;
  if (Array.isArray(value)) {
    const types = typesOf(document, version, schema, at);
    if (!types.has('array') || schema.items === undefined) return;
    for (const item of value.slice(0, MAX_ITEMS)) undeclaredProperties(document, version, schema.items, joinPointer(at, 'items'), item, `${path}[]`, out, depth + 1);
    return;
  }
  if (!isObject(value)) return;
  if (isFreeForm(document, schema, at)) return;
  const shape = objectShape(document, schema, at);
  for (const [name, item] of Object.entries(value)) {
    const declared = shape.properties.get(name);
    const here = path === '' ? name : `${path}.${name}`;
    if (declared) undeclaredProperties(document, version, declared.value, declared.pointer, item, here, out, depth + 1);
    else if (!shape.open) out.push({ path: here, name, value: item });
  }
}
