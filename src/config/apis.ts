/**
 * The grouped form of the config (`apis:`, see ../shared/config-sketch.yaml): an API with a shared upstream, an
 * optional OpenAPI contract, versions and deprecation, whose routes expand into the one route table `routes:`
 * uses. Expansion happens before validation, so every expanded route is checked exactly like a hand-written one;
 * errors are reported under the API's own path (`apis[0].routes[1].authorize...`), never under a generated index.
 *
 * Versions (checklist item 10) are selected per API by path prefix (`/v1/...`), by a header (`Api-Version: 2`) or
 * by a media-type parameter (`Accept: application/json; version=2`). With a prefix, the prefix is removed before
 * the path reaches the contract and the upstream unless the version says `stripPrefix: false`.
 *
 * Deprecation (checklist item 15): a version or a single route can carry a deprecation date (RFC 9745
 * `Deprecation`), a sunset date (RFC 8594 `Sunset`), a link to the migration notes (`Link` with rel="deprecation"
 * and rel="sunset") and brownout windows before the sunset; after the sunset the gateway answers 410 Gone.
 */
import type { ErrorObject } from 'ajv';
import { validatorOnFirstUse } from './config-ajv.ts';
import { DURATION_SCHEMA } from './units.ts';
import { resolve } from 'node:path';
import { parseDuration } from './units.ts';
import { loadOpenApiSync } from '../openapi/load.ts';
import { DOCS_ROUTE, type DocsRouteMark } from '../docs/settings.ts';

/** Attached (as a symbol, invisible to JSON Schema) to each route object an API expanded into. */
export const API_ROUTE = Symbol('rampart.api-route');

export type VersionSelection = 'path' | 'header' | 'media-type' | 'none';

export interface Deprecation {
  /** Epoch ms of the deprecation date (RFC 9745: may lie in the future). */
  readonly deprecatedAt: number;
  /** Epoch ms of the sunset (RFC 8594), when announced. */
  readonly sunsetAt: number | undefined;
  readonly link: string | undefined;
  /** Windows [from, to) in epoch ms in which calls fail as they will after the sunset. */
  readonly brownouts: ReadonlyArray<{ readonly from: number; readonly to: number }>;
  /** Where the dates come from, for posture and errors (`apis[0].versions[1]`). */
  readonly source: string;
}

export interface ApiRouteInfo {
  readonly api: string;
  /** The version this route serves, or undefined for an unversioned API. */
  readonly version: string | undefined;
  readonly selection: VersionSelection;
  /** Path prefix of the version (path selection), e.g. `/v1`. */
  readonly prefix: string | undefined;
  /** Removed before contract matching and forwarding (path selection, unless stripPrefix: false). */
  readonly stripPrefix: string | undefined;
  /** Every version of the API, in config order (for 400/404 answers). */
  readonly supported: readonly string[];
  /** Header and media-type selection: the version used when the request names none (undefined: required). */
  readonly defaultVersion: string | undefined;
  /** Header selection: the header name, lower case. */
  readonly header: string;
  /** Header and media-type selection: one route of the group is in the route table; it selects among the others. */
  readonly groupKey: string | undefined;
  readonly groupPrimary: boolean;
  /** The API's OpenAPI document (the version's when it overrides), resolved by the contract policy. */
  readonly openapi: string | undefined;
  readonly deprecation: Deprecation | undefined;
  /** The source path of the route in the config, e.g. `apis[0].routes[2]`. */
  readonly source: string;
}

const DATE = { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}(?:T\\d{2}:\\d{2}(?::\\d{2})?(?:\\.\\d+)?(?:Z|[+-]\\d{2}:\\d{2}))?$' } as const;

