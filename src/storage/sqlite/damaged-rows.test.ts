/**
 * Stored data is input too: damaged rows in every table a list method decodes, on real SQLite files. Without a
 * handler the list fails closed with a StoreCorruptError naming the table and record (never the value); with one
 * (ports.ts `DamagedRecordHandler`) the readable rows come back in order and the handler gets one error per damaged
 * row. Sealed columns are not read by any list method: damaging one leaves the lists alone and fails the one read
 * that opens it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { generateMasterKey, parseMasterKey } from '../../crypto/master-key.ts';
import { openMemoryStores } from '../memory/index.ts';
import { StoreCorruptError, type Stores } from '../ports.ts';
import { decodeRows } from '../shared.ts';
import { SecretBox } from '../../crypto/secret-box.ts';
import { openSqliteStores } from './index.ts';
import { openSqliteKeyRing, verifySealedValues } from './keyring.ts';

const T0 = 1_750_000_000_000;
/** Planted in every damaged value: no error message may repeat it. */
const MARKER = 'MARKER-7f3a';
const scratch = mkdtempSync(join(tmpdir(), 'rampart-damaged-'));
let fileCounter = 0;

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface Opened {
  readonly stores: Stores;
  readonly raw: Database.Database;
  readonly path: string;
  readonly masterKey: Buffer;
}
const opened: Opened[] = [];
afterEach(async () => {
  for (const { stores, raw } of opened.splice(0)) {
    raw.close();
    await stores.close();
  }
});

/** Three records of every kind, created at T0, T0+1, T0+2 (list order), for user u1, consumer c1 and subject u1. */
async function seeded(): Promise<Opened> {
  const path = join(scratch, `store-${(fileCounter += 1)}.db`);
  const masterKey = parseMasterKey(generateMasterKey());
  const stores = openSqliteStores(path, { masterKey });
  const { identities, sessions } = stores;
  for (const n of [1, 2, 3]) {
    const createdAt = T0 + n - 1;
    await identities.createConsumer({ id: `c${n}`, name: `consumer-${n}`, roles: ['r'], createdAt });
    await identities.createUser({ id: `u${n}`, username: `user-${n}`, passwordHash: 'h', roles: ['r'], createdAt });
    await identities.createOAuthClient({ clientId: `o${n}`, secretHash: 's', name: `client ${n}`, roles: ['r'], scopes: ['a:b'], createdAt });
    await identities.addSigningKey({ kid: `s${n}`, alg: 'ES256', privateJwk: { kty: 'EC', d: `private-${n}` }, publicJwk: { kty: 'EC' }, createdAt, activatedAt: createdAt });
  }
  for (const n of [1, 2, 3]) {
    const createdAt = T0 + n - 1;
    await identities.createApiKey({ id: `k${n}`, consumerId: 'c1', prefix: `rk_test_000${n}`, hash: 'h', scopes: ['a:b'], expiresAt: null, createdAt });
    await identities.addWebAuthnCredential({ id: `w${n}`, userId: 'u1', publicKey: new Uint8Array([n]), counter: 0, transports: ['usb'], createdAt });
    await sessions.createSession({ idHash: `${'abc'[n - 1]!.repeat(8)}-session-hash`, userId: 'u1', createdAt, absoluteExpiresAt: T0 + 3_600_000, idleTimeoutMs: 600_000, amr: ['pwd'] });
    await sessions.createRefreshFamily({ id: `f${n}`, subject: 'u1', scopes: ['openid'], amr: ['pwd'], authTime: T0, createdAt, expiresAt: T0 + 86_400_000, tokenHash: `t${n}` });
  }
  const result = { stores, raw: new Database(path), path, masterKey };
  opened.push(result);
  return result;
}

interface ListCase {
  /** The list method, as the test names it. */
  readonly method: string;
  readonly table: string;
  /** The primary-key column, and the id of the second row (the one damaged). */
  readonly key: string;
  readonly damagedKey: string;
  /** The id StoreCorruptError carries (sessions: the first 8 characters of the id hash). */
  readonly recordId: string;
  readonly columns: readonly string[];
  /** The ids of the readable rows, in list order. */
  readonly list: (stores: Stores, onDamaged?: (error: StoreCorruptError) => void) => Promise<string[]>;
  readonly readable: readonly string[];
}

