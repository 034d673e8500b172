/**
 * The document a `rampart:docs` route publishes (settings.ts says which):
 *
 * - one named document: loaded with the contract loader and published without its internal parts, in its own
 *   OpenAPI version (strip-internal.ts);
 * - the merged document: every route with a `contract` (routes expanded from `apis:` carry their API's or version's
 *   document), restricted to one API for `scope: api`. Each document is loaded, stripped of its internal parts and
 *   converted to OpenAPI 3.1 (convert.ts); the sources are the distinct (document, exposed prefix) pairs in route
 *   order, the prefix being the version prefix the gateway strips followed by the contract's own `stripPrefix`. An
 *   operation is in the merged document only when the gateway's router, asked for its exposed path (each `{param}`
 *   standing for a value no literal route segment has) and method, picks a route enforcing that same source (or a
 *   version of that route's header- or media-type-selected group): an operation no route reaches, or one that a more
 *   specific route with another contract takes, is not documented as reachable (merge.ts does the rest).
 *
 * Both are cached while the config and every document loaded for them stay the same (the loader hands back the
 * same object while a file and what it references are unchanged), so a request re-reads nothing.
 */
import { loadOpenApi, type LoadedOpenApi } from '../openapi/load.ts';
import type { GatewayConfig, RouteConfig } from '../config/load.ts';
import { inRouteTable } from '../config/load.ts';
import { Router } from '../gateway/router.ts';
import { isObject } from '../openapi/pointer.ts';
import { toOpenApi31 } from './convert.ts';
import { mergeContracts, type MergeDocument, type MergeSource } from './merge.ts';
import { withoutInternal } from './strip-internal.ts';
import type { DocsMerge } from './settings.ts';

type Json = Record<string, unknown>;

/**
 * A version of a header- or media-type-selected API: its operations share their paths with the API's other versions,
 * so one document can show only one of them; the docs route serves a document for each (service.ts).
 */
export interface SelectableVersion {
  readonly api: string;
  readonly version: string;
  readonly selection: 'header' | 'media-type';
  /** Header selection: the header that names it (lower case). */
  readonly header: string;
  /** Whether requests naming no version get it (documented in the main document). */
  readonly isDefault: boolean;
}

export type Publication =
  | {
      readonly ok: true;
      readonly document: Json;
      readonly json: string;
      readonly omitted: readonly string[];
      /** Header- and media-type-selected versions in the merged document (empty for one named document). */
      readonly versions: readonly SelectableVersion[];
    }
  | { readonly ok: false; readonly error: string };

async function load(file: string): Promise<LoadedOpenApi | string> {
  const loaded = await loadOpenApi(file);
  return loaded.ok ? loaded.api : (loaded.errors[0]?.text ?? `${file}: document does not load`);
}

// --- one named document -----------------------------------------------------------------------------------------

const single = new WeakMap<LoadedOpenApi, Publication>();

export async function publishDocument(file: string): Promise<Publication> {
  const api = await load(file);
  if (typeof api === 'string') return { ok: false, error: api };
  let publication = single.get(api);
  if (publication === undefined) {
    const document = withoutInternal(api.model.document);
    publication = { ok: true, document, json: JSON.stringify(document), omitted: [], versions: [] };
    single.set(api, publication);
  }
  return publication;
}

// --- the merged document ------------------------------------------------------------------------------------------

interface ContractRoute {
  readonly route: RouteConfig;
  readonly file: string;
  readonly prefix: string;
}

/** Routes with a contract (of one API, for `scope: api`), with the document and the prefix the gateway strips. */
function contractRoutes(config: GatewayConfig, merge: DocsMerge): ContractRoute[] {
  const out: ContractRoute[] = [];
  for (const route of config.routes) {
    if (merge.scope === 'api' && route.api?.api !== merge.api) continue;
    const contract = route.policies.find((p) => p.definition.name === 'contract')?.config as { openapi?: unknown; stripPrefix?: unknown } | undefined;
    if (contract === undefined || typeof contract.openapi !== 'string') continue;
    const stripPrefix = typeof contract.stripPrefix === 'string' ? contract.stripPrefix : '';
    out.push({ route, file: contract.openapi, prefix: (route.api?.stripPrefix ?? '') + stripPrefix });
  }
  return out;
}

const routers = new WeakMap<GatewayConfig, Router<RouteConfig>>();

