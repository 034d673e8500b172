/**
 * Micro-benchmark of the authorize policy's per-request cost (not a test; no assertions):
 *
 *   npx tsx src/authz/bench-authorize.ts
 *
 * Issue 4's budget: RBAC plus one CEL rule may cost at most 5 % more CPU per request than the same route without
 * them. The gateway costs about 100 µs of CPU per proxied request (bench/RESULTS.md, rampart-nolog), so the
 * budget is about 5 µs. This measures, in interleaved rounds (median of 7), the cost of onRequest for:
 *   - rbac:       permissions only
 *   - rbac+rule:  permissions and `request.params.userId == principal.sub`
 *   - rbac+rule+headers: permissions and `principal.tenant == request.headers['x-tenant-id']`
 *   - rbac+time-rule: permissions and `now.getHours() >= 0` (a Date per request)
 * over 1,000 distinct frozen principals (as the authenticators' caches hand them out) and a fresh context per
 * request; the cost of building the context alone is measured the same way and subtracted.
 * Set BENCH_GATEWAY_US to compare against another per-request figure.
 */
import type { IncomingMessage } from 'node:http';
import { pino } from 'pino';
import { SharedResourcePool } from '../gateway/runtime.ts';
import { LoggingSecurityEvents } from '../observe/events.ts';
import type { Outcome, Principal, RequestContext } from '../policies/types.ts';
import { createAuthorizeHandlers } from '../policies/authorize/index.ts';
import type { AuthorizeConfig } from '../policies/authorize/schema.ts';

const PRINCIPALS = 1000;
const REQUESTS = 500_000;
const ROUNDS = 7;
const GATEWAY_US = Number(process.env.BENCH_GATEWAY_US ?? 100);

const roles = {
  customer: { permissions: ['orders:read', 'orders:write'], inherits: [] },
  support: { permissions: ['users:read'], inherits: ['customer'] },
};
const principals: Principal[] = Array.from({ length: PRINCIPALS }, (_, i) =>
  Object.freeze({
    subject: `user-${i}`,
    kind: 'user' as const,
    method: 'jwt',
    roles: Object.freeze(i % 2 === 0 ? ['customer'] : ['support']),
    permissions: new Set<string>(),
    claims: Object.freeze({ sub: `user-${i}` }),
    tenant: 'acme',
  }),
);
const userIds = principals.map((p) => Object.freeze({ userId: p.subject }));

const logger = pino({ level: 'silent' });
const deps = { logger, events: new LoggingSecurityEvents(logger), routeId: 'bench', development: false, shared: new SharedResourcePool() };
const base: AuthorizeConfig = { roles, permissions: { GET: ['orders:read'] } };
const variants: Record<string, AuthorizeConfig> = {
  rbac: base,
  'rbac+rule': { ...base, rule: 'request.params.userId == principal.sub' },
  'rbac+rule+headers': { ...base, rule: "principal.tenant == request.headers['x-tenant-id']" },
  'rbac+time-rule': { ...base, rule: 'now.getHours() >= 0' },
};
const handlers = Object.fromEntries(Object.entries(variants).map(([name, config]) => [name, createAuthorizeHandlers(config, deps)]));

function contextFor(i: number): RequestContext {
  const req = { headers: { host: 'api.example', 'x-tenant-id': 'acme', accept: '*/*' } } as unknown as IncomingMessage;
  return {
    req,
    requestId: 'r',
    method: 'GET',
    path: `/users/${principals[i]!.subject}/orders`,
    query: '',
    clientAddress: '127.0.0.1',
    secure: true,
    routeId: 'bench',
    params: userIds[i]!,
    principal: principals[i],
    responseHeaders: [],
    locals: {},
  };
}

function run(onRequest: ((ctx: RequestContext) => Outcome | Promise<Outcome>) | undefined): number {
  let refused = 0;
  const start = process.hrtime.bigint();
  for (let n = 0; n < REQUESTS; n++) {
    const ctx = contextFor(n % PRINCIPALS);
    if (onRequest !== undefined && onRequest(ctx) !== undefined) refused++;
  }
  const ns = Number(process.hrtime.bigint() - start) / REQUESTS;
  if (refused > 0) throw new Error(`${refused} requests refused: the benchmark config is wrong`);
  return ns;
}

const names = ['context only', ...Object.keys(handlers)];
const samples = new Map<string, number[]>(names.map((n) => [n, []]));
for (let round = 0; round < ROUNDS + 1; round++) {
  // Rotate the order each round so no variant always runs on a warmer or colder JIT.
  const order = names.map((_, i) => names[(i + round) % names.length]!);
  for (const name of order) {
    const ns = run(name === 'context only' ? undefined : handlers[name]!.onRequest!.bind(handlers[name]));
    if (round > 0) samples.get(name)!.push(ns); // round 0 warms up
  }
}
const median = (list: number[]) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)]!;
const context = median(samples.get('context only')!);
console.log(`node ${process.version}; ${REQUESTS} requests per run, ${ROUNDS} interleaved rounds, ${PRINCIPALS} principals`);
console.log(`context only: ${context.toFixed(0)} ns/request (subtracted below)`);
for (const name of Object.keys(handlers)) {
  const cost = median(samples.get(name)!) - context;
  console.log(`${name.padEnd(18)} ${(cost / 1000).toFixed(3)} µs/request = ${((cost / 1000 / GATEWAY_US) * 100).toFixed(2)} % of a ${GATEWAY_US} µs gateway request`);
}
for (const h of Object.values(handlers)) await h.close?.();
