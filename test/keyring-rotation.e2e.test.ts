/**
 * Issue 7 "Must show": master-key rotation while requests run, with zero failures.
 *
 * A real gateway on a temp SQLite store (stores from `openConfiguredStores`, as `rampart gateway` opens them) serves
 * routes that need stored credentials: an api-key route (keyed hash under the pepper), client credentials and password
 * logins with refresh-token rotation at the identity provider (hashes under the pepper, writes to the store), while
 * `rampart keyring rotate` runs in a child process (bin/rampart.js) against the same file. No request fails. The
 * running gateway keeps serving afterwards (and seals a new TOTP seed with the data key it holds). Then a fresh open
 * with the NEW key reads everything (API keys verify with the same pepper, TOTP seeds open: a TOTP login succeeds
 * through a new gateway), and the OLD key is refused with an error naming the store, by the stores and by the gateway.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { hashSecret } from '../src/crypto/hashing.ts';
import { generateMasterKey } from '../src/crypto/master-key.ts';
import { hashPassword } from '../src/crypto/passwords.ts';
import { decodeTotpSecret, generateTotpCode } from '../src/identity/mfa/totp.ts';
import { generateApiKey } from '../src/policies/api-key/keys.ts';
import { openConfiguredStores, type ConfiguredStores } from '../src/storage/configured.ts';
import { loadTestConfig, startRecordingUpstream, startTestGateway, tempDir, type RecordingUpstream, type TestGateway } from './helpers.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'rampart.js');
vi.setConfig({ testTimeout: 240_000, hookTimeout: 60_000 });

const PASSWORD = 'correct horse battery staple 42';
const CLIENT_SECRET = 'billing-secret-0123456789abcdef-0123456789';
/** Requests each worker makes after the rotation committed, before the run stops (a count, not a duration). */
const AFTER_ROTATION = 15;

interface Tally {
  ok: number;
  failed: string[];
}

