import { spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deriveSecretPepper, hashSecret } from '../../crypto/hashing.ts';
import { generateMasterKey, parseMasterKey } from '../../crypto/master-key.ts';
import { hashPassword } from '../../crypto/passwords.ts';
import { describeStoreContract } from '../contract.testkit.ts';
import { StoreConfigError, StoreCorruptError, StoreSchemaError } from '../ports.ts';
import { LATEST_SCHEMA_VERSION, MIGRATIONS, migrate, openSqliteStores } from './index.ts';

const T0 = 1_750_000_000_000;
const scratch = mkdtempSync(join(tmpdir(), 'rampart-sqlite-'));
let fileCounter = 0;
const nextPath = (): string => join(scratch, `store-${(fileCounter += 1)}.db`);

afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

describeStoreContract('sqlite file', async (masterKey) => {
  const path = nextPath();
  const stores = openSqliteStores(path, { masterKey });
  return {
    stores,
    cleanup: async () => {
      await stores.close();
      for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true });
    },
  };
});

describeStoreContract('sqlite :memory:', async (masterKey) => {
  const stores = openSqliteStores(':memory:', { masterKey });
  return { stores, cleanup: () => stores.close() };
});

/** Every file of the database (main, WAL, shared memory) that exists, as raw bytes. */
function rawFiles(path: string): Buffer[] {
  return ['', '-wal', '-shm'].filter((suffix) => existsSync(path + suffix)).map((suffix) => readFileSync(path + suffix));
}

function base32(bytes: Buffer): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out;
}

/**
 * The forms a leaked secret could take in the file: its bytes, hex (both cases), base32, and
 * base64/base64url at each of the three alignments it could have inside a longer encoded string
 * (only the middle characters, which do not depend on neighbouring bytes).
 */
function encodingsOf(secret: Buffer): string[] {
  const forms = [secret.toString('latin1'), secret.toString('hex'), secret.toString('hex').toUpperCase(), base32(secret)];
  for (let shift = 0; shift < 3; shift += 1) {
    const shifted = Buffer.concat([Buffer.alloc(shift), secret]);
    for (const encoding of ['base64', 'base64url'] as const) {
      const text = shifted.toString(encoding).replace(/=+$/, '');
      forms.push(text.slice(Math.ceil((shift * 4) / 3) + 1, -2));
    }
  }
  return forms;
}

function findLeaks(files: readonly Buffer[], secrets: Record<string, Buffer>): string[] {
  const leaks: string[] = [];
  for (const [name, secret] of Object.entries(secrets)) {
    for (const form of encodingsOf(secret)) {
      if (files.some((file) => file.includes(Buffer.from(form, 'latin1')))) leaks.push(`${name} as "${form.slice(0, 12)}…"`);
    }
  }
  return leaks;
}

