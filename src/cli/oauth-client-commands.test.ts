/**
 * `rampart clients …` run in process against a real SQLite store named by a real config file: the secret is
 * printed once and works at the token endpoint (its hash is what the store holds), listing never shows secrets,
 * disable and rotate-secret take effect at the endpoint.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { loadConfigFile } from '../config/load.ts';
import { generateMasterKey } from '../crypto/master-key.ts';
import { tokenEndpoint } from '../identity/tokens/endpoints.ts';
import { createTokenIssuer } from '../identity/tokens/issuer.ts';
import { basicAuth, startEndpointServer, testIdentityConfig } from '../identity/tokens/test-support.ts';
import { RecordingSecurityEvents } from '../observe/events.ts';
import { openConfiguredStores } from '../storage/configured.ts';
import { runCliInProcess, type CliRun } from './in-process.testkit.ts';
import { registerOAuthClientCommands } from './oauth-client-commands.ts';

let dir: string;
let configFile: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rampart-clients-cli-'));
  configFile = join(dir, 'rampart.yaml');
  writeFileSync(
    configFile,
    [
      'mode: development',
      'listen: { host: 127.0.0.1, port: 0 }',
      'admin: false',
      'storage: sqlite:./data/rampart.db',
      `keyring: { masterKey: "${generateMasterKey()}" }`,
      'routes:',
      '  - id: health',
      '    match: { path: /health, methods: [GET] }',
      '    upstream: http://127.0.0.1:9',
      '    public: true',
      '',
    ].join('\n'),
  );
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

afterEach(() => {
  vi.restoreAllMocks();
  process.exitCode = undefined;
});

/** Runs `rampart …` in process; answers what it printed and its exit code. */
function rampart(...args: string[]): Promise<CliRun> {
  return runCliInProcess(registerOAuthClientCommands, ...args);
}

