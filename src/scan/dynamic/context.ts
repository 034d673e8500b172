/**
 * What every probe shares during one scan: the client, the principals, the plan from the OpenAPI document, the ids
 * discovered so far, the baseline answers, the findings, and a helper that builds a request for an operation as a
 * principal (path parameters from discovered ids, required query and header parameters from the document).
 */
import type { OpenApiVersion, ParameterModel } from '../../openapi/model.ts';
import type { PrincipalName } from './auth-file.ts';
import type { Exchange, ProbeRequest, ScanClient } from './client.ts';
import { applyAt, type Applied, type CredentialPlace, type Credentials } from './credentials.ts';
import type { Discovery } from './discovery.ts';
import { evidenceOf, locationOf, type FindingCollector, type HttpLocation } from './findings.ts';
import type { Masker } from './mask.ts';
import { fillTemplate, type ScanOperation, type ScanPlan } from './plan.ts';
import type { RuleInfo } from '../model.ts';
import { paramText, sampleFromSchema } from './values.ts';

export type Principal = PrincipalName | 'anonymous';

export interface ScanTuning {
  /** Requests in the rate-limit burst (0 turns the probe off). */
  readonly rateLimitBurst: number;
  /** Delay asked of injected sleep payloads, seconds. */
  readonly timingDelaySeconds: number;
  /** Longest JWT lifetime not reported (seconds). */
  readonly maxTokenLifetimeSeconds: number;
  /** Size of the oversized body probe (bytes). */
  readonly oversizedBytes: number;
}

export interface ScanContext {
  readonly client: ScanClient;
  readonly credentials: Credentials;
  readonly plan: ScanPlan | undefined;
  readonly discovery: Discovery;
  readonly collector: FindingCollector;
  readonly masker: Masker;
  readonly tuning: ScanTuning;
  /** Rule ids that ran (with findings or not). */
  readonly ran: Set<string>;
  readonly stats: Record<string, number>;
  /** The baseline answer per operation key (the principal the operation is normally called by). */
  readonly baselines: Map<string, Exchange>;
  /** The target is plain HTTP on a loopback address (a development setup). */
  readonly loopback: boolean;
  /** Forged tokens by principal and variant (made once per scan: key generation is not free). */
  readonly forged: Map<string, string | undefined>;
  /** Progress label of the running phase. */
  phase: string;
}

export function bump(ctx: ScanContext, stat: string, by = 1): void {
  ctx.stats[stat] = (ctx.stats[stat] ?? 0) + by;
}

export function ran(ctx: ScanContext, ...rules: RuleInfo[]): void {
  for (const rule of rules) ctx.ran.add(rule.id);
}

export function report(ctx: ScanContext, rule: RuleInfo, exchange: Exchange, message: string, group?: string, note?: string): void {
  ctx.collector.add(rule, { location: locationOf(exchange, ctx.masker), message, group, evidence: () => evidenceOf(exchange, ctx.masker, note) });
}

export function reportAt(ctx: ScanContext, rule: RuleInfo, location: HttpLocation, message: string, group?: string, note?: string): void {
  ctx.collector.add(rule, { location, message, group, ...(note === undefined ? {} : { evidence: { note } }) });
}

export function sampleContext(ctx: ScanContext): { document: unknown; version: OpenApiVersion } | undefined {
  return ctx.plan ? { document: ctx.plan.model.document, version: ctx.plan.model.version } : undefined;
}

/** The principal an operation is normally called by: admin for administrative ones, user A otherwise. */
export function usualPrincipal(ctx: ScanContext, op: ScanOperation): Principal {
  if (op.admin && ctx.credentials.has('admin')) return 'admin';
  if (ctx.credentials.has('userA')) return 'userA';
  return 'anonymous';
}

export function isSuccess(exchange: Exchange): boolean {
  return exchange.status >= 200 && exchange.status <= 299;
}

