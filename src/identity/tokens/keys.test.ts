/**
 * A damaged signing-key row (stored data is input too) on a real SQLite file: rotation, signing and the verifier go
 * on with the readable keys; the damaged key is never chosen to sign, never published and never trusted (a token
 * naming it is refused as signed by an unknown key); it is logged once per kid, at error level, naming table, kid and
 * reason and no key material; the row itself is kept.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SignJWT } from 'jose';
import { pino, type Logger } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { generateMasterKey, parseMasterKey } from '../../crypto/master-key.ts';
import { randomToken } from '../../crypto/random.ts';
import { RecordingSecurityEvents } from '../../observe/events.ts';
import { TestClock } from '../../policies/jwt/test-harness.ts';
import { openSqliteStores } from '../../storage/sqlite/index.ts';
import type { Stores } from '../../storage/ports.ts';
import { SigningKeys } from './keys.ts';
import { ACCESS_TOKEN_TYP, StoreTokenVerifier, isRejection } from './verifier.ts';

const DAY = 86_400_000;
const ISSUER = 'https://id.rampart.test';
const AUDIENCE = 'rampart-test-api';
/** Planted in the damaged values: no log line may repeat it. */
const MARKER = 'MARKER-c41d';

interface Fixture {
  readonly stores: Stores;
  readonly raw: Database.Database;
  readonly clock: TestClock;
  /** Every log line, parsed. */
  readonly logs: Array<Record<string, unknown>>;
  readonly logger: Logger;
  keys(): SigningKeys;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function fixture(): Fixture {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-keys-'));
  const path = join(dir, 'rampart.db');
  const stores = openSqliteStores(path, { masterKey: parseMasterKey(generateMasterKey()) });
  const raw = new Database(path);
  cleanups.push(async () => {
    raw.close();
    await stores.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const clock = new TestClock(Date.UTC(2030, 0, 1));
  const logs: Array<Record<string, unknown>> = [];
  const logger: Logger = pino({ level: 'info' }, { write: (line: string) => logs.push(JSON.parse(line) as Record<string, unknown>) });
  const keys = (): SigningKeys =>
    new SigningKeys({ identities: stores.identities, alg: 'ES256', rotateEveryMs: 30 * DAY, overlapMs: DAY, accessTokenTtlMs: 10 * 60_000, now: clock.now, logger });
  return { stores, raw, clock, logs, logger, keys };
}

const published = async (keys: SigningKeys, now: number): Promise<string[]> => (await keys.publishedKeys(now)).map((key) => String(key.kid));

/** Error-level lines about damaged signing keys. */
const damageLogs = (f: Fixture): Array<Record<string, unknown>> => f.logs.filter((line) => line.level === 50 && line.table === 'signing_keys');

/** No log line holds a private key member of any key in the store, nor the planted damaged value. */
async function expectNoKeyMaterialLogged(f: Fixture): Promise<void> {
  const text = JSON.stringify(f.logs);
  expect(text).not.toContain(MARKER);
  const kids = (f.raw.prepare('SELECT kid FROM signing_keys').all() as Array<{ kid: string }>).map((row) => row.kid);
  for (const kid of kids) {
    const jwk = await f.stores.identities.getSigningKeyPrivateJwk(kid).catch(() => undefined);
    if (jwk !== undefined) expect(text).not.toContain(String(jwk['d']));
  }
}

async function tokenSignedBy(keys: SigningKeys, now: number): Promise<{ token: string; kid: string }> {
  const signing = await keys.signingKey(now);
  const iat = Math.floor(now / 1000);
  const token = await new SignJWT({ client_id: 'svc' })
    .setProtectedHeader({ alg: signing.alg, kid: signing.kid, typ: ACCESS_TOKEN_TYP })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject('svc')
    .setIssuedAt(iat)
    .setExpirationTime(iat + 600)
    .setJti(randomToken(16))
    .sign(signing.key);
  return { token, kid: signing.kid };
}

describe('signing keys with a damaged key row (SQLite)', () => {
  it('a damaged active key is left out: rotation makes a new one, the damaged kid is never published or used, logged once', async () => {
    const f = fixture();
    const keys = f.keys();
    await keys.rotateIfDue();
    const [first] = await published(keys, f.clock.ms);
    f.raw.prepare('UPDATE signing_keys SET public_jwk = ? WHERE kid = ?').run(`{"x":"${MARKER}"`, first);

    f.clock.ms += 1000;
    await expect(keys.rotateIfDue()).resolves.toBeUndefined();
    const now = await published(keys, f.clock.ms);
    expect(now).toHaveLength(1);
    expect(now).not.toContain(first);
    const signing = await keys.signingKey(f.clock.ms);
    expect(signing.kid).toBe(now[0]);

    // Reloads every refresh interval and later rotations do not log it again; another instance logs it once too.
    for (let i = 0; i < 4; i++) {
      f.clock.ms += 61_000;
      await keys.records(f.clock.ms);
      await keys.rotateIfDue();
      expect(await published(keys, f.clock.ms)).not.toContain(first);
    }
    expect(damageLogs(f)).toEqual([
      expect.objectContaining({ table: 'signing_keys', kid: first, reason: 'column public_jwk is not valid JSON', msg: expect.stringMatching(/^identity signing key record is unreadable: the key is left out/) }),
    ]);
    await expectNoKeyMaterialLogged(f);
    // The row is kept for an operator to inspect; nothing else was lost.
    expect(f.raw.prepare('SELECT public_jwk FROM signing_keys WHERE kid = ?').get(first)).toEqual({ public_jwk: `{"x":"${MARKER}"` });
  });

  it('a damaged upcoming key does not stop the schedule: the active key signs on, a readable successor takes over', async () => {
    const f = fixture();
    const keys = f.keys();
    const start = f.clock.ms;
    await keys.rotateIfDue();
    const [first] = await published(keys, f.clock.ms);
    f.clock.ms = start + 29 * DAY;
    await keys.rotateIfDue();
    const upcoming = (await published(keys, f.clock.ms)).find((kid) => kid !== first)!;
    f.raw.prepare("UPDATE signing_keys SET public_jwk = '[]' WHERE kid = ?").run(upcoming);

    f.clock.ms += 3_600_000;
    await keys.rotateIfDue();
    const listed = await published(keys, f.clock.ms);
    expect(listed).not.toContain(upcoming);
    expect(listed).toHaveLength(2);
    const successor = listed.find((kid) => kid !== first)!;
    expect((await keys.signingKey(f.clock.ms)).kid).toBe(first);

    f.clock.ms = start + 31 * DAY;
    await keys.rotateIfDue();
    expect((await keys.signingKey(f.clock.ms)).kid).toBe(successor);
    const records = await f.stores.identities.listSigningKeys(() => undefined);
    expect(records.find((record) => record.kid === first)?.retiredAt).toBe(f.clock.ms);
    expect(damageLogs(f).map((line) => [line.kid, line.reason])).toEqual([[upcoming, 'column public_jwk is not a JSON object']]);
    await expectNoKeyMaterialLogged(f);
  });

  it('a key whose private half does not open is set aside when asked to sign: a new key signs, the old one is retired and kept', async () => {
    const f = fixture();
    await f.keys().rotateIfDue();
    const [first] = (f.raw.prepare('SELECT kid FROM signing_keys').all() as Array<{ kid: string }>).map((row) => row.kid);
    f.raw.prepare('UPDATE signing_keys SET sealed_private_jwk = ? WHERE kid = ?').run(`v2.${MARKER}`, first);

    // Another process (or this one after a restart): nothing imported yet.
    const keys = f.keys();
    f.clock.ms += 1000;
    const signing = await keys.signingKey(f.clock.ms);
    expect(signing.kid).not.toBe(first);
    const records = await f.stores.identities.listSigningKeys();
    expect(records.find((record) => record.kid === first)?.retiredAt).toBe(f.clock.ms);
    // Its public half is fine: it stays published until tokens it signed before have expired, like any retired key.
    expect(await published(keys, f.clock.ms)).toEqual([first, signing.kid]);
    for (let i = 0; i < 3; i++) expect((await keys.signingKey(f.clock.ms)).kid).toBe(signing.kid);

    // Past the retirement window: unpublished, but the damaged row is not deleted by this instance.
    f.clock.ms += 11 * 60_000;
    await keys.rotateIfDue();
    expect(await published(keys, f.clock.ms)).toEqual([signing.kid]);
    expect(f.raw.prepare('SELECT count(*) AS n FROM signing_keys WHERE kid = ?').get(first)).toEqual({ n: 1 });
    expect(damageLogs(f)).toEqual([expect.objectContaining({ table: 'signing_keys', kid: first, reason: 'sealed value is malformed: expected 5 fields' })]);
    await expectNoKeyMaterialLogged(f);
  });
});

describe('the store token verifier with a damaged key row (SQLite)', () => {
  it('keeps loading the readable keys (a new key from another node included) and refuses tokens naming the damaged kid', async () => {
    const f = fixture();
    const nodeA = f.keys();
    await nodeA.rotateIfDue();
    const before = await tokenSignedBy(nodeA, f.clock.ms);
    const verifier = new StoreTokenVerifier({ identities: f.stores.identities, issuer: ISSUER, audience: AUDIENCE, clockSkewSeconds: 0, now: f.clock.now, logger: f.logger });
    await verifier.load();
    expect(isRejection(await verifier.verify(before.token, f.clock.ms))).toBe(false);

    // The key's row is damaged; another node, finding no readable active key, makes a new one and signs with it.
    f.raw.prepare('UPDATE signing_keys SET public_jwk = ? WHERE kid = ?').run(`${MARKER}`, before.kid);
    f.clock.ms += 1000;
    const nodeB = f.keys();
    await nodeB.rotateIfDue();
    const after = await tokenSignedBy(nodeB, f.clock.ms);
    expect(after.kid).not.toBe(before.kid);

    f.clock.ms += 31_000;
    const verified = await verifier.verify(after.token, f.clock.ms);
    expect(isRejection(verified)).toBe(false);
    expect(verified).toMatchObject({ kid: after.kid, subject: 'svc' });
    // Fail closed: the damaged key is no longer trusted, even though it verified a moment ago.
    for (let i = 0; i < 5; i++) {
      f.clock.ms += 2000;
      expect(await verifier.verify(before.token, f.clock.ms)).toEqual({ reason: 'unknown kid (never ours, or deleted)', severity: 'medium' });
      expect(verifier.hasKid(before.kid, f.clock.ms)).toBe(false);
    }
    expect(isRejection(await verifier.verify(after.token, f.clock.ms))).toBe(false);

    // One line per kid per instance: the verifier's, and node B's (nodeA did not read the list again).
    const lines = damageLogs(f);
    expect(lines.map((line) => line.kid)).toEqual([before.kid, before.kid]);
    expect(lines.map((line) => line.msg)).toEqual(
      expect.arrayContaining([expect.stringContaining('tokens naming this kid are refused'), expect.stringContaining('it never signs and is not published')]),
    );
    for (const line of lines) expect(line).toMatchObject({ table: 'signing_keys', reason: 'column public_jwk is not valid JSON' });
    await expectNoKeyMaterialLogged(f);
  });
});

describe('signing key lifecycle events (issue 6: key lifecycle in the audit log)', () => {
  it('reports the first key, the scheduled successor, the retirement and the deletion; never key material', async () => {
    const f = fixture();
    const events = new RecordingSecurityEvents();
    const keys = new SigningKeys({ identities: f.stores.identities, alg: 'ES256', rotateEveryMs: 30 * DAY, overlapMs: DAY, accessTokenTtlMs: 10 * 60_000, now: f.clock.now, events });
    await keys.rotateIfDue();
    expect(events.events.map((e) => e.type)).toEqual(['key.created']);
    const first = String(events.events[0]!.details!['kid']);
    expect(events.events[0]!.details).toEqual({ principal: 'rampart', kind: 'token-signing', kid: first, alg: 'ES256', reason: 'first key' });

    // Nothing is due: nothing is reported.
    f.clock.ms += DAY;
    await keys.rotateIfDue();
    expect(events.events).toHaveLength(1);

    // 29 days on, the successor is made (active in a day); a day later it signs and the first key retires.
    f.clock.ms += 28 * DAY;
    await keys.rotateIfDue();
    const rotated = events.events[1]!;
    expect(rotated.type).toBe('key.rotated');
    expect(rotated.details).toMatchObject({ kind: 'token-signing', previousKid: first, activatesAt: new Date(f.clock.ms + DAY).toISOString() });
    const second = String(rotated.details!['kid']);
    f.clock.ms += DAY;
    await keys.rotateIfDue();
    expect(events.events[2]).toMatchObject({ type: 'key.retired', details: { kid: first, successorKid: second, unusable: false } });
    // Once every token it signed has expired, it leaves the JWKS.
    f.clock.ms += 11 * 60_000;
    await keys.rotateIfDue();
    expect(events.events.slice(3)).toMatchObject([{ type: 'key.deleted', details: { kid: first } }]);

    const text = JSON.stringify(events.events);
    const jwk = await f.stores.identities.getSigningKeyPrivateJwk(second);
    expect(text).not.toContain(String(jwk!['d']));
  });
});
