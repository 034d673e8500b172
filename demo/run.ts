/**
 * `npm run demo`: the sample orders/users API with Rampart in front of it, on the embedded demo config
 * (demo/rampart.yaml). Prints curl commands for what the gateway does, runs each one and shows the answer, then
 * prints the posture table and keeps serving until Ctrl-C. `--once` runs the showcase and exits (used by tests).
 *
 * Ports: RAMPART_DEMO_PORT (8080), RAMPART_DEMO_ADMIN_PORT (9901), RAMPART_DEMO_UPSTREAM_PORT (3100); 0 picks free ones.
 */
import { readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from 'node:net';
import pino from 'pino';
import YAML from 'yaml';
import { loadConfigObject } from '../src/config/load.ts';
import { Gateway } from '../src/gateway/server.ts';
import { tuneV8ForGateway } from '../bin/v8-flags.js';
import { AccessLog } from '../src/observe/logger.ts';
import { evaluatePosture, formatPostureTable } from '../src/posture/posture.ts';
import { startSampleApi } from './sample-api/server.ts';
import { openConfiguredStores } from '../src/storage/configured.ts';
import { hashPassword } from '../src/crypto/passwords.ts';
import { hashSecret } from '../src/crypto/hashing.ts';
import { generateApiKey } from '../src/policies/api-key/keys.ts';

const here = dirname(fileURLToPath(import.meta.url));
const once = process.argv.includes('--once');
const port = Number(process.env.RAMPART_DEMO_PORT ?? 8080);
const adminPort = Number(process.env.RAMPART_DEMO_ADMIN_PORT ?? 9901);
const upstreamPort = Number(process.env.RAMPART_DEMO_UPSTREAM_PORT ?? 3100);

const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s: string) => (process.stdout.isTTY ? `\x1b[2m${s}\x1b[0m` : s);

