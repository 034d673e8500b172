/**
 * A runtime is one loaded config made executable: the router, each route's policy steps (created once), its
 * upstream group and metric handles. Hot reload builds a new runtime beside the old one, swaps it in, and closes
 * the old one when its last in-flight request has finished.
 */
import type { Logger } from 'pino';
import { inRouteTable, type GatewayConfig, type RouteConfig } from '../config/load.ts';
import { Router } from './router.ts';
import { AddressSet } from './addresses.ts';
import { UpstreamGroup } from './upstream/group.ts';
import type { UpstreamGroupApi } from './upstream/types.ts';
import type { Outcome, Phase, PolicyHandlers, RequestContext, SharedResources, UpstreamBodyView, UpstreamResponseView } from '../policies/types.ts';
import type { SecurityEvents } from '../observe/events.ts';
import type { GatewayMetrics, RouteMetrics } from '../observe/metrics.ts';
import { POLICIES } from '../policies/registry.ts';
import { createCspReportHandler } from '../policies/security-headers/csp-report.ts';
import { prewarmMerged } from '../docs/publish.ts';
import type { GatewayService, GatewayServices } from './services.ts';
import type { Stores } from '../storage/ports.ts';
import type { IdentityAssertionSigner } from '../identity/assertion.ts';

export interface PolicyStep {
  readonly policy: string;
  /** The policy's phase (policies/types.ts PHASES): the refusal metrics and the phase spans of tracing use it. */
  readonly phase: Phase;
  readonly run: (ctx: RequestContext) => Outcome | Promise<Outcome>;
  /** Authentication step: NOT_RESPONSIBLE passes to the next authenticator, CONTINUE skips the rest of them. */
  readonly authenticator: boolean;
  /** Index of the first step after this route's authenticators. */
  readonly afterAuthenticators: number;
}

export interface CompiledRoute {
  readonly id: string;
  readonly config: RouteConfig;
  readonly upstream: UpstreamGroupApi;
  readonly retryAttempts: number;
  readonly preserveHost: boolean;
  readonly replaceUpstream5xx: boolean;
  readonly maxBodyBytes: number;
  readonly websocket: boolean;
  /** True when a policy on the route answers CORS preflights (the `cors` policy). */
  readonly handlesPreflight: boolean;
  readonly steps: readonly PolicyStep[];
  /** Index of the first authenticator step, or -1. */
  readonly firstAuthenticator: number;
  /** Credential probes of the route's authenticators (see PolicyHandlers.hasCredential). */
  readonly credentialProbes: ReadonlyArray<{ readonly present: (ctx: RequestContext) => boolean; readonly source: string }>;
  /** The 401 challenge listing every accepted authentication method. */
  readonly challenge: string;
  readonly responseHandlers: ReadonlyArray<(ctx: RequestContext, response: UpstreamResponseView) => void>;
  /** Policies that inspect or rewrite the buffered upstream answer (see PolicyHandlers.onResponseBody), in phase order. */
  readonly bodyHandlers: readonly ResponseBodyHandler[];
  /** Largest upstream answer buffered for the body handlers (limits.maxResponseBodySize). */
  readonly maxResponseBodyBytes: number;
  /** Set when the principal goes upstream as a gateway-signed JWT instead of x-rampart-* headers. */
  readonly identityAssertion: { readonly signer: IdentityAssertionSigner; readonly header: string; readonly audience: string } | undefined;
  /** Request headers never forwarded (secret credentials), or undefined when there are none. */
  readonly secretHeaders: ReadonlySet<string> | undefined;
  /** Query parameters removed before forwarding, or undefined. */
  readonly secretQueryParams: ReadonlySet<string> | undefined;
  readonly metrics: RouteMetrics;
  readonly handlers: readonly PolicyHandlers[];
  /** The gateway service answering this route instead of an upstream (`upstream: rampart:NAME`). */
  readonly service: GatewayService | undefined;
}

