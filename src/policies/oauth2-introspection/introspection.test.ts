import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestClock, policyDeps, send, startPolicyServer } from '../jwt/test-harness.ts';
import type { PolicyHandlers } from '../types.ts';
import { createIntrospectionHandlers, oauth2IntrospectionPolicy, type OAuth2IntrospectionConfig } from './index.ts';

const ajv = new Ajv({ strict: false, useDefaults: true });
const validateConfig = ajv.compile(oauth2IntrospectionPolicy.schema);
function configOf(input: Record<string, unknown>): OAuth2IntrospectionConfig {
  const copy = structuredClone(input);
  if (!validateConfig(copy)) throw new Error(`invalid test config: ${ajv.errorsText(validateConfig.errors)}`);
  return copy as unknown as OAuth2IntrospectionConfig;
}

const CLIENT_ID = 'rampart gw';
const CLIENT_SECRET = 'p@ss:w rd/+%';
const INVALID_TOKEN = { 'www-authenticate': 'Bearer realm="rampart", error="invalid_token"' };
const INVALID_REQUEST = { 'www-authenticate': 'Bearer error="invalid_request"' };

const clock = new TestClock();
const deps = policyDeps();
/** What the endpoint answers per token; 'error' / 'slow' / 'not-json' are failure modes. */
const answers = new Map<string, Record<string, unknown> | 'error' | 'slow' | 'not-json'>();
const received: Array<{ authorization: string | undefined; contentType: string | undefined; form: URLSearchParams }> = [];
let calls = 0;
let endpoint: Server;
let endpointUrl: string;
let base: string;
let closePolicies: () => Promise<void>;

/** The endpoint's check of the client credentials: RFC 6749 §2.3.1 (Basic over form-urlencoded values) or form. */
function authenticated(authorization: string | undefined, form: URLSearchParams): boolean {
  if (authorization?.startsWith('Basic ')) {
    const decoded = Buffer.from(authorization.slice(6), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const decode = (s: string) => decodeURIComponent(s.replaceAll('+', ' '));
    return decode(decoded.slice(0, colon)) === CLIENT_ID && decode(decoded.slice(colon + 1)) === CLIENT_SECRET;
  }
  return form.get('client_id') === CLIENT_ID && form.get('client_secret') === CLIENT_SECRET;
}

beforeAll(async () => {
  endpoint = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      calls++;
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      received.push({ authorization: req.headers.authorization, contentType: req.headers['content-type'], form });
      if (req.method !== 'POST' || !authenticated(req.headers.authorization, form)) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"invalid_client"}');
        return;
      }
      const answer = answers.get(form.get('token') ?? '') ?? { active: false };
      if (answer === 'error') res.writeHead(500).end('{"error":"server_error"}');
      else if (answer === 'slow') setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{"active":true,"sub":"late"}'), 1000);
      else if (answer === 'not-json') res.writeHead(200, { 'content-type': 'text/html' }).end('<html>login</html>');
      else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
    });
  });
  await new Promise<void>((resolve) => endpoint.listen(0, '127.0.0.1', resolve));
  endpointUrl = `http://127.0.0.1:${(endpoint.address() as AddressInfo).port}/introspect`;

  const common = { name: 'partner-tokens', url: endpointUrl, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, timeout: 200 };
  const options = { now: clock.now };
  const handlers: Record<string, PolicyHandlers> = {
    basic: await createIntrospectionHandlers(configOf({ ...common, roles: { claim: 'realm_access.roles' }, tenant: { claim: 'org' }, mfa: { acrValues: ['mfa-loa'] } }), deps, options),
    post: await createIntrospectionHandlers(configOf({ ...common, authMethod: 'client_secret_post' }), deps, options),
    aud: await createIntrospectionHandlers(configOf({ ...common, audiences: ['orders-api'], issuer: 'https://idp.example' }), deps, options),
    all: await createIntrospectionHandlers(configOf({ ...common, opaqueOnly: false }), deps, options),
    wrongsecret: await createIntrospectionHandlers(configOf({ ...common, clientSecret: 'nope' }), deps, options),
    small: await createIntrospectionHandlers(configOf({ ...common, name: 'small-cache', cache: { maxBytes: 65_536 } }), deps, options),
  };
  const server = await startPolicyServer((name) => handlers[name]!);
  base = server.url;
  closePolicies = server.close;
});

