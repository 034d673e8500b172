import { describe, expect, it } from 'vitest';
import type { IncomingMessage } from 'node:http';
import { pino } from 'pino';
import { loadConfigObject } from '../../config/load.ts';
import { RecordingSecurityEvents } from '../../observe/events.ts';
import { SharedResourcePool } from '../../gateway/runtime.ts';
import type { Outcome, PolicyHandlers, Principal, RequestContext } from '../types.ts';
import { addressLimitPolicy, createLimitHandlers, rateLimitPolicy, type LimitPolicyConfig } from './index.ts';
import type { LimitVariant } from './schema.ts';

function load(route: Record<string, unknown>, top: Record<string, unknown> = {}) {
  return loadConfigObject({
    mode: 'development',
    listen: { host: '127.0.0.1', port: 0 },
    admin: false,
    ...top,
    routes: [{ id: 'api', match: { path: '/**' }, upstream: 'http://127.0.0.1:9', public: true, ...route }],
  });
}

function errorsOf(route: Record<string, unknown>, top: Record<string, unknown> = {}): string[] {
  const result = load(route, top);
  return result.ok ? [] : result.errors;
}

function warningsOf(route: Record<string, unknown>): string[] {
  const result = load(route);
  if (!result.ok) throw new Error(result.errors.join('\n'));
  return [...result.config.warnings];
}

interface Ctx {
  address?: string;
  headers?: Record<string, string>;
  principal?: Principal;
  path?: string;
  query?: string;
}

function context(input: Ctx = {}): RequestContext {
  return {
    req: { headers: input.headers ?? {} } as IncomingMessage,
    requestId: 'req-1',
    method: 'GET',
    path: input.path ?? '/orders/7',
    query: input.query ?? '',
    clientAddress: input.address ?? '192.0.2.1',
    secure: true,
    routeId: 'api',
    params: { id: '7' },
    principal: input.principal,
    responseHeaders: [],
    locals: {},
  };
}

async function handlers(variant: LimitVariant, limits: unknown[], clock: { now: number }, extra: Partial<LimitPolicyConfig> = {}): Promise<PolicyHandlers> {
  return createLimitHandlers(
    variant,
    { limits: limits as LimitPolicyConfig['limits'], headers: true, ...extra },
    { logger: pino({ level: 'silent' }), events: new RecordingSecurityEvents(), routeId: 'api', development: false, shared: new SharedResourcePool() },
    { now: () => clock.now },
  );
}

/** The status the gateway would answer; the memory store answers synchronously, never with a Promise. */
function status(outcome: Outcome | Promise<Outcome>): number {
  if (outcome instanceof Promise) throw new Error('expected a synchronous answer');
  if (outcome === undefined) return 200;
  if (typeof outcome === 'object' && outcome.kind === 'problem') return outcome.code === 'RAMPART_ERR_RATE_LIMITED' ? 429 : 503;
  throw new Error('unexpected outcome');
}

const alice: Principal = Object.freeze({ subject: 'alice', kind: 'user', method: 'jwt', roles: ['customer'], claims: { org: 'acme' } });
const bob: Principal = Object.freeze({ subject: 'bob', kind: 'user', method: 'jwt', roles: ['customer'], claims: { org: 'acme' } });

