/**
 * The authorization decision for one route: compiled once from the route's `authorize` config, then asked per
 * request. Checks run cheapest first and the first failure decides:
 *
 *   1. permissions (RBAC / BFLA)   403   the route's (or the method's) permissions, all of them
 *   2. tenant                      404*  every place the request names a tenant names the principal's
 *   3. object (BOLA)               404*  the id, normalised, is owned per `owner` rule and/or ownership store
 *   4. rule (ABAC, CEL)            403
 *   5. properties (mass assign.)   403   or the body is stripped
 *   6. opa                         403   Open Policy Agent's answer, fail-closed
 *   (* 403 when configured)
 *
 * The JSON body is read only when a check needs it, through the one hardened reader (gateway/body.ts), so
 * `__proto__`, `constructor`, duplicate keys and deep nesting are refused before any check sees the body.
 * The decision never depends on text the client chose other than through these checks, and the response to a
 * denial carries only the catalogue's code: no rule text, no missing permission (those go to the audit event).
 *
 * Hot path: a route with permissions and one request-only CEL rule runs synchronously (no Promise), with the
 * effective permissions looked up per principal object and the principal's CEL view cached likewise; a request
 * allocates the request view and the activation for the rule, nothing else on success.
 */
import type { ErrorCode } from '../errors/catalogue.ts';
import type { SecurityEvents } from '../observe/events.ts';
import { PARSE_FAILED, type ConfigIssue, type Principal, type RequestContext, type UpstreamBodyView } from '../policies/types.ts';
import type { AuthorizeConfig } from '../policies/authorize/schema.ts';
import { BodyError, hasBody, readJson } from '../gateway/body.ts';
import { parseDuration, parseSize } from '../config/units.ts';
import { endpointUrlProblem } from '../policies/jwt/http.ts';
import { hasMfa } from '../policies/mfa/evidence.ts';
import { RoleGraph, isPermission, requiredPermission, type EffectivePermissions, type RequiredPermission, type RolesConfig } from './roles.ts';
import { boundedForRules, compileRule, type CompiledRule } from './cel.ts';
import {
  defaultOwnershipStore,
  extractObjectId,
  idFromLocation,
  normaliseId,
  ownsRecord,
  parseIdLocation,
  readBodyPath,
  type IdLocation,
  type IdType,
  type OwnerRecord,
  type OwnershipStore,
} from './object.ts';
import { checkPropertyPath, checkWrites, filterReadable, PropertyRules } from './properties.ts';
import { checkTenant, parseTenantSource, type TenantSource } from './tenancy.ts';
import { OPA_FORBIDDEN_HEADERS, OpaClient } from './opa.ts';
import type { HttpExchange } from '../policies/jwt/http.ts';

export type CheckName = 'principal' | 'permissions' | 'tenant' | 'object' | 'owner' | 'lookup' | 'rule' | 'properties' | 'opa' | 'body';

/** One step of an explanation: what was consulted, where it is configured, and what it said. */
export interface ExplainStep {
  readonly check: CheckName;
  /** Config path relative to the route, e.g. `authorize.permissions.PATCH`. */
  readonly path: string;
  readonly outcome: 'pass' | 'fail' | 'skip';
  readonly detail: string;
}

export interface Denial {
  readonly allow: false;
  readonly code: ErrorCode;
  readonly check: CheckName;
  /** The deciding rule's config path, or `permission NAME` for a missing permission (audit only). */
  readonly rule: string;
  /** Internal reason (log and audit only, never sent). */
  readonly reason: string;
  readonly objectId?: string;
}

export interface Allowance {
  readonly allow: true;
  /** The normalised id of the object the request is about, when the route has object checks. */
  readonly objectId?: string;
  /** Set when properties were stripped: the body to forward instead. */
  readonly replacedBody?: unknown;
}

export type Decision = Allowance | Denial;

const ALLOWED: Allowance = Object.freeze({ allow: true });
const NO_MFA_ACR: ReadonlySet<string> = new Set();

/** How the engine reads the JSON body; the default is the gateway's hardened reader (tests and explain swap it). */
export type BodyReader = (ctx: RequestContext, maxBytes: number) => Promise<unknown>;