const lists: readonly ListCase[] = [
  { method: 'listConsumers()', table: 'consumers', key: 'id', damagedKey: 'c2', recordId: 'c2', columns: ['roles'], readable: ['c1', 'c3'], list: async (s, h) => (await s.identities.listConsumers(h)).map((r) => r.id) },
  { method: 'listApiKeys()', table: 'api_keys', key: 'id', damagedKey: 'k2', recordId: 'k2', columns: ['scopes'], readable: ['k1', 'k3'], list: async (s, h) => (await s.identities.listApiKeys(undefined, h)).map((r) => r.id) },
  { method: 'listApiKeys(consumerId)', table: 'api_keys', key: 'id', damagedKey: 'k2', recordId: 'k2', columns: ['scopes'], readable: ['k1', 'k3'], list: async (s, h) => (await s.identities.listApiKeys('c1', h)).map((r) => r.id) },
  { method: 'listUsers()', table: 'users', key: 'id', damagedKey: 'u2', recordId: 'u2', columns: ['roles'], readable: ['u1', 'u3'], list: async (s, h) => (await s.identities.listUsers(h)).map((r) => r.id) },
  {
    method: 'listWebAuthnCredentials(userId)',
    table: 'webauthn_credentials',
    key: 'id',
    damagedKey: 'w2',
    recordId: 'w2',
    columns: ['transports'],
    readable: ['w1', 'w3'],
    list: async (s, h) => (await s.identities.listWebAuthnCredentials('u1', h)).map((r) => r.id),
  },
  {
    method: 'listOAuthClients()',
    table: 'oauth_clients',
    key: 'client_id',
    damagedKey: 'o2',
    recordId: 'o2',
    columns: ['roles', 'scopes'],
    readable: ['o1', 'o3'],
    list: async (s, h) => (await s.identities.listOAuthClients(h)).map((r) => r.clientId),
  },
  { method: 'listSigningKeys()', table: 'signing_keys', key: 'kid', damagedKey: 's2', recordId: 's2', columns: ['public_jwk'], readable: ['s1', 's3'], list: async (s, h) => (await s.identities.listSigningKeys(h)).map((r) => r.kid) },
  {
    method: 'listUserSessions(userId, now)',
    table: 'sessions',
    key: 'id_hash',
    damagedKey: 'bbbbbbbb-session-hash',
    recordId: 'bbbbbbbb',
    columns: ['amr'],
    readable: ['aaaaaaaa', 'cccccccc'],
    list: async (s, h) => (await s.sessions.listUserSessions('u1', T0 + 10, h)).map((r) => r.idHash.slice(0, 8)),
  },
  {
    method: 'listAllUserSessions(userId)',
    table: 'sessions',
    key: 'id_hash',
    damagedKey: 'bbbbbbbb-session-hash',
    recordId: 'bbbbbbbb',
    columns: ['amr'],
    readable: ['aaaaaaaa', 'cccccccc'],
    list: async (s, h) => (await s.sessions.listAllUserSessions('u1', h)).map((r) => r.idHash.slice(0, 8)),
  },
  {
    method: 'listSubjectRefreshFamilies(subject)',
    table: 'refresh_families',
    key: 'id',
    damagedKey: 'f2',
    recordId: 'f2',
    columns: ['scopes', 'amr'],
    readable: ['f1', 'f3'],
    list: async (s, h) => (await s.sessions.listSubjectRefreshFamilies('u1', h)).map((r) => r.id),
  },
];

/** Damaged values a JSON column may hold, and the reason the store gives for each. */
const damages: ReadonlyArray<{ readonly name: string; readonly value: (column: string) => string; readonly reason: (column: string) => RegExp }> = [
  { name: 'not JSON', value: () => `{${MARKER}`, reason: (column) => new RegExp(`column ${column} is not valid JSON`) },
  { name: 'truncated JSON', value: () => `["${MARKER}"`, reason: (column) => new RegExp(`column ${column} is not valid JSON`) },
  { name: 'empty text', value: () => '', reason: (column) => new RegExp(`column ${column} is not valid JSON`) },
  {
    name: 'JSON of the wrong shape (an object where a list belongs, a list where an object belongs)',
    value: (column) => (column === 'public_jwk' ? `["${MARKER}"]` : `{"${MARKER}":1}`),
    reason: (column) => new RegExp(`column ${column} is not a (list of strings|JSON object)`),
  },
  {
    name: 'JSON of the wrong shape (numbers in a list, null for an object)',
    value: (column) => (column === 'public_jwk' ? 'null' : `[1, "${MARKER}"]`),
    reason: (column) => new RegExp(`column ${column} is not a (list of strings|JSON object)`),
  },
];

const cases = lists.flatMap((list) => list.columns.flatMap((column) => damages.map((damage) => ({ list, column, damage }))));

