/**
 * `rampart privacy export|erase` run in process over a real SQLite store named by a real config file, with a damaged
 * row of the subject: the export is valid JSON with the damaged record under `damaged` and a warning on standard
 * error; the erasure names the damaged record in its output, dry run and --yes alike. Both exit 0: the request was
 * answered, damaged records included. (test/privacy-subject.e2e.test.ts runs the commands end to end.)
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { generateMasterKey, parseMasterKey } from '../crypto/master-key.ts';
import { openStores } from '../storage/index.ts';
import { runCliInProcess, type CliRun } from './in-process.testkit.ts';
import { registerPrivacyCommands } from './privacy-commands.ts';

const T0 = Date.UTC(2030, 0, 1);
let dir: string;
let configFile: string;
let database: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rampart-privacy-cli-'));
  database = join(dir, 'rampart.db');
  const masterKey = generateMasterKey();
  configFile = join(dir, 'rampart.json');
  writeFileSync(configFile, JSON.stringify({ mode: 'development', listen: { host: '127.0.0.1', port: 0 }, admin: false, storage: `sqlite:${database}`, keyring: { masterKey }, routes: [] }));
  const stores = openStores(`sqlite:${database}`, { masterKey: parseMasterKey(masterKey) });
  await stores.identities.createUser({ id: 'usr_alice', username: 'alice', passwordHash: 'h', roles: [], createdAt: T0 });
  for (const [n, id] of ['w1', 'w2'].entries()) {
    await stores.identities.addWebAuthnCredential({ id, userId: 'usr_alice', publicKey: new Uint8Array([n + 1]), counter: 0, transports: ['usb'], createdAt: T0 + n });
  }
  await stores.close();
  const raw = new Database(database);
  raw.prepare("UPDATE webauthn_credentials SET transports = '{oops' WHERE id = 'w2'").run();
  raw.close();
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

afterEach(() => {
  vi.restoreAllMocks();
  process.exitCode = undefined;
});

/** Runs `rampart …` in process; answers what it printed and its exit code. */
function rampart(...args: string[]): Promise<CliRun> {
  return runCliInProcess(registerPrivacyCommands, ...args);
}

const LINE = 'damaged record: webauthn_credentials "w2": column transports is not valid JSON';

describe('rampart privacy with a damaged row of the subject', () => {
  it('export: valid JSON with the readable passkey and the damaged one listed, a warning on stderr, exit 0', async () => {
    const run = await rampart('privacy', 'export', '--subject', 'alice', '-c', configFile);
    expect(run.code).toBe(0);
    const exported = JSON.parse(run.stdout) as { damaged: unknown[]; identity: { user: { webauthnCredentials: Array<{ id: string }> } } };
    expect(exported.identity.user.webauthnCredentials.map((p) => p.id)).toEqual(['w1']);
    expect(exported.damaged).toEqual([{ table: 'webauthn_credentials', id: 'w2', reason: 'column transports is not valid JSON' }]);
    expect(run.stderr).toContain(`warning: ${LINE} (listed under "damaged" in the export)`);
  });

  it('erase: the dry run and --yes name the damaged record and erase it with the rest', async () => {
    const dry = await rampart('privacy', 'erase', '--subject', 'alice', '-c', configFile);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain(`${LINE} (unreadable; counted above and would be erased all the same)`);
    const applied = await rampart('privacy', 'erase', '--subject', 'usr_alice', '--yes', '-c', configFile);
    expect(applied.code).toBe(0);
    expect(applied.stdout).toContain(`${LINE} (unreadable; counted above and erased all the same)`);
    const raw = new Database(database, { readonly: true });
    expect(raw.prepare('SELECT count(*) AS n FROM webauthn_credentials').get()).toEqual({ n: 0 });
    raw.close();
  });
});
