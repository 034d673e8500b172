/**
 * Token and key lifecycle of the built-in identity provider in the audit chain, through the running gateway
 * (issue 6): the signing key made at first start (`key.created`), RFC 7009 revocation of a refresh token and of an
 * access token (`token.revoked`), and a refresh family ended at its next use because its user was disabled
 * (`session.revoked`). The user is added with `rampart users add` before the gateway starts, so the command's entry
 * and the gateway's share one chain; `rampart audit verify` accepts it and no token is in the store's bytes.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditCategory } from '../src/audit/audit-events.ts';
import { registerAuditCommands } from '../src/cli/audit-commands.ts';
import { runCliInProcess } from '../src/cli/in-process.testkit.ts';
import { registerUserCommands } from '../src/cli/user-commands.ts';
import { generateMasterKey, parseMasterKey } from '../src/crypto/master-key.ts';
import { openStores } from '../src/storage/index.ts';
import { startTestGateway, tempDir, type TestGateway } from './helpers.ts';

const PASSWORD = 'cobalt-window-thistle-63';

interface Entry {
  readonly type: string;
  readonly actor: string;
  readonly outcome: string;
  readonly requestId: string | null;
  readonly details: Record<string, unknown>;
}

describe('identity token and key lifecycle in the audit chain', () => {
  const dir = tempDir();
  const masterKey = generateMasterKey();
  const auditDb = join(dir, 'audit.db');
  const document = {
    mode: 'development',
    listen: { host: '127.0.0.1', port: 0 },
    admin: false,
    storage: `sqlite:${join(dir, 'rampart.db')}`,
    keyring: { masterKey },
    audit: { store: `sqlite:${auditDb}` },
    identity: { issuer: 'https://rampart.test', accessTokenTtl: '10m' },
    routes: [{ id: 'auth', match: { path: '/auth/**' }, upstream: 'rampart:identity', public: true }],
  };
  const configFile = join(dir, 'rampart.json');
  let gw: TestGateway | undefined;
  const tokens: string[] = [];

  const login = async (): Promise<{ access_token: string; refresh_token: string }> => {
    const res = await fetch(`${gw!.url}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'erin', password: PASSWORD }) });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { access_token: string; refresh_token: string };
    tokens.push(body.access_token, body.refresh_token);
    return body;
  };
  const form = (path: string, fields: Record<string, string>) =>
    fetch(`${gw!.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() });

  beforeAll(async () => {
    writeFileSync(configFile, JSON.stringify(document));
    const io = { stdin: Readable.from([`${PASSWORD}\n`]), out: (line: string) => void process.stdout.write(`${line}\n`), err: (line: string) => void process.stderr.write(`${line}\n`), now: Date.now };
    const added = await runCliInProcess((program) => registerUserCommands(program, io), 'users', 'add', 'erin', '--roles', 'customer', '--password-stdin', '-c', configFile);
    expect(added.code).toBe(0);
    gw = await startTestGateway(document, { configFile });
  });

  afterAll(async () => {
    await gw?.close();
  });

  it('records revocations, a family ended for a disabled user and the first signing key; the chain verifies without tokens', async () => {
    // RFC 7009 by the token holder (first-party tokens need no client authentication).
    const first = await login();
    expect((await form('/auth/revoke', { token: first.refresh_token, token_type_hint: 'refresh_token' })).status).toBe(200);
    // Revoking it again changes nothing and records nothing.
    expect((await form('/auth/revoke', { token: first.refresh_token })).status).toBe(200);
    const second = await login();
    expect((await form('/auth/revoke', { token: second.access_token, token_type_hint: 'access_token' })).status).toBe(200);
    // Garbage: 200 (RFC 7009 §2.2), nothing recorded.
    expect((await form('/auth/revoke', { token: 'not-a-token' })).status).toBe(200);

    // The user is disabled behind the gateway's back: the family ends at its next use.
    const third = await login();
    const stores = openStores(document.storage, { masterKey: parseMasterKey(masterKey) });
    const erin = (await stores.identities.findUserByUsername('erin'))!;
    await stores.identities.updateUser(erin.id, { disabled: true });
    await stores.close();
    const refused = await form('/auth/token', { grant_type: 'refresh_token', refresh_token: third.refresh_token });
    expect(refused.status).toBe(400);

    await gw!.close();
    gw = undefined;

    const verify = await runCliInProcess(registerAuditCommands, 'audit', 'verify', '-c', configFile);
    expect(verify.stdout).toMatch(/audit chain intact/);
    expect(verify.code).toBe(0);
    const exported = await runCliInProcess(registerAuditCommands, 'audit', 'export', '-c', configFile);
    expect(exported.code).toBe(0);
    const entries = exported.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Entry);
    const lifecycle = entries.filter((e) => ['user.', 'key.', 'token.', 'session.'].some((prefix) => e.type.startsWith(prefix)));
    expect(lifecycle.map((e) => e.type)).toEqual(['user.created', 'key.created', 'token.revoked', 'token.revoked', 'session.revoked']);
    expect(lifecycle.map((e) => auditCategory(e.type))).toEqual(['identity', 'key-lifecycle', 'session', 'session', 'session']);
    for (const entry of lifecycle) expect(entry.outcome).toBe('success');

    const [created, key, refreshRevoked, accessRevoked, familyEnded] = lifecycle as [Entry, Entry, Entry, Entry, Entry];
    expect(created.actor).toMatch(/^cli:/);
    expect(created.details).toMatchObject({ userId: erin.id });
    expect(key.actor).toBe('rampart');
    expect(key.details).toMatchObject({ kind: 'token-signing', reason: 'first key', alg: 'ES256' });
    expect(key.details['kid']).toBe(decodeJwtKid(first.access_token));

    expect(refreshRevoked.actor).toBe(erin.id);
    expect(refreshRevoked.requestId).not.toBeNull();
    expect(refreshRevoked.details).toMatchObject({ tokenType: 'refresh_token', subject: erin.id, clientId: 'rampart', revokedBy: 'token-holder', revokedByClientId: null });
    expect(refreshRevoked.details['familyId']).toMatch(/^rtf_/);
    expect(accessRevoked.details).toMatchObject({ tokenType: 'access_token', subject: erin.id, jti: decodeJwt(second.access_token).jti, revokedBy: 'token-holder' });
    expect(accessRevoked.details['familyId']).toBe(decodeJwt(second.access_token)['sid']);
    expect(familyEnded.details).toMatchObject({ subject: erin.id, reason: 'user deleted or disabled', refreshFamilies: 1 });

    const raw = readdirSync(dir)
      .filter((file) => file.startsWith('audit.db'))
      .map((file) => readFileSync(join(dir, file)).toString('latin1'))
      .join('');
    for (const token of tokens) expect(raw.includes(token), 'a token is in the audit store').toBe(false);
    expect(raw.includes(PASSWORD)).toBe(false);
  });
});

function decodeJwtKid(token: string): string {
  const header = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString('utf8')) as { kid: string };
  return header.kid;
}
