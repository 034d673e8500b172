/**
 * `rampart secrets set | list | delete` as an operator runs them: the real bin (bin/rampart.js), one process per
 * command, against a SQLite file in a temp directory. The value comes from standard input or --from-file, never an
 * argument, and is never printed (not by `secrets list`, not by `config check --json`, not in an error); a raw read
 * of the database files finds no plaintext; after `rampart keyring rotate` the secret resolves with the new master
 * key and the old one is refused naming the store.
 */
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import { loadConfigFile } from '../src/config/load.ts';
import { generateMasterKey } from '../src/crypto/master-key.ts';
import { tempDir } from './helpers.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'rampart.js');
/** Each process compiles TypeScript through tsx: seconds on a cold cache, more while other suites compete for CPU. */
const PROCESS_TIMEOUT_MS = 60_000;
vi.setConfig({ testTimeout: 240_000 });
const STACK_FRAME = /^\s+at /m;

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function rampart(args: string[], env: Record<string, string>, input?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, [BIN, ...args], { cwd: ROOT, timeout: PROCESS_TIMEOUT_MS, env: { ...process.env, NO_COLOR: '1', ...env } }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') {
        reject(new Error(`rampart ${args.join(' ')} did not exit normally (${error.signal ?? error.code}): ${stderr}`));
        return;
      }
      if (STACK_FRAME.test(stderr)) {
        reject(new Error(`rampart ${args.join(' ')} printed a stack trace: ${stderr}`));
        return;
      }
      resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
    });
    child.stdin!.end(input ?? '');
  });
}

/** Every file SQLite keeps for the database, as raw bytes (no process has it open now). */
function rawDatabaseBytes(dir: string): Buffer {
  return Buffer.concat(readdirSync(dir).filter((name) => name.startsWith('rampart.db') && !name.endsWith('.master-key')).map((name) => readFileSync(join(dir, name))));
}