export interface ResponseBodyHandler {
  readonly policy: string;
  /** Whether this request needs the body (undefined: always). */
  readonly wants: ((ctx: RequestContext) => boolean) | undefined;
  readonly run: (ctx: RequestContext, response: UpstreamBodyView) => Outcome | Promise<Outcome>;
}

/** One instance per key per runtime; closed with the runtime (see SharedResources). */
export class SharedResourcePool implements SharedResources {
  readonly #items = new Map<string, { close?(): void | Promise<void> }>();
  get<T extends { close?(): void | Promise<void> }>(key: string, create: () => T): T {
    let item = this.#items.get(key) as T | undefined;
    if (item === undefined) {
      item = create();
      this.#items.set(key, item);
    }
    return item;
  }
  async close(): Promise<void> {
    await Promise.allSettled([...this.#items.values()].map((item) => item.close?.()));
    this.#items.clear();
  }
}

export interface RuntimeDeps {
  readonly logger: Logger;
  readonly events: SecurityEvents;
  readonly metrics: GatewayMetrics;
  /** Services for `upstream: rampart:NAME` routes. */
  readonly services?: GatewayServices;
  /** Open stores, when the config needs them (GatewayConfig.needsStores). */
  readonly stores?: Stores;
  readonly pepper?: Buffer;
  /** Signs identity assertions (routes with forwardIdentity.as jwt); present with `identity:`. */
  readonly assertions?: IdentityAssertionSigner;
}

export class Runtime {
  readonly config: GatewayConfig;
  readonly router: Router<CompiledRoute>;
  /** Header/media-type versioned routes: group key → version → route (see ApiRouteInfo.groupKey). */
  readonly versionGroups = new Map<string, Map<string, CompiledRoute>>();
  /** APIs versioned by path prefix, to tell an unknown version (404 listing versions) from an unknown path. */
  readonly pathVersionedApis: Array<{ readonly api: string; readonly prefixes: readonly string[]; readonly supported: readonly string[] }> = [];
  readonly routes: readonly CompiledRoute[];
  readonly trustedProxies: AddressSet;
  /** Gateway-wide security headers for answers that no route owns (400, 404, 405, 503). */
  readonly fallbackSteps: readonly PolicyStep[];
  readonly cspReport: ReturnType<typeof createCspReportHandler>;
  readonly unroutedMetrics: RouteMetrics;
  readonly #shared: SharedResourcePool;
  #active = 0;
  #closing: Promise<void> | undefined;
  #idle: (() => void) | undefined;

  private constructor(
    config: GatewayConfig,
    routes: CompiledRoute[],
    fallbackSteps: PolicyStep[],
    deps: RuntimeDeps,
    shared: SharedResourcePool,
  ) {
    this.#shared = shared;
    this.config = config;
    this.routes = routes;
    this.router = new Router(routes.filter((r) => inRouteTable(r.config)).map((r) => ({ id: r.id, path: r.config.path, methods: r.config.methods, host: r.config.host, value: r })));
    for (const route of routes) {
      const api = route.config.api;
      if (api?.groupKey === undefined) continue;
      let group = this.versionGroups.get(api.groupKey);
      if (group === undefined) this.versionGroups.set(api.groupKey, (group = new Map()));
      group.set(api.version!, route);
    }
    for (const route of routes) {
      const api = route.config.api;
      if (api?.selection !== 'path' || this.pathVersionedApis.some((p) => p.api === api.api)) continue;
      const prefixes = routes.filter((r) => r.config.api?.api === api.api).map((r) => r.config.api!.prefix!);
      this.pathVersionedApis.push({ api: api.api, prefixes: [...new Set(prefixes)], supported: api.supported });
    }
    this.trustedProxies = new AddressSet(config.trustedProxies);
    this.fallbackSteps = fallbackSteps;
    this.cspReport = createCspReportHandler({ maxBytes: config.cspReport.maxBytes, events: deps.events, logger: deps.logger });
    this.unroutedMetrics = deps.metrics.forRoute('-');
  }

  static async build(config: GatewayConfig, deps: RuntimeDeps): Promise<Runtime> {
    const routes: CompiledRoute[] = [];
    const shared = new SharedResourcePool();
    try {
      for (const route of config.routes) routes.push(await compileRoute(route, config, deps, shared));
      const fallback = await fallbackSteps(config, deps, shared);
      // Merged documentation is built now, not by the first docs request (docs/publish.ts prewarmMerged); one that
      // does not build is said now, so the operator does not learn it from a reader's 500.
      const docs = await prewarmMerged(config);
      for (const failure of docs.failed) deps.logger.warn({ route: failure.routeId, error: failure.error }, 'docs: the merged document does not build; its docs route answers 500 until it does');
      const runtime = new Runtime(config, routes, fallback, deps, shared);
      for (const route of routes) route.upstream.startHealthChecks();
      return runtime;
    } catch (error) {
      await Promise.allSettled(routes.map((r) => closeRoute(r)));
      await shared.close();
      throw error;
    }
  }

  enter(): void {
    this.#active++;
  }

  leave(): void {
    this.#active--;
    if (this.#active === 0 && this.#idle) this.#idle();
  }

  get active(): number {
    return this.#active;
  }

  /**
   * Closes once every request that entered this runtime has left it, or after `deadline` ms; requests still in
   * flight then have their upstream connections cut (a graceful close would wait for upstreams that never answer).
   */
  close(deadline: number): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#active > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, deadline);
          timer.unref();
          this.#idle = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      if (this.#active > 0) await Promise.allSettled(this.routes.map((r) => r.upstream.destroy()));
      await Promise.allSettled(this.routes.map((r) => closeRoute(r)));
      await this.#shared.close();
    })();
    return this.#closing;
  }
}

