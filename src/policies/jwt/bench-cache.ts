/**
 * Micro-benchmark of the jwt policy's verified-token cache hit path (not a test; no assertions):
 *
 *   npx tsx src/policies/jwt/bench-cache.ts
 *
 * 1,000 distinct ES256 tokens are verified once (warm-up), then requested in turn. Each request gets a fresh
 * Authorization string decoded from bytes, as node:http's parser produces one per request, so the Map lookup has to
 * hash the token like it does in the gateway (a reused string would have its hash cached and look faster).
 * The cost of producing the string and the context is measured alone and subtracted.
 */
import { SignJWT, exportSPKI, generateKeyPair } from 'jose';
import { pino } from 'pino';
import type { IncomingMessage } from 'node:http';
import { SharedResourcePool } from '../../gateway/runtime.ts';
import { LoggingSecurityEvents } from '../../observe/events.ts';
import type { RequestContext } from '../types.ts';
import { createJwtHandlers, type JwtConfig } from './index.ts';

const TOKENS = 1000;
const ROUNDS = 2_000_000;

const { publicKey, privateKey } = await generateKeyPair('ES256');
const now = Math.floor(Date.now() / 1000);
const all: Buffer[] = [];
for (let i = 0; i < 2 * TOKENS; i++) {
  const jwt = await new SignJWT({ iss: 'https://idp', aud: 'api', sub: `user-${i}`, roles: ['customer'], scope: 'orders:read orders:write', iat: now, exp: now + 3600 })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
    .sign(privateKey);
  all.push(Buffer.from(`Bearer ${jwt}`, 'latin1'));
}
// The first 1,000 warm the JIT; the second 1,000 measure the miss path and then the hit path.
const warmUp = all.slice(0, TOKENS);
const tokens = all.slice(TOKENS);

const config: JwtConfig = {
  name: 'bench',
  issuer: 'https://idp',
  audiences: ['api'],
  algorithms: ['ES256'],
  keys: [{ kid: 'k1', alg: 'ES256', pem: await exportSPKI(publicKey) }],
  clockSkew: 30,
  maxTokenAge: 0,
  requiredClaims: ['exp'],
  roles: { claim: 'roles' },
  mfa: { amrContains: ['mfa'], acrValues: [] },
  cache: { maxEntries: 10_000, maxBytes: 67_108_864, maxTtl: 300 },
  jwks: { minRefreshInterval: 30, defaultMaxAge: 600, maxMaxAge: 86_400, timeout: 5000, maxBytes: 1_048_576 },
  allowQueryToken: false,
  maxTokenBytes: 8192,
  realm: 'rampart',
};
const logger = pino({ level: 'silent' });
const handlers = await createJwtHandlers(config, { logger, events: new LoggingSecurityEvents(logger), routeId: 'bench', development: false, shared: new SharedResourcePool() });
const onRequest = handlers.onRequest!.bind(handlers);

function contextFor(authorization: string): RequestContext {
  const req = { headers: { host: 'api.example', authorization }, rawHeaders: ['Host', 'api.example', 'Authorization', authorization, 'Accept', '*/*'] } as unknown as IncomingMessage;
  return { req, requestId: 'r', method: 'GET', path: '/orders', query: '', clientAddress: '127.0.0.1', secure: true, routeId: 'bench', params: {}, principal: undefined, responseHeaders: [], locals: {} };
}

// Miss path: ES256 verification of every token once (this also fills the cache).
for (const bytes of warmUp) await onRequest(contextFor(bytes.toString('latin1')));

// Wall time includes WebCrypto's thread-pool hop per verification; CPU time (all threads) is what a request costs.
const started = process.hrtime.bigint();
const cpuBefore = process.cpuUsage();
for (const bytes of tokens) {
  const outcome = await onRequest(contextFor(bytes.toString('latin1')));
  if (outcome !== undefined) throw new Error(`warm-up token refused: ${JSON.stringify(outcome)}`);
}
const missNs = Number(process.hrtime.bigint() - started) / TOKENS;
const cpu = process.cpuUsage(cpuBefore);
const missCpuNs = ((cpu.user + cpu.system) * 1000) / TOKENS;

function run(withPolicy: boolean): number {
  let sink = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < ROUNDS; i++) {
    const ctx = contextFor(tokens[i % TOKENS]!.toString('latin1'));
    if (withPolicy) {
      const outcome = onRequest(ctx);
      if (outcome !== undefined) throw new Error('cache miss or refusal in the hit loop');
      sink += ctx.principal!.subject.length;
    } else {
      sink += (ctx.req.headers.authorization as string).length;
    }
  }
  if (sink === 0) throw new Error('unreachable');
  return Number(process.hrtime.bigint() - start) / ROUNDS;
}

// Interleaved rounds, median of each.
const baseline: number[] = [];
const measured: number[] = [];
for (let round = 0; round < 7; round++) {
  baseline.push(run(false));
  measured.push(run(true));
}
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
console.log(`tokens: ${TOKENS} distinct ES256, ${ROUNDS} requests per round, 7 interleaved rounds (median)`);
console.log(`miss (ES256 verify + principal + cache insert): ${(missNs / 1000).toFixed(1)} µs wall, ${(missCpuNs / 1000).toFixed(1)} µs CPU per token`);
console.log(`fresh header string + context alone:           ${median(baseline).toFixed(0)} ns`);
console.log(`the same + onRequest (cache hit):              ${median(measured).toFixed(0)} ns`);
console.log(`cache hit path:                                ${(median(measured) - median(baseline)).toFixed(0)} ns per request`);
