/**
 * The key ring on a real SQLite database (the store it lives in): creation from the former derivations, the wrapped
 * format, wrong master keys, hostile and damaged tables, data-key rotation on a schedule (injected clock), master-key
 * rotation (re-wrap, old key refused, rollback), several processes' views of one ring, and SecretBox v2 envelopes
 * under ring keys with the record identity as additional authenticated data.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { CHAIN_KEY_PURPOSE } from '../audit/configured.ts';
import { PRIVACY_KEY_PURPOSE } from '../audit/privacy.ts';
import { openSqliteDatabase } from '../storage/sqlite/database.ts';
import { SqliteKeyRingStorage } from '../storage/sqlite/keyring.ts';
import { deriveSecretPepper } from './hashing.ts';
import {
  DEFAULT_ROTATE_DATA_KEYS_EVERY_MS,
  KeyRing,
  KeyRingError,
  LEGACY_DERIVATIONS,
  STABLE_SECRET_PURPOSES,
  inspectKeyRing,
  kekFingerprint,
  type KeyRingErrorCode,
  type KeyRingLog,
} from './keyring.ts';
import { deriveSubkey, generateMasterKey, parseMasterKey } from './master-key.ts';
import { SecretBox, SecretBoxError } from './secret-box.ts';

const DAY = 86_400_000;
const T0 = 1_750_000_000_000;
const scratch = mkdtempSync(join(tmpdir(), 'rampart-keyring-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let counter = 0;

const newKey = () => parseMasterKey(generateMasterKey());

interface Fixture {
  readonly path: string;
  readonly where: string;
  readonly db: Database.Database;
  readonly storage: SqliteKeyRingStorage;
  /** Another connection to the same file: another process's view. */
  other(): { db: Database.Database; storage: SqliteKeyRingStorage };
  close(): void;
}

function fixture(): Fixture {
  const path = join(scratch, `ring-${(counter += 1)}.db`);
  const where = `sqlite:${path}`;
  const db = openSqliteDatabase(path);
  const opened: Database.Database[] = [db];
  return {
    path,
    where,
    db,
    storage: new SqliteKeyRingStorage(db, where),
    other() {
      const second = openSqliteDatabase(path);
      opened.push(second);
      return { db: second, storage: new SqliteKeyRingStorage(second, where) };
    },
    close() {
      for (const handle of opened) if (handle.open) handle.close();
    },
  };
}

function clock(start = T0): { now: () => number; advance(ms: number): void } {
  let time = start;
  return { now: () => time, advance: (ms) => void (time += ms) };
}

function recordingLog(): KeyRingLog & { warnings: string[]; infos: string[] } {
  const warnings: string[] = [];
  const infos: string[] = [];
  return { warnings, infos, warn: (_d, m) => void warnings.push(m), info: (_d, m) => void infos.push(m) };
}

function rows(db: Database.Database): Array<{ id: string; purpose: string; wrapped: string; created_at: number; retired_at: number | null }> {
  return db.prepare('SELECT * FROM keyring ORDER BY created_at, id').all() as never;
}

function ringError(action: () => unknown): KeyRingError {
  try {
    action();
  } catch (error) {
    if (error instanceof KeyRingError) return error;
    throw new Error(`expected KeyRingError, got ${String(error)}`);
  }
  throw new Error('expected KeyRingError, nothing was thrown');
}

/** Every spelling of a key a leak could take. */
function spellings(key: Buffer): string[] {
  return [key.toString('hex'), key.toString('base64'), key.toString('base64url'), key.toString('latin1')];
}

function flipBase64url(text: string, index: number): string {
  const bytes = Buffer.from(text, 'base64url');
  bytes[index] = bytes[index]! ^ 0x01;
  return bytes.toString('base64url');
}

