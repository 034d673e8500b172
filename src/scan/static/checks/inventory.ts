/**
 * Servers, versions and what the document publishes (checklist items 3, 10, 14 and 15): plain-HTTP servers, an API
 * without any version, servers that do not declare their audience, documentation endpoints served anonymously,
 * internal operations in the published document, and deprecated operations that never say when they go away.
 */
import { getAt, isObject, joinPointer } from '../../../openapi/pointer.ts';
import type { AuditDocument } from '../document.ts';
import { listSome, plural, type FindingSink } from '../findings.ts';
import { STATIC_RULES } from '../rules.ts';
import { isDocsSegment, normalName } from '../vocabulary.ts';

export function checkInventory(doc: AuditDocument, sink: FindingSink): void {
  checkTransport(doc, sink);
  checkVersioning(doc, sink);
  checkServerAudience(doc, sink);
  checkDocumentation(doc, sink);
  checkDeprecation(doc, sink);
}

/** Host part of an absolute URL (`[::1]` kept in brackets), lower case; undefined for relative URLs. */
function hostOf(url: string): string | undefined {
  const match = /^[a-z{][^:/]*:\/\/(?:[^@/]*@)?(\[[^\]]*\]|[^/:?#]*)/i.exec(url);
  return match?.[1]?.toLowerCase();
}

/**
 * Loopback servers are development setups: traffic never leaves the machine, so plain HTTP there exposes nothing
 * (RFC 8252 §8.3 allows plain-HTTP loopback redirects for the same reason).
 */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host.endsWith('.localhost') || /^127(\.\d{1,3}){3}$/.test(host) || host === '[::1]' || host === '0.0.0.0';
}

/** `http://…`, `ws://…`, or `{scheme}://…` whose variable allows http/ws. */
function plainScheme(url: string, variables: unknown): string | undefined {
  const literal = /^(http|ws):\/\//i.exec(url);
  if (literal) return literal[1]!.toLowerCase();
  const variable = /^\{([^}]+)\}:\/\//.exec(url);
  if (variable && isObject(variables)) {
    const def = variables[variable[1]!];
    if (isObject(def)) {
      const values = [def.default, ...(Array.isArray(def.enum) ? def.enum : [])].filter((v): v is string => typeof v === 'string');
      const plain = values.find((v) => /^(http|ws)$/i.test(v));
      if (plain) return plain.toLowerCase();
    }
  }
  return undefined;
}

function checkTransport(doc: AuditDocument, sink: FindingSink): void {
  for (const server of doc.servers()) {
    const scheme = plainScheme(server.url, server.node.variables);
    const host = hostOf(server.url);
    if (!scheme || (host !== undefined && isLoopbackHost(host))) continue;
    sink.add(STATIC_RULES.httpServer, {
      key: doc.location(server.pointer).pointer,
      message: `server ${server.url} uses ${scheme}:// (no TLS)`,
      pointers: [server.pointer],
    });
  }
  if (doc.version === '2.0' && Array.isArray(doc.document.schemes)) {
    const host = typeof doc.document.host === 'string' ? doc.document.host.toLowerCase().replace(/:\d+$/, '') : undefined;
    if (host !== undefined && isLoopbackHost(host)) return;
    doc.document.schemes.forEach((scheme, i) => {
      if (typeof scheme !== 'string' || !/^(http|ws)$/i.test(scheme)) return;
      sink.add(STATIC_RULES.httpServer, {
        key: `/schemes/${scheme.toLowerCase()}`,
        message: `schemes lists ${scheme}${host ? ` for ${host}` : ''} (no TLS)`,
        pointers: [`/schemes/${i}`],
      });
    });
  }
}

/** `/v1`, `/v2beta1`, `/api-v3`, `/2010-04-01`, `/1.1` */
const VERSION_SEGMENT = /^(?:.*[-_.])?v\d+(?:[._-]?\d+)*(?:[a-z]+\d*)?$|^\d{4}-\d{2}-\d{2}$|^\d+\.\d+(?:\.\d+)?$/i;
const VERSION_PARAMETER = new Set(['apiversion', 'version', 'xapiversion', 'acceptversion', 'xversion', 'apiv']);
const VERSIONED_MEDIA = /version=|[.+-]v\d+(?:$|[+;.])/i;

