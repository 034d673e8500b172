/**
 * The sealed secret vault (issue 7 point 3: webhook secrets and upstream credentials encrypted in the store) and the
 * config references `${secret:NAME}` and `${file:PATH}` (config/env.ts), against real SQLite files in temp dirs:
 * values resolved at load (and reload) and used by the running gateway (an alert receiver verifies the HMAC with the
 * stored secret; a JWT issuer's HMAC key comes from the vault and changes on reload), no plaintext in the database
 * files, a sealed value copied to another name refusing to open, a wrong or missing master key and a non-SQLite store
 * refused naming the store, a hostile table of references, and no resolved value in any message of the load.
 */
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAlertSignature } from '../src/alerts/signature.ts';
import { vaultSettingsOf } from '../src/config/env.ts';
import { loadConfigFile, loadConfigObject, type GatewayConfig, type LoadResult } from '../src/config/load.ts';
import { generateMasterKey, parseMasterKey } from '../src/crypto/master-key.ts';
import { Gateway } from '../src/gateway/server.ts';
import { AccessLog, createAppLogger } from '../src/observe/logger.ts';
import { RecordingSecurityEvents } from '../src/observe/events.ts';
import { SecretStoreError, openSecretVault, type OpenedVault } from '../src/secrets/open.ts';
import { MAX_SECRET_BYTES, SecretVaultError } from '../src/secrets/vault.ts';
import { openSqliteDatabase, openSqliteKeyRing } from '../src/storage/sqlite/index.ts';
import { startRecordingUpstream, tempDir, type RecordingUpstream } from './helpers.ts';

const HOOK_SECRET = 'hook-secret-9f8e7d6c5b4a39281706f5e4d3c2b1a0';
const BASE = ['listen: { host: 127.0.0.1, port: 0, http: refuse }', 'admin: false', 'routes:', '  - { id: status, match: { path: /status }, upstream: "http://127.0.0.1:9", public: true }'];

function writeConfig(dir: string, lines: string[], name = 'rampart.yaml'): string {
  const file = join(dir, name);
  writeFileSync(file, [...lines, ...BASE, ''].join('\n'));
  return file;
}

/** Opens the vault the way `rampart secrets` does: from a config document's store settings (mode, storage, keyring). */
function vaultOf(dir: string, document: Record<string, unknown>, env: Record<string, string> = {}): OpenedVault {
  const found = vaultSettingsOf(document, { env, baseDir: dir });
  if ('problem' in found) throw new Error(found.problem);
  return openSecretVault(found.settings, { create: true })!;
}

function expectOk(result: LoadResult): GatewayConfig {
  if (!result.ok) throw new Error(`expected a valid config, got:\n${result.errors.join('\n')}`);
  return result.config;
}

function expectErrors(result: LoadResult): string[] {
  if (result.ok) throw new Error('expected the config to be refused');
  return result.errors;
}

/** Every file SQLite keeps for the database, read by a child process (reading here would drop this process's locks). */
function rawDatabaseBytes(db: string): Buffer {
  const dir = db.slice(0, db.lastIndexOf('/'));
  const base = db.slice(dir.length + 1);
  const files = readdirSync(dir)
    .filter((name) => name.startsWith(base) && !name.endsWith('.master-key'))
    .map((name) => join(dir, name));
  return execFileSync('cat', files, { maxBuffer: 64 * 1024 * 1024 });
}

function spellings(value: string): Buffer[] {
  const bytes = Buffer.from(value, 'utf8');
  return [bytes, Buffer.from(bytes.toString('hex')), Buffer.from(bytes.toString('base64')), Buffer.from(bytes.toString('base64url'))];
}