describe('key ring: creation', () => {
  it('creates the ring once: stable secrets equal the former derivations, one random data key, the KEK fingerprint', () => {
    const f = fixture();
    const masterKey = newKey();
    const log = recordingLog();
    const ring = KeyRing.open(f.storage, masterKey, { now: () => T0, log });
    // The values every hash, chain and pseudonym was made with before the ring existed.
    expect(ring.secret('pepper').equals(deriveSecretPepper(masterKey))).toBe(true);
    expect(ring.secret('audit-chain').equals(deriveSubkey(masterKey, CHAIN_KEY_PURPOSE))).toBe(true);
    expect(ring.secret('privacy').equals(deriveSubkey(masterKey, PRIVACY_KEY_PURPOSE))).toBe(true);
    for (const purpose of STABLE_SECRET_PURPOSES) expect(ring.secret(purpose).equals(LEGACY_DERIVATIONS[purpose](masterKey))).toBe(true);

    const stored = rows(f.db);
    expect(stored.map((row) => row.purpose).sort()).toEqual(['audit-chain', 'pepper', 'privacy', 'secrets']);
    for (const row of stored) {
      expect(row.id).toMatch(row.purpose === 'secrets' ? /^d[A-Za-z0-9_-]{22}$/ : /^s[A-Za-z0-9_-]{22}$/);
      // w1.<iv 12 bytes>.<key 32 bytes>.<tag 16 bytes>
      expect(row.wrapped).toMatch(/^w1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{22}$/);
      expect(row.created_at).toBe(T0);
      expect(row.retired_at).toBeNull();
    }
    const kek = f.db.prepare('SELECT * FROM keyring_kek').all();
    expect(kek).toEqual([{ id: 1, fingerprint: kekFingerprint(masterKey), created_at: T0, rotated_at: null }]);
    expect(kekFingerprint(masterKey)).toMatch(/^[0-9a-f]{32}$/);
    expect(ring.activeDataKey().id).toBe(stored.find((row) => row.purpose === 'secrets')!.id);
    expect(log.infos.join()).toMatch(/key ring created/);

    // No key, wrapped or not, appears in the table in any spelling.
    const table = JSON.stringify(f.db.prepare('SELECT * FROM keyring').all()) + JSON.stringify(kek);
    for (const key of [masterKey, ring.secret('pepper'), ring.secret('privacy'), ring.secret('audit-chain'), ring.activeDataKey().key]) {
      for (const spelling of spellings(key)) expect(table).not.toContain(spelling);
    }

    // Reopening reads the same ring and writes nothing.
    const before = JSON.stringify(rows(f.db));
    const again = KeyRing.open(f.storage, Buffer.from(masterKey), { now: () => T0 + DAY });
    expect(JSON.stringify(rows(f.db))).toBe(before);
    expect(again.secret('pepper').equals(ring.secret('pepper'))).toBe(true);
    expect(again.activeDataKey().key.equals(ring.activeDataKey().key)).toBe(true);
    f.close();
  });

  it('data keys are random: two rings from the same master key differ in data keys, not in stable secrets', () => {
    const masterKey = newKey();
    const [a, b] = [fixture(), fixture()];
    const ringA = KeyRing.open(a.storage, masterKey);
    const ringB = KeyRing.open(b.storage, masterKey);
    expect(ringA.activeDataKey().key.equals(ringB.activeDataKey().key)).toBe(false);
    expect(ringA.activeDataKey().id).not.toBe(ringB.activeDataKey().id);
    expect(ringA.secret('pepper').equals(ringB.secret('pepper'))).toBe(true);
    a.close();
    b.close();
  });

  it('refuses a wrong master key with an error naming the store, and changes nothing', () => {
    const f = fixture();
    const masterKey = newKey();
    KeyRing.open(f.storage, masterKey);
    const before = JSON.stringify(rows(f.db));
    const wrong = newKey();
    const error = ringError(() => KeyRing.open(f.storage, wrong));
    expect(error.code).toBe('WRONG_MASTER_KEY');
    expect(error.where).toBe(f.where);
    expect(error.message).toBe(
      `store ${f.where}: keyring.masterKey is not the key that wraps this store's key ring (a wrong master key, or the ring was re-wrapped ` +
        'with `rampart keyring rotate` and this configuration still names the old one); nothing was read or changed',
    );
    for (const spelling of spellings(wrong)) expect(error.message).not.toContain(spelling);
    expect(JSON.stringify(rows(f.db))).toBe(before);
    // The right key still opens it.
    expect(KeyRing.open(f.storage, masterKey).secret('pepper').equals(deriveSecretPepper(masterKey))).toBe(true);
    f.close();
  });

  it('refuses a period shorter than an hour or longer than two years', () => {
    const f = fixture();
    const error = ringError(() => KeyRing.open(f.storage, newKey(), { rotateDataKeysEveryMs: 59 * 60_000 }));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toMatch(/rotateDataKeysEvery must be from 1h to 730d/);
    expect(ringError(() => KeyRing.open(f.storage, newKey(), { rotateDataKeysEveryMs: 731 * DAY })).code).toBe('INVALID_ARGUMENT');
    expect(rows(f.db)).toEqual([]);
    f.close();
  });
});