describe('master-key rotation under load', () => {
  const dir = tempDir();
  const db = join(dir, 'rampart.db');
  const oldKey = generateMasterKey();
  const newKey = generateMasterKey();
  let upstream: RecordingUpstream;
  const cleanup: Array<() => Promise<unknown>> = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  });

  const documentWith = (masterKey: string) => ({
    storage: `sqlite:${db}`,
    keyring: { masterKey },
    identity: { issuer: 'https://rampart.test', accessTokenTtl: '10m' },
    routes: [
      { id: 'auth', match: { path: '/auth/**' }, upstream: 'rampart:identity', public: true },
      { id: 'api', match: { path: '/api/**' }, upstream: upstream.url, authenticate: ['api-key'] },
    ],
  });

  it('rotates with zero failed requests; the new key reads everything; the old key is refused', async () => {
    upstream = await startRecordingUpstream();
    cleanup.push(() => upstream.close());
    // The config file the operator's `rampart keyring rotate` reads: the same store, the key from the environment.
    const configFile = join(dir, 'rampart.json');
    writeFileSync(
      configFile,
      JSON.stringify({ ...documentWith('${env:RAMPART_MASTER_KEY}'), mode: 'development', listen: { host: '127.0.0.1', port: 0 }, admin: false }),
    );

    // --- the store and a gateway on it, opened with the OLD key --------------------------------------------------
    const opened: ConfiguredStores = await openConfiguredStores(loadTestConfig(documentWith(oldKey)));
    cleanup.push(() => opened.stores.close());
    const ids = opened.stores.identities;
    const now = Date.now();
    const passwordHash = await hashPassword(PASSWORD);
    await ids.createUser({ username: 'alice', passwordHash, roles: ['customer'], createdAt: now });
    const bob = await ids.createUser({ username: 'bob', passwordHash, roles: ['customer'], createdAt: now });
    const bobSeed = Buffer.from('0123456789abcdefghij');
    await ids.setTotpSecret(bob.id, bobSeed, now);
    await ids.confirmTotp(bob.id, now);
    await ids.createOAuthClient({ clientId: 'billing-job', secretHash: hashSecret(CLIENT_SECRET, opened.pepper), name: 'billing', roles: ['billing'], scopes: ['orders:read'], createdAt: now });
    const consumer = await ids.createConsumer({ name: 'reporting', roles: ['customer'], createdAt: now });
    const apiKeys: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { key, recordPrefix } = generateApiKey();
      await ids.createApiKey({ consumerId: consumer.id, prefix: recordPrefix, hash: hashSecret(key, opened.pepper), scopes: null, expiresAt: null, createdAt: now });
      apiKeys.push(key);
    }
    const pepperBefore = Buffer.from(opened.pepper);

    const gw: TestGateway = await startTestGateway(documentWith(oldKey), { stores: opened });
    cleanup.push(() => gw.close());
    const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
      fetch(`${gw.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
    const form = (base: string, fields: Record<string, string>, headers: Record<string, string> = {}) =>
      fetch(`${base}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(fields).toString() });

    // Bob's TOTP seed opens through the running gateway before the rotation (code of the previous step).
    const mfaLogin = async (base: string, offsetSteps: number) => {
      const challenge = (await (await fetch(`${base}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'bob', password: PASSWORD }) })).json()) as {
        mfa_required?: boolean;
        mfa_token: string;
      };
      expect(challenge.mfa_required).toBe(true);
      const code = await generateTotpCode(bobSeed, Date.now() + offsetSteps * 30_000);
      return fetch(`${base}/auth/mfa/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mfa_token: challenge.mfa_token, code }) });
    };
    expect((await mfaLogin(gw.url, -1)).status).toBe(200);

    // --- continuous requests while `rampart keyring rotate` runs in another process ------------------------------
    let phase: 'before' | 'during' | 'after' = 'before';
    let stop = false;
    const tallies = { before: { ok: 0, failed: [] as string[] }, during: { ok: 0, failed: [] as string[] }, after: { ok: 0, failed: [] as string[] } };
    const afterCounts: number[] = [];
    const record = (ok: boolean, what: string) => {
      const tally: Tally = tallies[phase];
      if (ok) tally.ok++;
      else tally.failed.push(what);
    };
    const worker = async (index: number, request: () => Promise<[boolean, string]>) => {
      afterCounts[index] = 0;
      while (!stop) {
        const wasAfter = phase === 'after';
        try {
          const [ok, what] = await request();
          record(ok, what);
        } catch (error) {
          record(false, `network: ${(error as Error).message}`);
        }
        if (wasAfter) afterCounts[index]!++;
      }
    };
    const apiKeyRequest = (key: string) => async (): Promise<[boolean, string]> => {
      const res = await fetch(`${gw.url}/api/reports`, { headers: { 'x-api-key': key } });
      await res.arrayBuffer();
      return [res.status === 200, `api-key ${res.status}`];
    };
    const clientCredentials = async (): Promise<[boolean, string]> => {
      const res = await form(gw.url, { grant_type: 'client_credentials' }, { authorization: `Basic ${Buffer.from(`billing-job:${CLIENT_SECRET}`).toString('base64')}` });
      await res.arrayBuffer();
      return [res.status === 200, `client_credentials ${res.status}`];
    };
    const loginAndRefresh = async (): Promise<[boolean, string]> => {
      const login = await post('/auth/login', { username: 'alice', password: PASSWORD });
      if (login.status !== 200) return [false, `login ${login.status}`];
      const { refresh_token } = (await login.json()) as { refresh_token: string };
      const refreshed = await form(gw.url, { grant_type: 'refresh_token', refresh_token });
      await refreshed.arrayBuffer();
      return [refreshed.status === 200, `refresh ${refreshed.status}`];
    };
    const workers = [
      ...apiKeys.map((key, index) => worker(index, apiKeyRequest(key))),
      worker(3, clientCredentials),
      worker(4, loginAndRefresh),
    ];
    const workerCount = workers.length;
    // Wait until every kind of request has succeeded at least once (counts, not time).
    while (tallies.before.ok < 3 * workerCount) await new Promise((resolve) => setImmediate(resolve));

    phase = 'during';
    const rotation = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, 'keyring', 'rotate', '-c', configFile, '--new-key-env', 'RAMPART_NEW_MASTER_KEY'], {
        cwd: ROOT,
        env: { ...process.env, NO_COLOR: '1', RAMPART_MASTER_KEY: oldKey, RAMPART_NEW_MASTER_KEY: newKey },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    phase = 'after';
    expect(rotation.stderr).toBe('');
    expect(rotation.code).toBe(0);
    expect(rotation.stdout).toContain(`sqlite:${db}: re-wrapped 4 key ring entries under the new master key`);
    while (afterCounts.length < workerCount || afterCounts.some((count) => count < AFTER_ROTATION)) await new Promise((resolve) => setImmediate(resolve));
    stop = true;
    await Promise.all(workers);

    // Zero failures, before, during and after; requests were served all through the rotation.
    expect(tallies.before.failed).toEqual([]);
    expect(tallies.during.failed).toEqual([]);
    expect(tallies.after.failed).toEqual([]);
    expect(tallies.during.ok).toBeGreaterThan(workerCount);
    expect(tallies.after.ok).toBeGreaterThanOrEqual(AFTER_ROTATION * workerCount);

    // The running gateway still seals and opens with the keys it holds: alice enrols TOTP now.
    const login = (await (await post('/auth/login', { username: 'alice', password: PASSWORD })).json()) as { access_token: string };
    const enrol = await post('/auth/mfa/totp/enroll', {}, { authorization: `Bearer ${login.access_token}` });
    expect(enrol.status).toBe(200);
    const aliceSeed = decodeTotpSecret(new URL(((await enrol.json()) as { otpauth_uri: string }).otpauth_uri).searchParams.get('secret')!);
    await gw.close();
    await opened.stores.close();

    // --- a fresh open with the NEW key reads everything ----------------------------------------------------------
    const reopened = await openConfiguredStores(loadTestConfig(documentWith(newKey)));
    cleanup.push(() => reopened.stores.close());
    expect(reopened.pepper.equals(pepperBefore)).toBe(true);
    expect(Buffer.from((await reopened.stores.identities.getTotp(bob.id))!.secret).equals(bobSeed)).toBe(true);
    const alice = await reopened.stores.identities.findUserByUsername('alice');
    expect(Buffer.from((await reopened.stores.identities.getTotp(alice!.id))!.secret).equals(Buffer.from(aliceSeed))).toBe(true);
    const signingKeys = await reopened.stores.identities.listSigningKeys();
    expect(signingKeys.length).toBeGreaterThan(0);
    for (const key of signingKeys) expect(await reopened.stores.identities.getSigningKeyPrivateJwk(key.kid)).toMatchObject({ kty: 'EC', d: expect.any(String) });

    const fresh = await startTestGateway(documentWith(newKey), { stores: reopened });
    cleanup.push(() => fresh.close());
    for (const key of apiKeys) expect((await fetch(`${fresh.url}/api/reports`, { headers: { 'x-api-key': key } })).status).toBe(200);
    // Bob's TOTP login through the new gateway: the seed opens under the new master key (next step's code).
    expect((await mfaLogin(fresh.url, 1)).status).toBe(200);
    await fresh.close();
    await reopened.stores.close();

    // --- the OLD key is refused, naming the store --------------------------------------------------------------------
    const refusal = `store sqlite:${db}: keyring.masterKey is not the key that wraps this store's key ring`;
    await expect(openConfiguredStores(loadTestConfig(documentWith(oldKey)))).rejects.toThrow(refusal);
    await expect(startTestGateway(documentWith(oldKey))).rejects.toThrow(refusal);
  });
});