describe('the vault in the SQLite store', () => {
  it('seals each value under the key ring data key: no plaintext in the database or its WAL, names and dates listed', () => {
    const dir = tempDir();
    const masterKey = generateMasterKey();
    const opened = vaultOf(dir, { mode: 'production', storage: 'sqlite:./rampart.db', keyring: { masterKey } });
    try {
      expect(opened.vault.set('hook', HOOK_SECRET, 1000)).toBe('created');
      expect(opened.vault.set('hook', HOOK_SECRET + '-v2', 2000)).toBe('updated');
      expect(opened.vault.set('other.name_1-x', 'x'.repeat(MAX_SECRET_BYTES), 3000)).toBe('created');
      expect(opened.vault.get('hook')).toBe(HOOK_SECRET + '-v2');
      expect(opened.vault.get('absent')).toBeUndefined();
      expect(opened.vault.list()).toEqual([
        { name: 'hook', createdAt: 1000, updatedAt: 2000 },
        { name: 'other.name_1-x', createdAt: 3000, updatedAt: 3000 },
      ]);
      // Read while the store is open: the WAL still holds the pages written, the old value's included.
      const db = join(dir, 'rampart.db');
      expect(existsSync(`${db}-wal`)).toBe(true);
      const raw = rawDatabaseBytes(db);
      for (const value of [HOOK_SECRET, HOOK_SECRET + '-v2']) for (const spelling of spellings(value)) expect(raw.includes(spelling)).toBe(false);
      expect(raw.includes(Buffer.from('rampart/secret/hook'))).toBe(false);
      const check = new Database(db, { readonly: true });
      const row = check.prepare("SELECT sealed FROM secrets WHERE name = 'hook'").get() as { sealed: string };
      check.close();
      expect(row.sealed).toMatch(/^v2\.d[A-Za-z0-9_-]{22}\./);
      expect(opened.vault.delete('hook')).toBe(true);
      expect(opened.vault.delete('hook')).toBe(false);
      expect(opened.vault.list().map((info) => info.name)).toEqual(['other.name_1-x']);
    } finally {
      opened.close();
    }
  });

  it.each([
    ['', 'INVALID_NAME'],
    ['a/b', 'INVALID_NAME'],
    ['a b', 'INVALID_NAME'],
    ['x'.repeat(129), 'INVALID_NAME'],
    ['${env:X}', 'INVALID_NAME'],
    ['é', 'INVALID_NAME'],
  ])('refuses the name %j', (name, code) => {
    const opened = vaultOf(tempDir(), { mode: 'development' });
    try {
      expect(() => opened.vault.set(name, 'value')).toThrow(expect.objectContaining({ code }) as Error);
    } finally {
      opened.close();
    }
  });

  it('refuses an empty value and one over 64 KiB (counted in UTF-8 bytes)', () => {
    const opened = vaultOf(tempDir(), { mode: 'development' });
    try {
      expect(() => opened.vault.set('a', '')).toThrow(SecretVaultError);
      expect(() => opened.vault.set('a', 'x'.repeat(MAX_SECRET_BYTES + 1))).toThrow(/larger than 64 KiB/);
      expect(() => opened.vault.set('a', 'é'.repeat(MAX_SECRET_BYTES / 2 + 1))).toThrow(/larger than 64 KiB/);
      expect(opened.vault.list()).toEqual([]);
    } finally {
      opened.close();
    }
  });

  it('a sealed value copied onto another name does not open, and the load says which secret and why, not its value', () => {
    const dir = tempDir();
    const opened = vaultOf(dir, { mode: 'development' });
    opened.vault.set('hook', HOOK_SECRET);
    opened.close();
    const raw = new Database(join(dir, 'rampart.db'));
    raw.prepare("INSERT INTO secrets (name, sealed, created_at, updated_at) SELECT 'stolen', sealed, created_at, updated_at FROM secrets WHERE name = 'hook'").run();
    raw.close();
    const file = writeConfig(dir, ['mode: development', 'alerts: [{ webhook: "http://127.0.0.1:9/hook", secret: "${secret:stolen}" }]']);
    const errors = expectErrors(loadConfigFile(file, { env: {} }));
    expect(errors[0]).toBe(
      `alerts[0].secret: store sqlite:${join(dir, 'rampart.db')}: secret "stolen" cannot be decrypted: sealed value failed authentication: it was altered, belongs to another record, or was sealed under another key`,
    );
    expect(errors.join('\n')).not.toContain(HOOK_SECRET);
    // The original still opens.
    const again = writeConfig(dir, ['mode: development', 'alerts: [{ webhook: "http://127.0.0.1:9/hook", secret: "${secret:hook}" }]'], 'again.yaml');
    expect((expectOk(loadConfigFile(again, { env: {} })).document.alerts as Array<{ secret: string }>)[0]!.secret).toBe(HOOK_SECRET);
  });

  it('values sealed before a data-key rotation still open; new ones are sealed under the new key', () => {
    const dir = tempDir();
    const masterKey = generateMasterKey();
    const settings = { mode: 'production', keyring: { masterKey: '${env:MK}' } };
    const opened = vaultOf(dir, settings, { MK: masterKey });
    opened.vault.set('before', 'sealed-before-rotation-0123456789abcdef');
    opened.close();
    const db = openSqliteDatabase(join(dir, 'rampart.db'));
    const ring = openSqliteKeyRing(db, `sqlite:${join(dir, 'rampart.db')}`, parseMasterKey(masterKey));
    const previous = ring.activeDataKey().id;
    const rotated = ring.rotateDataKey().id;
    db.close();
    expect(rotated).not.toBe(previous);
    const reopened = vaultOf(dir, settings, { MK: masterKey });
    try {
      reopened.vault.set('after', 'sealed-after-rotation-0123456789abcdef');
      expect(reopened.vault.get('before')).toBe('sealed-before-rotation-0123456789abcdef');
      expect(reopened.vault.get('after')).toBe('sealed-after-rotation-0123456789abcdef');
    } finally {
      reopened.close();
    }
    const raw = new Database(join(dir, 'rampart.db'), { readonly: true });
    const keyIds = raw.prepare('SELECT name, sealed FROM secrets ORDER BY name').all() as Array<{ name: string; sealed: string }>;
    raw.close();
    expect(keyIds.map((row) => [row.name, row.sealed.split('.')[1]])).toEqual([
      ['after', rotated],
      ['before', previous],
    ]);
  });
});