afterAll(async () => {
  await closePolicies();
  await deps.shared.close();
  endpoint.closeAllConnections();
  await new Promise<void>((resolve) => endpoint.close(() => resolve()));
});

let serial = 0;
/** A fresh opaque token the endpoint answers `answer` for. */
function opaque(answer: Record<string, unknown> | 'error' | 'slow' | 'not-json'): string {
  const token = `tok_${(serial++).toString(36)}_2YotnFZFEjr1zCsicMWpAA`;
  answers.set(token, answer);
  return token;
}
const active = (extra: Record<string, unknown> = {}) => ({ active: true, sub: 'alice', exp: clock.seconds + 600, scope: 'orders:read', ...extra });
const ask = (policy: string, token: string, query = '') => send(`${base}/${policy}/orders${query}`, [['authorization', `Bearer ${token}`]]);

describe('oauth2-introspection policy', () => {
  it('accepts an active token, then serves it from the cache without a call', async () => {
    const token = opaque(active({ realm_access: { roles: ['customer'] }, org: 'acme', amr: ['pwd'], acr: 'mfa-loa' }));
    const before = calls;
    const first = await ask('basic', token);
    expect(first).toMatchObject({
      outcome: 'continue',
      synchronous: false,
      hasCredential: true,
      principal: { subject: 'alice', kind: 'user', method: 'oauth2-introspection', roles: ['customer'], tenant: 'acme', permissions: ['orders:read'] },
    });
    expect(await ask('basic', token)).toMatchObject({ outcome: 'continue', synchronous: true });
    expect(calls - before).toBe(1);
  });

  it('bounds the answer cache by memory, not only by count: large answers push the oldest out', async () => {
    // Each answer is about 20 KB (40 KB as the cache counts UTF-16): two do not fit in 64 KB.
    const large = () => opaque(active({ profile: 'x'.repeat(20_000) }));
    const [first, second] = [large(), large()];
    const before = calls;
    expect((await ask('small', first)).outcome).toBe('continue');
    expect(await ask('small', first)).toMatchObject({ outcome: 'continue', synchronous: true });
    expect((await ask('small', second)).outcome).toBe('continue');
    expect(await ask('small', second)).toMatchObject({ outcome: 'continue', synchronous: true });
    expect(calls - before).toBe(2);
    // The first answer was evicted to make room: asking again costs a call (and the token still works).
    expect(await ask('small', first)).toMatchObject({ outcome: 'continue', synchronous: false });
    expect(calls - before).toBe(3);
  });

  it('sends an RFC 7662 request with RFC 6749 §2.3.1 Basic client authentication', async () => {
    await ask('basic', opaque(active()));
    const last = received.at(-1)!;
    expect(last.contentType).toBe('application/x-www-form-urlencoded');
    expect(last.form.get('token_type_hint')).toBe('access_token');
    expect(last.authorization).toBe(`Basic ${Buffer.from('rampart+gw:p%40ss%3Aw+rd%2F%2B%25').toString('base64')}`);
    expect(last.form.has('client_secret')).toBe(false);
  });

  it('supports client_secret_post', async () => {
    const token = opaque(active());
    expect((await ask('post', token)).outcome).toBe('continue');
    const last = received.at(-1)!;
    expect(last.authorization).toBeUndefined();
    expect(last.form.get('client_id')).toBe(CLIENT_ID);
    expect(last.form.get('token')).toBe(token);
  });

  it('refuses an inactive token with 401 invalid_token, and does not cache the refusal', async () => {
    const token = opaque({ active: false });
    const before = calls;
    for (let i = 0; i < 2; i++) {
      const answer = await ask('basic', token);
      expect(answer).toMatchObject({ outcome: 'problem', code: 'RAMPART_ERR_INVALID_CREDENTIAL', detail: expect.stringContaining('not active') });
      expect(answer.headers).toEqual(INVALID_TOKEN);
    }
    expect(calls - before).toBe(2);
  });

  it.each([
    ['a 500', 'error' as const],
    ['a timeout', 'slow' as const],
    ['a body that is not JSON', 'not-json' as const],
    ['an answer without active', { sub: 'alice' }],
    ['an answer with a string active', { active: 'true', sub: 'alice' }],
  ])('fails closed with 503 on %s, and serves the next good token', async (_name, answer) => {
    const refused = await ask('basic', opaque(answer));
    expect(refused).toMatchObject({ outcome: 'problem', code: 'RAMPART_ERR_AUTH_UNAVAILABLE' });
    expect(refused.headers).toEqual({});
    expect((await ask('basic', opaque(active()))).outcome).toBe('continue');
  });

  it('fails closed with 503 when the endpoint refuses Rampart\'s client credentials', async () => {
    expect(await ask('wrongsecret', opaque(active()))).toMatchObject({ outcome: 'problem', code: 'RAMPART_ERR_AUTH_UNAVAILABLE', detail: expect.stringContaining('401') });
  });

  it('caches an answer until exp at most, then refuses the expired token', async () => {
    const token = opaque(active({ exp: clock.seconds + 30 }));
    const before = calls;
    expect((await ask('basic', token)).outcome).toBe('continue');
    clock.advance(29);
    expect(await ask('basic', token)).toMatchObject({ outcome: 'continue', synchronous: true });
    clock.advance(2);
    expect(await ask('basic', token)).toMatchObject({ outcome: 'problem', code: 'RAMPART_ERR_INVALID_CREDENTIAL', detail: expect.stringContaining('"exp" is in the past') });
    expect(calls - before).toBe(2);
  });

  it('caches an answer at most maxTtl (60 s by default)', async () => {
    const token = opaque(active({ exp: clock.seconds + 3600 }));
    const before = calls;
    await ask('basic', token);
    clock.advance(59);
    expect(await ask('basic', token)).toMatchObject({ synchronous: true });
    clock.advance(2);
    expect(await ask('basic', token)).toMatchObject({ outcome: 'continue', synchronous: false });
    expect(calls - before).toBe(2);
  });

  it('shares one call between concurrent requests for one token', async () => {
    const token = opaque(active());
    const before = calls;
    const results = await Promise.all(Array.from({ length: 20 }, () => ask('basic', token)));
    expect(results.every((r) => r.outcome === 'continue')).toBe(true);
    expect(calls - before).toBe(1);
  });

  it('takes the subject from sub, username or client_id', async () => {
    expect((await ask('basic', opaque({ active: true, username: 'bob' }))).principal).toMatchObject({ subject: 'bob', kind: 'user' });
    expect((await ask('basic', opaque({ active: true, client_id: 'batch-job' }))).principal).toMatchObject({ subject: 'batch-job', kind: 'client' });
    expect((await ask('basic', opaque({ active: true, sub: 'batch-job', client_id: 'batch-job' }))).principal).toMatchObject({ kind: 'client' });
  });

  it.each([
    ['exp in the past', () => opaque(active({ exp: clock.seconds - 1 })), 'basic'],
    ['exp not a number', () => opaque(active({ exp: 'tomorrow' })), 'basic'],
    ['nbf in the future', () => opaque(active({ nbf: clock.seconds + 60 })), 'basic'],
    ['wrong aud', () => opaque(active({ aud: 'billing', iss: 'https://idp.example' })), 'aud'],
    ['wrong iss', () => opaque(active({ aud: 'orders-api', iss: 'https://evil.example' })), 'aud'],
    ['sub with CR/LF', () => opaque(active({ sub: 'alice\r\nx-roles: admin' })), 'basic'],
    ['no subject', () => opaque({ active: true }), 'basic'],
    ['roles with a comma', () => opaque(active({ realm_access: { roles: ['a,admin'] } })), 'basic'],
    ['a token with a space (not a b64token), never sent', () => 'abc def', 'basic'],
    ['a token over maxTokenBytes, never sent', () => 'a'.repeat(8193), 'basic'],
  ])('refuses %s with 401 invalid_token', async (_name, make, policy) => {
    const before = calls;
    const token = make();
    const answer = await ask(policy, token);
    expect(answer).toMatchObject({ outcome: 'problem', code: 'RAMPART_ERR_INVALID_CREDENTIAL' });
    expect(answer.headers).toEqual(INVALID_TOKEN);
    if (!token.startsWith('tok_')) expect(calls).toBe(before);
  });

  it('accepts the right aud and iss', async () => {
    expect((await ask('aud', opaque(active({ aud: ['x', 'orders-api'], iss: 'https://idp.example' })))).outcome).toBe('continue');
  });

  it('refuses credential conflicts and query tokens with 400 invalid_request, without a call', async () => {
    const token = opaque(active());
    const before = calls;
    const cases = [
      send(`${base}/basic/orders`, [['authorization', `Bearer ${token}`], ['authorization', `Bearer ${token}`]]),
      send(`${base}/basic/orders?access_token=${token}`, [['authorization', `Bearer ${token}`]]),
      send(`${base}/basic/orders?access_token=${token}`),
    ];
    for (const answer of await Promise.all(cases)) {
      expect(answer).toMatchObject({ outcome: 'problem', code: 'RAMPART_ERR_CREDENTIAL_CONFLICT' });
      expect(answer.headers).toEqual(INVALID_REQUEST);
    }
    expect(calls).toBe(before);
  });

  it('leaves JWT-shaped tokens, empty bearers and other schemes to other authenticators (opaqueOnly)', async () => {
    for (const authorization of ['Bearer eyJhbGciOiJFUzI1NiJ9.e30.c2ln', 'Bearer', 'Basic YTpi']) {
      expect(await send(`${base}/basic/orders`, [['authorization', authorization]])).toMatchObject({ outcome: 'not-responsible', hasCredential: false });
    }
    expect(await send(`${base}/basic/orders`)).toMatchObject({ outcome: 'not-responsible', hasCredential: false });
  });

  it('introspects every bearer token when opaqueOnly is off', async () => {
    const jwtShaped = 'eyJhbGciOiJFUzI1NiJ9.e30.c2ln';
    answers.set(jwtShaped, active());
    expect(await ask('all', jwtShaped)).toMatchObject({ outcome: 'continue', principal: { subject: 'alice' } });
  });

  it('records security events without the token', async () => {
    const token = opaque({ active: false });
    await ask('basic', token);
    const event = deps.events.events.at(-1)!;
    expect(event).toMatchObject({ type: 'credential.rejected', details: { method: 'oauth2-introspection', issuer: 'partner-tokens' } });
    expect(JSON.stringify(deps.events.events)).not.toContain(token);
  });
});

