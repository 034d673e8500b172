/**
 * The key ring in the SQLite store, as the gateway and the CLI open it (storage/configured.ts, audit/configured.ts):
 * upgrading a store sealed before the ring (v1 → v2, pepper kept), startup errors naming the store for every kind of
 * bad key material (the gateway never serves without its key ring), damaged sealed values reported at start and
 * failing only the reads of their record, the stable secrets taken
 * from the ring by the stores and the audit log and kept across master-key rotation, and a raw read of the database
 * files finding no secret in plaintext.
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAuditFromConfig, openConfiguredAuditStore, type AuditConfigSource } from '../src/audit/configured.ts';
import { deriveSecretPepper, hashSecret } from '../src/crypto/hashing.ts';
import { LEGACY_DERIVATIONS } from '../src/crypto/keyring.ts';
import { generateMasterKey, parseMasterKey } from '../src/crypto/master-key.ts';
import { hashPassword } from '../src/crypto/passwords.ts';
import { SecretBox } from '../src/crypto/secret-box.ts';
import { generateApiKey } from '../src/policies/api-key/keys.ts';
import { DERIVED_KEYS_NOTE, keyRingSettingsOf, openConfiguredStores, resolveStableSecrets, type ConfiguredStores, type WarningSink } from '../src/storage/configured.ts';
import { LATEST_SCHEMA_VERSION, MIGRATIONS, SqliteIdentityStore, migrate } from '../src/storage/sqlite/index.ts';
import { encodeTotpSecret } from '../src/identity/mfa/totp.ts';
import { loadTestConfig, startRecordingUpstream, startTestGateway, tempDir, type RecordingUpstream } from './helpers.ts';

const T0 = 1_750_000_000_000;

function recordingSink(): WarningSink & { warnings: string[]; infos: string[] } {
  const warnings: string[] = [];
  const infos: string[] = [];
  return { warnings, infos, warn: (_d, m) => void warnings.push(m), info: (_d, m) => void infos.push(m) };
}

/**
 * Every file SQLite keeps for the database (main, WAL, shared memory) as raw bytes, read by a child process: opening
 * and closing the file in this process, which has it open through SQLite, would drop this process's POSIX locks on it.
 */
function rawDatabaseBytes(db: string): Buffer {
  const base = db.split('/').pop()!;
  const folder = db.slice(0, -base.length);
  const files = readdirSync(folder)
    .filter((name) => name.startsWith(base) && !name.endsWith('.master-key'))
    .map((name) => join(folder, name));
  return execFileSync('cat', files, { maxBuffer: 64 * 1024 * 1024 });
}

/** Every spelling of a secret value a leak could take. */
function spellings(value: Buffer | string): Buffer[] {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  return [bytes, Buffer.from(bytes.toString('hex')), Buffer.from(bytes.toString('base64')), Buffer.from(bytes.toString('base64url'))];
}

function flipBase64url(text: string, index: number): string {
  const bytes = Buffer.from(text, 'base64url');
  bytes[index] = bytes[index]! ^ 0x01;
  return bytes.toString('base64url');
}

const productionSource = (path: string, masterKey: string) => ({ mode: 'production' as const, storage: `sqlite:${path}`, masterKey });

/** A store as the previous Rampart left it: schema 1 only, values sealed v1 (open, with its raw connection). */
function legacyStore() {
  const path = join(tempDir(), 'rampart.db');
  const text = generateMasterKey();
  const masterKey = parseMasterKey(text);
  const raw = new Database(path);
  raw.pragma('journal_mode = WAL');
  raw.pragma('foreign_keys = ON');
  migrate(raw, MIGRATIONS.slice(0, 1));
  return { path, text, masterKey, raw, legacy: new SqliteIdentityStore(raw, new SecretBox(masterKey)) };
}