export interface EngineOptions {
  readonly ownership?: OwnershipStore;
  /** Clock in epoch ms (CEL's `now`). */
  readonly now?: () => number;
  readonly readBody?: BodyReader;
  /** OPA HTTP exchange override (tests). */
  readonly opaExchange?: HttpExchange;
}

interface Compiled {
  readonly roles: RoleGraph;
  /** Per upper-case method, or '*' for a list that applies to every method. */
  readonly permissions: ReadonlyMap<string, readonly RequiredPermission[]>;
  readonly rule: CompiledRule | undefined;
  readonly object:
    | {
        readonly location: IdLocation;
        readonly type: IdType;
        readonly owner: CompiledRule | undefined;
        /** An owner rule over `response.*`: evaluated on the upstream's answer, before the client sees any of it. */
        readonly responseOwner: CompiledRule | undefined;
        readonly lookup: string | undefined;
        readonly denyCode: ErrorCode;
      }
    | undefined;
  readonly creates:
    | {
        readonly type: string;
        readonly header: string | undefined;
        /** `body.PATH` segments when the id comes from the JSON answer. */
        readonly bodyPath: readonly string[] | undefined;
        readonly idType: IdType;
        readonly fromLocation: boolean;
      }
    | undefined;
  readonly reads: PropertyRules | undefined;
  readonly writes: { readonly rules: PropertyRules; readonly strip: boolean } | undefined;
  readonly tenant: { readonly sources: readonly TenantSource[]; readonly denyCode: ErrorCode } | undefined;
  readonly opa:
    | { readonly url: string; readonly path: string; readonly timeoutMs: number; readonly cacheTtlMs: number; readonly headers: readonly string[]; readonly includeBody: boolean; readonly includeClaims: boolean }
    | undefined;
  readonly maxBodyBytes: number;
  readonly needsBody: boolean;
  readonly needsRequestView: boolean;
}

/** Where the request phase leaves what the response-side ownership rule needs (the same activation). */
export const RESPONSE_CHECK_KEY = 'authorize.response-check';
interface PendingResponseCheck {
  readonly activation: Record<string, unknown>;
  readonly objectId: string;
}

export type CompileOutcome = { ok: true; compiled: Compiled } | { ok: false; issues: ConfigIssue[] };

const denyCode = (status: 403 | 404 | undefined): ErrorCode => (status === 403 ? 'RAMPART_ERR_FORBIDDEN' : 'RAMPART_ERR_ROUTE_NOT_FOUND');

