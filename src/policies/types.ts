/**
 * The policy contract (ARCHITECTURE.md "Policies"), after Envoy filters, Ory Oathkeeper's pipeline and Kong plugins:
 * a policy declares a name, a phase, an order within the phase and a JSON Schema for its config; `create()` does the
 * expensive work once (compile, parse, build tables) and returns per-request handlers that see only the narrow
 * `RequestContext` kit, never the core.
 */
import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import type { ErrorCode } from '../errors/catalogue.ts';
import type { SecurityEvents } from '../observe/events.ts';
import type { Stores } from '../storage/ports.ts';

/**
 * The closed list of request phases, in execution order (ARCHITECTURE.md "One request, one canonical path").
 * `limit-address` runs before authentication so credential guessing is throttled before any expensive check;
 * `limit-principal` runs after it.
 */
export const PHASES = [
  'edge',
  'limit-address',
  'authenticate',
  'mfa',
  'authorize',
  'limit-principal',
  'validate',
] as const;
export type Phase = (typeof PHASES)[number];

/** Continue with the next policy. Handlers may also return `undefined` for this (cheapest on the hot path). */
export const CONTINUE = undefined;

/** An authentication policy found no credential of its kind: the next authenticator on the route tries. */
export const NOT_RESPONSIBLE = Symbol('rampart.not-responsible');

/** Short-circuit the request with a problem from the catalogue (RFC 9457). */
export interface RespondWithProblem {
  readonly kind: 'problem';
  readonly code: ErrorCode;
  /** Internal explanation for the log line; never sent to the client. */
  readonly detail?: string;
  /** Extra response headers (e.g. `Allow`, `WWW-Authenticate`, `Retry-After`). */
  readonly headers?: Readonly<Record<string, string>>;
  /**
   * RFC 9457 §3.2 extension members added to the problem body, e.g. `errors: [{ pointer, rule }]` for request
   * validation. Never put client-submitted values here: the body goes to the client.
   */
  readonly extensions?: Readonly<Record<string, unknown>>;
}

/** Short-circuit with a response the gateway itself produces (e.g. a CORS preflight answer). */
export interface RespondDirectly {
  readonly kind: 'direct';
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Buffer;
}

export type Respond = RespondWithProblem | RespondDirectly;
export type Outcome = typeof CONTINUE | typeof NOT_RESPONSIBLE | Respond;

export function problem(
  code: ErrorCode,
  detail?: string,
  headers?: Record<string, string>,
  extensions?: Readonly<Record<string, unknown>>,
): RespondWithProblem {
  return extensions === undefined ? { kind: 'problem', code, detail, headers } : { kind: 'problem', code, detail, headers, extensions };
}

/** The authenticated caller; authentication policies fill it in (issue 3), authorization reads it (issue 4). */
export interface Principal {
  readonly subject: string;
  readonly kind: 'user' | 'consumer' | 'client' | 'anonymous';
  readonly method: string;
  readonly roles: readonly string[];
  readonly permissions?: ReadonlySet<string>;
  readonly claims?: Readonly<Record<string, unknown>>;
  readonly tenant?: string;
  readonly amr?: readonly string[];
  /**
   * A non-secret id of the credential used (API key record id, token `jti` or a short keyed hash, session hash
   * prefix), so detectors can see one credential used from many addresses. Never the credential itself.
   */
  readonly credentialId?: string;
}

/**
 * Per-request state shared by the pipeline and the policies. Created once per request; policies read the
 * canonical path from here (never from `req.url`), so routing, policy and forwarding see the same string.
 */