describe('key ring: hostile and damaged tables', () => {
  type Damage = (db: Database.Database, ids: Record<string, string>) => void;
  const cases: Array<[string, Damage, KeyRingErrorCode, RegExp]> = [
    [
      'a bit flipped in a wrapped data key',
      (db, ids) => {
        const wrapped = (db.prepare('SELECT wrapped FROM keyring WHERE id = ?').get(ids['secrets']) as { wrapped: string }).wrapped;
        const [v, iv, ct, tag] = wrapped.split('.') as [string, string, string, string];
        db.prepare('UPDATE keyring SET wrapped = ? WHERE id = ?').run([v, iv, flipBase64url(ct, 5), tag].join('.'), ids['secrets']);
      },
      'CORRUPT',
      /key ring entry d[\w-]{22} \(secrets\) is corrupted: wrapped key failed authentication/,
    ],
    [
      'a truncated wrapped pepper',
      (db, ids) => db.prepare('UPDATE keyring SET wrapped = substr(wrapped, 1, length(wrapped) - 6) WHERE id = ?').run(ids['pepper']),
      'CORRUPT',
      /key ring entry s[\w-]{22} \(pepper\) is corrupted: wrapped key is malformed/,
    ],
    [
      'a wrapped key cut to three fields',
      (db, ids) => db.prepare("UPDATE keyring SET wrapped = substr(wrapped, 1, instr(substr(wrapped, 4), '.') + 2) WHERE id = ?").run(ids['privacy']),
      'CORRUPT',
      /\(privacy\) is corrupted: not a w1 wrapped key/,
    ],
    [
      "the pepper's wrapped key copied onto the privacy entry (AAD binds id and purpose)",
      (db, ids) => db.prepare('UPDATE keyring SET wrapped = (SELECT wrapped FROM keyring WHERE id = ?) WHERE id = ?').run(ids['pepper'], ids['privacy']),
      'CORRUPT',
      /\(privacy\) is corrupted: wrapped key failed authentication/,
    ],
    [
      'pepper and privacy purposes swapped',
      (db, ids) => {
        db.prepare("UPDATE keyring SET purpose = 'secrets', retired_at = 1 WHERE id = ?").run(ids['pepper']);
        db.prepare("UPDATE keyring SET purpose = 'pepper' WHERE id = ?").run(ids['privacy']);
        db.prepare("UPDATE keyring SET purpose = 'privacy', retired_at = NULL WHERE id = ?").run(ids['pepper']);
      },
      'CORRUPT',
      /is corrupted: wrapped key failed authentication/,
    ],
    [
      'an entry renamed to another valid id',
      (db, ids) => db.prepare('UPDATE keyring SET id = ? WHERE id = ?').run('d' + 'A'.repeat(22), ids['secrets']),
      'CORRUPT',
      /key ring entry dA{22} \(secrets\) is corrupted: wrapped key failed authentication/,
    ],
    ['a malformed id', (db, ids) => db.prepare("UPDATE keyring SET id = '../../etc' WHERE id = ?").run(ids['secrets']), 'CORRUPT', /a key ring entry is corrupted: malformed id/],
    ['a __proto__ id', (db, ids) => db.prepare("UPDATE keyring SET id = '__proto__' WHERE id = ?").run(ids['pepper']), 'CORRUPT', /malformed id/],
    ['a negative creation time', (db, ids) => db.prepare('UPDATE keyring SET created_at = -5 WHERE id = ?').run(ids['pepper']), 'CORRUPT', /malformed creation time/],
    ['an over-long wrapped key', (db, ids) => db.prepare("UPDATE keyring SET wrapped = ? WHERE id = ?").run('w1.' + 'A'.repeat(5000), ids['pepper']), 'CORRUPT', /malformed wrapped key/],
    ['an empty wrapped key', (db, ids) => db.prepare("UPDATE keyring SET wrapped = '' WHERE id = ?").run(ids['pepper']), 'CORRUPT', /malformed wrapped key/],
    ['the pepper entry deleted', (db, ids) => db.prepare('DELETE FROM keyring WHERE id = ?').run(ids['pepper']), 'CORRUPT', /the key ring has no pepper entry \(deleted\?\)/],
    ['the KEK fingerprint deleted', (db) => db.prepare('DELETE FROM keyring_kek').run(), 'CORRUPT', /has entries but no master-key fingerprint/],
    ['a garbage KEK fingerprint', (db) => db.prepare("UPDATE keyring_kek SET fingerprint = 'zz'").run(), 'CORRUPT', /master-key fingerprint is corrupted/],
    ['another master key\'s fingerprint', (db) => db.prepare('UPDATE keyring_kek SET fingerprint = ?').run(kekFingerprint(newKey())), 'WRONG_MASTER_KEY', /is not the key that wraps/],
  ];

  it.each(cases)('refuses %s with a clear error naming the store, then opens again once repaired', (_what, damage, code, message) => {
    const f = fixture();
    const masterKey = newKey();
    const ring = KeyRing.open(f.storage, masterKey, { now: () => T0 });
    const keys = [masterKey, ring.secret('pepper'), ring.secret('privacy'), ring.secret('audit-chain'), ring.activeDataKey().key];
    const ids = Object.fromEntries(rows(f.db).map((row) => [row.purpose, row.id]));
    const backup = f.db.prepare('SELECT * FROM keyring').all() as Array<Record<string, unknown>>;
    const kekBackup = f.db.prepare('SELECT * FROM keyring_kek').all() as Array<Record<string, unknown>>;
    damage(f.db, ids);

    const error = ringError(() => KeyRing.open(f.storage, masterKey, { now: () => T0 }));
    expect(error.code).toBe(code);
    expect(error.message.startsWith(`store ${f.where}: `)).toBe(true);
    expect(error.message).toMatch(message);
    for (const key of keys) for (const spelling of spellings(key)) expect(error.message).not.toContain(spelling);

    // Restore the backup: the same ring opens with the same secrets.
    f.db.exec('DELETE FROM keyring; DELETE FROM keyring_kek;');
    const insert = f.db.prepare('INSERT INTO keyring VALUES (@id, @purpose, @wrapped, @created_at, @retired_at)');
    for (const row of backup) insert.run(row);
    for (const row of kekBackup) f.db.prepare('INSERT INTO keyring_kek VALUES (@id, @fingerprint, @created_at, @rotated_at)').run(row);
    expect(KeyRing.open(f.storage, masterKey, { now: () => T0 }).secret('pepper').equals(ring.secret('pepper'))).toBe(true);
    f.close();
  });

  it('the schema itself refuses an unknown purpose, a retired stable secret and a second active data key', () => {
    const f = fixture();
    const ring = KeyRing.open(f.storage, newKey());
    const ids = Object.fromEntries(rows(f.db).map((row) => [row.purpose, row.id]));
    expect(() => f.db.prepare("UPDATE keyring SET purpose = 'everything' WHERE id = ?").run(ids['pepper'])).toThrow(/CHECK constraint failed/);
    expect(() => f.db.prepare('UPDATE keyring SET retired_at = 1 WHERE id = ?').run(ids['pepper'])).toThrow(/CHECK constraint failed/);
    expect(() =>
      f.db.prepare("INSERT INTO keyring VALUES (?, 'secrets', 'w1.x', 1, NULL)").run('d' + 'B'.repeat(22)),
    ).toThrow(/UNIQUE constraint failed/);
    expect(() => f.db.prepare("INSERT INTO keyring_kek VALUES (2, 'ab', 1, NULL)").run()).toThrow(/CHECK constraint failed/);
    expect(ring.activeDataKey().id).toBe(ids['secrets']);
    f.close();
  });

  it('makes a new active data key when none is active (all retired), keeping the retired ones for reading', () => {
    const f = fixture();
    const masterKey = newKey();
    const ring = KeyRing.open(f.storage, masterKey, { now: () => T0 });
    const box = new SecretBox(masterKey, { dataKeys: ring });
    const sealed = box.seal('seed', 'totp_secrets:usr_1');
    f.db.prepare("UPDATE keyring SET retired_at = ? WHERE purpose = 'secrets'").run(T0);
    const reopened = KeyRing.open(f.storage, masterKey, { now: () => T0 + 1 });
    expect(reopened.activeDataKey().id).not.toBe(ring.activeDataKey().id);
    expect(new SecretBox(masterKey, { dataKeys: reopened }).open(sealed, 'totp_secrets:usr_1').toString()).toBe('seed');
    f.close();
  });
});

