/**
 * What a limit counts by: compiled once per limit into a function from the request to its counter key.
 *
 * Every key is `<namespace><value>`, the namespace fixed per limit (`rl:r:<route>:<index>:<kind>` or, for named
 * limits shared across routes, `rl:n:<name>:<kind>`): route ids and names cannot hold ':', so no value of one limit
 * can spell a key of another. Values an attacker chooses (header values, CEL results) are then bounded by the
 * counter store (`boundCounterKey`: up to 128 characters as they are, longer ones as a SHA-256 in a namespace of
 * their own), so a long value can neither grow memory nor land on another value's counter. Within a limit, values
 * are tagged so that "absent" and "error" can never equal a real value: `=<value>`, `-` (no such header), `!`
 * (a CEL key that failed to evaluate: all such requests share one counter, so breaking the expression buys nothing).
 *
 * The address key is `ctx.clientAddress`: the TCP peer, or the nearest untrusted X-Forwarded-For entry when the peer
 * is a trusted proxy (gateway/addresses.ts), so a spoofed header from anyone else changes nothing. IPv6 clients are
 * counted per /64 (one subscriber usually holds a whole /64, RFC 6177), like the API-key lockout.
 */
import { celEnvironment, compileRule, type RuleVariable } from '../../authz/cel.ts';
import type { Principal, RequestContext } from '../types.ts';
import { addressBucket } from '../api-key/lockout.ts';

/** Builds the counter key of a request, or undefined when the limit does not apply to it. */
export type KeyOf = (ctx: RequestContext) => string | undefined;

export type KeyCompileResult =
  | { readonly ok: true; readonly keyOf: KeyOf; readonly needsPrincipal: boolean; readonly kind: string }
  | { readonly ok: false; readonly message: string };

const ABSENT = '-';
const FAILED = '!';

function principalKey(principal: Principal): string {
  return `${principal.kind}:${principal.subject}`;
}

const EMPTY: Readonly<Record<string, unknown>> = Object.freeze({});

function queryObject(query: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
  if (query === '') return out;
  for (const [name, value] of new URLSearchParams(query)) {
    const existing = out[name];
    // Appended in place: copying the list for each repeat of a name was quadratic in the query's length.
    if (existing === undefined) out[name] = value;
    else if (Array.isArray(existing)) existing.push(value);
    else out[name] = [existing, value];
  }
  return out;
}

function principalView(principal: Principal): Readonly<Record<string, unknown>> {
  return {
    subject: principal.subject,
    sub: principal.subject,
    kind: principal.kind,
    method: principal.method,
    roles: principal.roles,
    claims: principal.claims ?? EMPTY,
    amr: principal.amr ?? [],
    ...(principal.tenant !== undefined ? { tenant: principal.tenant } : {}),
  };
}

/**
 * Key expressions are CEL, validated by the rule compiler of src/authz/cel.ts (its structural limits, forbidden
 * functions, comprehension limits and field names) by compiling `string(EXPR) != ""` there; the value itself is
 * computed by the same Environment (`celEnvironment`), since that compiler only answers allow/deny.
 */
function compileCelKey(source: string, path: string, namespace: string, withPrincipal: boolean): KeyCompileResult {
  const variables: RuleVariable[] = withPrincipal ? ['principal', 'request'] : ['request'];
  const checked = compileRule(`string(${source}) != ""`, path, variables);
  if (!checked.ok) {
    return { ok: false, message: checked.message.replace('Unknown variable: principal', 'principal is not known before authentication (use rate-limit)') };
  }
  if (checked.rule.uses.body) return { ok: false, message: 'request.body is not available to limit keys (the body is not read before limits)' };
  const uses = checked.rule.uses;
  const env = celEnvironment(variables);
  let evaluate: (activation: Readonly<Record<string, unknown>>) => unknown;
  try {
    evaluate = env.parse(source) as unknown as typeof evaluate;
  } catch (error) {
    return { ok: false, message: `syntax error: ${(error as Error).message.split('\n')[0]}` };
  }
  const usesPrincipal = withPrincipal && /\bprincipal\b/.test(source);
  const keyOf: KeyOf = (ctx) => {
    const principal = ctx.principal;
    let value: unknown;
    try {
      value = evaluate({
        request: {
          method: ctx.method,
          path: ctx.path,
          params: ctx.params,
          query: uses.query ? queryObject(ctx.query) : EMPTY,
          headers: uses.headers ? ctx.req.headers : EMPTY,
        },
        ...(withPrincipal ? { principal: principal === undefined ? EMPTY : principalView(principal) } : {}),
      });
    } catch {
      return namespace + FAILED;
    }
    if (typeof value === 'string') return namespace + '=' + value;
    if (typeof value === 'bigint' || typeof value === 'number' || typeof value === 'boolean') return namespace + '=' + String(value);
    return namespace + FAILED;
  };
  return { ok: true, keyOf, needsPrincipal: usesPrincipal, kind: 'cel' };
}

/**
 * Compiles `key` (`ip`, `route`, `consumer`, `api-key`, `principal`, `header:NAME`, `cel:EXPR`) for the limit whose
 * counters live under `namespace`. `withPrincipal` is false for address-limit (no caller is known yet).
 */
export function compileKey(key: string, path: string, namespace: string, withPrincipal: boolean): KeyCompileResult {
  if (key === 'ip') {
    const prefix = namespace + 'ip:';
    return { ok: true, kind: 'ip', needsPrincipal: false, keyOf: (ctx) => prefix + addressBucket(ctx.clientAddress) };
  }
  if (key === 'route') {
    const whole = namespace + 'route';
    return { ok: true, kind: 'route', needsPrincipal: false, keyOf: () => whole };
  }
  if (key.startsWith('header:')) {
    const name = key.slice('header:'.length).toLowerCase();
    const prefix = namespace + 'h:';
    const absent = prefix + ABSENT;
    return {
      ok: true,
      kind: 'header',
      needsPrincipal: false,
      keyOf: (ctx) => {
        const value = ctx.req.headers[name];
        if (value === undefined) return absent;
        return prefix + '=' + (typeof value === 'string' ? value : value.join(', '));
      },
    };
  }
  if (key.startsWith('cel:')) return compileCelKey(key.slice('cel:'.length), `${path}.key`, namespace + 'cel:', withPrincipal);
  if (!withPrincipal) return { ok: false, message: `"${key}" is only known after authentication: use it in rate-limit, not address-limit` };
  if (key === 'principal') {
    const prefix = namespace + 'p:';
    return { ok: true, kind: 'principal', needsPrincipal: true, keyOf: (ctx) => (ctx.principal === undefined ? undefined : prefix + principalKey(ctx.principal)) };
  }
  if (key === 'consumer') {
    const prefix = namespace + 'c:';
    return {
      ok: true,
      kind: 'consumer',
      needsPrincipal: true,
      keyOf: (ctx) => (ctx.principal?.kind === 'consumer' ? prefix + ctx.principal.subject : undefined),
    };
  }
  if (key === 'api-key') {
    const prefix = namespace + 'k:';
    return {
      ok: true,
      kind: 'api-key',
      needsPrincipal: true,
      keyOf: (ctx) => {
        const keyId = ctx.principal?.method === 'api-key' ? ctx.principal.claims?.keyId : undefined;
        return typeof keyId === 'string' ? prefix + keyId : undefined;
      },
    };
  }
  return { ok: false, message: `unknown key "${key.slice(0, 80)}"` };
}