describe('upgrading a store sealed before the key ring', () => {
  it('creates the ring from the master key, keeps the pepper, and re-seals v1 values as v2', async () => {
    // API keys hashed with the derived pepper, as before the ring.
    const { path, text, masterKey, raw, legacy } = legacyStore();
    const alice = await legacy.createUser({ username: 'alice', passwordHash: 'h', roles: [], createdAt: T0 });
    const seed = randomBytes(20);
    await legacy.setTotpSecret(alice.id, seed, T0);
    const jwk = { kty: 'EC', crv: 'P-256', d: randomBytes(32).toString('base64url') };
    await legacy.addSigningKey({ kid: 'old-kid', alg: 'ES256', privateJwk: jwk, publicJwk: { kty: 'EC' }, createdAt: T0, activatedAt: T0 });
    const consumer = await legacy.createConsumer({ name: 'billing', roles: [], createdAt: T0 });
    const { key, recordPrefix } = generateApiKey();
    await legacy.createApiKey({ consumerId: consumer.id, prefix: recordPrefix, hash: hashSecret(key, deriveSecretPepper(masterKey)), scopes: null, expiresAt: null, createdAt: T0 });
    const sealedColumns = () => [
      (raw.prepare('SELECT sealed_secret AS s FROM totp_secrets').get() as { s: string }).s,
      (raw.prepare('SELECT sealed_private_jwk AS s FROM signing_keys').get() as { s: string }).s,
    ];
    expect(sealedColumns().every((value) => value.startsWith('v1.'))).toBe(true);

    // A wrong master key does not seed a ring: refused naming the store and the record, no key ring written.
    await expect(openConfiguredStores(productionSource(path, generateMasterKey()))).rejects.toThrow(
      `store sqlite:${path}: keyring.masterKey is not the key that sealed totp_secrets:${alice.id}`,
    );
    expect(raw.prepare('SELECT count(*) AS n FROM keyring').get()).toEqual({ n: 0 });
    expect(sealedColumns().every((value) => value.startsWith('v1.'))).toBe(true);

    const sink = recordingSink();
    const opened = await openConfiguredStores(productionSource(path, text), { logger: sink });
    try {
      expect(opened.keyring).toBeDefined();
      expect(opened.pepper.equals(deriveSecretPepper(masterKey))).toBe(true);
      const found = await opened.stores.identities.findApiKeyByPrefix(recordPrefix);
      expect(found?.hash).toBe(hashSecret(key, opened.pepper));
      expect(sealedColumns().every((value) => value.startsWith(`v2.${opened.keyring!.activeDataKey().id}.`))).toBe(true);
      expect((await opened.stores.identities.getTotp(alice.id))?.secret).toEqual(seed);
      expect(await opened.stores.identities.getSigningKeyPrivateJwk('old-kid')).toEqual(jwk);
      expect(sink.infos.join('\n')).toMatch(/key ring created/);
      expect(sink.infos.join('\n')).toMatch(/re-sealed under its data key/);
      expect(raw.prepare('SELECT max(version) AS v FROM schema_migrations').get()).toEqual({ v: LATEST_SCHEMA_VERSION });
    } finally {
      await opened.stores.close();
      raw.close();
    }
  });
});

describe('upgrading a store sealed before the key ring, with a damaged value', () => {
  it('re-seals the values that open, leaves the damaged one as it is, reports it, and serves', async () => {
    const { path, text, raw, legacy } = legacyStore();
    const alice = await legacy.createUser({ username: 'alice', passwordHash: 'h', roles: [], createdAt: T0 });
    const bob = await legacy.createUser({ username: 'bob', passwordHash: 'h', roles: [], createdAt: T0 });
    const seed = randomBytes(20);
    await legacy.setTotpSecret(alice.id, seed, T0);
    await legacy.setTotpSecret(bob.id, randomBytes(20), T0);
    // One bit of bob's ciphertext flipped; its key id still names this master key (so the ring is created).
    const sealedOf = (id: string) => (raw.prepare('SELECT sealed_secret AS s FROM totp_secrets WHERE user_id = ?').get(id) as { s: string }).s;
    const parts = sealedOf(bob.id).split('.');
    expect(parts[0]).toBe('v1');
    parts[parts.length - 2] = flipBase64url(parts[parts.length - 2]!, 1);
    const damagedValue = parts.join('.');
    raw.prepare('UPDATE totp_secrets SET sealed_secret = ? WHERE user_id = ?').run(damagedValue, bob.id);

    for (const attempt of [1, 2]) {
      const sink = recordingSink();
      const opened = await openConfiguredStores(productionSource(path, text), { logger: sink });
      try {
        expect(sealedOf(alice.id).startsWith('v2.')).toBe(true);
        expect(sealedOf(bob.id)).toBe(damagedValue);
        expect((await opened.stores.identities.getTotp(alice.id))?.secret).toEqual(seed);
        await expect(opened.stores.identities.getTotp(bob.id)).rejects.toThrow(`stored record totp_secrets "${bob.id}" is unreadable`);
        expect(opened.damagedSealedValues).toEqual([{ table: 'totp_secrets', recordId: bob.id, reason: expect.any(String) }]);
        expect(sink.warnings.filter((m) => m.startsWith('damaged sealed value'))).toHaveLength(1);
        // Re-sealed once, on the first start only.
        expect(sink.infos.filter((m) => /re-sealed under its data key/.test(m))).toHaveLength(attempt === 1 ? 1 : 0);
      } finally {
        await opened.stores.close();
      }
    }
    raw.close();
  });
});