describe('config', () => {
  const refused: Array<[string, Record<string, unknown>, RegExp]> = [
    ['a caller key before authentication', { 'address-limit': { limits: [{ key: 'principal', rate: '1/s' }] } }, /limits\[0\]\.key: "principal" is only known after authentication: use it in rate-limit/],
    ['CEL over principal before authentication', { 'address-limit': { limits: [{ key: 'cel:principal.sub', rate: '1/s' }] } }, /principal is not known before authentication/],
    ['an unknown rate unit', { 'rate-limit': { limits: [{ key: 'ip', rate: '10/w' }] } }, /rate: has an invalid format/],
    ['a zero rate', { 'rate-limit': { limits: [{ key: 'ip', rate: '0/s' }] } }, /rate: has an invalid format/],
    ['rate and quota together', { 'rate-limit': { limits: [{ key: 'ip', rate: '1/s', quota: 5, period: 'day' }] } }, /needs exactly one of rate, quota/],
    ['a quota without period', { 'rate-limit': { limits: [{ key: 'ip', quota: 5 }] } }, /a quota needs period/],
    ['a period on a rate', { 'rate-limit': { limits: [{ key: 'ip', rate: '5/d', period: 'day' }] } }, /only applies to a quota/],
    ['burst on a quota', { 'rate-limit': { limits: [{ key: 'ip', quota: 5, period: 'day', burst: 2 }] } }, /burst: only applies to a rate/],
    ['a lease under a second', { 'rate-limit': { limits: [{ key: 'ip', concurrency: 2, lease: '10ms' }] } }, /lease: must be at least 1s/],
    ['two limits with one name', { 'rate-limit': { limits: [{ key: 'ip', rate: '1/s', name: 'x' }, { key: 'route', rate: '9/s', name: 'x' }] } }, /"x" is used by another limit/],
    ['a name with a colon (namespace injection)', { 'rate-limit': { limits: [{ key: 'ip', rate: '1/s', name: 'a:b' }] } }, /name: has an invalid format/],
    ['an upper-case header name', { 'rate-limit': { limits: [{ key: 'header:X-Tenant', rate: '1/s' }] } }, /key: has an invalid format/],
    ['a header name with a space', { 'rate-limit': { limits: [{ key: 'header:x tenant', rate: '1/s' }] } }, /key: has an invalid format/],
    ['a CEL syntax error', { 'rate-limit': { limits: [{ key: 'cel:request.headers[', rate: '1/s' }] } }, /syntax error/],
    ['CEL regular expressions (ReDoS)', { 'rate-limit': { limits: [{ key: "cel:request.path.matches('(a+)+$')", rate: '1/s' }] } }, /regular expressions are not allowed/],
    ['CEL over the body', { 'rate-limit': { limits: [{ key: 'cel:request.body.user', rate: '1/s' }] } }, /request\.body is not available/],
    ['CEL unknown request field', { 'rate-limit': { limits: [{ key: 'cel:request.cookies', rate: '1/s' }] } }, /request has no field "cookies"/],
    ['no limits', { 'rate-limit': { limits: [] } }, /limits: must NOT have fewer than 1 items/],
    ['an unknown setting', { 'rate-limit': { limits: [{ key: 'ip', rate: '1/s' }], window: '1s' } }, /rate-limit\.window: is not a known setting/],
    ['a counter store that is not memory or Redis', {}, /counters\.store: has an invalid format/],
  ];
  it.each(refused)('refuses %s with the exact path', (_label, route, message) => {
    const top = _label.startsWith('a counter store') ? { counters: { store: 'postgres://db' } } : {};
    const errors = errorsOf(route, top);
    expect(errors.join('\n')).toMatch(message);
    expect(errors.join('\n')).toMatch(/routes\[0\]\.(rate-limit|address-limit)|counters\.store/);
  });

  it('accepts the documented shapes and fills in the inherited counters settings', () => {
    const result = load(
      {
        'address-limit': { limits: [{ key: 'ip', rate: '50/s' }, { key: 'header:x-tenant', rate: '100/m', burst: 10 }] },
        'rate-limit': {
          limits: [
            { key: 'principal', rate: '20/s' },
            { key: 'consumer', quota: 10_000, period: 'day' },
            { key: 'api-key', quota: 300_000, period: 'month' },
            { key: 'principal', concurrency: 5, lease: '2m' },
            { key: "cel:principal.sub + '/' + request.params.id", rate: '5/s', name: 'per-object' },
          ],
          onStoreFailure: 'local',
        },
      },
      { counters: { store: 'redis://:secret@127.0.0.1:6379/2', onFailure: 'closed' } },
    );
    if (!result.ok) throw new Error(result.errors.join('\n'));
    const [route] = result.config.routes;
    const byName = new Map(route!.policies.map((p) => [p.definition.name, p.config as LimitPolicyConfig]));
    expect(byName.get('rate-limit')!.onStoreFailure).toBe('local');
    expect(byName.get('address-limit')!.onStoreFailure).toBe('closed');
    expect(byName.get('address-limit')!.counters).toMatchObject({ store: 'redis://:secret@127.0.0.1:6379/2', keyPrefix: 'rampart:', timeout: '500ms' });
    // Phases: address-limit before authentication, rate-limit after authorization.
    expect(addressLimitPolicy.phase).toBe('limit-address');
    expect(rateLimitPolicy.phase).toBe('limit-principal');
  });

  it('warns where a limit cannot do what it seems to', () => {
    expect(warningsOf({ 'rate-limit': { limits: [{ key: 'principal', rate: '1/s' }] } }).join('\n')).toMatch(/public: no caller is authenticated/);
    const result = loadConfigObject({
      mode: 'development',
      listen: { host: '127.0.0.1', port: 0 },
      admin: false,
      storage: 'memory:',
      routes: [{ id: 'api', match: { path: '/**' }, upstream: 'http://127.0.0.1:9', authenticate: ['api-key'], 'rate-limit': { limits: [{ key: 'ip', rate: '1/s' }] } }],
    });
    if (!result.ok) throw new Error(result.errors.join('\n'));
    expect(result.config.warnings.join('\n')).toMatch(/use address-limit to slow credential guessing/);
  });
});