describe('key ring: data-key rotation', () => {
  it('rotates on demand: new values under the new key, older ones still open', () => {
    const f = fixture();
    const masterKey = newKey();
    const time = clock();
    const ring = KeyRing.open(f.storage, masterKey, { now: time.now });
    const box = new SecretBox(masterKey, { dataKeys: ring });
    const first = box.seal('first secret', 'signing_keys:k1');
    const firstKey = ring.activeDataKey().id;
    time.advance(1000);
    const created = ring.rotateDataKey();
    expect(created).toMatchObject({ purpose: 'secrets', createdAt: T0 + 1000, retiredAt: null, active: true });
    expect(ring.activeDataKey().id).toBe(created.id);
    const second = box.seal('second secret', 'signing_keys:k2');
    expect(second.split('.')[1]).toBe(created.id);
    expect(first.split('.')[1]).toBe(firstKey);
    expect(box.open(first, 'signing_keys:k1').toString()).toBe('first secret');
    expect(box.open(second, 'signing_keys:k2').toString()).toBe('second secret');
    expect(box.needsReseal(first)).toBe(true);
    expect(box.needsReseal(second)).toBe(false);
    const described = ring.describe().filter((key) => key.purpose === 'secrets');
    expect(described).toEqual([
      { id: firstKey, purpose: 'secrets', createdAt: T0, retiredAt: T0 + 1000, active: false },
      { id: created.id, purpose: 'secrets', createdAt: T0 + 1000, retiredAt: null, active: true },
    ]);
    // A fresh open (another process, a restart) reads both.
    const reopened = new SecretBox(masterKey, { dataKeys: KeyRing.open(f.storage, masterKey, { now: time.now }) });
    expect(reopened.open(first, 'signing_keys:k1').toString()).toBe('first secret');
    f.close();
  });

  it('rotates on the schedule: at open and in the daily check, once per period, never twice across processes', () => {
    const f = fixture();
    const masterKey = newKey();
    const time = clock();
    const every = 30 * DAY;
    const log = recordingLog();
    const ring = KeyRing.open(f.storage, masterKey, { now: time.now, rotateDataKeysEveryMs: every, log });
    const secretsKeys = () => rows(f.db).filter((row) => row.purpose === 'secrets');
    time.advance(every - 1);
    ring.maintain();
    expect(secretsKeys()).toHaveLength(1);
    time.advance(1);
    ring.maintain();
    expect(secretsKeys()).toHaveLength(2);
    expect(ring.activeDataKey().id).toBe(secretsKeys()[1]!.id);
    expect(log.infos.join()).toMatch(/data key rotated \(schedule\)/);

    // A second process on the same file, with the same schedule: it adopts the key instead of making another.
    const other = f.other();
    const otherRing = KeyRing.open(other.storage, masterKey, { now: time.now, rotateDataKeysEveryMs: every });
    otherRing.maintain();
    ring.maintain();
    expect(secretsKeys()).toHaveLength(2);
    expect(otherRing.activeDataKey().id).toBe(ring.activeDataKey().id);

    // Past the next period, whichever process checks first rotates; the other adopts the new key at its check.
    time.advance(every);
    otherRing.maintain();
    expect(secretsKeys()).toHaveLength(3);
    ring.maintain();
    expect(secretsKeys()).toHaveLength(3);
    expect(ring.activeDataKey().id).toBe(otherRing.activeDataKey().id);

    // Checked at open too: a start after a long stop rotates at once.
    time.advance(every * 3);
    KeyRing.open(f.storage, masterKey, { now: time.now, rotateDataKeysEveryMs: every });
    expect(secretsKeys()).toHaveLength(4);
    expect(secretsKeys().filter((row) => row.retired_at === null)).toHaveLength(1);
    expect(DEFAULT_ROTATE_DATA_KEYS_EVERY_MS).toBe(90 * DAY);
    f.close();
  });

  it('reads values sealed by another process under a data key it made after this one opened', () => {
    const f = fixture();
    const masterKey = newKey();
    const ring = KeyRing.open(f.storage, masterKey);
    const other = f.other();
    const otherRing = KeyRing.open(other.storage, masterKey);
    otherRing.rotateDataKey();
    const sealed = new SecretBox(masterKey, { dataKeys: otherRing }).seal('from the other process', 'totp_secrets:usr_9');
    expect(ring.activeDataKey().id).not.toBe(otherRing.activeDataKey().id);
    expect(new SecretBox(masterKey, { dataKeys: ring }).open(sealed, 'totp_secrets:usr_9').toString()).toBe('from the other process');
    f.close();
  });
});

