/**
 * Export and erasure with the audit chain on a real PostgreSQL server (DATABASE_URL, default
 * postgres://postgres@127.0.0.1:5432/test, a schema of its own, dropped at the end): events go through the same
 * sink the gateway installs (redaction, pseudonyms, keyed chain), then `bin/rampart.js` runs `privacy export`,
 * `privacy erase --yes` and `audit verify` in child processes, and plain SQL checks what is left in the table.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { openAuditFromConfig } from '../src/audit/configured.ts';
import { openConfiguredStores } from '../src/storage/configured.ts';
import { loadTestConfig, tempDir } from './helpers.ts';

vi.setConfig({ testTimeout: 120_000, hookTimeout: 60_000 });

const BIN = fileURLToPath(new URL('../bin/rampart.js', import.meta.url));
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `rampart_privacy_pg_${process.pid}_${randomBytes(3).toString('hex')}`;
let admin: pg.Client;

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 90_000 }, (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

beforeAll(async () => {
  admin = new pg.Client({ connectionString: DATABASE_URL });
  try {
    await admin.connect();
  } catch (error) {
    throw new Error(`PostgreSQL does not answer at ${DATABASE_URL.replace(/:[^:@/]*@/, ':…@')} (${(error as Error).message}); start it or set DATABASE_URL`);
  }
});

afterAll(async () => {
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
});

describe('privacy erase with a PostgreSQL audit chain', () => {
  it('exports, erases, and the chain still verifies; the other subject is untouched', async () => {
    const dir = tempDir();
    const document = {
      mode: 'development',
      listen: { host: '127.0.0.1', port: 0 },
      admin: false,
      storage: `sqlite:${join(dir, 'rampart.db')}`,
      keyring: { masterKey: randomBytes(32).toString('base64') },
      // One entry per success, so the chain below is in emission order (per-window successes come at the window's end).
      audit: { store: DATABASE_URL, schema, authSuccess: { record: 'every-request' } },
      events: { store: `sqlite:${join(dir, 'events.db')}` },
      routes: [],
    };
    const configFile = join(dir, 'rampart.json');
    writeFileSync(configFile, JSON.stringify(document));
    const config = loadTestConfig(document);
    const { stores } = await openConfiguredStores(config);
    const erin = await stores.identities.createUser({ username: 'erin.doe@example.net', passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo', roles: [], createdAt: Date.now() });
    const frank = await stores.identities.createUser({ username: 'frank', passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo', roles: [], createdAt: Date.now() });
    await stores.close();

    // The gateway's sink: redaction, pseudonyms, the keyed format 2 chain in PostgreSQL.
    const opened = await openAuditFromConfig(config, { baseDir: dir });
    const emit = (type: string, details: Record<string, unknown>, i: number) =>
      opened!.events.emit({ type, severity: 'info', requestId: `req-${i}`, routeId: 'orders', clientAddress: '203.0.113.7', details });
    emit('auth.login-succeeded', { userId: erin.id, factor: 'password' }, 1);
    emit('auth.succeeded', { subject: erin.id, method: 'identity-token' }, 2);
    emit('auth.login-succeeded', { userId: frank.id, factor: 'password' }, 3);
    emit('auth.login-failed', { reason: 'unknown-user', username: 'Erin.Doe@Example.net' }, 4);
    emit('authz.denied', { subject: frank.id, check: 'permissions' }, 5);
    await opened!.events.flush();
    await opened!.close();

    const exported = await cli('privacy', 'export', '--subject', 'erin.doe@example.net', '-c', configFile);
    expect(exported.code).toBe(0);
    const doc = JSON.parse(exported.stdout) as { audit: { entries: Array<{ requestId: string; format: number }> } };
    // Found by the user id and by the pseudonym of the username (the failed login names no user id).
    expect(doc.audit.entries.map((e) => e.requestId).sort()).toEqual(['req-1', 'req-2', 'req-4']);
    expect(doc.audit.entries.every((e) => e.format === 2)).toBe(true);

    const erase = await cli('privacy', 'erase', '--subject', erin.id, '-c', configFile, '--yes', '--json');
    expect(erase.code).toBe(0);
    expect(JSON.parse(erase.stdout)).toMatchObject({ applied: true, audit: { erased: 3, notErasable: [] }, events: { deleted: 3 } });

    const verify = await cli('audit', 'verify', '-c', configFile, '--json');
    expect(verify.code).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true, count: 6, erased: 3 });

    const { rows } = await admin.query<{ actor: string; request_id: string | null; details: string }>(`SELECT actor, request_id, details FROM ${schema}.audit_chain ORDER BY seq`);
    expect(rows.map((r) => r.actor)).toEqual(['[erased]', '[erased]', frank.id, '[erased]', frank.id, 'rampart']);
    expect(rows.filter((r) => r.actor === frank.id).map((r) => r.request_id)).toEqual(['req-3', 'req-5']);
    expect(JSON.stringify(rows)).not.toContain(erin.id);
    expect(JSON.parse(rows[5]!.details)).toMatchObject({ entries: 3, subject: expect.stringMatching(/^e:[0-9a-f]{32}$/) });
  });
});