describe('${secret:NAME} in the config', () => {
  it('resolves at load in production with the configured master key; a wrong or missing key and a non-SQLite store are refused naming the store', () => {
    const dir = tempDir();
    const key = generateMasterKey();
    const store = `sqlite:${join(dir, 'rampart.db')}`;
    const settings = ['mode: production', 'keyring: { masterKey: "${env:MK}" }'];
    const found = vaultSettingsOf({ mode: 'production', keyring: { masterKey: '${env:MK}' } }, { env: { MK: key }, baseDir: dir });
    if ('problem' in found) throw new Error(found.problem);
    const opened = openSecretVault(found.settings, { create: true })!;
    opened.vault.set('hook', HOOK_SECRET);
    opened.close();
    const file = writeConfig(dir, [...settings, 'alerts: [{ webhook: "http://127.0.0.1:9/hook", secret: "${secret:hook}" }, { webhook: "http://127.0.0.1:9/b", secret: "${secret:hook}" }]']);
    const config = expectOk(loadConfigFile(file, { env: { MK: key } }));
    expect((config.document.alerts as Array<{ secret: string }>).map((a) => a.secret)).toEqual([HOOK_SECRET, HOOK_SECRET]);
    expect(JSON.stringify(config.warnings)).not.toContain(HOOK_SECRET);

    const wrong = expectErrors(loadConfigFile(file, { env: { MK: generateMasterKey() } }));
    expect(wrong.slice(0, 2)).toEqual([
      `alerts[0].secret: secret "hook" cannot be read: store ${store}: keyring.masterKey is not the key that wraps this store's key ring (a wrong master key, or the ring was re-wrapped with \`rampart keyring rotate\` and this configuration still names the old one); nothing was read or changed`,
      `alerts[1].secret: secret "hook" cannot be read: store ${store}: keyring.masterKey is not the key that wraps this store's key ring (a wrong master key, or the ring was re-wrapped with \`rampart keyring rotate\` and this configuration still names the old one); nothing was read or changed`,
    ]);

    const noKey = writeConfig(dir, ['mode: production', 'alerts: [{ webhook: "http://127.0.0.1:9/hook", secret: "${secret:hook}" }]'], 'no-key.yaml');
    expect(expectErrors(loadConfigFile(noKey, { env: {} }))[0]).toMatch(
      new RegExp(`^alerts\\[0\\]\\.secret: secret "hook" cannot be read: store ${store.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: keyring\\.masterKey: is required in production`),
    );
    const badKey = writeConfig(dir, ['mode: production', 'keyring: { masterKey: "${env:MK}" }', 'alerts: [{ webhook: "http://127.0.0.1:9/hook", secret: "${secret:hook}" }]'], 'bad-key.yaml');
    const badKeyErrors = expectErrors(loadConfigFile(badKey, { env: { MK: 'not-a-key-but-long-enough' } }));
    expect(badKeyErrors[0]).toMatch(/^alerts\[0\]\.secret: secret "hook" cannot be read: store sqlite:.*: keyring\.masterKey: /);
    expect(badKeyErrors.join('\n')).not.toContain('not-a-key-but-long-enough');

    for (const storage of ['memory:', 'sqlite::memory:']) {
      const memory = writeConfig(dir, [`storage: "${storage}"`, 'mode: development', 'alerts: [{ webhook: "http://127.0.0.1:9/hook", secret: "${secret:hook}" }]'], 'memory.yaml');
      expect(expectErrors(loadConfigFile(memory, { env: {} }))[0]).toBe(
        `alerts[0].secret: secret "hook" cannot be read: storage is ${storage}: secrets live in a SQLite file store; configure storage: sqlite:<path>`,
      );
    }
  });

  it('names the missing secret and the store, and does not create a store that does not exist', () => {
    const dir = tempDir();
    const file = writeConfig(dir, ['mode: development', 'storage: sqlite:./data/rampart.db', 'alerts: [{ webhook: "http://127.0.0.1:9/hook", secret: "${secret:hook-key}" }]']);
    expect(expectErrors(loadConfigFile(file, { env: {} }))[0]).toBe(
      `alerts[0].secret: secret "hook-key" is not in the store sqlite:${join(dir, 'data', 'rampart.db')} (add it with rampart secrets set hook-key)`,
    );
    expect(existsSync(join(dir, 'data'))).toBe(false);
    // An existing store without that name: the same message.
    vaultOf(join(dir, 'data'), { mode: 'development' }).close();
    expect(expectErrors(loadConfigFile(file, { env: {} }))[0]).toContain('secret "hook-key" is not in the store');
  });

  it('opens no store for a config without a ${secret:} reference', () => {
    const dir = tempDir();
    const file = writeConfig(dir, ['mode: development', 'storage: sqlite:./rampart.db', 'alerts: [{ webhook: "http://127.0.0.1:9/hook", secret: "${env:HOOK}" }]']);
    expectOk(loadConfigFile(file, { env: { HOOK: HOOK_SECRET } }));
    expect(readdirSync(dir)).toEqual(['rampart.yaml']);
  });
});