/** The route table as the runtime builds it (gateway/runtime.ts). */
function routerOf(config: GatewayConfig): Router<RouteConfig> {
  let router = routers.get(config);
  if (router === undefined) {
    router = new Router(config.routes.filter(inRouteTable).map((r) => ({ id: r.id, path: r.path, methods: r.methods, host: r.host, value: r })));
    routers.set(config, router);
  }
  return router;
}

/** A concrete request path for a template: each parameter a value no literal segment of a route is. */
function samplePath(template: string): string {
  return template.replace(/\{[^}/]*\}/g, '%7Bparam%7D');
}

function sampleHost(host: string | undefined): string | undefined {
  return host?.startsWith('*.') ? `docs-sample${host.slice(1)}` : host;
}

function sourceLabel(route: RouteConfig): string {
  const api = route.api;
  if (api === undefined) return route.id;
  return api.version === undefined ? api.api : `${api.api}.${api.version}`;
}

interface Plan {
  readonly files: readonly string[];
  readonly documentLabels: readonly string[];
  readonly sources: ReadonlyArray<{ readonly file: number; readonly label: string; readonly prefix: string; readonly reaches: (method: string, path: string) => boolean }>;
  readonly versions: readonly SelectableVersion[];
}

/**
 * Which version of a header- or media-type-selected API documents the paths its versions share: the one `prefer`
 * names when the API has it, else the one requests naming no version get (`versioning.default`), else the first.
 * 0 documents, 1 yields; routes of other APIs are 0.
 */
function yieldsShared(route: RouteConfig, prefer: string | undefined): number {
  const api = route.api;
  if (api?.groupKey === undefined || api.version === undefined) return 0;
  const chosen = prefer !== undefined && api.supported.includes(prefer) ? prefer : (api.defaultVersion ?? api.supported[0]);
  return api.version === chosen ? 0 : 1;
}

function plan(config: GatewayConfig, merge: DocsMerge, prefer: string | undefined): Plan {
  const routes = contractRoutes(config, merge);
  const sourceKey = (c: ContractRoute) => `${c.file}\u0000${c.prefix}`;
  const keyOfRoute = new Map(routes.map((c) => [c.route, sourceKey(c)] as const));
  const groups = new Map<string, RouteConfig[]>();
  for (const route of config.routes) {
    const group = route.api?.groupKey;
    if (group !== undefined) groups.set(group, [...(groups.get(group) ?? []), route]);
  }
  const router = routerOf(config);
  const files: string[] = [];
  const bySource = new Map<string, ContractRoute[]>();
  for (const c of routes) {
    if (!files.includes(c.file)) files.push(c.file);
    bySource.set(sourceKey(c), [...(bySource.get(sourceKey(c)) ?? []), c]);
  }
  // The version a shared path is documented by comes first (merge.ts: the first source documents a method and path);
  // a stable sort, so everything else keeps the config's order.
  const ordered = [...bySource.entries()].sort(([, a], [, b]) => yieldsShared(a[0]!.route, prefer) - yieldsShared(b[0]!.route, prefer));
  const sources = ordered.map(([key, members]) => {
    const hosts = [...new Set(members.map((m) => m.route.host))];
    const reaches = (method: string, path: string): boolean =>
      hosts.some((host) => {
        const match = router.match(method, sampleHost(host), samplePath(path));
        if (match.kind !== 'found') return false;
        const group = match.value.api?.groupKey;
        const candidates = group === undefined ? [match.value] : (groups.get(group) ?? [match.value]);
        return candidates.some((r) => keyOfRoute.get(r) === key);
      });
    return { file: files.indexOf(members[0]!.file), label: sourceLabel(members[0]!.route), prefix: members[0]!.prefix, reaches };
  });
  // A document's component names are prefixed with its API (and version, when the API's versions have documents of
  // their own), or with the first route that uses it.
  const documentLabels = files.map((file) => {
    const users = routes.filter((c) => c.file === file);
    const apis = new Set(users.map((c) => c.route.api?.api));
    const api = users[0]!.route.api;
    if (apis.size !== 1 || api === undefined) return sourceLabel(users[0]!.route);
    const apiFiles = new Set(routes.filter((c) => c.route.api?.api === api.api).map((c) => c.file));
    return apiFiles.size > 1 && api.version !== undefined ? `${api.api}.${api.version}` : api.api;
  });
  const versions: SelectableVersion[] = [];
  for (const c of routes) {
    const api = c.route.api;
    if (api?.groupKey === undefined || api.version === undefined || api.selection === 'none' || api.selection === 'path') continue;
    if (versions.some((v) => v.api === api.api && v.version === api.version)) continue;
    versions.push({
      api: api.api,
      version: api.version,
      selection: api.selection,
      header: api.header,
      isDefault: api.version === (api.defaultVersion ?? api.supported[0]),
    });
  }
  return { files, documentLabels, sources, versions };
}