const DEPRECATION_PROPERTIES = {
  deprecated: { ...DATE, description: 'deprecation date (RFC 9745): YYYY-MM-DD or an RFC 3339 time; may lie in the future' },
  sunset: { ...DATE, description: 'sunset date (RFC 8594): after it, calls answer 410 Gone' },
  link: { type: 'string', pattern: '^https?://', maxLength: 2048, description: 'migration notes (Link rel="deprecation" and rel="sunset")' },
  brownouts: {
    type: 'array',
    maxItems: 64,
    description: 'windows before the sunset in which calls fail as they will after it, so clients notice in time',
    items: {
      type: 'object',
      additionalProperties: false,
      required: ['from', 'for'],
      properties: { from: DATE, for: { ...DURATION_SCHEMA, description: 'length of the window, e.g. 1h' } },
    },
  },
} as const;

/** Route keys an API sets for all its routes (`defaults`) or a version overrides (`overrides`). */
const ROUTE_SETTINGS = { type: 'object', description: 'route settings (policies, authenticate, public, ...) applied to every route of the API; a route\'s own win' } as const;

export const APIS_SCHEMA = {
  type: 'array',
  maxItems: 256,
  default: [],
  description: 'the grouped form: APIs with a shared upstream, OpenAPI contract and versions, expanded into the route table',
  items: {
    type: 'object',
    additionalProperties: false,
    required: ['id'],
    properties: {
      id: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$' },
      upstream: { description: 'the upstream of every route and version that does not set its own' },
      openapi: { type: 'string', minLength: 1, description: 'the OpenAPI document (2.0, 3.0, 3.1; YAML or JSON) of the API' },
      defaults: ROUTE_SETTINGS,
      docs: {
        type: 'object',
        additionalProperties: false,
        required: ['path'],
        description:
          'serve the merged OpenAPI document of the contracts the gateway enforces (x-internal parts removed, paths as the ' +
          'gateway exposes them) and a reference page at path, to principals holding the required permissions, ' +
          "authenticated as the API's routes are (needs openapi: on the API or a version)",
        properties: {
          path: { type: 'string', pattern: '^(/[A-Za-z0-9._~-]+)+$', description: 'e.g. /docs/orders' },
          require: {
            type: 'array',
            minItems: 1,
            maxItems: 8,
            items: { type: 'string' },
            default: ['docs:read'],
            description: 'permissions needed; without docs:read the route needs an acknowledgement (rule docs-without-docs-read)',
          },
          public: { type: 'boolean', default: false, description: 'serve the docs to anyone (posture reports it)' },
          title: { type: 'string', minLength: 1, maxLength: 200 },
          scope: {
            enum: ['gateway', 'api'],
            default: 'gateway',
            description: "gateway: every API's and contract route's operations in one document; api: this API's versions only",
          },
        },
      },
      versioning: {
        type: 'object',
        additionalProperties: false,
        default: {},
        properties: {
          by: { enum: ['path', 'header', 'media-type'], default: 'path', description: 'where a request names its version' },
          header: { type: 'string', pattern: '^[A-Za-z0-9-]{1,64}$', default: 'api-version', description: 'the header for by: header' },
          default: { type: 'string', description: 'by header/media-type: the version of requests that name none (omit to require one: 400)' },
        },
      },
      versions: {
        type: 'array',
        minItems: 1,
        maxItems: 32,
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['version'],
          properties: {
            version: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$' },
            prefix: { type: 'string', pattern: '^(/[A-Za-z0-9._~-]+)+$', description: 'by path: the prefix (default /<version>)' },
            stripPrefix: { type: 'boolean', default: true, description: 'remove the prefix before contract matching and forwarding' },
            upstream: { description: 'overrides the API upstream for this version' },
            openapi: { type: 'string', minLength: 1, description: 'overrides the API contract for this version' },
            overrides: ROUTE_SETTINGS,
            ...DEPRECATION_PROPERTIES,
          },
        },
      },
      routes: {
        type: 'array',
        maxItems: 2000,
        description:
          "routes of the API; with openapi:, every operation not covered by one of these becomes a route of its own (one method, the document's path template) with the API's defaults",
        items: {
          type: 'object',
          required: ['id', 'match'],
          properties: { deprecation: { type: 'object', additionalProperties: false, properties: DEPRECATION_PROPERTIES } },
        },
      },
    },
  },
} as const;