/** Validates and compiles a (schema-valid) config; every problem is returned with its path under `path`. */
export function compileAuthorization(config: AuthorizeConfig, path: string): CompileOutcome {
  const issues: ConfigIssue[] = [];
  const roles = (config.roles ?? {}) as RolesConfig;
  const graph = new RoleGraph(roles);

  const permissions = new Map<string, RequiredPermission[]>();
  const addPermissions = (method: string, list: readonly string[], listPath: string) => {
    list.forEach((name, i) => {
      if (!isPermission(name)) issues.push({ path: `${listPath}[${i}]`, message: `"${name}" is not a permission (resource:action)` });
    });
    permissions.set(method, list.map(requiredPermission));
  };
  if (Array.isArray(config.permissions)) addPermissions('*', config.permissions as readonly string[], `${path}.permissions`);
  else for (const [method, list] of Object.entries(config.permissions)) addPermissions(method, list, `${path}.permissions.${method}`);

  let rule: CompiledRule | undefined;
  if (config.rule !== undefined) {
    const result = compileRule(config.rule, `${path}.rule`, ['principal', 'request', 'now']);
    if (result.ok) rule = result.rule;
    else issues.push({ path: `${path}.rule`, message: result.message });
  }

  let object: Compiled['object'];
  if (config.object !== undefined) {
    const o = config.object;
    const location = parseIdLocation(o.id);
    if (typeof location === 'string') issues.push({ path: `${path}.object.id`, message: location });
    let owner: CompiledRule | undefined;
    let responseOwner: CompiledRule | undefined;
    if (o.owner !== undefined) {
      const result = compileRule(o.owner, `${path}.object.owner`, ['principal', 'request', 'now', 'object', 'response']);
      if (!result.ok) issues.push({ path: `${path}.object.owner`, message: result.message });
      else if (result.rule.uses.response) responseOwner = result.rule;
      else owner = result.rule;
    }
    if (o.owner === undefined && o.lookup === undefined) {
      issues.push({ path: `${path}.object`, message: 'says where the id is but not how ownership is decided: add owner (a rule) or lookup' });
    }
    if (typeof location !== 'string') object = { location, type: o.type ?? 'string', owner, responseOwner, lookup: o.lookup?.type, denyCode: denyCode(o.deny) };
  }

  let creates: Compiled['creates'];
  if (config.creates !== undefined) {
    const from = config.creates.from ?? 'header.location';
    const idType = config.creates.idType ?? 'string';
    if (from.startsWith('body.')) {
      const segments = from.slice('body.'.length).split('.');
      if (segments.some((s) => s === '' || s === '__proto__' || s === 'constructor' || s === 'prototype')) {
        issues.push({ path: `${path}.creates.from`, message: 'body.PATH must name properties (no empty or prototype segments)' });
      } else creates = { type: config.creates.type, header: undefined, bodyPath: segments, idType, fromLocation: false };
    } else {
      const header = from.slice('header.'.length);
      creates = { type: config.creates.type, header, bodyPath: undefined, idType, fromLocation: header === 'location' };
    }
  }

  let writes: Compiled['writes'];
  let reads: Compiled['reads'];
  const props = config.properties;
  if (props !== undefined) {
    for (const kind of ['write', 'read'] as const) {
      for (const [role, paths] of Object.entries(props[kind] ?? {})) {
        if (!graph.hasRole(role)) {
          issues.push({ path: `${path}.properties.${kind}.${role}`, message: `no role named "${role}" in roles`, severity: 'warning' });
        }
        paths.forEach((p, i) => {
          const problem = checkPropertyPath(p);
          if (problem) issues.push({ path: `${path}.properties.${kind}.${role}[${i}]`, message: problem });
        });
      }
    }
    if (props.read !== undefined) reads = new PropertyRules(props.read, (role) => graph.rolesOfRole(role));
    if (props.write !== undefined) {
      writes = { rules: new PropertyRules(props.write, (role) => graph.rolesOfRole(role)), strip: props.onWriteViolation === 'strip' };
    }
  }

  let tenant: Compiled['tenant'];
  if (config.tenant !== undefined) {
    const sources: TenantSource[] = [];
    config.tenant.from.forEach((text, i) => {
      const source = parseTenantSource(text);
      if (typeof source === 'string') issues.push({ path: `${path}.tenant.from[${i}]`, message: source });
      else sources.push(source);
    });
    tenant = { sources, denyCode: denyCode(config.tenant.deny) };
  }

  let opa: Compiled['opa'];
  if (config.opa !== undefined) {
    const o = config.opa;
    const problem = endpointUrlProblem(o.url);
    if (problem) issues.push({ path: `${path}.opa.url`, message: problem });
    (o.headers ?? []).forEach((name, i) => {
      if (OPA_FORBIDDEN_HEADERS.has(name)) issues.push({ path: `${path}.opa.headers[${i}]`, message: `"${name}" carries credentials and is never sent to OPA` });
    });
    opa = {
      url: o.url,
      path: o.path,
      timeoutMs: parseDuration(o.timeout ?? '500ms'),
      cacheTtlMs: parseDuration(o.cacheTtl ?? '10s'),
      headers: o.headers ?? [],
      includeBody: o.includeBody === true,
      includeClaims: o.includeClaims === true,
    };
    if (opa.timeoutMs <= 0 || opa.timeoutMs > 10_000) issues.push({ path: `${path}.opa.timeout`, message: 'must be between 1ms and 10s' });
  }

  if (issues.some((issue) => issue.severity !== 'warning')) return { ok: false, issues };
  const needsBody =
    object?.location.source === 'body' ||
    writes !== undefined ||
    (tenant?.sources.some((s) => s.source === 'body') ?? false) ||
    (rule?.uses.body ?? false) ||
    (object?.owner?.uses.body ?? false) ||
    (opa?.includeBody ?? false);
  return {
    ok: true,
    compiled: {
      roles: graph,
      permissions,
      rule,
      object,
      creates,
      reads,
      writes,
      tenant,
      opa,
      maxBodyBytes: parseSize(config.maxBodySize ?? '1mb'),
      needsBody,
      needsRequestView: rule !== undefined || object?.owner !== undefined || object?.responseOwner !== undefined || opa !== undefined,
    },
  };
}

