/**
 * `upstream: rampart:docs`: the gateway serves the documentation itself (checklist item 14), only through a route
 * that authenticates and authorizes like any other (`docs:read`: the config check refuses a docs route without it
 * unless acknowledged; a public docs route must say `public: true`, and posture flags it). Under the route's base path:
 *
 *   <base>/                  the rendered API reference page (no external requests; a nonce-based CSP)
 *   <base>/openapi.json      the document, with every `x-internal: true` part (and every reference to one) removed
 *   <base>/assets/docs.css   the page's stylesheet
 *   <base>/versions/<v>/     page and openapi.json of the merged document with version <v> of the header- and
 *                            media-type-selected APIs (their versions share paths: the main document shows the
 *                            version requests naming none get; the page links every version)
 *
 * The document is the one the route names (`docs.openapi`), or, for `apis[].docs` and `docs.merge`, the merged OpenAPI 3.1 document
 * of the contracts the gateway enforces (publish.ts, merge.ts), built from the running config and cached while the
 * config and the files are unchanged.
 */
import { randomBytes } from 'node:crypto';
import type { GatewayContext } from '../gateway/context.ts';
import type { GatewayService } from '../gateway/services.ts';
import { answerOutcome, sendDirect } from '../gateway/respond.ts';
import { publishDocument, publishMerged, type SelectableVersion } from './publish.ts';
import { DOCS_CSS, renderReference, type VersionLink } from './render.ts';

/** The gateway's security headers set a strict CSP for API answers; the page gets its own, with a fresh nonce. */
function replaceHeader(list: string[], name: string, value: string): void {
  for (let i = list.length - 2; i >= 0; i -= 2) if (list[i] === name) list.splice(i, 2);
  list.push(name, value);
}

/**
 * The version switcher of a merged document: one entry per version name of the header- and media-type-selected APIs
 * in it, the main document standing for the versions requests naming none get.
 */
function versionLinks(versions: readonly SelectableVersion[], base: string, current: string | undefined): VersionLink[] {
  const names = [...new Set(versions.map((v) => v.version))];
  return names.map((name) => {
    const of = versions.filter((v) => v.version === name);
    const isDefault = of.every((v) => v.isDefault);
    const how = of
      .map((v) => (v.selection === 'header' ? `${v.api}: header ${v.header}: ${name}` : `${v.api}: media type naming ${name}`))
      .join('; ');
    return {
      label: isDefault ? `${name} (default)` : name,
      href: isDefault ? `${base}/` : `${base}/versions/${encodeURIComponent(name)}/`,
      current: current === undefined ? isDefault : current === name,
      how,
    };
  });
}

export function createDocsService(cspReportPath: string): GatewayService {
  return {
    name: 'docs',
    async handle(ctx: GatewayContext): Promise<void> {
      const route = ctx.route!;
      const docs = route.config.docs;
      if (docs === undefined) throw new Error(`route ${route.id} has no docs settings`);
      if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
        answerOutcome(ctx, { kind: 'problem', code: 'RAMPART_ERR_METHOD_NOT_ALLOWED', headers: { allow: 'GET, HEAD' } });
        return;
      }
      const base = route.config.path.replace(/\/\*\*$/, '');
      const rest = ctx.path.slice(base.length);
      if (rest === '/assets/docs.css') {
        replaceHeader(ctx.responseHeaders, 'cache-control', 'no-cache');
        sendDirect(ctx.res, 200, ctx.requestId, ctx.responseHeaders, { 'content-type': 'text/css; charset=utf-8' }, ctx.method === 'HEAD' ? undefined : DOCS_CSS);
        return;
      }
      // `<base>/versions/<name>/...`: the merged document with that version of header- and media-type-selected APIs
      // documenting their shared paths (the main document shows the version requests naming none get).
      const versioned = /^\/versions\/([^/]+)(\/.*)?$/.exec(rest);
      const resource = versioned === null ? rest : (versioned[2] ?? '');
      if (resource !== '' && resource !== '/' && resource !== '/index.html' && resource !== '/openapi.json') {
        answerOutcome(ctx, { kind: 'problem', code: 'RAMPART_ERR_ROUTE_NOT_FOUND', detail: 'no such documentation resource' });
        return;
      }
      const config = ctx.runtime.config;
      const main = docs.merge !== undefined ? await publishMerged(config, route.config) : docs.openapi !== undefined ? await publishDocument(docs.openapi) : undefined;
      if (main === undefined) throw new Error(`route ${route.id} names no document`); // the config check refuses it
      const version = versioned?.[1];
      if (version !== undefined && (!main.ok || !main.versions.some((v) => v.version === version))) {
        answerOutcome(ctx, { kind: 'problem', code: 'RAMPART_ERR_ROUTE_NOT_FOUND', detail: 'no such documentation resource' });
        return;
      }
      const published = version === undefined ? main : await publishMerged(config, route.config, version);
      if (!published.ok) {
        answerOutcome(ctx, { kind: 'problem', code: 'RAMPART_ERR_INTERNAL', detail: `docs: ${published.error}` });
        return;
      }
      const { document, json } = published;
      if (resource === '/openapi.json') {
        sendDirect(ctx.res, 200, ctx.requestId, ctx.responseHeaders, { 'content-type': 'application/json' }, ctx.method === 'HEAD' ? undefined : json);
        return;
      }
      const nonce = randomBytes(16).toString('base64');
      replaceHeader(
        ctx.responseHeaders,
        'content-security-policy',
        `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; ` +
          `frame-ancestors 'none'; report-uri ${cspReportPath}`,
      );
      const html = renderReference(document, {
        nonce,
        base,
        title: docs.title,
        documentHref: version === undefined ? `${base}/openapi.json` : `${base}/versions/${encodeURIComponent(version)}/openapi.json`,
        versions: versionLinks(published.versions, base, version),
      });
      sendDirect(ctx.res, 200, ctx.requestId, ctx.responseHeaders, { 'content-type': 'text/html; charset=utf-8' }, ctx.method === 'HEAD' ? undefined : html);
    },
  };
}