describe('sqlite: no secret at rest in plaintext (raw file read)', () => {
  const path = nextPath();
  const masterKey = parseMasterKey(generateMasterKey());
  const pepper = deriveSecretPepper(masterKey);
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const privateJwk = privateKey.export({ format: 'jwk' });
  const secrets = {
    password: Buffer.from('PW-MARKER-correct-horse-battery-9431'),
    apiKeySecret: Buffer.from('APIKEY-MARKER-4f9a2c7e1b3d5f7a9c'),
    sessionId: Buffer.from('SESSION-MARKER-8b1d3f5a7c9e2b4d6f'),
    csrfToken: Buffer.from('CSRF-MARKER-1a2b3c4d5e6f7a8b9c0d'),
    refreshToken: Buffer.from('REFRESH-MARKER-0e2c4a6b8d1f3a5c7e'),
    rotatedRefreshToken: Buffer.from('REFRESH-MARKER-ROTATED-5b7d9f1a3c'),
    totpSecret: Buffer.from('TOTP-MARKER-20-bytes!'),
    recoveryCode: Buffer.from('RECOVERY-MARKER-7c1e-3a5b-9d2f'),
    clientSecret: Buffer.from('CLIENT-SECRET-MARKER-6e8a0c2e4a6c'),
    signingKeyD: Buffer.from(privateJwk.d ?? '', 'utf8'),
    signingKeyDBytes: Buffer.from(privateJwk.d ?? '', 'base64url'),
  };
  const text = (name: keyof typeof secrets): string => secrets[name].toString('utf8');
  const hashOf = (value: string): string => hashSecret(value, pepper);
  let whileOpen: Buffer[] = [];

  beforeAll(async () => {
    const stores = openSqliteStores(path, { masterKey });
    const user = await stores.identities.createUser({
      username: 'alice',
      passwordHash: await hashPassword(text('password')),
      roles: ['user'],
      createdAt: T0,
    });
    const consumer = await stores.identities.createConsumer({ name: 'billing', roles: ['reader'], createdAt: T0 });
    await stores.identities.createApiKey({
      consumerId: consumer.id,
      prefix: 'rk_live_AbCd1234',
      hash: hashOf(`rk_live_AbCd1234_${text('apiKeySecret')}`),
      scopes: null,
      expiresAt: null,
      createdAt: T0,
    });
    await stores.sessions.createSession({
      idHash: hashOf(text('sessionId')),
      userId: user.id,
      createdAt: T0,
      absoluteExpiresAt: T0 + 3600_000,
      idleTimeoutMs: 600_000,
      amr: ['pwd', 'otp'],
      csrfTokenHash: hashOf(text('csrfToken')),
    });
    await stores.sessions.createRefreshFamily({
      subject: user.id,
      scopes: ['openid'],
      amr: ['pwd'],
      authTime: T0,
      createdAt: T0,
      expiresAt: T0 + 86_400_000,
      tokenHash: hashOf(text('refreshToken')),
    });
    await stores.sessions.rotateRefreshToken(hashOf(text('refreshToken')), hashOf(text('rotatedRefreshToken')), T0 + 1);
    await stores.identities.setTotpSecret(user.id, secrets.totpSecret, T0);
    await stores.identities.replaceRecoveryCodes(user.id, [hashOf(text('recoveryCode'))], T0);
    await stores.identities.createOAuthClient({
      clientId: 'reporting',
      secretHash: hashOf(text('clientSecret')),
      name: 'Reporting',
      roles: [],
      scopes: ['orders:read'],
      createdAt: T0,
    });
    await stores.identities.addSigningKey({
      kid: 'k1',
      alg: 'ES256',
      privateJwk: { ...privateJwk },
      publicJwk: { kty: privateJwk.kty, crv: privateJwk.crv, x: privateJwk.x, y: privateJwk.y },
      createdAt: T0,
      activatedAt: T0,
    });
    // Everything is still readable through the store.
    expect((await stores.identities.getTotp(user.id))?.secret).toEqual(secrets.totpSecret);
    expect((await stores.identities.getSigningKeyPrivateJwk('k1'))?.['d']).toBe(privateJwk.d);
    whileOpen = rawFiles(path);
    await stores.close();
  });

  it('finds the markers it looks for when they are there (the search works)', () => {
    const planted = Buffer.concat([Buffer.from('xx'), Buffer.from(secrets.totpSecret.toString('base64url')), Buffer.from('yy')]);
    expect(findLeaks([planted], { totpSecret: secrets.totpSecret })).not.toEqual([]);
    const plantedShifted = Buffer.from(Buffer.concat([Buffer.from('z'), secrets.totpSecret]).toString('base64'));
    expect(findLeaks([plantedShifted], { totpSecret: secrets.totpSecret })).not.toEqual([]);
    expect(findLeaks([Buffer.from(base32(secrets.totpSecret))], { totpSecret: secrets.totpSecret })).not.toEqual([]);
  });

  it('writes the database and its WAL while open', () => {
    expect(whileOpen.length).toBeGreaterThanOrEqual(2);
    // The visible API key prefix is stored by design (it identifies the key); its secret part is not.
    expect(whileOpen.some((file) => file.includes(Buffer.from('rk_live_AbCd1234')))).toBe(true);
  });

  it('holds no secret in any encoding, neither while open (db + WAL) nor after close', () => {
    expect(findLeaks(whileOpen, secrets)).toEqual([]);
    const afterClose = rawFiles(path);
    expect(afterClose.length).toBeGreaterThanOrEqual(1);
    expect(findLeaks(afterClose, secrets)).toEqual([]);
  });
});