describe('limits with an injected clock', () => {
  it('answers synchronously from the memory store, per address (IPv6 by /64)', async () => {
    const clock = { now: Date.parse('2025-06-01T12:00:00Z') };
    const limit = await handlers('address', [{ key: 'ip', rate: '2/s' }], clock);
    expect([status(limit.onRequest!(context())), status(limit.onRequest!(context())), status(limit.onRequest!(context()))]).toEqual([200, 200, 429]);
    expect(status(limit.onRequest!(context({ address: '192.0.2.2' })))).toBe(200);
    // Two addresses of one /64 share a counter; another /64 does not.
    expect(status(limit.onRequest!(context({ address: '2001:db8:1:2::1' })))).toBe(200);
    expect(status(limit.onRequest!(context({ address: '2001:db8:1:2:ffff::9' })))).toBe(200);
    expect(status(limit.onRequest!(context({ address: '2001:db8:1:2::77' })))).toBe(429);
    expect(status(limit.onRequest!(context({ address: '2001:db8:1:3::1' })))).toBe(200);
    clock.now += 500;
    expect(status(limit.onRequest!(context()))).toBe(200);
    expect(status(limit.onRequest!(context()))).toBe(429);
  });

  it('rolls a daily quota over at 00:00Z and a monthly one on the 1st, through the policy', async () => {
    const clock = { now: Date.parse('2025-01-31T23:59:58Z') };
    const limit = await handlers('principal', [{ key: 'principal', quota: 2, period: 'day' }, { key: 'principal', quota: 3, period: 'month', name: 'monthly' }], clock);
    const ctx = () => context({ principal: alice });
    expect([status(limit.onRequest!(ctx())), status(limit.onRequest!(ctx())), status(limit.onRequest!(ctx()))]).toEqual([200, 200, 429]);
    const refused = limit.onRequest!(ctx());
    expect(refused).toMatchObject({ kind: 'problem', headers: { 'retry-after': '2' } });
    clock.now = Date.parse('2025-02-01T00:00:00Z');
    // A new day and a new month.
    const c = ctx();
    expect(status(limit.onRequest!(c))).toBe(200);
    expect(c.responseHeaders).toEqual(['ratelimit-policy', '"rate-0";q=2;w=86400, "monthly";q=3', 'ratelimit', `"rate-0";r=1;t=86400, "monthly";r=2;t=${28 * 86400}`]);
    expect(status(limit.onRequest!(ctx()))).toBe(200);
    clock.now = Date.parse('2025-02-02T00:00:00Z');
    // The day allows more; the month (3) is spent.
    expect(status(limit.onRequest!(ctx()))).toBe(200);
    expect(status(limit.onRequest!(ctx()))).toBe(429);
    expect(status(limit.onRequest!(context({ principal: bob })))).toBe(200);
  });

  it('applies caller keys only where they have a value', async () => {
    const clock = { now: 1_750_000_000_000 };
    const limit = await handlers('principal', [{ key: 'consumer', rate: '1/d' }], clock);
    // A user token is not a consumer: the limit does not apply, and no RateLimit header is written.
    const c = context({ principal: alice });
    expect(status(limit.onRequest!(c))).toBe(200);
    expect(status(limit.onRequest!(context({ principal: alice })))).toBe(200);
    expect(c.responseHeaders).toEqual([]);
    const consumer: Principal = { subject: 'billing', kind: 'consumer', method: 'api-key', roles: [] };
    expect([status(limit.onRequest!(context({ principal: consumer }))), status(limit.onRequest!(context({ principal: consumer })))]).toEqual([200, 429]);
  });

  it('keys by CEL values; an expression that fails to evaluate shares one counter', async () => {
    const clock = { now: 1_750_000_000_000 };
    const limit = await handlers('principal', [{ key: "cel:principal.claims.org + ':' + request.headers['x-team']", rate: '1/d' }], clock);
    const team = (t: string, p: Principal = alice) => context({ principal: p, headers: { 'x-team': t } });
    expect(status(limit.onRequest!(team('red')))).toBe(200);
    expect(status(limit.onRequest!(team('red', bob)))).toBe(429); // same org, same team
    expect(status(limit.onRequest!(team('blue')))).toBe(200);
    // Missing header: evaluation error. Every such request shares the one "failed" counter: breaking the
    // expression cannot buy a fresh allowance.
    expect(status(limit.onRequest!(context({ principal: alice })))).toBe(200);
    expect(status(limit.onRequest!(context({ principal: bob })))).toBe(429);
    expect(status(limit.onRequest!(context({ principal: alice, headers: { 'x-other': 'x' } })))).toBe(429);
  });

  it('keys by query values with CEL, and hostile query strings stay within their own counter', async () => {
    const clock = { now: 1_750_000_000_000 };
    const limit = await handlers('address', [{ key: "cel:request.query['tenant']", rate: '1/d' }], clock);
    const table = ['a', 'a%00b', '__proto__', 'x'.repeat(3000), '%F0%9F%98%80', 'constructor'];
    for (const value of table) expect([value.slice(0, 10), status(limit.onRequest!(context({ query: `tenant=${value}` })))]).toEqual([value.slice(0, 10), 200]);
    for (const value of table) expect([value.slice(0, 10), status(limit.onRequest!(context({ query: `tenant=${value}` })))]).toEqual([value.slice(0, 10), 429]);
    // A repeated parameter is a list: not a string, so it lands in the shared "failed" counter.
    expect(status(limit.onRequest!(context({ query: 'tenant=q&tenant=r' })))).toBe(200);
    expect(status(limit.onRequest!(context({ query: 'tenant=s&tenant=t' })))).toBe(429);
  });

  it('keeps every value of a repeated query parameter, in order, however many there are', async () => {
    const clock = { now: 1_750_000_000_000 };
    const limit = await handlers('address', [{ key: "cel:request.query['t'][2]", rate: '1/d' }], clock);
    const repeated = (third: string, count: number) => Array.from({ length: count }, (_, i) => `t=${i === 2 ? third : i}`).join('&');
    expect(status(limit.onRequest!(context({ query: repeated('x', 3) })))).toBe(200);
    // 4,000 repeats (an 8 KB URL's worth): the third value is still the key.
    expect(status(limit.onRequest!(context({ query: repeated('x', 4000) })))).toBe(429);
    expect(status(limit.onRequest!(context({ query: repeated('y', 4000) })))).toBe(200);
  });

  it('joins the RateLimit lists of address-limit and rate-limit, on every request and after whatever came before', async () => {
    const clock = { now: 1_750_000_000_000 };
    const address = await handlers('address', [{ key: 'ip', rate: '10/m' }], clock);
    const principal = await handlers('principal', [{ key: 'principal', rate: '5/m' }], clock);
    for (let i = 0; i < 3; i++) {
      const c = context({ principal: alice });
      expect(status(address.onRequest!(c))).toBe(200);
      expect(status(principal.onRequest!(c))).toBe(200);
      expect(c.responseHeaders).toEqual([
        'ratelimit-policy',
        '"address-0";q=10;w=60, "rate-0";q=5;w=60',
        'ratelimit',
        `"address-0";r=${9 - i};t=${Math.ceil(6 * (i + 1))}, "rate-0";r=${4 - i};t=${12 * (i + 1)}`,
      ]);
    }
    // Another list before it (a different policy value) is joined as it is, not mistaken for the last one.
    const c = context({ principal: alice });
    c.responseHeaders.push('ratelimit-policy', '"other";q=1');
    expect(status(principal.onRequest!(c))).toBe(200);
    expect(c.responseHeaders.slice(0, 2)).toEqual(['ratelimit-policy', '"other";q=1, "rate-0";q=5;w=60']);
    // And alone, it is the only entry.
    const alone = context({ principal: bob });
    expect(status(principal.onRequest!(alone))).toBe(200);
    expect(alone.responseHeaders[1]).toBe('"rate-0";q=5;w=60');
  });

  it('omits success headers when headers: false, but never on refusals', async () => {
    const clock = { now: 1_750_000_000_000 };
    const limit = await handlers('address', [{ key: 'route', rate: '1/m' }], clock, { headers: false });
    const ok = context();
    expect(status(limit.onRequest!(ok))).toBe(200);
    expect(ok.responseHeaders).toEqual([]);
    const refused = context();
    expect(status(limit.onRequest!(refused))).toBe(429);
    expect(refused.responseHeaders).toEqual(['ratelimit-policy', '"address-0";q=1;w=60', 'ratelimit', '"address-0";r=0;t=60']);
  });
});