describe('references: a hostile table', () => {
  const dir = tempDir();
  beforeAll(() => {
    const opened = vaultOf(dir, { mode: 'development' });
    opened.vault.set('hook', HOOK_SECRET);
    opened.vault.set('with-newline', 'line one\nline two\n');
    opened.close();
    mkdirSync(join(dir, 'folder'));
    mkdirSync(join(dir, '..', `outside-${process.pid}`), { recursive: true });
    writeFileSync(join(dir, '..', `outside-${process.pid}`, 'token'), 'from-outside-the-config-dir\n');
    writeFileSync(join(dir, 'hook.txt'), `${HOOK_SECRET}\n`);
    writeFileSync(join(dir, 'crlf.txt'), 'crlf-value\r\n');
    writeFileSync(join(dir, 'two-newlines.txt'), 'kept\n\n');
    writeFileSync(join(dir, 'empty.txt'), '');
    writeFileSync(join(dir, 'newline-only.txt'), '\n');
    writeFileSync(join(dir, 'big.txt'), 'x'.repeat(MAX_SECRET_BYTES + 1));
    writeFileSync(join(dir, 'exact.txt'), 'y'.repeat(MAX_SECRET_BYTES));
    writeFileSync(join(dir, 'binary.bin'), Buffer.from([0xff, 0xfe, 0x00, 0x80]));
    writeFileSync(join(dir, 'reference.txt'), '${env:HOME}');
    symlinkSync(join(dir, 'hook.txt'), join(dir, 'link.txt'));
    execFileSync('mkfifo', [join(dir, 'fifo')]);
  });

  /** Loads a development config with `reason` (a free-text string the loader keeps as is) set to `text`. */
  function load(text: string, env: Record<string, string> = {}): LoadResult {
    return loadConfigObject(
      {
        mode: 'development',
        storage: 'sqlite:./rampart.db',
        listen: { host: '127.0.0.1', port: 0 },
        admin: false,
        routes: [{ id: 'a', match: { path: '/a' }, upstream: 'http://127.0.0.1:9', public: true }],
        acknowledge: [{ rule: 'anything', path: 'listen', reason: text, expires: '2999-12-31' }],
      },
      { env, baseDir: dir },
    );
  }
  const reason = (result: LoadResult) => expectOk(result).acknowledgements[0]!.reason;
  const error = (result: LoadResult) => expectErrors(result)[0];

  it.each([
    ['${secret:hook}', HOOK_SECRET],
    ['prefix ${secret:hook} and ${secret:hook}', `prefix ${HOOK_SECRET} and ${HOOK_SECRET}`],
    ['${secret:with-newline}', 'line one\nline two\n'],
    ['${file:hook.txt}', HOOK_SECRET],
    ['${file:link.txt}', HOOK_SECRET],
    ['${file:crlf.txt}', 'crlf-value'],
    ['${file:two-newlines.txt}', 'kept\n'],
    ['${file:exact.txt}', 'y'.repeat(MAX_SECRET_BYTES)],
    // The operator writes the config: paths outside its directory are theirs to name.
    [`\${file:../outside-${process.pid}/token}`, 'from-outside-the-config-dir'],
    // One pass: what a reference resolves to is never read as a reference again.
    ['${file:reference.txt}', '${env:HOME}'],
    ['${env:INJECT}', '${file:/etc/passwd} ${secret:hook}'],
    // Unknown schemes and malformed env references stay as written.
    ['${vault:x}', '${vault:x}'],
    ['${ENV:X}', '${ENV:X}'],
    ['${env:}', '${env:}'],
    ['${env:1X}', '${env:1X}'],
    ['$secret:hook', '$secret:hook'],
    ['${secret}', '${secret}'],
  ])('%j resolves to the expected text', (text, expected) => {
    expect(reason(load(text, { INJECT: '${file:/etc/passwd} ${secret:hook}' }))).toBe(expected);
  });

  it('warns about an unknown scheme kept as written', () => {
    expect(expectOk(load('${vault:x} ${ENV:X}')).warnings.slice(0, 2)).toEqual([
      'acknowledge[0].reason: "${vault:" is not a reference (known: ${env:}, ${file:}, ${secret:}); the text is kept as written',
      'acknowledge[0].reason: "${ENV:" is not a reference (known: ${env:}, ${file:}, ${secret:}); the text is kept as written',
    ]);
  });

  const at = 'acknowledge[0].reason: ';
  it.each([
    ['${secret:}', '${secret:} names no secret'],
    ['${secret:a/../b}', 'secret name "a/../b" is invalid: 1 to 128 characters, letters, digits, ".", "_" or "-" (references do not nest)'],
    ['${secret:${env:X}}', 'secret name "${env:X" is invalid: 1 to 128 characters, letters, digits, ".", "_" or "-" (references do not nest)'],
    ['${secret: hook}', 'secret name " hook" is invalid: 1 to 128 characters, letters, digits, ".", "_" or "-" (references do not nest)'],
    [`\${secret:${'a'.repeat(129)}}`, `secret name "${'a'.repeat(129)}" is invalid: 1 to 128 characters, letters, digits, ".", "_" or "-" (references do not nest)`],
    ['${secret:hook', 'unterminated ${secret: reference (no closing "}")'],
    ['${secret:absent}', `secret "absent" is not in the store sqlite:${join(dir, 'rampart.db')} (add it with rampart secrets set absent)`],
    ['${file:}', '${file:} names no file'],
    ['${file:missing.txt}', `file "missing.txt" (${join(dir, 'missing.txt')}) does not exist`],
    ['${file:big.txt}', `file "big.txt" (${join(dir, 'big.txt')}) is larger than 64 KiB`],
    ['${file:folder}', `file "folder" (${join(dir, 'folder')}) is a directory, not a file`],
    ['${file:fifo}', `file "fifo" (${join(dir, 'fifo')}) is not a regular file`],
    ['${file:empty.txt}', `file "empty.txt" (${join(dir, 'empty.txt')}): the value is empty`],
    ['${file:newline-only.txt}', `file "newline-only.txt" (${join(dir, 'newline-only.txt')}): the value is empty`],
    ['${file:binary.bin}', `file "binary.bin" (${join(dir, 'binary.bin')}): the value is not UTF-8 text`],
    ['${file:/proc/self/status/x}', 'file "/proc/self/status/x" cannot be read (ENOTDIR)'],
    ['${file:x', 'unterminated ${file: reference (no closing "}")'],
  ])('%j is an error at its path', (text, message) => {
    expect(error(load(text))).toBe(at + message);
  });

  it('refuses ${secret:} in the settings that open the store', () => {
    for (const [key, value] of [
      ['storage', '${secret:hook}'],
      ['mode', '${secret:hook}'],
      ['keyring', { masterKey: '${secret:hook}' }],
    ] as const) {
      const result = loadConfigObject(
        { mode: 'development', listen: { host: '127.0.0.1', port: 0 }, admin: false, routes: [], [key]: value },
        { env: {}, baseDir: dir },
      );
      expect(expectErrors(result)[0]).toBe(
        `${key === 'keyring' ? 'keyring.masterKey' : key}: \${secret:} cannot be used in the settings that open the secret store (mode, storage, keyring); use \${env:} or \${file:}`,
      );
    }
  });

  it('takes the master key from ${file:} (a mounted secret) to open the vault', () => {
    const keyDir = tempDir();
    const key = generateMasterKey();
    writeFileSync(join(keyDir, 'master-key'), `${key}\n`, { mode: 0o600 });
    const found = vaultSettingsOf({ mode: 'production', keyring: { masterKey: '${env:MK}' } }, { env: { MK: key }, baseDir: keyDir });
    if ('problem' in found) throw new Error(found.problem);
    const opened = openSecretVault(found.settings, { create: true })!;
    opened.vault.set('hook', HOOK_SECRET);
    opened.close();
    const file = writeConfig(keyDir, ['keyring: { masterKey: "${file:master-key}" }', 'alerts: [{ webhook: "http://127.0.0.1:9/hook", secret: "${secret:hook}" }]']);
    expect((expectOk(loadConfigFile(file, { env: {} })).document.alerts as Array<{ secret: string }>)[0]!.secret).toBe(HOOK_SECRET);
  });

  it('never prints a resolved value in an error or a warning: the reference stands in for it', () => {
    const result = loadConfigObject(
      {
        mode: 'development',
        listen: { host: '127.0.0.1', port: 0, tls: { cert: '${secret:hook}', key: '${file:crlf.txt}' } },
        admin: false,
        routes: [{ id: 'a', match: { path: '/a' }, upstream: '${env:UPSTREAM}', public: true }],
      },
      { env: { UPSTREAM: 'ftp://user:env-password-123@example.com' }, baseDir: dir },
    );
    const errors = expectErrors(result);
    // Without the scrub these messages would carry the values ("file not found: <value>").
    expect(errors).toContain('listen.tls.cert: file not found: ${secret:hook}');
    expect(errors).toContain('listen.tls.key: file not found: ${file:crlf.txt}');
    const all = JSON.stringify(result);
    for (const value of [HOOK_SECRET, 'crlf-value', 'env-password-123', 'ftp://user:env-password-123@example.com']) expect(all).not.toContain(value);
  });
});

