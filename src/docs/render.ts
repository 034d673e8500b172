/**
 * The API reference page Rampart serves (checklist item 14): rendered on the gateway from the published document,
 * so the browser loads nothing from anywhere else. Every value from the document is HTML-escaped (descriptions
 * are shown as text, never as Markdown or HTML: a document is not trusted to write markup into the page). The one
 * script (a filter box) runs under a per-response nonce; the stylesheet is served by the gateway itself.
 */
const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

export function escapeHtml(value: unknown): string {
  return String(value ?? '')
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function anchor(text: string): string {
  return text.replace(/[^A-Za-z0-9_-]/g, '-');
}

/** A schema as indented JSON, with `$ref`s to components turned into in-page links. */
function schemaBlock(schema: unknown): string {
  if (schema === undefined) return '';
  const text = escapeHtml(JSON.stringify(schema, null, 2) ?? '');
  const linked = text.replace(/&quot;\$ref&quot;: &quot;#\/(?:components\/schemas|definitions)\/([^&]+)&quot;/g, (whole, name: string) =>
    whole.replace(`${name}&quot;`, `<a href="#schema-${anchor(name)}">${name}</a>&quot;`),
  );
  return `<pre class="schema">${linked}</pre>`;
}

function parameterRows(parameters: unknown): string {
  if (!Array.isArray(parameters) || parameters.length === 0) return '';
  const rows = parameters
    .filter(isObject)
    .map((p) => `<tr><td><code>${escapeHtml(p.name ?? p.$ref)}</code></td><td>${escapeHtml(p.in)}</td><td>${p.required === true ? 'yes' : ''}</td><td>${escapeHtml(p.description)}</td></tr>`)
    .join('');
  return `<table><thead><tr><th>name</th><th>in</th><th>required</th><th>description</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function operationSection(path: string, method: string, operation: Record<string, unknown>): string {
  const id = anchor(`op-${method}-${path}`);
  const requestBody = isObject(operation.requestBody) ? operation.requestBody : undefined;
  const content = requestBody && isObject(requestBody.content) ? requestBody.content : undefined;
  const bodySchemas = content ? Object.entries(content).map(([type, media]) => `<h4>request ${escapeHtml(type)}</h4>${schemaBlock(isObject(media) ? media.schema : undefined)}`).join('') : '';
  const responses = isObject(operation.responses)
    ? Object.entries(operation.responses)
        .map(([status, response]) => {
          const r = isObject(response) ? response : {};
          const schemas = isObject(r.content) ? Object.values(r.content).map((m) => schemaBlock(isObject(m) ? m.schema : undefined)).join('') : schemaBlock(r.schema);
          return `<h4>${escapeHtml(status)} ${escapeHtml(r.description)}</h4>${schemas}`;
        })
        .join('')
    : '';
  return (
    `<section class="operation" id="${id}" data-search="${escapeHtml(`${method} ${path} ${operation.summary ?? ''} ${operation.operationId ?? ''}`.toLowerCase())}">` +
    `<h3><span class="method ${escapeHtml(method)}">${escapeHtml(method.toUpperCase())}</span> <code>${escapeHtml(path)}</code>${operation.deprecated === true ? ' <span class="deprecated">deprecated</span>' : ''}</h3>` +
    (operation.summary ? `<p class="summary">${escapeHtml(operation.summary)}</p>` : '') +
    (operation.description ? `<p class="description">${escapeHtml(operation.description)}</p>` : '') +
    parameterRows(operation.parameters) +
    bodySchemas +
    responses +
    `</section>`
  );
}

/** One entry of the version switcher (header- and media-type-selected versions share paths: one document each). */
export interface VersionLink {
  readonly label: string;
  readonly href: string;
  readonly current: boolean;
  /** How a request selects it, e.g. `orders: header api-version: v2`. */
  readonly how: string;
}

export interface RenderOptions {
  /** Per-response CSP nonce for the one inline script. */
  readonly nonce: string;
  /** URL path of the docs route (no trailing slash), for the stylesheet. */
  readonly base: string;
  readonly title?: string;
  /** The JSON document's link (default `<base>/openapi.json`). */
  readonly documentHref?: string;
  readonly versions?: readonly VersionLink[];
}

function versionSwitcher(versions: readonly VersionLink[] | undefined): string {
  if (versions === undefined || versions.length === 0) return '';
  const items = versions.map((v) =>
    v.current
      ? `<li aria-current="page" title="${escapeHtml(v.how)}"><strong>${escapeHtml(v.label)}</strong></li>`
      : `<li title="${escapeHtml(v.how)}"><a href="${escapeHtml(v.href)}">${escapeHtml(v.label)}</a></li>`,
  );
  const how = versions.map((v) => `${escapeHtml(v.label)}: ${escapeHtml(v.how)}`).join('<br>');
  return `<nav class="versions" aria-label="API versions"><ul>${items.join('')}</ul><p class="how">${how}</p></nav>`;
}

export function renderReference(document: Readonly<Record<string, unknown>>, options: RenderOptions): string {
  const info = isObject(document.info) ? document.info : {};
  const title = options.title ?? String(info.title ?? 'API reference');
  const paths = isObject(document.paths) ? document.paths : {};
  const operations: string[] = [];
  for (const [path, item] of Object.entries(paths)) {
    if (!isObject(item)) continue;
    for (const method of HTTP_METHODS) {
      const operation = item[method];
      if (isObject(operation)) operations.push(operationSection(path, method, operation));
    }
  }
  const components = isObject(document.components) && isObject(document.components.schemas) ? document.components.schemas : isObject(document.definitions) ? document.definitions : {};
  const schemas = Object.entries(components)
    .map(([name, schema]) => `<section class="schema-def" id="schema-${anchor(name)}"><h3>${escapeHtml(name)}</h3>${schemaBlock(schema)}</section>`)
    .join('');
  return (
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
    `<title>${escapeHtml(title)}</title><link rel="icon" href="data:,"><link rel="stylesheet" href="${escapeHtml(options.base)}/assets/docs.css"></head><body>` +
    `<header><h1>${escapeHtml(title)}</h1><p>version ${escapeHtml(info.version)} · <a href="${escapeHtml(options.documentHref ?? `${options.base}/openapi.json`)}">openapi.json</a></p>` +
    versionSwitcher(options.versions) +
    (info.description ? `<p class="description">${escapeHtml(info.description)}</p>` : '') +
    `<label>Filter operations <input id="filter" type="search" autocomplete="off"></label> <span id="count">${operations.length} operations</span></header>` +
    `<main><h2>Operations</h2>${operations.join('')}<h2>Schemas</h2>${schemas}</main>` +
    `<script nonce="${escapeHtml(options.nonce)}">${FILTER_SCRIPT}</script></body></html>`
  );
}

/** Filters operations by text; proves in tests that the nonce lets exactly this script run. */
const FILTER_SCRIPT = `(() => {
  const input = document.getElementById('filter');
  const count = document.getElementById('count');
  const sections = Array.from(document.querySelectorAll('section.operation'));
  input.addEventListener('input', () => {
    const q = input.value.trim().toLowerCase();
    let shown = 0;
    for (const s of sections) { const hit = q === '' || s.dataset.search.includes(q); s.hidden = !hit; if (hit) shown++; }
    count.textContent = shown + ' operations';
  });
  document.body.dataset.ready = 'true';
})();`;

export const DOCS_CSS = `body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1b1f24;background:#fff}
header{padding:1rem 2rem;background:#0f2a44;color:#fff}header a{color:#9cd2ff}
main{padding:1rem 2rem;max-width:70rem}
section.operation{border:1px solid #d0d7de;border-radius:6px;padding:.5rem 1rem;margin:1rem 0}
.method{display:inline-block;min-width:4.5rem;text-align:center;border-radius:4px;color:#fff;background:#57606a;font-size:.8rem;padding:.1rem .4rem}
.method.get{background:#0969da}.method.post{background:#1a7f37}.method.put,.method.patch{background:#9a6700}.method.delete{background:#cf222e}
.deprecated{color:#cf222e;font-size:.8rem;border:1px solid #cf222e;border-radius:4px;padding:0 .3rem}
pre.schema{background:#f6f8fa;padding:.5rem;overflow:auto;font-size:.8rem}
table{border-collapse:collapse}td,th{border:1px solid #d0d7de;padding:.2rem .5rem;text-align:left}
nav.versions ul{list-style:none;padding:0;margin:.25rem 0;display:flex;gap:1rem}nav.versions .how{font-size:.8rem;margin:0}
`;