const defaultReadBody: BodyReader = (ctx, maxBytes) => readJson(ctx, maxBytes);

/** Parses the raw query into an object for rules; a repeated key becomes a list (which never equals a string). */
function queryObject(query: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  if (query === '') return out;
  for (const [key, value] of new URLSearchParams(query)) {
    if (key === '__proto__' || key === 'constructor' || key === 'prototype') continue;
    const existing = out[key];
    if (existing === undefined) out[key] = value;
    else if (Array.isArray(existing)) existing.push(value);
    else out[key] = [existing, value];
  }
  return out;
}

interface PrincipalView {
  readonly subject: string;
  readonly sub: string;
  readonly kind: string;
  readonly method: string;
  readonly roles: readonly string[];
  readonly permissions: readonly string[];
  readonly claims: Readonly<Record<string, unknown>>;
  readonly mfa: boolean;
  readonly amr: readonly string[];
  readonly tenant?: string;
}

const EMPTY_CLAIMS: Readonly<Record<string, unknown>> = Object.freeze({});
const EMPTY_LIST: readonly string[] = Object.freeze([]);
const EPOCH = new Date(0);

/**
 * What rules see as `principal`: `sub` and `subject` (the same), `kind`, `method`, `roles` (the principal's own
 * roles plus every role they inherit, sorted), `permissions` (effective, after scopes), `claims` (token claims, or
 * {}), `mfa`, `amr`, and `tenant` only when the principal has one.
 */
function principalView(principal: Principal, effective: EffectivePermissions): PrincipalView {
  const roles = [...new Set([...principal.roles, ...effective.roles])].sort();
  const view: PrincipalView = {
    subject: principal.subject,
    sub: principal.subject,
    kind: principal.kind,
    method: principal.method,
    roles: Object.freeze(roles),
    permissions: effective.list,
    claims: principal.claims ?? EMPTY_CLAIMS,
    mfa: hasMfa(principal, NO_MFA_ACR),
    amr: principal.amr ?? EMPTY_LIST,
    // Absent, not undefined: a rule reading principal.tenant of a principal without one fails (denies).
    ...(principal.tenant !== undefined ? { tenant: principal.tenant } : {}),
  };
  return Object.freeze(view);
}

export class Authorizer {
  readonly compiled: Compiled;
  readonly #ownership: OwnershipStore;
  readonly #now: () => number;
  readonly #readBody: BodyReader;
  readonly #opa: OpaClient | undefined;
  readonly #views = new WeakMap<Principal, PrincipalView>();