describe('the gateway uses the stored secrets', () => {
  let receiver: Server;
  const received: Array<{ verified: boolean; type: unknown }> = [];
  let gateway: Gateway | undefined;
  let upstream: RecordingUpstream;
  beforeAll(async () => {
    upstream = await startRecordingUpstream();
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const verified = verifyAlertSignature(req.headers['rampart-signature'], body, HOOK_SECRET).ok;
        received.push({ verified, type: (JSON.parse(body) as { type: unknown }).type });
        res.writeHead(verified ? 204 : 401).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    await gateway?.stop();
    await upstream?.close();
    await new Promise((resolve) => receiver?.close(resolve));
  });

  it('signs alerts with the webhook secret from the vault, and a reload takes a JWT issuer key changed in the vault', async () => {
    const dir = tempDir();
    const jwtKeys = ['jwt-key-one-0123456789abcdef0123456789abcdef', 'jwt-key-two-0123456789abcdef0123456789abcdef'];
    const opened = vaultOf(dir, { mode: 'development' });
    opened.vault.set('hook', HOOK_SECRET);
    opened.vault.set('partner-jwt', jwtKeys[0]!);
    opened.close();
    const port = (receiver.address() as AddressInfo).port;
    const file = join(dir, 'rampart.yaml');
    writeFileSync(
      file,
      [
        'mode: development',
        'listen: { host: 127.0.0.1, port: 0 }',
        'admin: false',
        `alerts: [{ webhook: "http://127.0.0.1:${port}/hook", secret: "\${secret:hook}", minSeverity: low, types: ["request.*"], groupWindow: 1s }]`,
        'issuers:',
        '  partner: { issuer: "https://partner.test", audiences: [api], algorithms: [HS256], keys: [{ kid: k1, alg: HS256, secret: "${secret:partner-jwt}" }] }',
        'routes:',
        `  - { id: who, match: { path: /who }, upstream: "${upstream.url}", authenticate: [{ jwt: partner }] }`,
        // A route that needs the stores: the gateway holds the same SQLite file open while reloads read the vault.
        `  - { id: keyed, match: { path: /keyed }, upstream: "${upstream.url}", authenticate: [api-key] }`,
        '',
      ].join('\n'),
    );
    const config = expectOk(loadConfigFile(file, { env: {} }));
    const logDir = tempDir();
    gateway = await Gateway.start(config, {
      logger: createAppLogger({ level: 'warn', redact: [], destination: join(logDir, 'app.log'), async: false }),
      accessLog: new AccessLog({ redact: [], destination: join(logDir, 'access.log'), async: false }),
      events: new RecordingSecurityEvents(),
      configFile: file,
    });
    expect(config.needsStores).toBe(true);
    const url = `http://127.0.0.1:${gateway.addresses().listeners[0]!.port}`;

    // An ambiguous path raises request.path-rejected; its alert is signed with the secret stored in the vault.
    expect((await fetch(`${url}/public/..%2fadmin`)).status).toBe(400);
    for (let i = 0; i < 100 && received.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(received).toEqual([{ verified: true, type: 'request.path-rejected' }]);

    const token = (key: string) =>
      new SignJWT({ iss: 'https://partner.test', aud: 'api', sub: 'svc' })
        .setProtectedHeader({ alg: 'HS256', kid: 'k1' })
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(Buffer.from(key, 'utf8'));
    const status = async (key: string) => (await fetch(`${url}/who`, { headers: { authorization: `Bearer ${await token(key)}` } })).status;
    expect(await status(jwtKeys[1]!)).toBe(401);
    expect(await status(jwtKeys[0]!)).toBe(200);

    const again = vaultOf(dir, { mode: 'development' });
    again.vault.set('partner-jwt', jwtKeys[1]!);
    again.close();
    expect(await gateway.reloadFromFile()).toEqual({ ok: true, errors: [] });
    expect(await status(jwtKeys[0]!)).toBe(401);
    expect(await status(jwtKeys[1]!)).toBe(200);
  });
});

describe('errors from the vault helpers', () => {
  it('refuses a storage that is not sqlite: or memory:', () => {
    expect(() => openSecretVault({ mode: 'development', storage: 'postgres://x', masterKey: undefined, keyring: undefined }, { create: false })).toThrow(SecretStoreError);
    expect(() => openSecretVault({ mode: 'development', storage: 'postgres://x', masterKey: undefined, keyring: undefined }, { create: false })).toThrow(
      'storage: must be sqlite:<path> to hold secrets',
    );
  });
});