/** Runs the client-credentials grant against the token endpoint over the config's store; answers the status. */
async function tokenStatus(clientId: string, secret: string): Promise<number> {
  const loaded = loadConfigFile(configFile);
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
  const opened = await openConfiguredStores(loaded.config);
  const deps = { config: testIdentityConfig(), stores: opened.stores, pepper: opened.pepper, logger: pino({ level: 'silent' }), events: new RecordingSecurityEvents(), now: Date.now };
  const issuer = await createTokenIssuer(deps);
  const server = await startEndpointServer({ '/token': tokenEndpoint(deps, issuer) });
  try {
    const response = await fetch(`${server.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basicAuth(clientId, secret) },
      body: 'grant_type=client_credentials',
    });
    return response.status;
  } finally {
    await server.close();
    await issuer.close();
    await opened.stores.close();
  }
}

describe('rampart clients', () => {
  let secret = '';

  it('adds a client and prints its secret once; the store holds only its hash', async () => {
    const run = await rampart('clients', 'add', 'reporting', '--roles', 'reporter', '--scopes', 'orders:read,orders:export', '--tenant', 'acme', '-c', configFile);
    expect(run.code).toBe(0);
    secret = run.stdout.split('\n')[0]!;
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(run.stdout).toContain('shown once');
    expect(await tokenStatus('reporting', secret)).toBe(200);
    const files = readdirSync(join(dir, 'data')).filter((name) => name.startsWith('rampart.db'));
    const raw = Buffer.concat(files.map((name) => readFileSync(join(dir, 'data', name))));
    expect(raw.includes(Buffer.from('reporting'))).toBe(true);
    expect(raw.includes(Buffer.from(secret))).toBe(false);
  });

  it('refuses a duplicate id and bad arguments with one line and the right exit code', async () => {
    const duplicate = await rampart('clients', 'add', 'reporting', '-c', configFile);
    expect(duplicate.code).toBe(1);
    expect(duplicate.stderr).toContain('already exists');
    expect((await rampart('clients', 'add', 'bad:id', '-c', configFile)).code).toBe(2);
    expect((await rampart('clients', 'add', 'rampart', '-c', configFile)).code).toBe(2);
    expect((await rampart('clients', 'add', 'ok-id', '--roles', 'a,b c', '-c', configFile)).code).toBe(2);
    expect((await rampart('clients', 'add', 'ok-id', '--scopes', 'x"y', '-c', configFile)).code).toBe(2);
    expect((await rampart('clients', 'disable', 'nobody', '-c', configFile)).code).toBe(1);
  });

  it('lists clients without secrets or hashes', async () => {
    const json = await rampart('clients', 'list', '--json', '-c', configFile);
    expect(json.code).toBe(0);
    const list = JSON.parse(json.stdout) as Array<Record<string, unknown>>;
    expect(list).toEqual([
      { clientId: 'reporting', name: 'reporting', roles: ['reporter'], scopes: ['orders:read', 'orders:export'], tenant: 'acme', status: 'enabled', createdAt: expect.any(String) },
    ]);
    const table = await rampart('clients', 'list', '-c', configFile);
    expect(table.stdout).toMatch(/^CLIENT ID\s+ROLES\s+SCOPES\s+TENANT\s+STATUS\s+CREATED\nreporting\s+reporter\s+orders:read,orders:export\s+acme\s+enabled\s+/);
    for (const output of [json.stdout, table.stdout]) {
      expect(output).not.toContain(secret);
      expect(output).not.toMatch(/[0-9a-f]{64}/);
    }
  });

  it('rotates the secret: the new one works, the old one no longer does', async () => {
    const run = await rampart('clients', 'rotate-secret', 'reporting', '-c', configFile);
    expect(run.code).toBe(0);
    const rotated = run.stdout.split('\n')[0]!;
    expect(rotated).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(rotated).not.toBe(secret);
    expect(await tokenStatus('reporting', secret)).toBe(401);
    expect(await tokenStatus('reporting', rotated)).toBe(200);
    secret = rotated;
  });

  it('disables and enables a client', async () => {
    expect((await rampart('clients', 'disable', 'reporting', '-c', configFile)).stdout).toContain('disabled OAuth client reporting');
    expect(await tokenStatus('reporting', secret)).toBe(401);
    expect((await rampart('clients', 'list', '--json', '-c', configFile)).stdout).toContain('"status": "disabled"');
    expect((await rampart('clients', 'enable', 'reporting', '-c', configFile)).code).toBe(0);
    expect(await tokenStatus('reporting', secret)).toBe(200);
  });

  it('lists the readable clients when one row is damaged, names it on stderr and exits 1 (table and --json)', async () => {
    expect((await rampart('clients', 'add', 'batch-a', '--scopes', 'orders:read', '-c', configFile)).code).toBe(0);
    expect((await rampart('clients', 'add', 'batch-b', '--scopes', 'orders:read', '-c', configFile)).code).toBe(0);
    const raw = new Database(join(dir, 'data', 'rampart.db'));
    raw.prepare("UPDATE oauth_clients SET scopes = '{\"orders:read\":true}' WHERE client_id = 'batch-a'").run();
    raw.close();

    const json = await rampart('clients', 'list', '--json', '-c', configFile);
    expect(json.code).toBe(1);
    expect((JSON.parse(json.stdout) as Array<{ clientId: string }>).map((c) => c.clientId)).toEqual(['reporting', 'batch-b']);
    expect(json.stderr).toBe('damaged record: oauth_clients "batch-a": column scopes is not a list of strings\n');
    const table = await rampart('clients', 'list', '-c', configFile);
    expect(table.code).toBe(1);
    expect(table.stdout.trimEnd().split('\n').slice(1).map((line) => line.split(/\s+/)[0])).toEqual(['reporting', 'batch-b']);
    expect(table.stderr).toBe(json.stderr);
    // The other commands still work on the readable clients.
    expect(await tokenStatus('reporting', secret)).toBe(200);
  });
});
