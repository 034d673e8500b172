/**
 * Tenancy (issue 4 point 5). A principal's tenant is bound at authentication (`issuers.NAME.tenant.claim`, or the
 * consumer's tenant for API keys); a route says where a request names a tenant (`tenant.from`). Every place that
 * names one must name the principal's tenant, and a principal without a tenant may not use a tenant route at all
 * (fail closed). Comparison is exact: tenant ids are opaque strings.
 *
 * Ambiguity is refusal: a header sent twice reaches Node as `a, b` and cannot equal a tenant id; a query parameter
 * given twice, or a body value that is not a string or integer, denies.
 */
import type { Principal } from '../policies/types.ts';
import { readBodyPath, singleQueryValue } from './object.ts';

export interface TenantSource {
  readonly source: 'path' | 'header' | 'query' | 'body';
  readonly name: string;
  readonly segments: readonly string[];
  /** As written in config, for explanations. */
  readonly text: string;
}

export function parseTenantSource(text: string): TenantSource | string {
  const dot = text.indexOf('.');
  if (dot <= 0) return 'must be path.NAME, header.NAME, query.NAME or body.PATH';
  const source = text.slice(0, dot);
  const name = text.slice(dot + 1);
  if (source !== 'path' && source !== 'header' && source !== 'query' && source !== 'body') return `unknown source "${source}"`;
  if (name === '') return 'names nothing';
  const segments = source === 'body' ? name.split('.') : [source === 'header' ? name.toLowerCase() : name];
  if (segments.some((s) => s === '' || s === '__proto__' || s === 'constructor' || s === 'prototype')) return 'has an empty or forbidden segment';
  return { source, name: segments[0]!, segments, text };
}

export type TenantCheck = { ok: true } | { ok: false; reason: string; source: string };

const OK: TenantCheck = Object.freeze({ ok: true });

export interface TenantRequest {
  readonly params: Readonly<Record<string, string>>;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly query: string;
  readonly body: unknown;
}

/** Checks every configured source; the first that names another tenant (or names one ambiguously) denies. */
export function checkTenant(principal: Principal, sources: readonly TenantSource[], request: TenantRequest): TenantCheck {
  const tenant = principal.tenant;
  if (tenant === undefined) return { ok: false, reason: 'principal has no tenant on a tenant-scoped route', source: '(principal)' };
  for (const source of sources) {
    let value: unknown;
    switch (source.source) {
      case 'path':
        value = Object.hasOwn(request.params, source.name) ? decodeParam(request.params[source.name]!) : undefined;
        break;
      case 'header':
        value = request.headers[source.name];
        break;
      case 'query':
        value = singleQueryValue(request.query, source.name);
        if (value === null) return { ok: false, reason: 'tenant given more than once in the query', source: source.text };
        break;
      case 'body':
        value = readBodyPath(request.body, source.segments);
        if (typeof value === 'number' && Number.isSafeInteger(value)) value = String(value);
        break;
    }
    if (value === undefined) continue;
    if (typeof value !== 'string') return { ok: false, reason: 'tenant is not a single string', source: source.text };
    if (value !== tenant) return { ok: false, reason: 'request names another tenant', source: source.text };
  }
  return OK;
}

function decodeParam(value: string): string | null {
  if (!value.includes('%')) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return null;
  }
}