describe('startup with damaged key material: a damaged key ring stops the start, a damaged sealed value is one record\'s problem', () => {
  let upstream: RecordingUpstream;
  beforeAll(async () => {
    upstream = await startRecordingUpstream();
  });
  afterAll(async () => upstream?.close());

  interface Prepared {
    readonly dir: string;
    readonly path: string;
    readonly text: string;
    readonly apiKey: string;
    readonly ids: { alice: string; bob: string };
  }

  /** A store with two users with TOTP seeds, a signing key and an API key, closed. */
  async function prepare(mode: 'production' | 'development' = 'production'): Promise<Prepared> {
    const dir = tempDir();
    const path = join(dir, 'rampart.db');
    const text = generateMasterKey();
    const opened = await openConfiguredStores({ mode, storage: `sqlite:${path}`, masterKey: mode === 'production' ? text : undefined });
    const ids = opened.stores.identities;
    const alice = await ids.createUser({ username: 'alice', passwordHash: 'h', roles: [], createdAt: T0 });
    const bob = await ids.createUser({ username: 'bob', passwordHash: 'h', roles: [], createdAt: T0 });
    await ids.setTotpSecret(alice.id, randomBytes(20), T0);
    await ids.setTotpSecret(bob.id, randomBytes(20), T0);
    await ids.addSigningKey({ kid: 'kid-1', alg: 'ES256', privateJwk: { d: 'x' }, publicJwk: {}, createdAt: T0, activatedAt: T0 });
    const consumer = await ids.createConsumer({ name: 'billing', roles: [], createdAt: T0 });
    const { key, recordPrefix } = generateApiKey();
    await ids.createApiKey({ consumerId: consumer.id, prefix: recordPrefix, hash: hashSecret(key, opened.pepper), scopes: null, expiresAt: null, createdAt: T0 });
    await opened.stores.close();
    return { dir, path, text, apiKey: key, ids: { alice: alice.id, bob: bob.id } };
  }

  const document = (p: Prepared, mode: 'production' | 'development' = 'production') => ({
    mode: 'development',
    storage: `sqlite:${p.path}`,
    ...(mode === 'production' ? { keyring: { masterKey: p.text } } : {}),
    routes: [{ id: 'keys', match: { path: '/**' }, upstream: upstream.url, authenticate: ['api-key'] }],
  });

  type Damage = (db: Database.Database, p: Prepared) => void;
  const cell = (db: Database.Database, sql: string, ...args: unknown[]) => (db.prepare(sql).get(...args) as { v: string }).v;
  // Damage to the key ring itself (a data key, the pepper, the privacy key) stops the start: nothing sealed under it
  // could be trusted, and the pepper and privacy key are needed by every request.
  const ringCases: Array<[string, Damage, (p: Prepared) => RegExp | string]> = [
    [
      'a corrupted wrapped data key',
      (db) => {
        const wrapped = cell(db, "SELECT wrapped AS v FROM keyring WHERE purpose = 'secrets'");
        const [v, iv, ct, tag] = wrapped.split('.') as [string, string, string, string];
        db.prepare("UPDATE keyring SET wrapped = ? WHERE purpose = 'secrets'").run([v, iv, flipBase64url(ct, 0), tag].join('.'));
      },
      () => /key ring entry d[\w-]{22} \(secrets\) is corrupted: wrapped key failed authentication/,
    ],
    [
      'a truncated wrapped pepper',
      (db) => db.prepare("UPDATE keyring SET wrapped = substr(wrapped, 1, 30) WHERE purpose = 'pepper'").run(),
      () => /key ring entry s[\w-]{22} \(pepper\) is corrupted/,
    ],
    ['a deleted privacy key', (db) => db.prepare("DELETE FROM keyring WHERE purpose = 'privacy'").run(), () => 'the key ring has no privacy entry'],
  ];

  /** A copy of the tables the damage touches, to put back (the store must then start and serve as before). */
  function backupTables(db: Database.Database) {
    return (['keyring', 'totp_secrets', 'signing_keys'] as const).map((table) => [table, db.prepare(`SELECT * FROM ${table}`).all()] as const);
  }

  function restoreTables(path: string, backup: ReturnType<typeof backupTables>): void {
    const repair = new Database(path);
    for (const [table, rows] of backup) {
      repair.prepare(`DELETE FROM ${table}`).run();
      for (const row of rows as Array<Record<string, unknown>>) {
        const columns = Object.keys(row);
        repair.prepare(`INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map((c) => `@${c}`).join(', ')})`).run(row);
      }
    }
    repair.close();
  }

  it.each(ringCases)('%s: the start is refused, naming the store', async (_what, damage, message) => {
    const p = await prepare();
    const db = new Database(p.path);
    const backup = backupTables(db);
    damage(db, p);
    db.close();

    // The CLI's way in and the gateway's: both refuse, naming the store; no listener is bound.
    await expect(openConfiguredStores(productionSource(p.path, p.text))).rejects.toThrow(`store sqlite:${p.path}: `);
    await expect(openConfiguredStores(productionSource(p.path, p.text))).rejects.toThrow(message(p));
    const start = startTestGateway(document(p));
    await expect(start).rejects.toThrow(`store sqlite:${p.path}: `);
    await expect(start).rejects.toThrow(message(p));
    await start.catch((error: Error) => {
      expect(error.message).not.toContain(p.text);
      expect(error.message).not.toContain(parseMasterKey(p.text).toString('hex'));
    });

    // Repaired from the backup, the same store starts and serves.
    restoreTables(p.path, backup);
    const gw = await startTestGateway(document(p));
    try {
      expect((await fetch(`${gw.url}/x`, { headers: { 'x-api-key': p.apiKey } })).status).toBe(200);
    } finally {
      await gw.close();
    }
  });

  // A sealed value that does not open is one record's problem: the start reports it (table and record, never the
  // value) and the store serves; every read of that record fails closed with the same error until it is repaired.
  type Read = (stores: ConfiguredStores['stores'], p: Prepared) => Promise<unknown>;
  const totpOf = (who: 'alice' | 'bob'): Read => (stores, p) => stores.identities.getTotp(p.ids[who]);
  const signingKey: Read = (stores) => stores.identities.getSigningKeyPrivateJwk('kid-1');
  const valueCases: Array<[string, Damage, Read, (p: Prepared) => [string, string], (p: Prepared) => RegExp | string]> = [
    [
      'a truncated TOTP envelope',
      (db, p) => db.prepare('UPDATE totp_secrets SET sealed_secret = substr(sealed_secret, 1, length(sealed_secret) - 4) WHERE user_id = ?').run(p.ids.alice),
      totpOf('alice'),
      (p) => ['totp_secrets', p.ids.alice],
      (p) => `stored record totp_secrets "${p.ids.alice}" is unreadable: sealed value is malformed`,
    ],
    [
      'a tampered TOTP envelope (one bit)',
      (db, p) => {
        const [v, k, iv, ct, tag] = cell(db, 'SELECT sealed_secret AS v FROM totp_secrets WHERE user_id = ?', p.ids.bob).split('.') as [string, string, string, string, string];
        db.prepare('UPDATE totp_secrets SET sealed_secret = ? WHERE user_id = ?').run([v, k, iv, flipBase64url(ct, 2), tag].join('.'), p.ids.bob);
      },
      totpOf('bob'),
      (p) => ['totp_secrets', p.ids.bob],
      (p) => `stored record totp_secrets "${p.ids.bob}" is unreadable: sealed value failed authentication`,
    ],
    [
      "alice's TOTP envelope copied into bob's record",
      (db, p) => db.prepare('UPDATE totp_secrets SET sealed_secret = (SELECT sealed_secret FROM totp_secrets WHERE user_id = ?) WHERE user_id = ?').run(p.ids.alice, p.ids.bob),
      totpOf('bob'),
      (p) => ['totp_secrets', p.ids.bob],
      (p) => `stored record totp_secrets "${p.ids.bob}" is unreadable: sealed value failed authentication`,
    ],
    [
      'a signing key envelope relabelled with an unknown data key',
      (db) => db.prepare("UPDATE signing_keys SET sealed_private_jwk = 'v2.dAAAAAAAAAAAAAAAAAAAAAA.' || substr(sealed_private_jwk, 28)").run(),
      signingKey,
      () => ['signing_keys', 'kid-1'],
      () => 'stored record signing_keys "kid-1" is unreadable: sealed value was sealed under data key',
    ],
  ];

  it.each(valueCases)('%s: reported at start, the store serves, reads of that record fail closed', async (_what, damage, read, record, message) => {
    const p = await prepare();
    const db = new Database(p.path);
    const sealedBefore = (['totp_secrets', 'signing_keys'] as const).map((table) => db.prepare(`SELECT * FROM ${table}`).all());
    damage(db, p);
    const sealedDamaged = (['totp_secrets', 'signing_keys'] as const).map((table) => db.prepare(`SELECT * FROM ${table}`).all());
    db.close();
    expect(sealedDamaged).not.toEqual(sealedBefore);

    // The CLI's way in: opens, warns naming the record.
    const sink = recordingSink();
    const details: Array<Record<string, unknown>> = [];
    const logger = { ...sink, warn: (d: Record<string, unknown>, m: string) => (details.push(d), sink.warn(d, m)) };
    const opened = await openConfiguredStores(productionSource(p.path, p.text), { logger });
    try {
      const [table, recordId] = record(p);
      expect(sink.warnings.filter((m) => m.startsWith('damaged sealed value'))).toHaveLength(1);
      expect(details).toContainEqual(expect.objectContaining({ store: `sqlite:${p.path}`, table, record: recordId }));
      await expect(read(opened.stores, p)).rejects.toThrow(message(p));
      // The readable records still read.
      if (table === 'totp_secrets') expect(await opened.stores.identities.getSigningKeyPrivateJwk('kid-1')).toEqual({ d: 'x' });
      else expect((await opened.stores.identities.getTotp(p.ids.alice))?.secret).toHaveLength(20);
    } finally {
      await opened.stores.close();
    }

    // The gateway's way in: it starts, serves, and its log names the record, never the key or the value.
    const gw = await startTestGateway(document(p));
    try {
      expect((await fetch(`${gw.url}/x`, { headers: { 'x-api-key': p.apiKey } })).status).toBe(200);
      const [table, recordId] = record(p);
      const lines = gw.appLog().filter((line) => String(line.msg).startsWith('damaged sealed value'));
      expect(lines).toEqual([expect.objectContaining({ level: 40, table, record: recordId, store: `sqlite:${p.path}` })]);
      // And one security event, so it is counted, stored and alerted on (rampart_security_events_total by type).
      const raised = gw.events.events.filter((e) => e.type === 'store.sealed-value-damaged');
      expect(raised).toEqual([{ type: 'store.sealed-value-damaged', severity: 'high', details: { table, recordId, reason: expect.any(String) } }]);
      expect(JSON.stringify(raised)).not.toContain(p.text);
      expect(await gw.gateway.metrics.registry.metrics()).toContain('rampart_security_events_total{type="store.sealed-value-damaged"} 1');
      const log = JSON.stringify(gw.appLog());
      expect(log).not.toContain(p.text);
      expect(log).not.toContain(parseMasterKey(p.text).toString('hex'));
    } finally {
      await gw.close();
    }

    // Nothing was changed or deleted: the damaged row is still there, as damaged, for the operator to repair.
    const after = new Database(p.path, { readonly: true });
    try {
      expect((['totp_secrets', 'signing_keys'] as const).map((table) => after.prepare(`SELECT * FROM ${table}`).all())).toEqual(sealedDamaged);
    } finally {
      after.close();
    }
  });

  it('a wrong master key', async () => {
    const p = await prepare();
    const wrong = { ...document(p), keyring: { masterKey: generateMasterKey() } };
    await expect(startTestGateway(wrong)).rejects.toThrow(`store sqlite:${p.path}: keyring.masterKey is not the key that wraps this store's key ring`);
    await expect(openConfiguredStores(productionSource(p.path, generateMasterKey()))).rejects.toThrow(/is not the key that wraps/);
  });

  it('a truncated development key file', async () => {
    const p = await prepare('development');
    const keyFile = `${p.path}.master-key`;
    writeFileSync(keyFile, generateMasterKey().slice(0, 30) + '\n', { mode: 0o600 });
    await expect(startTestGateway(document(p, 'development'))).rejects.toThrow(
      `store sqlite:${p.path}: development master key file ${keyFile}: master key must be 32 bytes`,
    );
  });
});