function hasVersionSegment(path: string): boolean {
  return path.split(/[/?#]/).some((segment) => VERSION_SEGMENT.test(segment));
}

function checkVersioning(doc: AuditDocument, sink: FindingSink): void {
  const d = doc.document;
  if (doc.servers().some((s) => hasVersionSegment(s.url.replace(/^[^:/]*:\/\/[^/]*/, '')))) return;
  if (typeof d.basePath === 'string' && hasVersionSegment(d.basePath)) return;
  if (isObject(d.paths) && Object.keys(d.paths).some(hasVersionSegment)) return;
  if (doc.parameters().some((p) => (p.node.in === 'header' || p.node.in === 'query') && typeof p.node.name === 'string' && VERSION_PARAMETER.has(normalName(p.node.name)))) return;
  if (mediaTypes(doc).some((m) => VERSIONED_MEDIA.test(m))) return;
  const pointer = d.servers !== undefined ? '/servers' : d.basePath !== undefined ? '/basePath' : d.paths !== undefined ? '/paths' : '';
  sink.add(STATIC_RULES.versionMissing, {
    key: 'document',
    message: 'no version in paths, server URLs or base path, and no version header, parameter or media type',
    pointers: [pointer],
  });
}

function mediaTypes(doc: AuditDocument): string[] {
  const out: string[] = [];
  const d = doc.document;
  for (const key of ['consumes', 'produces'] as const) if (Array.isArray(d[key])) out.push(...d[key].filter((m): m is string => typeof m === 'string'));
  for (const op of doc.operations) out.push(...op.model.produces, ...(op.model.requestBody?.content.map((c) => c.mediaType) ?? []));
  return out;
}

function checkServerAudience(doc: AuditDocument, sink: FindingSink): void {
  const servers = Array.isArray(doc.document.servers) ? doc.document.servers : [];
  const pointers: string[] = [];
  const urls: string[] = [];
  servers.forEach((server, i) => {
    if (!isObject(server) || typeof server['x-internal'] === 'boolean') return;
    pointers.push(`/servers/${i}`);
    urls.push(typeof server.url === 'string' ? server.url : `#${i}`);
  });
  if (pointers.length === 0) return;
  sink.add(STATIC_RULES.serverAudience, {
    key: 'servers',
    message: `${plural(pointers.length, 'server')} without x-internal: ${listSome(urls)}`,
    pointers,
  });
}

function checkDocumentation(doc: AuditDocument, sink: FindingSink): void {
  for (const op of doc.operations) {
    if (op.model.method.toLowerCase() !== 'get' || !op.security.anonymous) continue;
    if (!op.model.path.split('/').some(isDocsSegment)) continue;
    sink.add(STATIC_RULES.docsExposed, {
      key: op.label,
      message: `${op.label} serves API documentation without authentication${op.security.explicitPublic ? ' (marked public)' : ''}`,
      pointers: [op.pointer],
    });
  }
  for (const server of doc.servers()) {
    const path = server.url.replace(/^[^:/]*:\/\/[^/]*/, '');
    if (!path.split(/[/?#]/).some(isDocsSegment)) continue;
    sink.add(STATIC_RULES.docsExposed, { key: doc.location(server.pointer).pointer, message: `server ${server.url} serves API documentation`, pointers: [server.pointer] });
  }
  const internal = doc.operations.filter((op) => op.node['x-internal'] === true || getPathItem(doc, op.pathItemPointer)?.['x-internal'] === true);
  if (internal.length > 0) {
    sink.add(STATIC_RULES.internalOperations, {
      key: 'operations',
      message: `${plural(internal.length, 'operation')} marked x-internal in the published document: ${listSome(internal.map((o) => o.label))}`,
      pointers: internal.map((op) => op.pointer),
    });
  }
}

function getPathItem(doc: AuditDocument, pointer: string): Record<string, unknown> | undefined {
  const item = getAt(doc.document, pointer);
  return isObject(item) ? item : undefined;
}

const SUNSET_EXTENSIONS = ['x-sunset', 'x-sunset-date', 'x-sunset-at', 'x-deprecation-date', 'x-deprecated-at', 'x-removal-date'];

function checkDeprecation(doc: AuditDocument, sink: FindingSink): void {
  for (const op of doc.operations) {
    if (op.node.deprecated !== true) continue;
    if (SUNSET_EXTENSIONS.some((key) => op.node[key] !== undefined)) continue;
    if (declaresSunsetHeader(doc, op.node.responses, joinPointer(op.pointer, 'responses'))) continue;
    sink.add(STATIC_RULES.noSunset, {
      key: op.label,
      message: `${op.label} is deprecated without a sunset date or Sunset header`,
      pointers: [joinPointer(op.pointer, 'deprecated')],
    });
  }
}

function declaresSunsetHeader(doc: AuditDocument, responses: unknown, pointer: string): boolean {
  const resolved = doc.resolve(responses, pointer).node;
  if (!isObject(resolved)) return false;
  for (const [status, response] of Object.entries(resolved)) {
    const r = doc.resolve(response, joinPointer(pointer, status)).node;
    if (isObject(r) && isObject(r.headers) && Object.keys(r.headers).some((h) => /^sunset$/i.test(h))) return true;
  }
  return false;
}