const validateApis = validatorOnFirstUse(APIS_SCHEMA);

export interface Expansion {
  /** The document with `routes` extended by the expanded routes (the input is not changed). */
  readonly document: Record<string, unknown>;
  /** Number of routes written by hand (`routes:`); expanded ones follow. */
  readonly handWritten: number;
  /** `apis[a].routes[r]` of each expanded route, by index in the extended list. */
  readonly labels: ReadonlyMap<number, string>;
  readonly errors: readonly string[];
}

function ajvPath(error: ErrorObject): string {
  return (
    'apis' +
    error.instancePath
      .split('/')
      .slice(1)
      .map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p}`))
      .join('')
  );
}

function epoch(text: string): number {
  // A bare date means the start of that day in UTC (RFC 9745 and RFC 8594 carry instants).
  return Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00Z` : text);
}

/**
 * The migration link as it goes into `Link: <...>; rel="deprecation"` (RFC 9745 §3, RFC 8288 §3): an absolute http or
 * https URL, serialised by the WHATWG URL parser, which percent-encodes what may not stand inside `<...>` (`<`, `>`,
 * `"`, spaces, non-ASCII) and writes an IDN host in punycode, so the header value is always valid ASCII. Text the
 * parser would silently repair (spaces around it, tabs or line breaks inside) is refused instead: the link comes from
 * the config or, for `apis`, from the document's `x-deprecation-link`, which the config schema never sees.
 */
export function migrationLink(text: unknown): string | undefined {
  if (typeof text !== 'string' || text.length > 2048 || /[\s\p{Cc}]/u.test(text)) return undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : undefined;
}

function deprecationOf(raw: Record<string, unknown>, source: string, errors: string[]): Deprecation | undefined {
  const deprecated = raw.deprecated as string | undefined;
  const sunset = raw.sunset as string | undefined;
  const rawLink = raw.link as unknown;
  const link = rawLink === undefined ? undefined : migrationLink(rawLink);
  if (rawLink !== undefined && link === undefined) {
    errors.push(`${source}.link: not an absolute http or https URL without spaces or control characters`);
  }
  const brownouts = (raw.brownouts as Array<{ from: string; for: string | number }> | undefined) ?? [];
  if (deprecated === undefined) {
    if (sunset !== undefined || brownouts.length > 0) errors.push(`${source}: a sunset or brownouts need a deprecation date (deprecated:)`);
    return undefined;
  }
  const deprecatedAt = epoch(deprecated);
  const sunsetAt = sunset === undefined ? undefined : epoch(sunset);
  if (Number.isNaN(deprecatedAt)) errors.push(`${source}.deprecated: not a valid date`);
  if (sunsetAt !== undefined && Number.isNaN(sunsetAt)) errors.push(`${source}.sunset: not a valid date`);
  if (sunsetAt !== undefined && sunsetAt < deprecatedAt) errors.push(`${source}.sunset: must not be before the deprecation date (RFC 8594 §3)`);
  const windows = brownouts.map((b, i) => {
    const from = epoch(b.from);
    const to = from + parseDuration(b.for);
    if (Number.isNaN(from)) errors.push(`${source}.brownouts[${i}].from: not a valid date`);
    if (sunsetAt !== undefined && from >= sunsetAt) errors.push(`${source}.brownouts[${i}]: must start before the sunset`);
    if (from < deprecatedAt) errors.push(`${source}.brownouts[${i}]: must start after the deprecation date`);
    return { from, to };
  });
  return { deprecatedAt, sunsetAt, link, brownouts: windows, source };
}

/**
 * Expands `apis:` into routes. Each API route becomes one route per version (or one route for an unversioned
 * API), with settings merged in this order, later winning: the API's `defaults`, the version's `overrides`, the
 * route's own keys. The upstream is the version's, else the API's, unless the route sets one.
 */
