/**
 * What the dynamic scan knows about the target from its OpenAPI document (loaded by src/openapi/load.ts): each
 * operation with its full path template (server base path included), whether it needs credentials, whether it is
 * administrative, whether it is deprecated, and its JSON request schema. Read from the bundled document by the
 * operation's pointer; nothing here depends on a particular API.
 *
 * Administrative operations (for BFLA) are those the document marks by a tag or a literal path segment such as
 * `admin`, `internal` or `management`, by a required scope naming admin, or that the auth file lists.
 */
import type { ApiModel, OperationModel, ParameterModel, SchemaAt } from '../../openapi/model.ts';
import { getAt, isObject } from '../../openapi/pointer.ts';
import { bareMediaType } from '../../openapi/normalize.ts';
import { SAFE_METHODS } from './client.ts';

export type SecurityNeed = 'required' | 'public' | 'unknown';

export interface ScanOperation {
  readonly key: string;
  readonly method: string;
  /** Path template on the target (base path included), e.g. `/v2/orders/{orderId}`. */
  readonly template: string;
  readonly model: OperationModel;
  readonly security: SecurityNeed;
  readonly scopes: readonly string[];
  readonly tags: readonly string[];
  readonly deprecated: boolean;
  readonly admin: boolean;
  /** GET, HEAD, OPTIONS: sent without `allowWrites`. */
  readonly safe: boolean;
  readonly pathParams: readonly ParameterModel[];
  readonly jsonRequest: SchemaAt | undefined;
  readonly bodyRequired: boolean;
  /** JSON schema of the 2xx answer (first declared 2xx/2XX/default JSON response). */
  readonly jsonResponse: SchemaAt | undefined;
}

export interface ScanPlan {
  readonly model: ApiModel;
  readonly basePath: string;
  readonly operations: readonly ScanOperation[];
  /** The operation a concrete method and path belong to (literal segments beat parameters). */
  operationFor(method: string, path: string): ScanOperation | undefined;
  /** Operations on a concrete path (any method). */
  operationsAt(path: string): readonly ScanOperation[];
}

const ADMIN_SEGMENT = /^(admin|admins|administration|administrator|internal|management|backoffice|back-office|superuser|sudo)$/i;
const ADMIN_TAG = /\b(admin|administration|administrator|internal|management|backoffice|superuser)\b/i;
const ADMIN_SCOPE = /(^|[^a-z])(admin|superuser|root)([^a-z]|$)/i;

export function buildPlan(model: ApiModel, adminOperations: readonly string[] = []): ScanPlan {
  const document = model.document;
  const basePath = basePathOf(document);
  const adminMarks = new Set(adminOperations.map((entry) => entry.trim()));
  const operations: ScanOperation[] = [];
  for (const op of model.operations) {
    const raw = getAt(document, op.pointer);
    const rawOp = isObject(raw) ? raw : {};
    const method = op.method.toUpperCase();
    const template = joinBase(basePath, op.path);
    const { need, scopes } = securityOf(rawOp.security !== undefined ? rawOp.security : document.security);
    const tags = Array.isArray(rawOp.tags) ? rawOp.tags.filter((t): t is string => typeof t === 'string') : [];
    const literalSegments = op.path.split('/').filter((s) => s !== '' && !s.includes('{'));
    const admin =
      adminMarks.has(op.key) ||
      adminMarks.has(`${method} ${op.path}`) ||
      adminMarks.has(`${method} ${template}`) ||
      tags.some((t) => ADMIN_TAG.test(t)) ||
      literalSegments.some((s) => ADMIN_SEGMENT.test(s)) ||
      scopes.some((s) => ADMIN_SCOPE.test(s));
    const json = op.requestBody?.content.find((m) => isJsonMedia(m.mediaType));
    const ok = op.responses.find((r) => /^2\d\d$/.test(r.status)) ?? op.responses.find((r) => r.status === '2XX') ?? op.responses.find((r) => r.status === 'default');
    const okJson = ok?.content.find((m) => isJsonMedia(m.mediaType));
    operations.push({
      key: op.key,
      method,
      template,
      model: op,
      security: need,
      scopes,
      tags,
      deprecated: rawOp.deprecated === true,
      admin,
      safe: SAFE_METHODS.has(method) && method !== 'TRACE',
      pathParams: op.parameters.filter((p) => p.in === 'path'),
      jsonRequest: json?.schema,
      bodyRequired: op.requestBody?.required === true,
      jsonResponse: okJson?.schema,
    });
  }
  const matchers = operations.map((op) => ({ op, ...templateMatcher(op.template) }));
  const candidates = (path: string) =>
    matchers.filter((m) => m.regex.test(path)).sort((a, b) => b.literal - a.literal);
  return {
    model,
    basePath,
    operations,
    operationFor: (method, path) => candidates(path).find((m) => m.op.method === method.toUpperCase())?.op,
    operationsAt: (path) => {
      const found = candidates(path);
      const best = found[0]?.literal;
      return found.filter((m) => m.literal === best).map((m) => m.op);
    },
  };
}