/** The upstream of a route a gateway service answers: there is none. */
const NO_UPSTREAM: UpstreamGroupApi = {
  pick: () => null,
  start: () => undefined,
  finish: () => undefined,
  noteRequest: () => undefined,
  tryAcquireRetry: () => false,
  startHealthChecks: () => undefined,
  close: async () => undefined,
  destroy: async () => undefined,
  status: () => [],
};

async function closeRoute(route: CompiledRoute): Promise<void> {
  await Promise.allSettled([route.upstream.close(), ...route.handlers.map((h) => h.close?.())]);
}

async function compileRoute(route: RouteConfig, config: GatewayConfig, deps: RuntimeDeps, shared: SharedResources): Promise<CompiledRoute> {
  const handlers: PolicyHandlers[] = [];
  const stepsDraft: Array<{ policy: string; phase: Phase; run: PolicyStep['run']; authenticator: boolean }> = [];
  const responseHandlers: CompiledRoute['responseHandlers'][number][] = [];
  const bodyHandlers: ResponseBodyHandler[] = [];
  const policyDeps = { logger: deps.logger, events: deps.events, routeId: route.id, development: config.mode === 'development', shared, stores: deps.stores, pepper: deps.pepper };
  for (const policy of route.policies) {
    const instance = await policy.definition.create(policy.config, policyDeps);
    handlers.push(instance);
    if (instance.onRequest) {
      stepsDraft.push({
        policy: policy.definition.name,
        phase: policy.definition.phase,
        run: instance.onRequest.bind(instance),
        authenticator: policy.definition.authenticates === true,
      });
    }
    if (instance.onResponse) responseHandlers.push(instance.onResponse.bind(instance));
    if (instance.onResponseBody) {
      bodyHandlers.push({
        policy: policy.definition.name,
        wants: instance.wantsResponseBody?.bind(instance),
        run: instance.onResponseBody.bind(instance),
      });
    }
  }
  let lastAuth = -1;
  let firstAuth = -1;
  stepsDraft.forEach((s, i) => {
    if (s.authenticator) {
      lastAuth = i;
      if (firstAuth === -1) firstAuth = i;
    }
  });
  const authenticators = route.policies
    .map((p, i) => ({ definition: p.definition, instance: handlers[i]! }))
    .filter((p) => p.definition.authenticates);
  const credentialProbes = authenticators.flatMap((p, i) =>
    p.instance.hasCredential
      ? [{ present: p.instance.hasCredential.bind(p.instance), source: p.instance.credentialSource ?? `${p.definition.name}#${i}` }]
      : [],
  );
  const challenge = authenticators.map((p) => p.instance.challenge).filter((c): c is string => !!c).join(', ') || 'Bearer';
  const steps: PolicyStep[] = stepsDraft.map((s) => ({ ...s, afterAuthenticators: lastAuth + 1 }));
  if (route.forwardIdentity.as === 'jwt' && !deps.assertions) {
    throw new Error(`routes[${route.index}].forwardIdentity: no identity provider to sign assertions (identity: is needed)`);
  }
  let service: GatewayService | undefined;
  if (route.service !== undefined) {
    service = deps.services?.get(route.service);
    if (service === undefined) {
      const known = [...(deps.services?.keys() ?? [])].join(', ') || 'none';
      throw new Error(`routes[${route.index}].upstream: no gateway service named "${route.service}" (available: ${known})`);
    }
  }
  const upstream: UpstreamGroupApi = service ? NO_UPSTREAM : new UpstreamGroup(route.upstream, { logger: deps.logger.child({ route: route.id }) });
  return {
    id: route.id,
    config: route,
    upstream,
    retryAttempts: route.upstream.retries.attempts,
    preserveHost: route.preserveHost,
    replaceUpstream5xx: route.replaceUpstream5xx,
    maxBodyBytes: route.maxBodyBytes,
    websocket: route.websocket,
    handlesPreflight: route.policies.some((p) => p.definition.name === 'cors'),
    identityAssertion:
      route.forwardIdentity.as === 'jwt' && deps.assertions
        ? { signer: deps.assertions, header: route.forwardIdentity.header, audience: route.forwardIdentity.audience }
        : undefined,
    secretHeaders: route.secretHeaders.length > 0 ? new Set(route.secretHeaders) : undefined,
    secretQueryParams: route.secretQueryParams.length > 0 ? new Set(route.secretQueryParams) : undefined,
    steps,
    firstAuthenticator: firstAuth,
    credentialProbes,
    challenge,
    responseHandlers,
    bodyHandlers,
    maxResponseBodyBytes: config.limits.maxResponseBodyBytes,
    metrics: deps.metrics.forRoute(route.id),
    handlers,
    service,
  };
}

async function fallbackSteps(config: GatewayConfig, deps: RuntimeDeps, shared: SharedResources): Promise<PolicyStep[]> {
  const def = POLICIES.get('security-headers');
  const configured = (config.document.defaults as Record<string, unknown> | undefined)?.['security-headers'];
  if (!def || configured === false) return [];
  const instance = await def.create(configured ?? defaultConfig('security-headers'), {
    logger: deps.logger,
    events: deps.events,
    routeId: '*',
    development: config.mode === 'development',
    shared,
  });
  return instance.onRequest
    ? [{ policy: def.name, phase: def.phase, run: instance.onRequest.bind(instance), authenticator: false, afterAuthenticators: 0 }]
    : [];
}

function defaultConfig(name: string): unknown {
  // The loader already validated `defaults`; a policy absent there gets its schema defaults.
  const def = POLICIES.get(name)!;
  const properties = (def.schema as { properties?: Record<string, { default?: unknown }> }).properties ?? {};
  const out: Record<string, unknown> = {};
  for (const [key, prop] of Object.entries(properties)) if (prop.default !== undefined) out[key] = structuredClone(prop.default);
  return out;
}