export function expandApis(document: Record<string, unknown>, baseDir: string = process.cwd()): Expansion {
  const handRoutes = Array.isArray(document.routes) ? (document.routes as unknown[]) : [];
  const labels = new Map<number, string>();
  if (document.apis === undefined) return { document, handWritten: handRoutes.length, labels, errors: [] };
  const apis = structuredClone(document.apis) as Array<Record<string, unknown>>;
  if (!validateApis(apis)) {
    return { document, handWritten: handRoutes.length, labels, errors: (validateApis.errors ?? []).map((e) => `${ajvPath(e)}: ${e.message ?? 'invalid'}`) };
  }
  const errors: string[] = [];
  const expanded: Array<Record<string | symbol, unknown>> = [];
  const seenApis = new Set<string>();
  apis.forEach((api, a) => {
    const apiPath = `apis[${a}]`;
    const apiId = api.id as string;
    if (seenApis.has(apiId)) errors.push(`${apiPath}.id: "${apiId}" is already used by another API`);
    seenApis.add(apiId);
    const versioning = api.versioning as { by: 'path' | 'header' | 'media-type'; header: string; default?: string };
    const rawVersions = (api.versions as Array<Record<string, unknown>> | undefined) ?? [];
    const versions = rawVersions.length === 0 ? [undefined] : rawVersions;
    const supported = rawVersions.map((v) => v.version as string);
    if (new Set(supported).size !== supported.length) errors.push(`${apiPath}.versions: version names must be unique`);
    const selection: VersionSelection = rawVersions.length === 0 ? 'none' : versioning.by;
    if (versioning.default !== undefined) {
      if (selection === 'path') errors.push(`${apiPath}.versioning.default: only applies to by: header or media-type (a path always names its version)`);
      else if (!supported.includes(versioning.default)) errors.push(`${apiPath}.versioning.default: "${versioning.default}" is not one of the versions (${supported.join(', ')})`);
    }
    const apiDefaults = (api.defaults as Record<string, unknown> | undefined) ?? {};
    const routes = [...((api.routes as Array<Record<string, unknown>> | undefined) ?? [])];
    const operations = api.openapi === undefined ? undefined : operationsOf(resolve(baseDir, api.openapi as string), `${apiPath}.openapi`, errors);
    if (operations === undefined && routes.length === 0) errors.push(`${apiPath}.routes: an API needs routes, or an openapi: document whose operations become routes`);
    const explicitCount = routes.length;
    for (const operation of operations ?? []) {
      const covered = routes.slice(0, explicitCount).some((r) => {
        const match = r.match as { path?: string; methods?: string[] } | undefined;
        return match?.path !== undefined && shape(match.path) === shape(operation.path) && (match.methods === undefined || match.methods.includes(operation.method));
      });
      if (covered) continue;
      routes.push({ id: operation.id, match: { path: operation.routePath, methods: [operation.method] }, ...(operation.deprecation ? { deprecation: operation.deprecation } : {}) });
      if (operation.deprecatedWithoutDate) {
        errors.push(`${apiPath}.openapi: ${operation.method} ${operation.path} is deprecated: give it x-deprecation-date (RFC 9745 needs a date), or a route of this API with deprecation:`);
      }
    }
    // Routes written in the config that cover a deprecated operation need a date too.
    for (const operation of operations ?? []) {
      if (!operation.deprecatedWithoutDate) continue;
      const explicit = routes.slice(0, explicitCount).find((r) => {
        const match = r.match as { path?: string; methods?: string[] } | undefined;
        return match?.path !== undefined && shape(match.path) === shape(operation.path) && (match.methods === undefined || match.methods.includes(operation.method));
      });
      if (explicit !== undefined && explicit.deprecation === undefined) {
        errors.push(`${apiPath}.routes[${routes.indexOf(explicit)}]: serves ${operation.method} ${operation.path}, deprecated in the document without x-deprecation-date: add deprecation: { deprecated: DATE }`);
      }
    }
    const seenRoutes = new Set<string>();
    routes.forEach((route, r) => {
      // Routes generated from the document are named by their operation, not by a position the config does not have.
      const routePath = r < explicitCount ? `${apiPath}.routes[${r}]` : `${apiPath}.openapi(${(route.match as { methods: string[] }).methods[0]} ${(route.match as { path: string }).path})`;
      const routeId = route.id as string;
      if (typeof routeId === 'string' && seenRoutes.has(routeId)) errors.push(`${routePath}.id: "${routeId}" is already used in this API`);
      seenRoutes.add(routeId);
      const { deprecation: routeDeprecationRaw, ...routeOwn } = route;
      const routeDeprecation =
        routeDeprecationRaw === undefined ? undefined : deprecationOf(routeDeprecationRaw as Record<string, unknown>, `${routePath}.deprecation`, errors);
      versions.forEach((version, v) => {
        const versionPath = `${apiPath}.versions[${v}]`;
        const name = version?.version as string | undefined;
        const prefix = selection === 'path' ? ((version?.prefix as string | undefined) ?? `/${name}`) : undefined;
        const versionDeprecation = version === undefined ? undefined : deprecationOf(version, versionPath, errors);
        const match = { ...(routeOwn.match as Record<string, unknown>) };
        if (prefix !== undefined && typeof match.path === 'string') {
          if (!match.path.startsWith('/')) errors.push(`${routePath}.match.path: must begin with /`);
          match.path = match.path === '/' ? prefix : prefix + match.path;
        }
        const upstream = routeOwn.upstream ?? version?.upstream ?? api.upstream;
        if (upstream === undefined && r === 0 && v === 0) errors.push(`${apiPath}.upstream: required (or an upstream on each version or route)`);
        const info: ApiRouteInfo = {
          api: apiId,
          version: name,
          selection,
          prefix,
          stripPrefix: prefix !== undefined && version?.stripPrefix !== false ? prefix : undefined,
          supported,
          defaultVersion: versioning.default,
          header: versioning.header.toLowerCase(),
          groupKey: selection === 'header' || selection === 'media-type' ? `${apiId}\u0000${routeId}` : undefined,
          groupPrimary: v === 0,
          openapi: (version?.openapi as string | undefined) ?? (api.openapi as string | undefined),
          // A route's own deprecation is more specific than its version's.
          deprecation: routeDeprecation ?? versionDeprecation,
          source: routePath,
        };
        const overrides = (version?.overrides as Record<string, unknown> | undefined) ?? {};
        const openapi = (version?.openapi as string | undefined) ?? (api.openapi as string | undefined);
        // The contract of the API (or of the version) applies to every route, matched after the version prefix.
        const contract =
          openapi === undefined || apiDefaults.contract === false || overrides.contract === false || routeOwn.contract === false
            ? undefined
            : {
                openapi: resolve(baseDir, openapi),
                ...(apiDefaults.contract as Record<string, unknown> | undefined),
                ...(overrides.contract as Record<string, unknown> | undefined),
                ...(routeOwn.contract as Record<string, unknown> | undefined),
              };
        const expandedRoute: Record<string | symbol, unknown> = {
          ...structuredClone(apiDefaults),
          ...structuredClone(overrides),
          ...structuredClone(routeOwn),
          ...(contract === undefined ? {} : { contract }),
          id: name === undefined ? `${apiId}.${routeId}` : `${apiId}.${name}.${routeId}`,
          match,
          ...(upstream === undefined ? {} : { upstream: structuredClone(upstream) }),
        };
        expandedRoute[API_ROUTE] = info;
        labels.set(handRoutes.length + expanded.length, routePath);
        expanded.push(expandedRoute);
      });
    });
    const docs = api.docs as { path: string; require: string[]; public: boolean; title?: string; scope: 'gateway' | 'api' } | undefined;
    if (docs !== undefined) {
      // The document heading the merged one (its info): the API's, else its first version's.
      const own = (api.openapi as string | undefined) ?? rawVersions.map((v) => v.openapi as string | undefined).find((o) => o !== undefined);
      if (own === undefined) errors.push(`${apiPath}.docs: needs an openapi: document (the API's or a version's)`);
      else {
        // Authenticated as the API's routes are; authorized by the docs permissions (deny by default).
        const { authenticate } = apiDefaults as { authenticate?: unknown };
        const route: Record<string | symbol, unknown> = {
          id: `${apiId}.docs`,
          match: { path: `${docs.path}/**`, methods: ['GET', 'HEAD'] },
          upstream: 'rampart:docs',
          docs: { openapi: own, ...(docs.title === undefined ? {} : { title: docs.title }) },
          ...(docs.public ? { public: true } : { authenticate, authorize: { permissions: docs.require } }),
        };
        const mark: DocsRouteMark = { merge: docs.scope === 'api' ? { scope: 'api', api: apiId } : { scope: 'gateway' }, source: `${apiPath}.docs` };
        route[DOCS_ROUTE] = mark;
        labels.set(handRoutes.length + expanded.length, `${apiPath}.docs`);
        expanded.push(route);
      }
    }
  });
  return { document: { ...document, apis, routes: [...handRoutes, ...expanded] }, handWritten: handRoutes.length, labels, errors };
}