  constructor(compiled: Compiled, options: EngineOptions = {}) {
    this.compiled = compiled;
    this.#ownership = options.ownership ?? defaultOwnershipStore;
    this.#now = options.now ?? Date.now;
    this.#readBody = options.readBody ?? defaultReadBody;
    this.#opa =
      compiled.opa &&
      new OpaClient({ url: compiled.opa.url, path: compiled.opa.path, timeoutMs: compiled.opa.timeoutMs, cacheTtlMs: compiled.opa.cacheTtlMs, now: this.#now, exchange: options.opaExchange });
  }

  close(): void {
    this.#opa?.close();
  }

  /** The permissions required for a method, or undefined when the method is not covered (denied). */
  requiredFor(method: string): readonly RequiredPermission[] | undefined {
    const all = this.compiled.permissions;
    return all.get('*') ?? all.get(method) ?? (method === 'HEAD' ? all.get('GET') : undefined);
  }

  /** Decides for a request. `trace`, when given, receives every check consulted (explain); otherwise no allocation. */
  decide(ctx: RequestContext, trace?: ExplainStep[]): Decision | Promise<Decision> {
    const principal = ctx.principal;
    if (principal === undefined) {
      trace?.push({ check: 'principal', path: 'authenticate', outcome: 'fail', detail: 'no authenticated principal' });
      return deny('RAMPART_ERR_FORBIDDEN', 'principal', 'authenticate', 'no authenticated principal');
    }
    const effective = this.compiled.roles.effective(principal);
    const required = this.requiredFor(ctx.method);
    const permissionsPath = this.compiled.permissions.has('*') ? 'authorize.permissions' : `authorize.permissions.${ctx.method}`;
    if (required === undefined) {
      trace?.push({ check: 'permissions', path: 'authorize.permissions', outcome: 'fail', detail: `no permissions are configured for ${ctx.method}: denied` });
      return deny('RAMPART_ERR_FORBIDDEN', 'permissions', `method ${ctx.method}`, `no permissions configured for ${ctx.method}`);
    }
    for (const permission of required) {
      if (!effective.has(permission.name, permission.wildcard)) {
        trace?.push({ check: 'permissions', path: permissionsPath, outcome: 'fail', detail: `missing ${permission.name} (holds: ${effective.list.join(', ') || 'nothing'})` });
        return deny('RAMPART_ERR_FORBIDDEN', 'permissions', `permission ${permission.name}`, `missing permission ${permission.name}`);
      }
    }
    trace?.push({
      check: 'permissions',
      path: permissionsPath,
      outcome: 'pass',
      detail: required.length === 0 ? 'no permission required (any authenticated principal)' : `holds ${required.map((p) => p.name).join(', ')}`,
    });
    if (this.compiled.needsBody && hasBody(ctx.req.headers)) {
      return this.#readBody(ctx, this.compiled.maxBodyBytes).then(
        (body) => this.#afterBody(ctx, principal, effective, body, trace),
        (error: unknown) => {
          const code: ErrorCode = error instanceof BodyError ? error.code : 'RAMPART_ERR_BAD_REQUEST';
          const reason = error instanceof Error ? error.message : 'body unreadable';
          trace?.push({ check: 'body', path: 'authorize', outcome: 'fail', detail: `body refused: ${reason}` });
          return deny(code, 'body', 'body', `body refused: ${reason}`);
        },
      );
    }
    return this.#afterBody(ctx, principal, effective, undefined, trace);
  }

  #afterBody(ctx: RequestContext, principal: Principal, effective: EffectivePermissions, body: unknown, trace: ExplainStep[] | undefined): Decision | Promise<Decision> {
    const c = this.compiled;
    if (c.tenant !== undefined) {
      const result = checkTenant(principal, c.tenant.sources, { params: ctx.params, headers: ctx.req.headers, query: ctx.query, body });
      if (!result.ok) {
        trace?.push({ check: 'tenant', path: 'authorize.tenant.from', outcome: 'fail', detail: `${result.reason} (${result.source})` });
        return deny(c.tenant.denyCode, 'tenant', `authorize.tenant ${result.source}`, result.reason);
      }
      trace?.push({ check: 'tenant', path: 'authorize.tenant.from', outcome: 'pass', detail: `tenant ${principal.tenant}` });
    }
    let activation: Record<string, unknown> | undefined;
    if (c.needsRequestView) {
      let view = this.#views.get(principal);
      if (view === undefined) {
        view = principalView(principal, effective);
        if (Object.isFrozen(principal)) this.#views.set(principal, view);
      }
      activation = {
        principal: view,
        request: {
          method: ctx.method,
          path: ctx.path,
          params: ctx.params,
          query: c.rule?.uses.query || c.object?.owner?.uses.query || c.object?.responseOwner?.uses.query || c.opa ? queryObject(ctx.query) : EMPTY_CLAIMS,
          headers: ctx.req.headers,
          body: body === undefined ? null : body,
        },
        // A Date per request only for rules that read the clock.
        now: c.rule?.uses.now || c.object?.owner?.uses.now || c.object?.responseOwner?.uses.now ? new Date(this.#now()) : EPOCH,
      };
    }
    let objectId: string | undefined;
    const object = c.object;
    if (object !== undefined) {
      const id = extractObjectId(object.location, object.type, ctx.params, ctx.query, body);
      if (!id.ok) {
        trace?.push({ check: 'object', path: 'authorize.object.id', outcome: 'fail', detail: id.reason });
        return deny(object.denyCode, 'object', 'authorize.object.id', id.reason);
      }
      objectId = id.id;
      trace?.push({ check: 'object', path: 'authorize.object.id', outcome: 'pass', detail: `object id ${objectId} (${object.type})` });
      if (object.owner !== undefined) {
        activation!.object = { id: objectId };
        const result = evaluateRule(object.owner, activation!, body);
        if (!result.allow) {
          trace?.push({ check: 'owner', path: 'authorize.object.owner', outcome: 'fail', detail: result.reason });
          return deny(object.denyCode, 'owner', object.owner.path, result.reason, objectId);
        }
        trace?.push({ check: 'owner', path: 'authorize.object.owner', outcome: 'pass', detail: 'owner rule true' });
      }
      if (object.responseOwner !== undefined && ctx.method !== 'GET' && object.lookup !== undefined) {
        trace?.push({ check: 'owner', path: 'authorize.object.owner', outcome: 'skip', detail: `${ctx.method}: decided by the ownership lookup` });
      } else if (object.responseOwner !== undefined) {
        if (ctx.method !== 'GET') {
          // The rule reads the answer, which a HEAD request does not carry; writes are refused by config check.
          trace?.push({ check: 'owner', path: 'authorize.object.owner', outcome: 'fail', detail: `a response ownership rule cannot decide ${ctx.method}` });
          return deny(object.denyCode, 'owner', object.responseOwner.path, `response ownership rule cannot decide ${ctx.method}`, objectId);
        }
        activation!.object = { id: objectId };
        ctx.locals[RESPONSE_CHECK_KEY] = { activation: activation!, objectId } satisfies PendingResponseCheck;
        trace?.push({ check: 'owner', path: 'authorize.object.owner', outcome: 'skip', detail: 'decided on the upstream answer, before the client sees it' });
      }
      if (object.lookup !== undefined) {
        const record = this.#ownership.owner(object.lookup, objectId);
        if (record instanceof Promise) {
          return record.then(
            (resolved) => this.#afterLookup(ctx, principal, resolved, objectId!, activation, body, trace),
            () => this.#afterLookup(ctx, principal, undefined, objectId!, activation, body, trace),
          );
        }
        return this.#afterLookup(ctx, principal, record, objectId, activation, body, trace);
      }
    }
    return this.#afterObject(ctx, principal, objectId, activation, body, trace);
  }

  #afterLookup(
    ctx: RequestContext,
    principal: Principal,
    record: OwnerRecord | undefined,
    objectId: string,
    activation: Record<string, unknown> | undefined,
    body: unknown,
    trace: ExplainStep[] | undefined,
  ): Decision | Promise<Decision> {
    const object = this.compiled.object!;
    if (!ownsRecord(principal, record)) {
      const reason = record === undefined ? 'object unknown to the ownership store' : 'object owned by another principal';
      trace?.push({ check: 'lookup', path: 'authorize.object.lookup', outcome: 'fail', detail: reason });
      return deny(object.denyCode, 'lookup', 'authorize.object.lookup', reason, objectId);
    }
    trace?.push({ check: 'lookup', path: 'authorize.object.lookup', outcome: 'pass', detail: `owned by ${principal.subject}` });
    return this.#afterObject(ctx, principal, objectId, activation, body, trace);
  }