describe('key ring: master-key rotation', () => {
  it('re-wraps every entry: the same keys under the new master key, the old key refused, running rings keep serving', () => {
    const f = fixture();
    const oldKey = newKey();
    const rotatedKey = newKey();
    const time = clock();
    const ring = KeyRing.open(f.storage, oldKey, { now: time.now });
    ring.rotateDataKey();
    // A "gateway" opened before the rotation, on its own connection.
    const running = f.other();
    const log = recordingLog();
    const gatewayRing = KeyRing.open(running.storage, oldKey, { now: time.now, log });
    const gatewayBox = new SecretBox(oldKey, { dataKeys: gatewayRing });
    const sealedBefore = gatewayBox.seal('seed before', 'totp_secrets:usr_1');
    const before = rows(f.db);
    const secrets = { pepper: ring.secret('pepper'), chain: ring.secret('audit-chain'), privacy: ring.secret('privacy') };

    time.advance(DAY);
    expect(ring.rotateMasterKey(rotatedKey)).toBe(5);
    const after = rows(f.db);
    expect(after.map((row) => [row.id, row.purpose, row.created_at, row.retired_at])).toEqual(before.map((row) => [row.id, row.purpose, row.created_at, row.retired_at]));
    for (const [index, row] of after.entries()) expect(row.wrapped).not.toBe(before[index]!.wrapped);
    expect(f.db.prepare('SELECT fingerprint, rotated_at FROM keyring_kek').get()).toEqual({ fingerprint: kekFingerprint(rotatedKey), rotated_at: T0 + DAY });

    // The old key no longer opens the ring; the new one opens the same keys.
    expect(ringError(() => KeyRing.open(f.storage, oldKey)).code).toBe('WRONG_MASTER_KEY');
    const fresh = KeyRing.open(f.storage, rotatedKey, { now: time.now });
    expect(fresh.secret('pepper').equals(secrets.pepper)).toBe(true);
    expect(fresh.secret('audit-chain').equals(secrets.chain)).toBe(true);
    expect(fresh.secret('privacy').equals(secrets.privacy)).toBe(true);
    expect(fresh.secret('pepper').equals(deriveSecretPepper(rotatedKey))).toBe(false);
    expect(new SecretBox(rotatedKey, { dataKeys: fresh }).open(sealedBefore, 'totp_secrets:usr_1').toString()).toBe('seed before');

    // The running process keeps sealing and opening with what it holds; what it seals now opens with the new key.
    const sealedDuring = gatewayBox.seal('seed after', 'totp_secrets:usr_2');
    expect(gatewayBox.open(sealedBefore, 'totp_secrets:usr_1').toString()).toBe('seed before');
    expect(new SecretBox(rotatedKey, { dataKeys: fresh }).open(sealedDuring, 'totp_secrets:usr_2').toString()).toBe('seed after');
    // It notices at its daily check, says so once, and never writes a key wrapped by the old master key.
    gatewayRing.maintain();
    gatewayRing.maintain();
    expect(log.warnings.filter((m) => /re-wrapped under a new master key by another process/.test(m))).toHaveLength(1);
    time.advance(400 * DAY);
    gatewayRing.maintain();
    expect(ringError(() => gatewayRing.rotateDataKey()).code).toBe('STALE_MASTER_KEY');
    expect(rows(f.db)).toHaveLength(after.length);
    // The rotating ring goes on under the new master key.
    expect(ring.rotateDataKey().active).toBe(true);
    expect(KeyRing.open(f.storage, rotatedKey, { now: time.now }).activeDataKey().id).toBe(ring.activeDataKey().id);

    // A reload that brings the new master key re-keys the running ring: a wrong key is refused and changes nothing,
    // the right one lets it make data keys again and read the one made under the new key.
    expect(ringError(() => gatewayRing.adoptMasterKey(newKey())).code).toBe('WRONG_MASTER_KEY');
    expect(ringError(() => gatewayRing.rotateDataKey()).code).toBe('STALE_MASTER_KEY');
    gatewayRing.adoptMasterKey(rotatedKey);
    gatewayRing.adoptMasterKey(rotatedKey);
    expect(gatewayRing.dataKey(ring.activeDataKey().id)?.equals(ring.activeDataKey().key)).toBe(true);
    const adopted = gatewayRing.rotateDataKey();
    expect(KeyRing.open(f.storage, rotatedKey, { now: time.now }).activeDataKey().id).toBe(adopted.id);
    f.close();
  });

  it('refuses the current key, a ring already rotated to the new key, and rolls back when the transaction fails', () => {
    const f = fixture();
    const oldKey = newKey();
    const nextKey = newKey();
    const ring = KeyRing.open(f.storage, oldKey);
    expect(ringError(() => ring.rotateMasterKey(Buffer.from(oldKey))).code).toBe('INVALID_ARGUMENT');

    const before = JSON.stringify([rows(f.db), f.db.prepare('SELECT * FROM keyring_kek').all()]);
    expect(() =>
      ring.rotateMasterKey(nextKey, () => {
        throw new Error('disk full');
      }),
    ).toThrow('disk full');
    expect(JSON.stringify([rows(f.db), f.db.prepare('SELECT * FROM keyring_kek').all()])).toBe(before);
    expect(KeyRing.open(f.storage, oldKey).secret('pepper').equals(ring.secret('pepper'))).toBe(true);

    const other = f.other();
    const otherRing = KeyRing.open(other.storage, oldKey);
    ring.rotateMasterKey(nextKey);
    expect(ringError(() => otherRing.rotateMasterKey(nextKey)).code).toBe('ALREADY_ROTATED');
    expect(ringError(() => otherRing.rotateMasterKey(newKey())).code).toBe('WRONG_MASTER_KEY');
    expect(inspectKeyRing(f.storage, nextKey)).toMatchObject({ created: true, opensWithMasterKey: true });
    expect(inspectKeyRing(f.storage, oldKey)).toMatchObject({ created: true, opensWithMasterKey: false });
    f.close();
  });
});