describe('rampart secrets', () => {
  it('set from stdin and from a file, list without values, use in config, survive master-key rotation, delete', async () => {
    const dir = tempDir();
    const oldKey = generateMasterKey();
    const newKey = generateMasterKey();
    const hook = 'hook-from-stdin-5c1e0a9b8d7f6e5d4c3b2a1908f7e6d5';
    const token = 'upstream-token-from-file-0f1e2d3c4b5a69788796a5b4';
    const config = join(dir, 'rampart.yaml');
    writeFileSync(
      config,
      [
        'listen: { host: 127.0.0.1, port: 0, http: refuse }',
        'admin: false',
        'storage: sqlite:./rampart.db',
        'keyring: { masterKey: "${env:MK}" }',
        'alerts: [{ webhook: "http://127.0.0.1:9/hook", secret: "${secret:hook}" }]',
        'issuers:',
        '  partner: { issuer: "https://partner.test", audiences: [api], algorithms: [HS256], keys: [{ kid: k1, alg: HS256, secret: "${secret:partner.jwt}" }] }',
        'routes:',
        '  - { id: who, match: { path: /who }, upstream: "http://127.0.0.1:9", authenticate: [{ jwt: partner }] }',
        '',
      ].join('\n'),
    );
    const tokenFile = join(dir, 'token.txt');
    writeFileSync(tokenFile, `${token}\n`);

    const set = await rampart(['secrets', 'set', 'hook', '-c', config], { MK: oldKey }, `${hook}\n`);
    expect(set).toMatchObject({ code: 0, stderr: '' });
    expect(set.stdout).toBe(`secret "hook" created in sqlite:${join(dir, 'rampart.db')}; reference it as \${secret:hook}\n`);
    const fromFile = await rampart(['secrets', 'set', 'partner.jwt', '-c', config, '--from-file', tokenFile], { MK: oldKey });
    expect(fromFile.code).toBe(0);
    const list = await rampart(['secrets', 'list', '-c', config, '--json'], { MK: oldKey });
    expect(list.code).toBe(0);
    expect((JSON.parse(list.stdout) as Array<{ name: string }>).map((entry) => entry.name)).toEqual(['hook', 'partner.jwt']);
    expect(JSON.parse(list.stdout)[0]).toEqual({ name: 'hook', createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/), updatedAt: expect.any(String) });
    for (const run of [set, fromFile, list]) expect(run.stdout + run.stderr).not.toMatch(new RegExp(`${hook}|${token}`));

    const raw = rawDatabaseBytes(dir);
    for (const value of [hook, token]) {
      for (const spelling of [value, Buffer.from(value).toString('hex'), Buffer.from(value).toString('base64')]) expect(raw.includes(Buffer.from(spelling))).toBe(false);
    }

    const loaded = loadConfigFile(config, { env: { MK: oldKey } });
    if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
    expect((loaded.config.document.alerts as Array<{ secret: string }>)[0]!.secret).toBe(hook);
    const jwt = loaded.config.routes[0]!.policies.find((policy) => policy.definition.name === 'jwt')!;
    expect((jwt.config as { keys: Array<{ secret: string }> }).keys[0]!.secret).toBe(token);

    // `config check --json` prints neither value, also when the config is refused for another reason.
    const broken = join(dir, 'broken.yaml');
    writeFileSync(broken, readFileSync(config, 'utf8').replace('http: refuse }', 'http: refuse, tls: { cert: "${secret:hook}", key: "${secret:partner.jwt}" } }'));
    const check = await rampart(['config', 'check', '--json', broken], { MK: oldKey });
    expect(check.code).toBe(1);
    const report = JSON.parse(check.stdout) as { ok: boolean; errors: string[] };
    expect(report.errors).toContain('listen.tls.cert: file not found: ${secret:hook}');
    expect(report.errors).toContain('listen.tls.key: file not found: ${secret:partner.jwt}');
    expect(check.stdout + check.stderr).not.toMatch(new RegExp(`${hook}|${token}`));

    const rotate = await rampart(['keyring', 'rotate', '-c', config, '--new-key-env', 'NEW_MK'], { MK: oldKey, NEW_MK: newKey });
    expect(rotate.code, rotate.stderr).toBe(0);
    const afterRotation = loadConfigFile(config, { env: { MK: newKey } });
    if (!afterRotation.ok) throw new Error(afterRotation.errors.join('\n'));
    expect((afterRotation.config.document.alerts as Array<{ secret: string }>)[0]!.secret).toBe(hook);
    const stale = loadConfigFile(config, { env: { MK: oldKey } });
    expect(stale.ok).toBe(false);
    expect(!stale.ok && stale.errors[0]).toBe(
      `alerts[0].secret: secret "hook" cannot be read: store sqlite:${join(dir, 'rampart.db')}: keyring.masterKey is not the key that wraps this store's key ring (a wrong master key, or the ring was re-wrapped with \`rampart keyring rotate\` and this configuration still names the old one); nothing was read or changed`,
    );

    const deleted = await rampart(['secrets', 'delete', 'hook', '-c', config], { MK: newKey });
    expect(deleted.code).toBe(0);
    expect(deleted.stdout).toBe('secret "hook" deleted\n');
    expect(deleted.stderr).toContain('still references ${secret:hook}');
    const gone = loadConfigFile(config, { env: { MK: newKey } });
    expect(!gone.ok && gone.errors[0]).toBe(`alerts[0].secret: secret "hook" is not in the store sqlite:${join(dir, 'rampart.db')} (add it with rampart secrets set hook)`);
  });

  it('refuses bad input with usage errors, never a value from an argument', async () => {
    const dir = tempDir();
    const config = join(dir, 'rampart.yaml');
    writeFileSync(config, 'mode: development\nlisten: { host: 127.0.0.1, port: 0 }\nroutes: []\n');
    // Bad name, oversized stdin, a value given as an extra argument: each exits 2 and writes nothing.
    const cases: Array<[string[], string, RegExp]> = [
      [['secrets', 'set', 'a/b', '-c', config], 'value', /NAME: 1 to 128 characters/],
      [['secrets', 'set', 'ok', '-c', config], 'x'.repeat(64 * 1024 + 1), /standard input: the value is larger than 64 KiB/],
      [['secrets', 'set', 'ok', 'the-value-as-argument', '-c', config], '', /too many arguments/],
    ];
    for (const [args, input, message] of cases) {
      const run = await rampart(args, {}, input);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr).toMatch(message);
      expect(run.stderr).not.toContain('the-value-as-argument');
    }
    expect(readdirSync(dir)).toEqual(['rampart.yaml']);
  });
});
