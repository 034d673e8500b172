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
import { AccessLog } from '../src/observe/logger.ts';
import { evaluatePosture, formatPostureTable } from '../src/posture/posture.ts';
import { startSampleApi } from './sample-api/server.ts';

const here = dirname(fileURLToPath(import.meta.url));
const once = process.argv.includes('--once');
const port = Number(process.env.RAMPART_DEMO_PORT ?? 8080);
const adminPort = Number(process.env.RAMPART_DEMO_ADMIN_PORT ?? 9901);
const upstreamPort = Number(process.env.RAMPART_DEMO_UPSTREAM_PORT ?? 3100);

const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s: string) => (process.stdout.isTTY ? `\x1b[2m${s}\x1b[0m` : s);

async function main(): Promise<void> {
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
  let gateway: Gateway;
  try {
    gateway = await Gateway.start(loaded.config, { logger, accessLog });
  } catch (error) {
    console.error(`cannot start the demo gateway: ${(error as Error).message} (set RAMPART_DEMO_PORT / RAMPART_DEMO_ADMIN_PORT to free ports, or 0)`);
    await sample.close();
    process.exitCode = 1;
    return;
  }
  const { listeners, admin } = gateway.addresses();
  const gw = `http://127.0.0.1:${listeners[0]!.port}`;

  console.log('');
  console.log(bold('!!! DEVELOPMENT MODE: plain HTTP on loopback, every route public (no authentication yet). Never run this in production. !!!'));
  console.log('');
  console.log(`Rampart gateway   ${gw}`);
  console.log(`Admin (metrics)   http://127.0.0.1:${admin!.port}/metrics`);
  console.log(`Sample API        ${sample.url}  (behind the gateway)`);
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

  await show('A proxied call (security headers added, banner headers removed)', `curl -i ${gw}/orders/1`, async () =>
    summarize(await fetch(`${gw}/orders/1`), ['content-type', 'content-security-policy', 'x-content-type-options', 'x-request-id', 'server', 'x-powered-by']),
  );
  await show(
    'A path-confusion attempt is refused (an encoded slash smuggling ".." past a public route)',
    `curl -i --path-as-is '${gw}/health/..%2fadmin/users'`,
    async () => rawGet(listeners[0]!.port, '/health/..%2fadmin/users'),
  );
  await show(
    'Encoded dot segments are resolved once, then routed like the plain path (here: to the address-restricted admin route)',
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
  await show('An admin function is limited to the internal network', `curl -i ${gw}/admin/users`, async () =>
    summarize(await fetch(`${gw}/admin/users`)),
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
    await sample.close();
    return;
  }
  console.log(bold(`Serving on ${gw}. Try the commands above. Ctrl-C to stop.`));
  const stop = () => {
    void gateway.stop().then(() => sample.close()).then(() => process.exit(0));
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
