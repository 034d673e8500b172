/**
 * What a `rampart:docs` route serves and who may read it (checklist item 14), decided when the config is loaded.
 *
 * What is served:
 * - `docs: { openapi: FILE }` written on a route: that one document, as before (x-internal parts removed).
 * - `docs: { merge: gateway }` (or `{ merge: { api: ID } }`) written on a route: the merged document, as for
 *   `apis[].docs` below; an `openapi:` beside it only gives the merged document its `info`.
 * - `apis[].docs`: the merged document of the contracts the gateway enforces (merge.ts), every version, under the
 *   paths the gateway exposes: of every API and contract route (`scope: gateway`, the default), or of this API's
 *   versions only (`scope: api`). The expanded route carries this in `DOCS_ROUTE` (a symbol: invisible to the
 *   route schema, which knows only `docs: { openapi, title }`).
 *
 * Who may read it: a docs route is public only when it says `public: true` (posture reports it as weakened);
 * otherwise it must require the `docs:read` permission for GET and HEAD (`docs:*` covers it too). A route that
 * authenticates but lets principals without `docs:read` read the documentation is a weakened default: refused by
 * the config check unless acknowledged (rule `docs-without-docs-read`), and reported by posture when it is.
 */

/** Attached to the docs route an `apis[]` entry expands into. */
export const DOCS_ROUTE = Symbol('rampart.docs-route');

/** Which contracts a merged document is made of: every one the gateway enforces, or one API's (all versions). */
export type DocsMerge = { readonly scope: 'gateway' } | { readonly scope: 'api'; readonly api: string };

export interface DocsRouteMark {
  readonly merge: DocsMerge;
  /** Where the docs route was declared, e.g. `apis[0].docs`. */
  readonly source: string;
}

/** `RouteConfig.docs`: what a `rampart:docs` route serves. */
export interface DocsRouteSettings {
  /**
   * The document named by the route (resolved path); for a merged document, the one whose `info` heads it (the API's
   * own for `apis[].docs`), undefined when a hand-written `merge:` route names none (the title then heads it).
   */
  readonly openapi: string | undefined;
  readonly title: string | undefined;
  /** Set when the route serves the merged document of the gateway's contracts instead of `openapi` alone. */
  readonly merge: DocsMerge | undefined;
  /** Where the route was declared (`routes[3]`, `apis[0].docs`): accepted weakenings of it have paths below this. */
  readonly source: string;
}

/** The weakened-default rule of a docs route readable without `docs:read`. */
export const DOCS_READ_RULE = 'docs-without-docs-read';
export const DOCS_READ = 'docs:read';

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function grantsDocsRead(list: unknown): boolean {
  return Array.isArray(list) && list.some((p) => p === DOCS_READ || p === 'docs:*');
}

/**
 * Whether every GET and HEAD request the `authorize` settings let through needs `docs:read`: a permission list for
 * every method, or per method (HEAD falls back to GET's list, a method not listed is denied), as authz/engine.ts reads it.
 */
export function requiresDocsRead(authorize: unknown): boolean {
  if (!isObject(authorize)) return false;
  const permissions = authorize.permissions;
  if (Array.isArray(permissions)) return grantsDocsRead(permissions);
  if (!isObject(permissions)) return false;
  const lists = [permissions.GET, permissions.HEAD ?? permissions.GET].filter((list) => list !== undefined);
  return lists.every(grantsDocsRead);
}

/**
 * The weakened default of a docs route that is not public and does not require `docs:read`, or undefined. `raw` is
 * the route (schema defaults filled in), `defaults` the config's `defaults:` (a route without `authorize` gets
 * `defaults.authorize`; `authorize: false` turns it off).
 */
export function docsAccessWeakening(
  raw: Record<string | symbol, unknown>,
  path: string,
  defaults: Readonly<Record<string, unknown>> | undefined,
): { rule: string; path: string; message: string } | undefined {
  if (raw.public === true) return undefined;
  const own = raw.authorize;
  const authorize = own === false ? undefined : (own ?? (defaults?.authorize === false ? undefined : defaults?.authorize));
  if (requiresDocsRead(authorize)) return undefined;
  const mark = raw[DOCS_ROUTE] as DocsRouteMark | undefined;
  const message = 'serves the API documentation to principals without the docs:read permission';
  if (mark !== undefined) {
    return { rule: DOCS_READ_RULE, path: `${mark.source}.require`, message: `${message}: put docs:read in require (or say public: true, which posture reports)` };
  }
  return {
    rule: DOCS_READ_RULE,
    path: `${path}.authorize`,
    message: `${message}: add authorize: { permissions: [docs:read] } (or say public: true, which posture reports)`,
  };
}