describe('stable secrets from the ring', () => {
  it('the stores, the audit log and the CLI read the same pepper, chain and privacy keys, kept across master-key rotation', async () => {
    const dir = tempDir();
    const path = join(dir, 'rampart.db');
    const oldText = generateMasterKey();
    const newText = generateMasterKey();
    const document = { audit: { store: 'sqlite:./audit.db' }, privacy: { addresses: 'hash' } };
    const source = (masterKey: string): AuditConfigSource => ({ document, storage: `sqlite:${path}`, masterKey, mode: 'production' });

    const audit = (await openAuditFromConfig(source(oldText), { baseDir: dir }))!;
    audit.events.emit({ type: 'auth.login-failed', severity: 'low', clientAddress: '198.51.100.7', details: { reason: 'unknown-user' } });
    await audit.events.flush();
    const pseudonymBefore = audit.privacy.address('198.51.100.7');
    await audit.close();

    const opened = await openConfiguredStores({ ...productionSource(path, oldText), document });
    const ring = opened.keyring!;
    expect(ring.secret('privacy').equals(LEGACY_DERIVATIONS.privacy(parseMasterKey(oldText)))).toBe(true);
    ring.rotateMasterKey(parseMasterKey(newText));
    await opened.stores.close();

    // With the new master key: the chain written before verifies, pseudonyms and the pepper are unchanged.
    const store = await openConfiguredAuditStore(source(newText), { baseDir: dir });
    expect(await store.verify()).toMatchObject({ ok: true, count: 1 });
    await store.close();
    const reopened = (await openAuditFromConfig(source(newText), { baseDir: dir }))!;
    expect(reopened.privacy.address('198.51.100.7')).toBe(pseudonymBefore);
    await reopened.close();
    const secrets = resolveStableSecrets(source(newText));
    expect(secrets.source).toBe('keyring');
    expect(secrets.pepper.equals(deriveSecretPepper(parseMasterKey(oldText)))).toBe(true);
    expect(secrets.pepper.equals(deriveSecretPepper(parseMasterKey(newText)))).toBe(false);
    // The old master key is refused by the audit log too, naming the store.
    await expect(openAuditFromConfig(source(oldText), { baseDir: dir })).rejects.toThrow(`store sqlite:${path}: keyring.masterKey is not the key`);
  });

  it('an in-memory store has no ring: the keys derive from the master key, and the log says so', async () => {
    const sink = recordingSink();
    const text = generateMasterKey();
    const opened: ConfiguredStores = await openConfiguredStores({ mode: 'production', storage: 'memory:', masterKey: text }, { logger: sink });
    await opened.stores.close();
    expect(opened.keyring).toBeUndefined();
    expect(opened.pepper.equals(deriveSecretPepper(parseMasterKey(text)))).toBe(true);
    expect(sink.infos).toContain(DERIVED_KEYS_NOTE);
    const secrets = resolveStableSecrets({ mode: 'production', storage: 'memory:', masterKey: text });
    expect(secrets).toMatchObject({ source: 'derived' });
    expect(secrets.auditChain.equals(LEGACY_DERIVATIONS['audit-chain'](parseMasterKey(text)))).toBe(true);
  });

  it('keyring.rotateDataKeysEvery: accepted by the schema, defaulted, bounded (1h to 730d)', () => {
    expect(keyRingSettingsOf(undefined)).toEqual({ rotateDataKeysEveryMs: 90 * 86_400_000 });
    expect(keyRingSettingsOf({ keyring: { rotateDataKeysEvery: '30d' } })).toEqual({ rotateDataKeysEveryMs: 30 * 86_400_000 });
    expect(keyRingSettingsOf({ keyring: { rotateDataKeysEvery: 7_200_000 } })).toEqual({ rotateDataKeysEveryMs: 7_200_000 });
    const hostile: Array<[unknown, RegExp]> = [
      ['5m', /keyring\.rotateDataKeysEvery: must be at least 1h/],
      [0, /must be at least 1h/],
      ['90 days', /keyring\.rotateDataKeysEvery: must be a duration/],
      [{ days: 90 }, /must be a duration/],
      ['1e400d', /must be a duration/],
      ['731d', /keyring\.rotateDataKeysEvery: must be at most 730d/],
      ['99999999999999999999d', /must be at most 730d/],
    ];
    for (const [value, message] of hostile) expect(() => keyRingSettingsOf({ keyring: { rotateDataKeysEvery: value } })).toThrow(message);
    const config = loadTestConfig({ keyring: { masterKey: generateMasterKey(), rotateDataKeysEvery: '30d' }, routes: [{ id: 's', match: { path: '/s' }, upstream: 'http://127.0.0.1:9', public: true }] });
    expect(keyRingSettingsOf(config.document)).toEqual({ rotateDataKeysEveryMs: 30 * 86_400_000 });
    expect(() => loadTestConfig({ keyring: { rotateDataKeysEvery: '90 days' }, routes: [{ id: 's', match: { path: '/s' }, upstream: 'http://127.0.0.1:9', public: true }] })).toThrow(
      /keyring\.rotateDataKeysEvery/,
    );
  });
});