async function main(): Promise<void> {
  tuneV8ForGateway();
  const sample = await startSampleApi({ host: '127.0.0.1', port: upstreamPort });
  const document = YAML.parse(readFileSync(join(here, 'rampart.yaml'), 'utf8')) as Record<string, unknown>;
  document.listen = { host: '127.0.0.1', port };
  document.admin = { host: '127.0.0.1', port: adminPort };
  const loaded = loadConfigObject(document, { env: { ...process.env, RAMPART_DEMO_UPSTREAM: sample.url }, baseDir: here });
  if (!loaded.ok) {
    console.error(`demo config invalid:\n  ${loaded.errors.join('\n  ')}`);
    await sample.close();
    process.exitCode = 1;
    return;
  }
  const logDir = mkdtempSync(join(tmpdir(), 'rampart-demo-'));
  const accessLogFile = join(logDir, 'access.log');
  const appLogFile = join(logDir, 'rampart.log');
  const logger = pino({ level: 'info' }, pino.destination({ dest: appLogFile, sync: true }));
  const accessLog = new AccessLog({ destination: accessLogFile, redact: [], async: false });
  // The demo's store lives in memory: a user, a second user and a machine client with an API key.
  const stores = await openConfiguredStores(loaded.config, { logger });
  const now = Date.now();
  const password = 'demo-password-alice-42';
  await stores.stores.identities.createUser({ username: 'alice', passwordHash: await hashPassword(password), roles: ['customer'], createdAt: now });
  await stores.stores.identities.createUser({ username: 'bob', passwordHash: await hashPassword('demo-password-bob-42!'), roles: ['customer'], createdAt: now });
  const consumer = await stores.stores.identities.createConsumer({ name: 'billing-job', roles: ['customer'], createdAt: now });
  const apiKey = generateApiKey();
  await stores.stores.identities.createApiKey({
    consumerId: consumer.id,
    name: 'demo',
    prefix: apiKey.recordPrefix,
    hash: hashSecret(apiKey.key, stores.pepper),
    scopes: ['orders:read'],
    expiresAt: now + 90 * 86_400_000,
    createdAt: now,
  });
  let gateway: Gateway;
  try {
    gateway = await Gateway.start(loaded.config, { logger, accessLog, stores });
  } catch (error) {
    console.error(`cannot start the demo gateway: ${(error as Error).message} (set RAMPART_DEMO_PORT / RAMPART_DEMO_ADMIN_PORT to free ports, or 0)`);
    await sample.close();
    process.exitCode = 1;
    return;
  }
  const { listeners, admin } = gateway.addresses();
  const gw = `http://127.0.0.1:${listeners[0]!.port}`;

  console.log('');
  console.log(bold('!!! DEVELOPMENT MODE: plain HTTP on loopback, in-memory store, throw-away master key. Never run this in production. !!!'));
  console.log('');
  console.log(`Rampart gateway   ${gw}`);
  console.log(`Admin (metrics)   http://127.0.0.1:${admin!.port}/metrics`);
  console.log(`Sample API        ${sample.url}  (behind the gateway)`);
  console.log(`Demo users        alice / ${password} (customer), bob (customer); machine client billing-job with an API key`);
  console.log(`Logs              ${accessLogFile} (access), ${appLogFile} (details by correlation id)`);
  console.log('');

  const show = async (title: string, curl: string, run: () => Promise<string>) => {
    console.log(bold(`# ${title}`));
    console.log(`$ ${curl}`);
    try {
      console.log(dim(await run()));
    } catch (error) {
      console.log(dim(`(failed: ${(error as Error).message})`));
    }
    console.log('');
  };
  const summarize = async (res: Response, headers: string[] = []) => {
    const lines = [`HTTP ${res.status}`];
    for (const name of headers) {
      const value = res.headers.get(name);
      if (value !== null) lines.push(`${name}: ${value}`);
    }
    const text = await res.text();
    if (text) lines.push(text.length > 300 ? `${text.slice(0, 300)}...` : text);
    return lines.join('\n');
  };

  const json = (body: unknown) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  await show('A protected route without a credential: 401 (deny by default)', `curl -i ${gw}/orders`, async () =>
    summarize(await fetch(`${gw}/orders`), ['www-authenticate', 'content-type']),
  );
  let token = '';
  await show(
    'Login with a password returns a short-lived access token and a rotating refresh token',
    `curl -i -X POST ${gw}/auth/login -H 'content-type: application/json' -d '{"username":"alice","password":"${password}"}'`,
    async () => {
      const res = await fetch(`${gw}/auth/login`, json({ username: 'alice', password }));
      const body = (await res.json()) as { access_token: string; refresh_token: string; expires_in: number };
      token = body.access_token;
      const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
      return `HTTP ${res.status}\naccess_token: ${token.slice(0, 24)}... (expires in ${body.expires_in} s)\nrefresh_token: ${body.refresh_token.slice(0, 8)}...\nclaims: ${JSON.stringify({ sub: claims.sub, roles: claims.roles, amr: claims.amr, exp: claims.exp })}`;
    },
  );
  await show('The token calls the API; security headers added, banner headers removed', `curl -i '${gw}/orders?limit=2' -H 'authorization: Bearer $TOKEN'`, async () =>
    summarize(await fetch(`${gw}/orders?limit=2`, { headers: { authorization: `Bearer ${token}` } }), ['content-type', 'content-security-policy', 'x-content-type-options', 'x-request-id', 'server', 'x-powered-by']),
  );
  await show(`A machine client calls with an API key (prefix ${apiKey.recordPrefix}, stored only as a hash)`, `curl -i '${gw}/orders?limit=1' -H 'x-api-key: ${apiKey.key}'`, async () =>
    summarize(await fetch(`${gw}/orders?limit=1`, { headers: { 'x-api-key': apiKey.key } })),
  );
  await show('A wrong API key with a valid prefix: the same 401 as any bad credential', `curl -i ${gw}/orders -H 'x-api-key: ${apiKey.recordPrefix}_<wrong secret>'`, async () =>
    summarize(await fetch(`${gw}/orders`, { headers: { 'x-api-key': `${apiKey.recordPrefix}_${'A'.repeat(43)}` } }), ['www-authenticate']),
  );
  let orderId = '';
  await show('alice creates an order: the gateway records her as its owner', `curl -i -X POST ${gw}/orders -H 'authorization: Bearer $TOKEN' -d '{"items":[{"sku":"SKU-1001","qty":1}]}'`, async () => {
    const res = await fetch(`${gw}/orders`, { ...json({ items: [{ sku: 'SKU-1001', qty: 1 }] }), headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` } });
    const body = (await res.json()) as { id: string; customerId: string };
    orderId = body.id;
    return `HTTP ${res.status}\nlocation: ${res.headers.get('location')}\n${JSON.stringify(body)}`;
  });
  await show('bob asks for alice\'s order: 404, he learns nothing (BOLA, OWASP API1)', `curl -i ${gw}/orders/${orderId} -H 'authorization: Bearer $BOB_TOKEN'`, async () => {
    const bob = (await (await fetch(`${gw}/auth/login`, json({ username: 'bob', password: 'demo-password-bob-42!' }))).json()) as { access_token: string };
    return summarize(await fetch(`${gw}/orders/${orderId}`, { headers: { authorization: `Bearer ${bob.access_token}` } }));
  });
  await show('alice tries to reassign her order to bob: mass assignment refused (OWASP API3)', `curl -i -X PATCH ${gw}/orders/${orderId} -H 'authorization: Bearer $TOKEN' -d '{"customerId":"bob"}'`, async () =>
    summarize(await fetch(`${gw}/orders/${orderId}`, { method: 'PATCH', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ customerId: 'bob' }) })),
  );
  await show('An admin function with a customer token: 403 (BFLA, OWASP API5)', `curl -i ${gw}/admin/users -H 'authorization: Bearer $TOKEN'`, async () =>
    summarize(await fetch(`${gw}/admin/users`, { headers: { authorization: `Bearer ${token}` } })),
  );
  await show(
    'A path-confusion attempt is refused (an encoded slash smuggling ".." past a public route)',
    `curl -i --path-as-is '${gw}/health/..%2fadmin/users'`,
    async () => rawGet(listeners[0]!.port, '/health/..%2fadmin/users'),
  );
  await show(
    'Encoded dot segments are resolved once, then routed like the plain path (here: to the authenticated admin route)',
    `curl -i --path-as-is '${gw}/health/%2e%2e/admin/users'`,
    async () => rawGet(listeners[0]!.port, '/health/%2e%2e/admin/users'),
  );
  await show(
    'A CORS preflight from an allowed origin is answered by the gateway',
    `curl -i -X OPTIONS ${gw}/orders -H 'Origin: https://app.example.com' -H 'Access-Control-Request-Method: POST'`,
    async () =>
      summarize(
        await fetch(`${gw}/orders`, {
          method: 'OPTIONS',
          headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST' },
        }),
        ['access-control-allow-origin', 'access-control-allow-methods', 'access-control-allow-credentials', 'access-control-max-age', 'vary'],
      ),
  );
  await show(
    'A CORS preflight from any other origin is refused',
    `curl -i -X OPTIONS ${gw}/orders -H 'Origin: https://evil.example' -H 'Access-Control-Request-Method: POST'`,
    async () =>
      summarize(
        await fetch(`${gw}/orders`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } }),
        ['access-control-allow-origin', 'content-type'],
      ),
  );
  await show(
    'An upstream stack trace is replaced by a generic problem (details stay in the log)',
    `curl -i ${gw}/debug/crash`,
    async () => summarize(await fetch(`${gw}/debug/crash`), ['content-type', 'x-request-id']),
  );
  await show('The sample API itself, without the gateway, leaks it', `curl -i ${sample.url}/debug/crash`, async () =>
    summarize(await fetch(`${sample.url}/debug/crash`), ['server', 'x-powered-by']),
  );
  await show('Unknown route and wrong method', `curl -i ${gw}/nope; curl -i -X PUT ${gw}/orders`, async () => {
    const a = await summarize(await fetch(`${gw}/nope`));
    const b = await summarize(await fetch(`${gw}/orders`, { method: 'PUT' }), ['allow']);
    return `${a}\n${b}`;
  });

  console.log(bold('# Posture: what this config enforces, per route and checklist item'));
  console.log('$ npx rampart posture --config demo/rampart.yaml');
  console.log(formatPostureTable(evaluatePosture(loaded.config)).split('\nReasons:')[0]);
  console.log('(full reasons: npx rampart posture --config demo/rampart.yaml, or --json)');
  console.log('');

  if (once) {
    await gateway.stop();
    await stores.stores.close();
    await sample.close();
    return;
  }
  console.log(bold(`Serving on ${gw}. Try the commands above. Ctrl-C to stop.`));
  const stop = () => {
    void gateway
      .stop()
      .then(() => stores.stores.close())
      .then(() => sample.close())
      .then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

/** curl --path-as-is: fetch would normalise the dots away before sending, so write the request by hand. */
function rawGet(port: number, target: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (data += chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const [head = '', body = ''] = data.split('\r\n\r\n');
      const status = head.split('\r\n')[0] ?? '';
      resolve(`${status}\n${body}`);
    });
    socket.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
  });
}

await main();