export interface RequestContext {
  readonly req: IncomingMessage;
  /** Correlation id: `X-Request-Id`, echoed to the client, sent upstream and written on every log line. */
  readonly requestId: string;
  readonly method: string;
  /** The canonical path (see gateway/canonical-path.ts). */
  readonly path: string;
  /** The raw query string without `?`, or '' when absent. */
  readonly query: string;
  /** Client address: the TCP peer, or the nearest untrusted address in X-Forwarded-For when the peer is trusted. */
  readonly clientAddress: string;
  /** True when the client reached Rampart over TLS (or a trusted proxy says it did). */
  readonly secure: boolean;
  readonly routeId: string;
  readonly params: Readonly<Record<string, string>>;
  /**
   * The canonical path with the API version prefix removed, for routes of a path-versioned API that strip it
   * (what OpenAPI operations are matched against and what the upstream receives); undefined otherwise (use `path`).
   */
  readonly apiPath?: string | undefined;
  principal: Principal | undefined;
  /**
   * Headers the gateway adds to whatever response this request gets (upstream answer, problem or direct reply).
   * Flat list [name, value, name, value, ...] with lower-case names, to avoid an allocation per header.
   */
  readonly responseHeaders: string[];
  /** Free slot for policies that hand data to a later phase (e.g. parsed body). Keys are policy names. */
  readonly locals: Record<string, unknown>;
}

/** What a policy can see of the upstream response before it is sent (headers only; bodies stream). */
export interface UpstreamResponseView {
  readonly status: number;
  /** Lower-case header names; the policy may delete or set entries. */
  readonly headers: Record<string, string | string[] | undefined>;
}

/**
 * What a response-body policy sees once the upstream's whole answer was buffered (only for requests where some
 * policy asked for it with `wantsResponseBody`). The gateway has already decoded any `Content-Encoding`
 * (gzip, deflate, br), bounded the size (`limits.maxResponseBody`) and, for JSON media types, parsed the body with
 * the hardened parser (duplicate keys, `__proto__`, depth and size limits), so every policy sees one parse.
 */
export interface UpstreamBodyView {
  readonly status: number;
  /** Lower-case header names; the policy may delete or set entries (content-length is recomputed). */
  readonly headers: Record<string, string | string[] | undefined>;
  /** The media type without parameters, lower case (`application/json`), or '' when absent. */
  readonly mediaType: string;
  /** The decoded body bytes (empty for 204/304 and HEAD). */
  readonly raw: Buffer;
  /**
   * The parsed JSON body for JSON media types (`application/json`, `*+json`), `undefined` when the body is not
   * JSON or is empty. `json` is `PARSE_FAILED` when the media type says JSON but the bytes are not strict JSON.
   */
  readonly json: unknown;
  /** Replaces the JSON body sent to the client (serialised once, after every policy ran). */
  setJson(value: unknown): void;
}

/** `UpstreamBodyView.json` when a JSON media type carried bytes the hardened parser refused. */
export const PARSE_FAILED: unique symbol = Symbol('rampart.json-parse-failed');

export interface PolicyHandlers {
  /** Runs in the policy's phase. Synchronous answers keep the hot path free of promise allocation. */
  onRequest?(ctx: RequestContext): Outcome | Promise<Outcome>;
  /** Runs once the upstream answered, before its headers are sent on. */
  onResponse?(ctx: RequestContext, response: UpstreamResponseView): void;
  /**
   * Whether this request's upstream answer must be buffered for `onResponseBody` (called once per request, after
   * the request phases; keep it cheap). Absent means "always" when `onResponseBody` is present. Buffering costs
   * latency and memory, so a policy asks only when it will act (e.g. a route with read rules for this role).
   */
  wantsResponseBody?(ctx: RequestContext): boolean;
  /**
   * Runs on the buffered, decoded upstream answer before anything reaches the client, in phase order (the
   * response travels back through the pipeline). It may rewrite the JSON body (`setJson`), change headers, or
   * refuse the answer with a problem (e.g. an ownership check on `response.body` fails: 404), in which case the
   * client gets only that problem. Fail closed: a policy that cannot decide must refuse, not pass the body on.
   */
  onResponseBody?(ctx: RequestContext, response: UpstreamBodyView): Outcome | Promise<Outcome>;
  /**
   * Authentication policies: whether this request carries a credential of this policy's kind (cheap, no
   * verification). The pipeline asks every authenticator of the route first and refuses a request that presents
   * more than one kind of credential (RFC 6750 §3.1 `invalid_request`), so credentials can never be mixed.
   */
  hasCredential?(ctx: RequestContext): boolean;
  /**
   * Where this policy's credential sits, e.g. `authorization` for bearer tokens or `header:x-api-key`. Two
   * authenticators reading the same place (jwt and identity-token both read the bearer) count as one credential;
   * two places (a bearer and an API key) are a conflict.
   */
  readonly credentialSource?: string;
  /**
   * Authentication policies: the `WWW-Authenticate` challenge (RFC 9110 §11.6.1) this policy offers, e.g.
   * `Bearer realm="api"`. When no authenticator of a route finds a credential, the 401 lists every challenge.
   */
  readonly challenge?: string;
  /** Releases timers, sockets and caches when a config is replaced or the gateway stops. */
  close?(): void | Promise<void>;
}