describe('sqlite: a sealed value moved to another record does not open', () => {
  it('refuses a TOTP ciphertext copied to another user with an error naming the record, not the value', async () => {
    const path = nextPath();
    const stores = openSqliteStores(path, { masterKey: parseMasterKey(generateMasterKey()) });
    const alice = await stores.identities.createUser({ id: 'usr_alice', username: 'alice', passwordHash: 'h', roles: [], createdAt: T0 });
    const bob = await stores.identities.createUser({ id: 'usr_bob', username: 'bob', passwordHash: 'h', roles: [], createdAt: T0 });
    const aliceSecret = randomBytes(20);
    await stores.identities.setTotpSecret(alice.id, aliceSecret, T0);
    await stores.identities.setTotpSecret(bob.id, randomBytes(20), T0);

    const raw = new Database(path);
    const { sealed_secret: sealed } = raw.prepare('SELECT sealed_secret FROM totp_secrets WHERE user_id = ?').get(alice.id) as { sealed_secret: string };
    raw.prepare('UPDATE totp_secrets SET sealed_secret = ? WHERE user_id = ?').run(sealed, bob.id);

    const error = await stores.identities.getTotp(bob.id).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(StoreCorruptError);
    expect(error).toMatchObject({ code: 'CORRUPT', table: 'totp_secrets', recordId: 'usr_bob' });
    const message = (error as Error).message;
    expect(message).toContain('totp_secrets');
    expect(message).toContain('usr_bob');
    expect(message).toMatch(/failed authentication/);
    expect(message).not.toContain(sealed);
    expect(message).not.toContain(aliceSecret.toString('hex'));
    expect(message).not.toContain(aliceSecret.toString('base64url'));
    // The rightful record still opens, and the store keeps working.
    expect((await stores.identities.getTotp(alice.id))?.secret).toEqual(aliceSecret);

    // Same for a private signing key moved under another kid.
    const jwk = { kty: 'oct', k: 'c2VjcmV0' };
    await stores.identities.addSigningKey({ kid: 'k1', alg: 'ES256', privateJwk: jwk, publicJwk: {}, createdAt: T0, activatedAt: T0 });
    await stores.identities.addSigningKey({ kid: 'k2', alg: 'ES256', privateJwk: jwk, publicJwk: {}, createdAt: T0, activatedAt: T0 });
    raw.prepare("UPDATE signing_keys SET sealed_private_jwk = (SELECT sealed_private_jwk FROM signing_keys WHERE kid = 'k1') WHERE kid = 'k2'").run();
    await expect(stores.identities.getSigningKeyPrivateJwk('k2')).rejects.toThrow(/signing_keys "k2"/);
    expect(await stores.identities.getSigningKeyPrivateJwk('k1')).toEqual(jwk);

    // Garbage and unparsable JSON columns are reported the same way.
    raw.prepare("UPDATE totp_secrets SET sealed_secret = 'not a sealed value' WHERE user_id = ?").run(alice.id);
    await expect(stores.identities.getTotp(alice.id)).rejects.toThrow(/totp_secrets "usr_alice" is unreadable: sealed value is malformed/);
    raw.prepare("UPDATE users SET roles = '{oops' WHERE id = ?").run(bob.id);
    await expect(stores.identities.getUser(bob.id)).rejects.toThrow(StoreCorruptError);
    raw.close();
    await stores.close();
  });

  it('refuses values sealed under another master key', async () => {
    const path = nextPath();
    const first = openSqliteStores(path, { masterKey: parseMasterKey(generateMasterKey()) });
    const user = await first.identities.createUser({ username: 'alice', passwordHash: 'h', roles: [], createdAt: T0 });
    await first.identities.setTotpSecret(user.id, randomBytes(20), T0);
    await first.close();
    // The key ring's master-key fingerprint refuses the open itself, naming the store (test/keyring*.test.ts go further).
    expect(() => openSqliteStores(path, { masterKey: parseMasterKey(generateMasterKey()) })).toThrow(
      `store sqlite:${path}: keyring.masterKey is not the key that wraps this store's key ring`,
    );
  });
});