describe('hourly rates and per-consumer quotas, with an injected clock', () => {
  /** The Retry-After of a refusal (the problem's own header), or undefined when the request went through. */
  function retryAfter(outcome: Outcome | Promise<Outcome>): string | undefined {
    if (status(outcome) === 200) return undefined;
    return (outcome as { headers?: Record<string, string> }).headers?.['retry-after'];
  }

  // 5/h: one every 720 s, a full hour's worth (5) at once. 7/h: one every 514.29 s, so Retry-After rounds up to 515;
  // after waiting those 515 s, the next wait is 0.71 s shorter (514).
  const hourly: Array<[string, number, number, number]> = [
    ['5/h', 5, 720, 720],
    ['7/h', 7, 515, 514],
  ];
  it.each(hourly)('%s admits exactly N at once, refuses the next with Retry-After of one interval, then N per hour', async (rate, n, interval, nextWait) => {
    const start = Date.parse('2025-06-01T12:00:00Z');
    const clock = { now: start };
    const limit = await handlers('principal', [{ key: 'principal', rate }], clock);
    const answers: number[] = [];
    const remaining: string[] = [];
    for (let i = 0; i < n + 3; i++) {
      const c = context({ principal: alice });
      answers.push(status(limit.onRequest!(c)));
      remaining.push(c.responseHeaders[3]!);
    }
    expect(answers.filter((s) => s === 200)).toHaveLength(n);
    expect(answers).toEqual([...Array<number>(n).fill(200), 429, 429, 429]);
    // Successful answers count down; `t` is when the whole hour's allowance is back.
    expect(remaining[0]).toBe(`"rate-0";r=${n - 1};t=${interval}`);
    expect(remaining[n - 1]).toBe('"rate-0";r=0;t=3600');
    expect(remaining[n]).toBe(`"rate-0";r=0;t=${interval}`);
    const refused = context({ principal: alice });
    expect(limit.onRequest!(refused)).toMatchObject({ kind: 'problem', code: 'RAMPART_ERR_RATE_LIMITED', headers: { 'retry-after': String(interval) } });
    expect(refused.responseHeaders).toEqual(['ratelimit-policy', `"rate-0";q=${n};w=3600`, 'ratelimit', `"rate-0";r=0;t=${interval}`]);
    // Another caller has its own allowance.
    expect(status(limit.onRequest!(context({ principal: bob })))).toBe(200);

    // One second before Retry-After: still refused, with Retry-After 1.
    clock.now = start + (interval - 1) * 1000;
    expect(retryAfter(limit.onRequest!(context({ principal: alice })))).toBe('1');
    // At Retry-After: exactly one more, then a refusal with one interval again (in whole seconds, rounded up).
    clock.now = start + interval * 1000;
    expect(status(limit.onRequest!(context({ principal: alice })))).toBe(200);
    expect(retryAfter(limit.onRequest!(context({ principal: alice })))).toBe(String(nextWait));

    // The next hour, a request every 10 s (360 attempts after the one just admitted): exactly N go through.
    let admitted = 0;
    for (let t = 10; t <= 3600; t += 10) {
      clock.now = start + interval * 1000 + t * 1000;
      if (status(limit.onRequest!(context({ principal: alice }))) === 200) admitted++;
    }
    expect(admitted).toBe(n);
  });

  it('counts a daily quota per consumer: two consumers independent, users not counted, both fresh at 00:00Z', async () => {
    const clock = { now: Date.parse('2025-06-01T18:00:00Z') };
    const limit = await handlers('principal', [{ key: 'consumer', quota: 3, period: 'day' }], clock);
    const billing: Principal = { subject: 'billing', kind: 'consumer', method: 'api-key', roles: [], credentialId: 'key-b1' };
    const billingOtherKey: Principal = { subject: 'billing', kind: 'consumer', method: 'api-key', roles: [], credentialId: 'key-b2' };
    const reports: Principal = { subject: 'reports', kind: 'consumer', method: 'api-key', roles: [], credentialId: 'key-r1' };
    const ask = (p: Principal) => {
      const c = context({ principal: p });
      const outcome = limit.onRequest!(c);
      return { status: status(outcome), retryAfter: retryAfter(outcome), ratelimit: c.responseHeaders[3] };
    };
    // 6 hours to 00:00Z.
    const billingAnswers = [ask(billing), ask(billingOtherKey), ask(billing), ask(billing), ask(billingOtherKey)];
    expect(billingAnswers.map((a) => a.status)).toEqual([200, 200, 200, 429, 429]);
    expect(billingAnswers.map((a) => a.ratelimit)).toEqual([
      '"rate-0";r=2;t=21600',
      '"rate-0";r=1;t=21600',
      '"rate-0";r=0;t=21600',
      '"rate-0";r=0;t=21600',
      '"rate-0";r=0;t=21600',
    ]);
    expect(billingAnswers[3]!.retryAfter).toBe('21600');
    // The other consumer still has its whole quota; a user token is not counted against either.
    expect([ask(reports), ask(reports)].map((a) => [a.status, a.ratelimit])).toEqual([
      [200, '"rate-0";r=2;t=21600'],
      [200, '"rate-0";r=1;t=21600'],
    ]);
    for (let i = 0; i < 5; i++) expect(ask({ ...alice }).status).toBe(200);
    expect(ask(reports).status).toBe(200);
    expect(ask(reports)).toMatchObject({ status: 429, retryAfter: '21600' });
    clock.now = Date.parse('2025-06-01T23:59:59Z');
    expect(ask(billing)).toMatchObject({ status: 429, retryAfter: '1' });
    // A new UTC day: each consumer has its 3 again.
    clock.now = Date.parse('2025-06-02T00:00:00Z');
    const day2 = (p: Principal) => Array.from({ length: 4 }, () => ask(p).status);
    expect(day2(reports)).toEqual([200, 200, 200, 429]);
    expect(day2(billing)).toEqual([200, 200, 200, 429]);
  });
});