  #afterObject(
    ctx: RequestContext,
    principal: Principal,
    objectId: string | undefined,
    activation: Record<string, unknown> | undefined,
    body: unknown,
    trace: ExplainStep[] | undefined,
  ): Decision | Promise<Decision> {
    const c = this.compiled;
    if (c.rule !== undefined) {
      const result = evaluateRule(c.rule, activation!, body);
      if (!result.allow) {
        trace?.push({ check: 'rule', path: 'authorize.rule', outcome: 'fail', detail: result.reason });
        return deny('RAMPART_ERR_FORBIDDEN', 'rule', c.rule.path, result.reason, objectId);
      }
      trace?.push({ check: 'rule', path: 'authorize.rule', outcome: 'pass', detail: 'rule true' });
    }
    let replacedBody: unknown;
    if (c.writes !== undefined) {
      if (body !== undefined) {
        const tree = c.writes.rules.treeFor(principal.roles);
        const result = checkWrites(body, tree, c.writes.strip);
        if (result.violations.length > 0) {
          if (!c.writes.strip || result.stripped === undefined) {
            trace?.push({ check: 'properties', path: 'authorize.properties.write', outcome: 'fail', detail: `not writable: ${result.violations.join(', ')}` });
            return deny('RAMPART_ERR_FORBIDDEN', 'properties', 'authorize.properties.write', `not writable: ${result.violations.join(', ')}`, objectId);
          }
          replacedBody = result.stripped;
          trace?.push({ check: 'properties', path: 'authorize.properties.write', outcome: 'pass', detail: `stripped: ${result.violations.join(', ')}` });
        } else {
          trace?.push({ check: 'properties', path: 'authorize.properties.write', outcome: 'pass', detail: 'every property writable' });
        }
      } else {
        trace?.push({ check: 'properties', path: 'authorize.properties.write', outcome: 'skip', detail: 'no body' });
      }
    }
    if (this.#opa !== undefined) {
      const input = this.#opaInput(ctx, principal, activation!, objectId, body);
      return this.#opa.decide(input).then((answer) => {
        if (!answer.allow) {
          trace?.push({ check: 'opa', path: 'authorize.opa', outcome: 'fail', detail: answer.reason });
          return deny('RAMPART_ERR_FORBIDDEN', 'opa', 'authorize.opa', answer.reason, objectId);
        }
        trace?.push({ check: 'opa', path: 'authorize.opa', outcome: 'pass', detail: answer.cached ? 'OPA allowed (cached)' : 'OPA allowed' });
        return allowed(replacedBody, objectId);
      });
    }
    return allowed(replacedBody, objectId);
  }

  /** The documented OPA input document (see opa.ts). Key order is fixed so the cache key is stable. */
  #opaInput(ctx: RequestContext, principal: Principal, activation: Record<string, unknown>, objectId: string | undefined, body: unknown): unknown {
    const opa = this.compiled.opa!;
    const view = activation.principal as PrincipalView;
    const request = activation.request as { query: unknown };
    const headers: Record<string, string> = {};
    for (const name of opa.headers) {
      const value = ctx.req.headers[name];
      if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    return {
      principal: {
        subject: principal.subject,
        kind: principal.kind,
        method: principal.method,
        roles: view.roles,
        permissions: view.permissions,
        tenant: principal.tenant ?? null,
        mfa: view.mfa,
        ...(opa.includeClaims ? { claims: view.claims } : {}),
      },
      request: {
        method: ctx.method,
        path: ctx.path,
        params: ctx.params,
        query: request.query,
        headers,
        ...(opa.includeBody ? { body: body ?? null } : {}),
      },
      route: ctx.routeId,
      ...(objectId !== undefined ? { object: { id: objectId } } : {}),
    };
  }

  /** Whether the answer to this request must be buffered for a response-side check (see decideResponse). */
  wantsResponse(ctx: RequestContext): boolean {
    const c = this.compiled;
    if (ctx.principal === undefined) return false;
    if (c.creates?.bodyPath !== undefined) return true;
    if (c.reads !== undefined) return true;
    return ctx.locals[RESPONSE_CHECK_KEY] !== undefined;
  }

  /**
   * The response side of the decision, on the buffered answer: the ownership rule over `response.*` (BOLA on
   * reads: the object is refused before any byte of it leaves), then the read rules (OWASP API3:2023 excessive
   * data exposure: only the properties the principal's roles may read are kept). Only successful answers are
   * objects; error answers pass unchanged. Fails closed: a successful answer that is not JSON, or not parseable,
   * cannot be checked and is refused.
   */
  decideResponse(ctx: RequestContext, response: UpstreamBodyView): Decision {
    const c = this.compiled;
    const principal = ctx.principal;
    if (principal === undefined) return ALLOWED;
    const success = response.status >= 200 && response.status < 300;
    if (c.creates?.bodyPath !== undefined && (response.status === 200 || response.status === 201)) {
      const json = response.json;
      if (json !== undefined && json !== PARSE_FAILED) this.recordCreatedId(principal, readBodyPath(json, c.creates.bodyPath));
    }
    if (!success) return ALLOWED;
    const pending = ctx.locals[RESPONSE_CHECK_KEY] as PendingResponseCheck | undefined;
    const needsBody = pending !== undefined || (c.reads !== undefined && response.raw.length > 0);
    if (!needsBody) return ALLOWED;
    const json = response.json;
    if (json === undefined || json === PARSE_FAILED) {
      const reason = json === PARSE_FAILED ? 'upstream answer is not valid JSON' : `upstream answer is ${response.mediaType || 'untyped'}, not JSON`;
      if (pending !== undefined) return deny(c.object!.denyCode, 'owner', c.object!.responseOwner!.path, `${reason}: ownership cannot be checked`, pending.objectId);
      return deny('RAMPART_ERR_UPSTREAM_BAD_RESPONSE', 'properties', 'authorize.properties.read', `${reason}: read rules cannot be applied`);
    }
    if (pending !== undefined) {
      const rule = c.object!.responseOwner!;
      pending.activation.response = { status: response.status, body: json };
      const result = evaluateRule(rule, pending.activation, json);
      if (!result.allow) return deny(c.object!.denyCode, 'owner', rule.path, result.reason, pending.objectId);
    }
    if (c.reads !== undefined) {
      const filtered = filterReadable(json, c.reads.treeFor(principal.roles));
      response.setJson(filtered === undefined ? null : filtered);
    }
    return ALLOWED;
  }

  /**
   * After a creating request succeeded (status 200/201): records the new object's owner from the response
   * headers (`creates:`). Called from the policy's onResponse.
   */
  recordCreated(principal: Principal | undefined, status: number, headers: Readonly<Record<string, string | string[] | undefined>>): string | undefined {
    const creates = this.compiled.creates;
    if (creates === undefined || creates.header === undefined || principal === undefined || (status !== 200 && status !== 201)) return undefined;
    const raw = headers[creates.header];
    if (typeof raw !== 'string') return undefined;
    const id = creates.fromLocation ? idFromLocation(raw, creates.idType) : normaliseId(raw, creates.idType, false);
    if (!id.ok) return undefined;
    const owner: OwnerRecord = principal.tenant === undefined ? { owner: principal.subject } : { owner: principal.subject, tenant: principal.tenant };
    void Promise.resolve(this.#ownership.record(creates.type, id.id, owner)).catch(() => undefined);
    return id.id;
  }

  /** Records an id read from a created object's JSON (`creates.from: body.PATH`). */
  recordCreatedId(principal: Principal, raw: unknown): string | undefined {
    const creates = this.compiled.creates!;
    if (typeof raw !== 'string' && typeof raw !== 'number') return undefined;
    const id = normaliseId(raw, creates.idType, false);
    if (!id.ok) return undefined;
    const owner: OwnerRecord = principal.tenant === undefined ? { owner: principal.subject } : { owner: principal.subject, tenant: principal.tenant };
    void Promise.resolve(this.#ownership.record(creates.type, id.id, owner)).catch(() => undefined);
    return id.id;
  }
}

function evaluateRule(rule: CompiledRule, activation: Record<string, unknown>, body: unknown): { allow: true } | { allow: false; reason: string } {
  // Run-time input bound: a body too large to evaluate over cheaply is not evaluated, and the rule denies.
  if (rule.uses.body && body !== undefined && !boundedForRules(body)) return { allow: false, reason: 'body too large for rule evaluation' };
  return rule.evaluate(activation);
}

/** The allowance, allocated only when it carries something (a stripped body, an object id). */
function allowed(replacedBody: unknown, objectId: string | undefined): Allowance {
  if (replacedBody === undefined && objectId === undefined) return ALLOWED;
  return { allow: true, ...(replacedBody === undefined ? {} : { replacedBody }), ...(objectId === undefined ? {} : { objectId }) };
}

function deny(code: ErrorCode, check: CheckName, rule: string, reason: string, objectId?: string): Denial {
  return objectId === undefined ? { allow: false, code, check, rule, reason } : { allow: false, code, check, rule, reason, objectId };
}

/**
 * Where a denial leaves its deciding rule on the request (`ctx.locals`): the gateway counts the denial with the
 * principal's consumer label when the request finishes (rampart_authz_denials_total), which the event alone cannot
 * give (it carries no principal object).
 */
export const DENIED_RULE_KEY = 'authz.deniedRule';

/** Emits the audit event of a denial (principal, route, object id, deciding rule; never the rule text). */
export function emitDenial(events: SecurityEvents, ctx: RequestContext, decision: Denial): void {
  ctx.locals[DENIED_RULE_KEY] = decision.rule;
  events.emit({
    type: 'authz.denied',
    severity: 'medium',
    requestId: ctx.requestId,
    routeId: ctx.routeId,
    clientAddress: ctx.clientAddress,
    details: {
      subject: ctx.principal?.subject ?? null,
      route: ctx.routeId,
      method: ctx.method,
      objectId: decision.objectId ?? null,
      check: decision.check,
      rule: decision.rule,
      reason: decision.reason,
    },
  });
}
