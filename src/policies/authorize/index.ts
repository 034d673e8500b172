/**
 * `authorize`: what this principal may do on this route and this object (issue 4; OWASP API1 BOLA, API3 BOPLA,
 * API5 BFLA). Phase `authorize`, after authentication and MFA. The decision logic lives in src/authz/ (engine.ts
 * and the modules it composes); this file adapts it to the policy contract.
 *
 * Denials answer with the catalogue only: 403 RAMPART_ERR_FORBIDDEN, or 404 RAMPART_ERR_ROUTE_NOT_FOUND where the
 * route says a denied object (or tenant) must look like a missing one. The rule text, the missing permission and
 * the reason go to the `authz.denied` audit event and the log line's detail, never to the client.
 */
import type { ConfigIssue, Outcome, PolicyDefinition, PolicyDeps, PolicyHandlers, RequestContext, RouteInfo, UpstreamBodyView, UpstreamResponseView } from '../types.ts';
import { CONTINUE, problem } from '../types.ts';
import { Authorizer, compileAuthorization, emitDenial, type Decision, type EngineOptions } from '../../authz/engine.ts';
import { authorizeSchema, type AuthorizeConfig } from './schema.ts';

export { authorizeSchema, type AuthorizeConfig } from './schema.ts';
import { replaceBody } from '../../gateway/body.ts';

/** The parsed body after authorization (stripped when properties were stripped). */
export const AUTHORIZED_BODY_KEY = 'authorize.body';
/** The normalised object id the decision was about (allowed or denied), for audit and BOLA-enumeration detection. */
export const AUTHORIZED_OBJECT_KEY = 'authorize.objectId';

function outcomeOf(decision: Decision, ctx: RequestContext, deps: PolicyDeps): Outcome {
  if (decision.objectId !== undefined) ctx.locals[AUTHORIZED_OBJECT_KEY] = decision.objectId;
  if (decision.allow) {
    if (decision.replacedBody !== undefined) {
      // Stripping properties replaces the body: later readers (validation) and the proxy see the stripped one.
      replaceBody(ctx, Buffer.from(JSON.stringify(decision.replacedBody)));
      ctx.locals[AUTHORIZED_BODY_KEY] = decision.replacedBody;
    }
    return CONTINUE;
  }
  emitDenial(deps.events, ctx, decision);
  return problem(decision.code, `authorize: ${decision.check}: ${decision.reason}`);
}

export function createAuthorizeHandlers(config: AuthorizeConfig, deps: PolicyDeps, options: EngineOptions = {}): PolicyHandlers {
  const compiled = compileAuthorization(config, 'authorize');
  // The loader ran check() first, so this only fails for a caller that skipped it: fail at startup, not per request.
  if (!compiled.ok) throw new Error(`authorize: invalid config: ${compiled.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
  const authorizer = new Authorizer(compiled.compiled, options);
  const handlers: PolicyHandlers = {
    onRequest(ctx: RequestContext): Outcome | Promise<Outcome> {
      const decision = authorizer.decide(ctx);
      if (decision instanceof Promise) return decision.then((resolved) => outcomeOf(resolved, ctx, deps));
      return outcomeOf(decision, ctx, deps);
    },
    close() {
      authorizer.close();
    },
  };
  const c = compiled.compiled;
  if (c.creates?.header !== undefined) {
    handlers.onResponse = (ctx: RequestContext, response: UpstreamResponseView) => {
      authorizer.recordCreated(ctx.principal, response.status, response.headers);
    };
  }
  if (c.object?.responseOwner !== undefined || c.reads !== undefined || c.creates?.bodyPath !== undefined) {
    // Response-side checks (ownership over response.*, read rules, ids of created objects from the body).
    handlers.wantsResponseBody = (ctx) => authorizer.wantsResponse(ctx);
    handlers.onResponseBody = (ctx: RequestContext, response: UpstreamBodyView): Outcome => {
      const decision = authorizer.decideResponse(ctx, response);
      return decision.allow ? CONTINUE : outcomeOf(decision, ctx, deps);
    };
  }
  return handlers;
}

/** Sensitivity of the route, once RouteInfo carries it (see the report); read defensively until then. */
function sensitivityOf(route: RouteInfo): string | undefined {
  const value = (route as RouteInfo & { sensitivity?: unknown }).sensitivity;
  return typeof value === 'string' ? value : undefined;
}

function check(config: AuthorizeConfig, path: string, route: RouteInfo): ConfigIssue[] {
  const compiled = compileAuthorization(config, path);
  const issues: ConfigIssue[] = compiled.ok ? [] : [...compiled.issues];
  if (route.public) {
    issues.push({ path, message: 'authorize needs an authenticated principal; this route is public: true (every request would be denied)' });
  }
  const perMethod = !Array.isArray(config.permissions);
  const lists: Array<[string, readonly string[]]> = perMethod
    ? Object.entries(config.permissions as Record<string, readonly string[]>)
    : [['*', config.permissions as readonly string[]]];
  // BFLA: an admin route must require an admin permission for every method, so no regular role can reach it.
  if (sensitivityOf(route) === 'admin') {
    for (const [method, list] of lists) {
      if (!list.some((p) => p.startsWith('admin:'))) {
        issues.push({
          path: perMethod ? `${path}.permissions.${method}` : `${path}.permissions`,
          message: 'this route has sensitivity: admin; every method must require an admin:* permission',
        });
      }
    }
  }
  // A rule over the upstream's answer sees the object only after the upstream acted: it can guard reads, never
  // writes. Writes need a request-side decision (a rule on request.*/object.id, or the ownership lookup).
  if (compiled.ok && compiled.compiled.object?.responseOwner !== undefined && compiled.compiled.object.lookup === undefined) {
    const methods = perMethod ? lists.map(([m]) => m) : (route.methods?.map((m) => m.toUpperCase()) ?? ['*']);
    const unsafe = methods.filter((m) => m !== 'GET' && m !== 'HEAD');
    if (unsafe.length > 0) {
      issues.push({
        path: `${path}.object.owner`,
        message:
          `reads response.*, which is known only after the upstream acted, so it cannot protect ${unsafe.join(', ')}` +
          ' (any method, when the route does not restrict them): add object.lookup, or split the writes into a route with a request-side rule',
      });
    }
  }
  if (perMethod && route.methods !== undefined) {
    const listed = new Set(lists.map(([m]) => m));
    const missing = route.methods.filter((m) => !listed.has(m.toUpperCase()) && !(m.toUpperCase() === 'HEAD' && listed.has('GET')));
    if (missing.length > 0) {
      issues.push({ path: `${path}.permissions`, message: `no permissions for ${missing.join(', ')}: those methods are always denied`, severity: 'warning' });
    }
    for (const method of listed) {
      if (!route.methods.some((m) => m.toUpperCase() === method)) {
        issues.push({ path: `${path}.permissions.${method}`, message: `the route does not accept ${method}`, severity: 'warning' });
      }
    }
  }
  return issues;
}

export const authorizePolicy: PolicyDefinition<AuthorizeConfig> = {
  name: 'authorize',
  phase: 'authorize',
  order: 10,
  schema: authorizeSchema,
  // Roles are gateway-wide (`roles:` at the top level of the config); every route's authorize sees the same map.
  inheritConfig: (document) => ({ roles: (document.roles as Record<string, unknown> | undefined) ?? {} }),
  check,
  create: (config, deps) => createAuthorizeHandlers(config, deps),
};