/** A path template with parameter names erased, to compare `/orders/{id}` with `/orders/{orderId}`. */
function shape(path: string): string {
  return path.replace(/\{[^}/]*\}/g, '{}');
}

interface GeneratedOperation {
  readonly id: string;
  readonly method: string;
  /** The template as the document writes it. */
  readonly path: string;
  /** The route pattern: whole-segment parameters only (a segment like `{name}.json` becomes one parameter). */
  readonly routePath: string;
  readonly deprecation: Record<string, unknown> | undefined;
  readonly deprecatedWithoutDate: boolean;
}

/** The operations of a document, as routes: ids from operationIds (made unique), deprecation from x-* dates. */
function operationsOf(file: string, path: string, errors: string[]): GeneratedOperation[] | undefined {
  const loaded = loadOpenApiSync(file);
  if (!loaded.ok) {
    for (const issue of loaded.errors) errors.push(`${path}: ${issue.text}`);
    return undefined;
  }
  const document = loaded.api.model.document as { paths?: Record<string, Record<string, Record<string, unknown>>> };
  const used = new Set<string>();
  const out: GeneratedOperation[] = [];
  for (const operation of loaded.api.model.operations) {
    const raw = document.paths?.[operation.path]?.[operation.method.toLowerCase()] ?? {};
    let id = (operation.operationId ?? `${operation.method}-${operation.path}`).replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 48) || 'operation';
    for (let n = 2; used.has(id); n++) id = `${id.slice(0, 44)}-${n}`;
    used.add(id);
    let counter = 0;
    const routePath = operation.path
      .split('/')
      .map((segment) => (/^\{[A-Za-z_][A-Za-z0-9_]*\}$/.test(segment) ? segment : segment.includes('{') ? `{segment${counter++}}` : segment))
      .join('/');
    const deprecated = raw.deprecated === true;
    const date = typeof raw['x-deprecation-date'] === 'string' ? raw['x-deprecation-date'] : undefined;
    const sunset = typeof raw['x-sunset-date'] === 'string' ? raw['x-sunset-date'] : undefined;
    // Whatever the document holds: deprecationOf refuses what is not a usable link (naming the route it became).
    const link: unknown = raw['x-deprecation-link'];
    out.push({
      id,
      method: operation.method.toUpperCase(),
      path: operation.path,
      routePath,
      deprecation: deprecated && date !== undefined ? { deprecated: date, ...(sunset ? { sunset } : {}), ...(link !== undefined ? { link } : {}) } : undefined,
      deprecatedWithoutDate: deprecated && date === undefined,
    });
  }
  return out;
}

/** Rewrites `routes[N]` of expanded routes in messages to the API route they came from. */
export function relabel(message: string, labels: ReadonlyMap<number, string>): string {
  if (labels.size === 0) return message;
  return message.replace(/routes\[(\d+)\]/g, (whole, index: string) => labels.get(Number(index)) ?? whole);
}