export interface OperationRequest {
  /** Path parameter values (otherwise discovered ids of `idsOf`, else samples). */
  readonly params?: Readonly<Record<string, string>>;
  /** Query parameters to set (added to or replacing the required ones). */
  readonly query?: Readonly<Record<string, string>>;
  /** Raw query string appended as is (already encoded), for parameter-name probes like `name[$ne]=x`. */
  readonly rawQuery?: string;
  /** Required query parameters to leave out (the raw query carries them in another form). */
  readonly omitQuery?: readonly string[];
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  /** Whose discovered ids fill the path, in order of preference (default: the principal's, then user A's). */
  readonly idsOf?: string | readonly string[];
  /** Send a forged credential in the principal's place instead of the real one. */
  readonly forged?: { readonly place: CredentialPlace; readonly value: string; readonly label: string };
  readonly purpose: string;
  readonly unpaced?: boolean;
  readonly retryOn429?: boolean;
  readonly method?: string;
}

/** Concrete path parameter values for an operation: discovered ids first, then document samples. */
export function pathValues(ctx: ScanContext, op: ScanOperation, idsOf: string | readonly string[], given: Readonly<Record<string, string>> = {}): Record<string, string> {
  const sources = [...(typeof idsOf === 'string' ? [idsOf] : idsOf), 'userA'];
  const values: Record<string, string> = {};
  for (const param of op.pathParams) {
    const explicit = given[param.name];
    if (explicit !== undefined) {
      values[param.name] = explicit;
      continue;
    }
    let found: string | undefined;
    for (const source of sources) {
      found = ctx.discovery.valuesFor(source, op.template, param.name)[0];
      if (found !== undefined) break;
    }
    values[param.name] = found ?? paramSample(ctx, param);
  }
  return values;
}

export function paramSample(ctx: ScanContext, param: ParameterModel): string {
  const sc = sampleContext(ctx);
  if (!sc || !param.schema) return '1';
  return paramText(sampleFromSchema(sc, param.schema.schema, param.schema.pointer));
}

/** Sends a request for an operation as a principal. */
export async function sendOperation(ctx: ScanContext, op: ScanOperation, principal: Principal, request: OperationRequest): Promise<Exchange> {
  const values = pathValues(ctx, op, request.idsOf ?? principal, request.params);
  const path = fillTemplate(op.template, values);
  const query = new URLSearchParams();
  const headers: Record<string, string> = {};
  for (const param of op.model.parameters) {
    if (!param.required) continue;
    if (param.in === 'query' && request.query?.[param.name] === undefined && !request.omitQuery?.includes(param.name)) query.set(param.name, paramSample(ctx, param));
    if (param.in === 'header') headers[param.name.toLowerCase()] = paramSample(ctx, param);
  }
  for (const [name, value] of Object.entries(request.query ?? {})) query.set(name, value);
  let applied: Applied = { headers: {} };
  let label: string = principal;
  if (request.forged) {
    applied = applyAt(request.forged.place, request.forged.value);
    label = request.forged.label;
  } else if (principal !== 'anonymous') {
    applied = await ctx.credentials.apply(principal);
  }
  if (applied.query) query.set(applied.query[0], applied.query[1]);
  let search = query.toString();
  if (request.rawQuery) search = search === '' ? request.rawQuery : `${search}&${request.rawQuery}`;
  const probe: ProbeRequest = {
    method: request.method ?? op.method,
    path: search === '' ? path : `${path}?${search}`,
    headers: { ...headers, ...applied.headers, ...(request.headers ?? {}) },
    body: request.body,
    principal: label,
    operation: op.key,
    purpose: request.purpose,
    unpaced: request.unpaced,
    retryOn429: request.retryOn429,
  };
  return ctx.client.send(probe);
}

/** A JSON body for a write operation from its request schema (every writable property), or undefined. */
export function sampleBody(ctx: ScanContext, op: ScanOperation): Record<string, unknown> | unknown[] | undefined {
  const sc = sampleContext(ctx);
  if (!sc || !op.jsonRequest) return undefined;
  const value = sampleFromSchema(sc, op.jsonRequest.schema, op.jsonRequest.pointer, { forWrite: true });
  return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
}