/**
 * Resources shared by every route of one runtime (one loaded config), e.g. one JWKS cache per issuer however many
 * routes accept that issuer. Created on first use; closed with the runtime.
 */
export interface SharedResources {
  get<T extends { close?(): void | Promise<void> }>(key: string, create: () => T): T;
}

export interface PolicyDeps {
  readonly logger: Logger;
  readonly events: SecurityEvents;
  /** The route id this instance serves, or '*' for gateway-wide instances. */
  readonly routeId: string;
  /** True when the config runs in development mode (relaxed defaults are then reported, never silent). */
  readonly development: boolean;
  readonly shared: SharedResources;
  /** The stores (users, consumers, keys, sessions, counters), open when some policy or service needs them. */
  readonly stores?: Stores;
  /** Key of `hashSecret` (derived from the master key), present whenever the stores are. */
  readonly pepper?: Buffer;
}

/** A finding from a policy's semantic config check. */
export interface ConfigIssue {
  /** Path in config notation, e.g. `routes[2].cors.origins[0]`. */
  readonly path: string;
  readonly message: string;
  /**
   * When set, the issue is a weakened default that an `acknowledge` entry with this rule and path may accept;
   * without an acknowledgement it is an error. Without a rule it is an error, unless `severity` is 'warning'.
   */
  readonly rule?: string;
  readonly severity?: 'error' | 'warning';
}

export interface PolicyDefinition<Config = unknown> {
  /** kebab-case; also the config key on a route and the metric label. */
  readonly name: string;
  readonly phase: Phase;
  /** Order within the phase; lower runs first. */
  readonly order: number;
  /** JSON Schema for the policy config (`additionalProperties: false`, defaults filled in by the loader). */
  readonly schema: Record<string, unknown>;
  /** True for policies that authenticate a caller (they satisfy "deny by default"). */
  readonly authenticates?: boolean;
  /** The policy needs `deps.stores` (the gateway then opens them, and production needs a master key). */
  readonly requiresStores?: boolean;
  /** When true, the policy is on for every route unless the route or `defaults` says `false`. */
  readonly onByDefault?: boolean;
  /**
   * For a policy that the gateway config turns on for every route (e.g. `audit` once an `audit:` store is
   * configured): its settings on a route that does not name it, or undefined when the config does not turn it on.
   * Like `onByDefault`, a route or `defaults` turns it off only by saying `false`, which posture reports.
   */
  implicitConfig?(document: Readonly<Record<string, unknown>>): Record<string, unknown> | undefined;
  /**
   * Settings this policy takes from the gateway config itself (e.g. `identity-token` takes the issuer and audience
   * of `identity:`). Merged under the route's own settings before validation.
   */
  inheritConfig?(document: Readonly<Record<string, unknown>>): Record<string, unknown>;
  /**
   * Request headers (lower case) that carry this policy's secret credential: the gateway redacts them in logs and
   * never forwards them upstream (the upstream gets the identity headers instead).
   */
  secretHeaders?(config: Config): readonly string[];
  /** Query parameters that carry a secret credential: removed from the query the upstream receives. */
  secretQueryParams?(config: Config): readonly string[];
  /** Semantic checks JSON Schema cannot express. `path` is where this policy's config sits. */
  check?(config: Config, path: string, route: RouteInfo): ConfigIssue[];
  create(config: Config, deps: PolicyDeps): PolicyHandlers | Promise<PolicyHandlers>;
}

/** What a policy may know about the route it is configured on, at config time. */
export interface RouteInfo {
  readonly id: string;
  readonly public: boolean;
  readonly methods: readonly string[] | undefined;
  readonly tls: boolean;
  readonly sensitivity?: 'normal' | 'sensitive' | 'admin';
  /** Directory relative file paths in the policy's settings resolve against (the config file's). */
  readonly baseDir?: string;
}