describe('oauth2-introspection config', () => {
  const route = { id: '*', public: false, methods: undefined, tls: true };
  const base = { name: 'p', clientId: 'c', clientSecret: 's' };

  it('refuses http to a remote host, accepts https and loopback http', () => {
    expect(oauth2IntrospectionPolicy.check!(configOf({ ...base, url: 'http://idp.example/introspect' }), 'issuers.p', route)).toEqual([
      expect.objectContaining({ path: 'issuers.p.url', message: expect.stringContaining('https') }),
    ]);
    expect(oauth2IntrospectionPolicy.check!(configOf({ ...base, url: 'https://idp.example/introspect' }), 'issuers.p', route)).toEqual([]);
    expect(oauth2IntrospectionPolicy.check!(configOf({ ...base, url: 'http://[::1]:9000/introspect' }), 'issuers.p', route)).toEqual([]);
  });

  it('warns when opaqueOnly is off, and fills defaults', () => {
    const config = configOf({ ...base, url: 'https://idp.example/i', opaqueOnly: false });
    expect(oauth2IntrospectionPolicy.check!(config, 'issuers.p', route)).toEqual([expect.objectContaining({ severity: 'warning', path: 'issuers.p.opaqueOnly' })]);
    expect(configOf({ ...base, url: 'https://idp.example/i' })).toMatchObject({
      authMethod: 'client_secret_basic',
      timeout: 3000,
      cache: { maxEntries: 10_000, maxBytes: 67_108_864, maxTtl: 60 },
      roles: { claim: 'roles' },
      opaqueOnly: true,
      allowQueryToken: false,
      realm: 'rampart',
    });
    expect(validateConfig({ ...base, url: 'https://idp.example/i', maxTtl: '60s' })).toBe(false);
  });
});