describe('SecretBox v2 under ring data keys', () => {
  const f = fixture();
  const masterKey = newKey();
  const ring = KeyRing.open(f.storage, masterKey);
  const box = new SecretBox(masterKey, { dataKeys: ring });
  const AAD = 'totp_secrets:usr_alice';
  const PLAINTEXT = 'JBSWY3DPEHPK3PXP-planted-seed';
  const sealed = box.seal(PLAINTEXT, AAD);
  const [version, keyId, iv, ciphertext, tag] = sealed.split('.') as [string, string, string, string, string];
  afterAll(() => f.close());

  it('seals v2 under the active data key and opens it', () => {
    expect(version).toBe('v2');
    expect(keyId).toBe(ring.activeDataKey().id);
    expect(box.keyId).toBe(keyId);
    expect(Buffer.from(iv, 'base64url')).toHaveLength(12);
    expect(Buffer.from(tag, 'base64url')).toHaveLength(16);
    expect(box.open(sealed, AAD).toString()).toBe(PLAINTEXT);
    expect(sealed).not.toContain(Buffer.from(PLAINTEXT).toString('base64url').slice(0, 12));
  });

  it('still opens v1 values sealed under the master key (before the ring), and marks them for re-sealing', () => {
    const v1 = new SecretBox(masterKey).seal(PLAINTEXT, AAD);
    expect(v1.startsWith('v1.')).toBe(true);
    expect(box.open(v1, AAD).toString()).toBe(PLAINTEXT);
    expect(box.needsReseal(v1)).toBe(true);
    expect(box.needsReseal(sealed)).toBe(false);
  });

  const otherRing = (() => {
    const g = fixture();
    return KeyRing.open(g.storage, masterKey);
  })();
  const hostile: Array<[string, () => string, string, string]> = [
    ['copied to another record', () => sealed, 'totp_secrets:usr_bob', 'AUTHENTICATION_FAILED'],
    ['copied to another table', () => sealed, 'signing_keys:usr_alice', 'AUTHENTICATION_FAILED'],
    ['relabelled as v1', () => ['v1', keyId, iv, ciphertext, tag].join('.'), AAD, 'UNKNOWN_KEY'],
    ['relabelled as v1 with the v1 key id', () => ['v1', new SecretBox(masterKey).keyId, iv, ciphertext, tag].join('.'), AAD, 'AUTHENTICATION_FAILED'],
    ['key id of another data key of the ring', () => ['v2', ring.rotateDataKey().id, iv, ciphertext, tag].join('.'), AAD, 'AUTHENTICATION_FAILED'],
    ['a data key id that is not in the ring', () => ['v2', 'd' + 'Q'.repeat(22), iv, ciphertext, tag].join('.'), AAD, 'UNKNOWN_KEY'],
    ['sealed by another store\'s ring (same master key)', () => new SecretBox(masterKey, { dataKeys: otherRing }).seal(PLAINTEXT, AAD), AAD, 'UNKNOWN_KEY'],
    ['a stable secret id as key id', () => ['v2', rows(f.db).find((r) => r.purpose === 'pepper')!.id, iv, ciphertext, tag].join('.'), AAD, 'UNKNOWN_KEY'],
    ['truncated', () => sealed.slice(0, -5), AAD, 'MALFORMED'],
    ['tag flipped', () => [version, keyId, iv, ciphertext, flipBase64url(tag, 3)].join('.'), AAD, 'AUTHENTICATION_FAILED'],
    ['ciphertext flipped', () => [version, keyId, iv, flipBase64url(ciphertext, 1), tag].join('.'), AAD, 'AUTHENTICATION_FAILED'],
    ['__proto__ key id', () => ['v2', '__proto__', iv, ciphertext, tag].join('.'), AAD, 'UNKNOWN_KEY'],
    ['an extra field', () => `${sealed}.x`, AAD, 'MALFORMED'],
  ];
  it.each(hostile)('refuses a v2 value %s', (_what, input, aad, code) => {
    let caught: unknown;
    try {
      box.open(input(), aad);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(SecretBoxError);
    expect((caught as SecretBoxError).code).toBe(code);
    expect((caught as Error).message).not.toContain(PLAINTEXT);
    // After hostile input the box still works.
    expect(box.open(sealed, AAD).toString()).toBe(PLAINTEXT);
  });
});