export function isJsonMedia(mediaType: string): boolean {
  const bare = bareMediaType(mediaType);
  return bare === 'application/json' || /^application\/[\w.+-]+\+json$/.test(bare) || bare === '*/*';
}

function securityOf(value: unknown): { need: SecurityNeed; scopes: string[] } {
  if (!Array.isArray(value)) return { need: 'unknown', scopes: [] };
  if (value.length === 0) return { need: 'public', scopes: [] };
  const scopes: string[] = [];
  let anonymousAllowed = false;
  for (const requirement of value) {
    if (!isObject(requirement)) continue;
    const entries = Object.entries(requirement);
    if (entries.length === 0) anonymousAllowed = true;
    for (const [, list] of entries) if (Array.isArray(list)) for (const s of list) if (typeof s === 'string') scopes.push(s);
  }
  return { need: anonymousAllowed ? 'public' : 'required', scopes };
}

/** Swagger 2.0 `basePath`, or the path of the first OpenAPI 3 server URL (variables at their defaults). */
function basePathOf(document: Readonly<Record<string, unknown>>): string {
  let base = '';
  if (typeof document.basePath === 'string') base = document.basePath;
  else if (Array.isArray(document.servers) && isObject(document.servers[0]) && typeof document.servers[0].url === 'string') {
    const server = document.servers[0];
    let url = server.url as string;
    const variables = isObject(server.variables) ? server.variables : {};
    url = url.replace(/\{([^{}]+)\}/g, (_, name: string) => {
      const v = variables[name];
      return isObject(v) && typeof v.default === 'string' ? v.default : '';
    });
    try {
      base = new URL(url, 'http://placeholder.invalid').pathname;
    } catch {
      base = '';
    }
  }
  base = base.replace(/\/+$/, '');
  return base === '' || base.startsWith('/') ? base : `/${base}`;
}

function joinBase(base: string, path: string): string {
  if (base === '') return path;
  return `${base}${path.startsWith('/') ? '' : '/'}${path}`;
}

function templateMatcher(template: string): { regex: RegExp; literal: number } {
  let literal = 0;
  const source = template
    .split('/')
    .map((segment) => {
      if (!segment.includes('{')) {
        literal += segment.length;
        return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      }
      return segment
        .split(/(\{[^{}]+\})/)
        .map((part) => {
          if (/^\{[^{}]+\}$/.test(part)) return '[^/]+';
          literal += part.length;
          return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        })
        .join('');
    })
    .join('/');
  return { regex: new RegExp(`^${source}$`), literal };
}

/** Fills a template's `{name}` segments (values percent-encoded). */
export function fillTemplate(template: string, values: Readonly<Record<string, string>>): string {
  return template.replace(/\{([^{}]+)\}/g, (_, name: string) => encodeURIComponent(values[name] ?? '1'));
}