const converted = new WeakMap<LoadedOpenApi, Json>();

function publishable(api: LoadedOpenApi): Json {
  let document = converted.get(api);
  if (document === undefined) {
    document = toOpenApi31(withoutInternal(api.model.document));
    converted.set(api, document);
  }
  return document;
}

/** The cache key of a docs route's merged document, per version (NUL cannot occur in a route id). */
function mergedKey(routeId: string, version: string | undefined): string {
  return version === undefined ? routeId : `${routeId}\u0000${version}`;
}

const merged = new WeakMap<GatewayConfig, Map<string, { readonly loaded: readonly LoadedOpenApi[]; readonly publication: Publication }>>();

/**
 * The merged document served by `route` (a docs route with `docs.merge`) under `config`. `version` picks which version
 * of header- and media-type-selected APIs documents their shared paths (default: the version requests naming none
 * get); one that no such API has is refused (`ok: false`), never answered with the default silently.
 */
export async function publishMerged(config: GatewayConfig, route: RouteConfig, version?: string): Promise<Publication> {
  const docs = route.docs!;
  const { files, documentLabels, sources, versions } = plan(config, docs.merge!, version);
  if (version !== undefined && !versions.some((v) => v.version === version)) return { ok: false, error: `no header- or media-type-selected version "${version}"` };
  // The first document gives the merged one its `info` (a hand-written `merge:` route may name none).
  const heading = docs.openapi === undefined ? [] : [docs.openapi];
  const loaded: LoadedOpenApi[] = [];
  for (const file of [...heading, ...files]) {
    const api = await load(file);
    if (typeof api === 'string') return { ok: false, error: api };
    loaded.push(api);
  }
  let perConfig = merged.get(config);
  if (perConfig === undefined) merged.set(config, (perConfig = new Map()));
  const cacheKey = mergedKey(route.id, version);
  const cached = perConfig.get(cacheKey);
  if (cached !== undefined && cached.loaded.length === loaded.length && cached.loaded.every((api, i) => api === loaded[i])) return cached.publication;
  let publication: Publication;
  try {
    const head = heading.length === 0 ? undefined : withoutInternal(loaded[0]!.model.document);
    const documents: MergeDocument[] = loaded.slice(heading.length).map((api, i) => ({ label: documentLabels[i]!, document: publishable(api) }));
    const mergeSources: MergeSource[] = sources.map((s) => ({ document: s.file, label: s.label, prefix: s.prefix, reaches: s.reaches }));
    const info = head !== undefined && isObject(head.info) ? head.info : { title: docs.title ?? 'API reference', version: '1' };
    const result = mergeContracts({ documents, sources: mergeSources, info });
    publication = { ok: true, document: result.document, json: JSON.stringify(result.document), omitted: result.omitted, versions };
  } catch (error) {
    publication = { ok: false, error: (error as Error).message };
  }
  perConfig.set(cacheKey, { loaded, publication });
  return publication;
}

/**
 * Builds the merged documents of `config`'s docs routes (and of each of their header- or media-type-selected
 * versions) before the config serves, so no docs request pays for it: the build runs on the main thread (about
 * 0.4 s for four large corpus documents) and would otherwise hold up every request that arrives meanwhile. A
 * document that does not build is returned in `failed` (the runtime logs it) and answered as a problem when asked for.
 */
export async function prewarmMerged(config: GatewayConfig): Promise<{ readonly built: number; readonly failed: ReadonlyArray<{ readonly routeId: string; readonly error: string }> }> {
  let built = 0;
  const failed: Array<{ routeId: string; error: string }> = [];
  for (const route of config.routes) {
    if (route.docs?.merge === undefined) continue;
    const main = await publishMerged(config, route);
    built++;
    if (!main.ok) {
      failed.push({ routeId: route.id, error: main.error });
      continue;
    }
    for (const version of new Set(main.versions.map((v) => v.version))) {
      const variant = await publishMerged(config, route, version);
      built++;
      if (!variant.ok) failed.push({ routeId: `${route.id} (version ${version})`, error: variant.error });
    }
  }
  return { built, failed };
}

/** The merged document `publishMerged` holds for `routeId` (and `version`) under `config`, without building one. */
export function cachedMerged(config: GatewayConfig, routeId: string, version?: string): Publication | undefined {
  return merged.get(config)?.get(mergedKey(routeId, version))?.publication;
}