describe('a raw read of the SQLite file and its WAL finds no secret in plaintext', () => {
  it('TOTP seeds, private signing keys, API keys, session and refresh tokens, and the ring keys are nowhere in the bytes', async () => {
    const dir = tempDir();
    const path = join(dir, 'rampart.db');
    const text = generateMasterKey();
    const opened = await openConfiguredStores(productionSource(path, text));
    const ids = opened.stores.identities;
    const plantedUsername = `planted-plaintext-${randomBytes(6).toString('hex')}`;
    const user = await ids.createUser({ username: plantedUsername, passwordHash: await hashPassword('a long enough password 123'), roles: [], createdAt: T0 });
    const seeds = [randomBytes(20), randomBytes(20), randomBytes(32)];
    const users = [user, await ids.createUser({ username: 'u2', passwordHash: 'h', roles: [], createdAt: T0 }), await ids.createUser({ username: 'u3', passwordHash: 'h', roles: [], createdAt: T0 })];
    for (const [index, seed] of seeds.entries()) await ids.setTotpSecret(users[index]!.id, seed, T0);
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const privateJwk = privateKey.export({ format: 'jwk' }) as Record<string, string>;
    await ids.addSigningKey({ kid: 'planted-kid', alg: 'ES256', privateJwk, publicJwk: { kty: 'EC', crv: 'P-256', x: privateJwk['x']!, y: privateJwk['y']! }, createdAt: T0, activatedAt: T0 });
    const consumer = await ids.createConsumer({ name: 'c', roles: [], createdAt: T0 });
    const { key, recordPrefix } = generateApiKey();
    await ids.createApiKey({ consumerId: consumer.id, prefix: recordPrefix, hash: hashSecret(key, opened.pepper), scopes: null, expiresAt: null, createdAt: T0 });
    const ring = opened.keyring!;

    const secrets: Array<[string, Buffer | string]> = [
      ...seeds.flatMap((seed, index): Array<[string, Buffer | string]> => [
        [`TOTP seed ${index}`, seed],
        [`TOTP seed ${index} base32`, encodeTotpSecret(seed)],
      ]),
      ['private signing key d', privateJwk['d']!],
      ['private signing key d bytes', Buffer.from(privateJwk['d']!, 'base64url')],
      ['API key secret part', key.slice(recordPrefix.length + 1)],
      ['master key', parseMasterKey(text)],
      ['pepper', ring.secret('pepper')],
      ['audit chain key', ring.secret('audit-chain')],
      ['privacy key', ring.secret('privacy')],
      ['data key', ring.activeDataKey().key],
    ];
    const check = (bytes: Buffer) => {
      // The search works: a value stored in clear (a username) is found.
      expect(bytes.includes(Buffer.from(plantedUsername))).toBe(true);
      expect(bytes.includes(Buffer.from(recordPrefix))).toBe(true);
      for (const [what, value] of secrets) {
        for (const spelling of spellings(value)) expect(bytes.includes(spelling), `${what} found in the database files`).toBe(false);
      }
    };
    // While open (recent pages in the WAL) and after close (checkpointed into the main file).
    check(rawDatabaseBytes(path));
    await opened.stores.close();
    check(rawDatabaseBytes(path));
    // What was stored reads back: the search would have found these values had they been stored in clear.
    const again = await openConfiguredStores(productionSource(path, text));
    try {
      for (const [index, seed] of seeds.entries()) expect((await again.stores.identities.getTotp(users[index]!.id))?.secret).toEqual(seed);
      expect(await again.stores.identities.getSigningKeyPrivateJwk('planted-kid')).toEqual(privateJwk);
    } finally {
      await again.stores.close();
    }
  });
});