describe('sqlite: opening, pragmas and migrations', () => {
  it('uses WAL, creates the file private to its owner, and applies migrations once', async () => {
    const path = nextPath();
    const masterKey = parseMasterKey(generateMasterKey());
    const stores = openSqliteStores(path, { masterKey });
    await stores.identities.createConsumer({ name: 'c', roles: [], createdAt: T0 });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const raw = new Database(path);
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    const rows = () => raw.prepare('SELECT version, name FROM schema_migrations').all();
    expect(rows()).toEqual(MIGRATIONS.map(({ version, name }) => ({ version, name })));
    await stores.close();

    const reopened = openSqliteStores(path, { masterKey });
    expect(rows()).toHaveLength(LATEST_SCHEMA_VERSION);
    expect(await reopened.identities.findConsumerByName('c')).toBeDefined();
    await reopened.close();
    expect(migrate(raw)).toEqual([]);
    raw.close();
  });

  it('refuses a database migrated by a newer Rampart and leaves it untouched', async () => {
    const path = nextPath();
    const masterKey = parseMasterKey(generateMasterKey());
    await openSqliteStores(path, { masterKey }).close();
    const raw = new Database(path);
    const next = LATEST_SCHEMA_VERSION + 1;
    const future = [...MIGRATIONS, { version: next, name: 'a future table', sql: 'CREATE TABLE future_things (id TEXT PRIMARY KEY) STRICT' }];
    expect(migrate(raw, future)).toEqual([next]);
    raw.close();

    expect(() => openSqliteStores(path, { masterKey })).toThrow(StoreSchemaError);
    expect(() => openSqliteStores(path, { masterKey })).toThrow(`schema version ${next} is newer than this Rampart supports (${LATEST_SCHEMA_VERSION})`);
    const check = new Database(path, { readonly: true });
    expect(check.prepare('SELECT max(version) AS v FROM schema_migrations').get()).toEqual({ v: next });
    check.close();
  });

  it('refuses a database whose applied migration differs from the shipped one', async () => {
    const path = nextPath();
    const masterKey = parseMasterKey(generateMasterKey());
    await openSqliteStores(path, { masterKey }).close();
    const raw = new Database(path);
    raw.prepare("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1").run();
    raw.close();
    expect(() => openSqliteStores(path, { masterKey })).toThrow(/migration 1 \("identities and sessions"\) differs/);
  });

  it('rolls a failing migration back completely', () => {
    const raw = new Database(':memory:');
    migrate(raw);
    const broken = [...MIGRATIONS, { version: LATEST_SCHEMA_VERSION + 1, name: 'half broken', sql: 'CREATE TABLE first_half (x INTEGER) STRICT; THIS IS NOT SQL;' }];
    expect(() => migrate(raw, broken)).toThrow();
    expect(raw.prepare("SELECT name FROM sqlite_master WHERE name = 'first_half'").get()).toBeUndefined();
    expect(raw.prepare('SELECT max(version) AS v FROM schema_migrations').get()).toEqual({ v: LATEST_SCHEMA_VERSION });
    raw.close();
  });

  it('reports unusable paths and files clearly', () => {
    const masterKey = parseMasterKey(generateMasterKey());
    expect(() => openSqliteStores(join(scratch, 'no-such-dir', 'x.db'), { masterKey })).toThrow(StoreConfigError);
    expect(() => openSqliteStores(join(scratch, 'no-such-dir', 'x.db'), { masterKey })).toThrow(/cannot create SQLite store file/);
    const notADatabase = join(scratch, 'garbage.db');
    writeFileSync(notADatabase, randomBytes(8192));
    expect(() => openSqliteStores(notADatabase, { masterKey })).toThrow(/cannot use SQLite store .*not a database/);
    expect(() => openSqliteStores('', { masterKey })).toThrow(/path is empty/);
  });
});

describe('sqlite: compare-and-set across processes', () => {
  it('lets exactly one of six processes rotate the same refresh token and accept the same TOTP step', async () => {
    const path = nextPath();
    const masterKeyText = generateMasterKey();
    const stores = openSqliteStores(path, { masterKey: parseMasterKey(masterKeyText) });
    const user = await stores.identities.createUser({ username: 'alice', passwordHash: 'h', roles: [], createdAt: T0 });
    await stores.identities.setTotpSecret(user.id, randomBytes(20), T0);
    const family = await stores.sessions.createRefreshFamily({
      subject: user.id,
      scopes: [],
      amr: ['pwd'],
      authTime: T0,
      createdAt: T0,
      expiresAt: T0 + 86_400_000,
      tokenHash: 'old-token-hash',
    });

    const fixture = fileURLToPath(new URL('./race.fixture.ts', import.meta.url));
    const contenders = Array.from({ length: 6 }, (_, index) =>
      spawn(process.execPath, ['--import', 'tsx', fixture, path, masterKeyText, 'old-token-hash', `new-token-hash-${index}`, user.id, '424242'], {
        cwd: fileURLToPath(new URL('../../..', import.meta.url)),
        stdio: ['pipe', 'pipe', 'inherit'],
      }),
    );
    const outputs = contenders.map(
      (child) =>
        new Promise<string[]>((resolve, reject) => {
          let text = '';
          child.stdout.on('data', (chunk: Buffer) => {
            text += chunk.toString('utf8');
            if (text === 'ready\n') child.emit('ready');
          });
          child.on('error', reject);
          child.on('close', (code) => (code === 0 ? resolve(text.trim().split('\n')) : reject(new Error(`contender exited with ${code}`))));
        }),
    );
    await Promise.all(
      contenders.map(
        (child) =>
          new Promise((resolve, reject) => {
            child.once('ready', resolve);
            child.once('exit', (code) => reject(new Error(`contender exited with ${code} before it was ready`)));
          }),
      ),
    );
    for (const child of contenders) child.stdin.end('go\n');
    const results = (await Promise.all(outputs)).map((lines) => JSON.parse(lines.at(-1) ?? '{}') as { rotation: string; totp: boolean });

    expect(results.filter((result) => result.rotation === 'rotated')).toHaveLength(1);
    expect(results.filter((result) => result.rotation === 'reuse-detected')).toHaveLength(5);
    expect(results.filter((result) => result.totp)).toHaveLength(1);
    expect((await stores.sessions.getRefreshFamily(family.id))?.revokedReason).toBe('refresh token reuse');
    expect((await stores.identities.getTotp(user.id))?.lastUsedStep).toBe(424242);
    await stores.close();
  }, 60_000);
});