describe('sqlite list methods over a damaged row', () => {
  it.each(cases.map((c) => [`${c.list.method}: ${c.list.table}.${c.column} ${c.damage.name}`, c] as const))(
    '%s',
    async (_name, { list, column, damage }) => {
      const { stores, raw } = await seeded();
      expect(await list.list(stores)).toHaveLength(3);
      raw.prepare(`UPDATE ${list.table} SET ${column} = ? WHERE ${list.key} = ?`).run(damage.value(column), list.damagedKey);

      // (i) No handler: the whole call fails closed, naming table and record, never the value.
      const error = await list.list(stores).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(StoreCorruptError);
      expect(error).toMatchObject({ code: 'CORRUPT', table: list.table, recordId: list.recordId });
      expect((error as StoreCorruptError).reason).toMatch(damage.reason(column));
      expect((error as Error).message).toBe(`stored record ${list.table} "${list.recordId}" is unreadable: ${(error as StoreCorruptError).reason}`);
      expect((error as Error).message).not.toContain(MARKER);

      // (ii) With a handler: the readable rows in order, one error for the damaged one.
      const reported: StoreCorruptError[] = [];
      expect(await list.list(stores, (e) => reported.push(e))).toEqual(list.readable);
      expect(reported).toHaveLength(1);
      expect(reported[0]).toBeInstanceOf(StoreCorruptError);
      expect(reported[0]).toMatchObject({ table: list.table, recordId: list.recordId });

      // The row is left as it is, for an operator to inspect.
      expect(raw.prepare(`SELECT ${column} AS value FROM ${list.table} WHERE ${list.key} = ?`).get(list.damagedKey)).toEqual({ value: damage.value(column) });
    },
  );

  it('reports every damaged row, in list order, and returns the rest (none readable: an empty list)', async () => {
    const { stores, raw } = await seeded();
    raw.prepare("UPDATE api_keys SET scopes = 'nope' WHERE id IN ('k1', 'k3')").run();
    const reported: string[] = [];
    expect((await stores.identities.listApiKeys('c1', (e) => reported.push(e.recordId))).map((k) => k.id)).toEqual(['k2']);
    expect(reported).toEqual(['k1', 'k3']);
    raw.prepare("UPDATE api_keys SET scopes = 'nope' WHERE id = 'k2'").run();
    reported.length = 0;
    expect(await stores.identities.listApiKeys('c1', (e) => reported.push(e.recordId))).toEqual([]);
    expect(reported).toEqual(['k1', 'k2', 'k3']);
  });

  it('a damaged sealed column (private signing key, TOTP seed) leaves the lists alone and fails the read that opens it', async () => {
    const { stores, raw, path, masterKey } = await seeded();
    // A sealed value moved from another record does not open (bound to its record), nor does garbage.
    raw.prepare("UPDATE signing_keys SET sealed_private_jwk = (SELECT sealed_private_jwk FROM signing_keys WHERE kid = 's1') WHERE kid = 's2'").run();
    raw.prepare("UPDATE signing_keys SET sealed_private_jwk = ? WHERE kid = 's3'").run(`v2.${MARKER}`);
    await stores.identities.setTotpSecret('u2', Buffer.alloc(20, 9), T0);
    raw.prepare("UPDATE totp_secrets SET sealed_secret = ? WHERE user_id = 'u2'").run(MARKER);

    const reported: StoreCorruptError[] = [];
    expect((await stores.identities.listSigningKeys((e) => reported.push(e))).map((k) => k.kid)).toEqual(['s1', 's2', 's3']);
    expect((await stores.identities.listUsers((e) => reported.push(e))).map((u) => u.id)).toEqual(['u1', 'u2', 'u3']);
    expect(reported).toEqual([]);
    // Enrolment metadata (what listings and exports show) never opens the seed.
    expect(await stores.identities.getTotpEnrolment('u2')).toMatchObject({ userId: 'u2', createdAt: T0 });

    for (const [read, table, id] of [
      [() => stores.identities.getSigningKeyPrivateJwk('s2'), 'signing_keys', 's2'],
      [() => stores.identities.getSigningKeyPrivateJwk('s3'), 'signing_keys', 's3'],
      [() => stores.identities.getTotp('u2'), 'totp_secrets', 'u2'],
    ] as const) {
      const error = await read().then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(StoreCorruptError);
      expect(error).toMatchObject({ table, recordId: id });
      expect((error as Error).message).not.toContain(MARKER);
    }
    expect(await stores.identities.getSigningKeyPrivateJwk('s1')).toEqual({ kty: 'EC', d: 'private-1' });

    // Opening the store again verifies every sealed value (keyring.ts verifySealedValues): each damaged one is
    // logged by table and record, never by value, and the store serves. Reads of the damaged records still fail
    // closed; the others work.
    await stores.close();
    const warnings: Array<{ details: Record<string, unknown>; message: string }> = [];
    const log = { warn: (details: Record<string, unknown>, message: string) => warnings.push({ details, message }) };
    const reopened = openSqliteStores(path, { masterKey, keyring: { log } });
    try {
      const damaged = warnings.filter((w) => w.message.startsWith('damaged sealed value'));
      expect(damaged.map((w) => [w.details.table, w.details.record])).toEqual([
        ['totp_secrets', 'u2'],
        ['signing_keys', 's2'],
        ['signing_keys', 's3'],
      ]);
      expect(damaged.every((w) => w.details.store === `sqlite:${path}` && typeof w.details.reason === 'string')).toBe(true);
      expect(JSON.stringify(warnings)).not.toContain(MARKER);
      await expect(reopened.identities.getTotp('u2')).rejects.toMatchObject({ name: 'StoreCorruptError', table: 'totp_secrets', recordId: 'u2' });
      await expect(reopened.identities.getSigningKeyPrivateJwk('s3')).rejects.toBeInstanceOf(StoreCorruptError);
      expect(await reopened.identities.getSigningKeyPrivateJwk('s1')).toEqual({ kty: 'EC', d: 'private-1' });
      expect((await reopened.identities.listUsers()).map((u) => u.id)).toEqual(['u1', 'u2', 'u3']);
    } finally {
      await reopened.close();
    }
  });

  it('verifySealedValues without a handler stays strict: the first damaged value stops it, naming the record', async () => {
    const { stores, raw, path, masterKey } = await seeded();
    await stores.identities.setTotpSecret('u2', Buffer.alloc(20, 9), T0);
    await stores.identities.setTotpSecret('u3', Buffer.alloc(20, 7), T0);
    raw.prepare("UPDATE totp_secrets SET sealed_secret = ? WHERE user_id = 'u2'").run(MARKER);
    await stores.close();
    const db = new Database(path);
    try {
      const ring = openSqliteKeyRing(db, `sqlite:${path}`, masterKey);
      const box = new SecretBox(masterKey, { dataKeys: ring });
      expect(() => verifySealedValues(db, box, `sqlite:${path}`)).toThrow(/stored record totp_secrets "u2" is unreadable: .*; refusing to serve with secrets that cannot be read/);
      const reported: StoreCorruptError[] = [];
      expect(verifySealedValues(db, box, `sqlite:${path}`, (e) => reported.push(e))).toEqual({ opened: 4, damaged: 1 });
      expect(reported.map((e) => [e.table, e.recordId])).toEqual([['totp_secrets', 'u2']]);
      expect(reported[0]!.message).not.toContain(MARKER);
    } finally {
      db.close();
    }
  });
});

describe('decodeRows (shared.ts)', () => {
  const decode = (row: string): string => {
    if (row === 'damaged') throw new StoreCorruptError('things', row, 'column x is not valid JSON');
    if (row === 'bug') throw new TypeError('not a store problem');
    return row.toUpperCase();
  };

  it('without a handler, throws the first StoreCorruptError (fail closed)', () => {
    expect(() => decodeRows(['a', 'damaged', 'b'], decode, undefined)).toThrow(StoreCorruptError);
    expect(decodeRows(['a', 'b'], decode, undefined)).toEqual(['A', 'B']);
  });

  it('with a handler, catches only StoreCorruptError: any other failure still throws', () => {
    const reported: string[] = [];
    expect(decodeRows(['a', 'damaged', 'b'], decode, (e) => reported.push(e.recordId))).toEqual(['A', 'B']);
    expect(reported).toEqual(['damaged']);
    expect(() => decodeRows(['a', 'bug', 'b'], decode, () => undefined)).toThrow(TypeError);
  });

  it('a handler that throws stops the call (the caller may still decide to fail closed)', () => {
    expect(() =>
      decodeRows(['damaged'], decode, (e) => {
        throw e;
      }),
    ).toThrow(StoreCorruptError);
  });
});

describe('memory stores hold decoded objects', () => {
  it('accept a handler and never call it', async () => {
    const stores = openMemoryStores({ masterKey: parseMasterKey(generateMasterKey()) });
    await stores.identities.createConsumer({ id: 'c1', name: 'one', roles: [], createdAt: T0 });
    await stores.identities.createApiKey({ id: 'k1', consumerId: 'c1', prefix: 'rk_test_0001', hash: 'h', scopes: null, expiresAt: null, createdAt: T0 });
    const never = (): void => {
      throw new Error('called');
    };
    expect((await stores.identities.listConsumers(never)).map((c) => c.id)).toEqual(['c1']);
    expect((await stores.identities.listApiKeys(undefined, never)).map((k) => k.id)).toEqual(['k1']);
    expect(await stores.sessions.listAllUserSessions('u1', never)).toEqual([]);
    await stores.close();
  });
});
