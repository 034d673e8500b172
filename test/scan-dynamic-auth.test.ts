/**
 * The scan's auth file (schema, loading, hostile input) and what the scanner does with credentials: logins, renewal
 * when a token expires (injected clock, no waiting), and the forged token variants.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { afterEach, describe, expect, it } from 'vitest';
import { AuthFileError, authFileSchema, loadAuthFile, parseAuthFile } from '../src/scan/dynamic/index.ts';
import { ScanClient } from '../src/scan/dynamic/client.ts';
import { Credentials } from '../src/scan/dynamic/credentials.ts';
import { decodeJwt, forgeToken } from '../src/scan/dynamic/jwt-variants.ts';
import { Masker } from '../src/scan/dynamic/mask.ts';
import { Budget, Pacer } from '../src/scan/dynamic/pacing.ts';
import { FIXTURE_DIR, startVulnerableApi } from './fixtures/vulnerable-api/server.ts';
import { TokenKeys } from './fixtures/vulnerable-api/support.ts';

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanup.length > 0) await cleanup.pop()!();
});

function errorsOf(run: () => unknown): readonly string[] {
  try {
    run();
  } catch (error) {
    if (error instanceof AuthFileError) return error.errors;
    throw error;
  }
  throw new Error('expected an AuthFileError');
}

const login = { path: '/login', json: { username: 'a', password: 'b' }, token: { from: 'json', pointer: '/access_token' } };

describe('auth file: hostile and malformed input', () => {
  const cases: Array<[string, unknown, string]> = [
    ['empty document', null, '(root): the file is empty'],
    ['not an object', ['bearer'], '(root): must be an object'],
    ['unknown top-level key', { userC: { bearer: 'x-token-123' } }, 'userC: is not a known setting'],
    ['wrong version', { version: 2 }, 'version: must be 1'],
    ['credential of the wrong type', { userA: 5 }, 'userA: must be an object'],
    ['bearer of the wrong type', { userA: { bearer: 123 } }, 'userA.bearer: must be a string'],
    ['bearer with whitespace (header injection)', { userA: { bearer: 'abc\r\nX-Evil: 1' } }, 'userA.bearer: has an invalid format'],
    ['empty credential', { userA: {} }, 'userA: needs exactly one of bearer, apiKey, headers, login'],
    ['two credentials at once', { userA: { bearer: 'abcdef', apiKey: { in: 'header', name: 'X-Key', value: 'abcdef' } } }, 'userA: needs exactly one of bearer, apiKey, headers, login'],
    ['unknown credential key', { userA: { token: 'abcdef' } }, 'userA.token: is not a known setting'],
    ['api key without a name', { userA: { apiKey: { in: 'header', value: 'abcdef' } } }, 'userA.apiKey.name: is required'],
    ['api key in an unknown place', { userA: { apiKey: { in: 'body', name: 'k', value: 'abcdef' } } }, 'userA.apiKey.in: must be one of: "header", "query", "cookie"'],
    ['header name that is not a token', { userA: { headers: { 'Bad Header': 'x' } } }, 'userA.headers: "Bad Header" is not a valid header name'],
    ['empty headers', { userA: { headers: {} } }, 'userA.headers: must not be empty'],
    ['login without a path', { userA: { login: { token: { from: 'json', pointer: '/t' } } } }, 'userA.login.path: is required'],
    ['login to another origin', { userA: { login: { ...login, path: 'https://evil.example/login' } } }, 'userA.login.path: has an invalid format'],
    ['login to a scheme-relative URL', { userA: { login: { ...login, path: '//evil.example/login' } } }, 'userA.login.path: has an invalid format'],
    ['login with a backslash path', { userA: { login: { ...login, path: '/\\evil.example' } } }, 'userA.login.path: has an invalid format'],
    ['login with an unknown method', { userA: { login: { ...login, method: 'DELETE' } } }, 'userA.login.method: must be one of: "POST", "PUT", "GET"'],
    ['login with json and form', { userA: { login: { ...login, form: { a: 'b' } } } }, 'userA.login: json and form cannot both be given'],
    ['token from json without a pointer', { userA: { login: { ...login, token: { from: 'json' } } } }, 'userA.login.token.pointer: is required'],
    ['token from a header with a pointer', { userA: { login: { ...login, token: { from: 'header', name: 'x-token', pointer: '/t' } } } }, 'userA.login.token: from json takes pointer, from header or cookie takes name'],
    ['token pointer that is not a JSON pointer', { userA: { login: { ...login, token: { from: 'json', pointer: 'access_token' } } } }, 'userA.login.token.pointer: has an invalid format'],
    ['send as cookie without a name', { userA: { login: { ...login, send: { as: 'cookie' } } } }, 'userA.login.send.name: is required'],
    ['unknown login key', { userA: { login: { ...login, url: 'https://evil.example' } } }, 'userA.login.url: is not a known setting'],
    ['userB without userA', { userB: { bearer: 'abcdefgh' } }, 'userB: needs userA as well (the scan compares every other principal with user A)'],
    ['adminOperations of the wrong type', { adminOperations: 'deleteUser' }, 'adminOperations: must be an array'],
    ['prototype pollution', JSON.parse('{"__proto__": {"polluted": true}, "userA": {"bearer": "abcdefgh"}}') as unknown, '__proto__: is not allowed'],
    ['constructor key deep inside', { userA: { login: { ...login, json: { constructor: { prototype: {} } } } } }, 'userA.login.json.constructor: is not allowed'],
    ['environment variable not set', { userA: { bearer: '${env:RAMPART_TEST_UNSET_VARIABLE}' } }, 'userA.bearer: environment variable RAMPART_TEST_UNSET_VARIABLE is not set'],
  ];

  for (const [name, input, expected] of cases) {
    it(`refuses ${name}`, () => {
      const errors = errorsOf(() => parseAuthFile(input, 'auth.yaml', {}));
      expect(errors.some((e) => e.startsWith(expected)), `${JSON.stringify(errors)} should contain "${expected}"`).toBe(true);
    });
  }

  it('still accepts a valid file after all that, and nothing was polluted', () => {
    const file = parseAuthFile({ version: 1, userA: { bearer: '${env:TOKEN_A}' }, userB: { apiKey: { in: 'query', name: 'api_key', value: 'k-123456' } }, admin: { login } }, 'auth.yaml', { TOKEN_A: 'tok-abcdef' });
    expect(file.userA).toEqual({ bearer: 'tok-abcdef' });
    // Defaults are filled in.
    expect(file.admin).toEqual({ login: { ...login, method: 'POST', send: { as: 'bearer' } } });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('names every problem at once', () => {
    const errors = errorsOf(() => parseAuthFile({ userA: { bearer: 1 }, userB: 'x', extra: true }, 'auth.yaml', {}));
    expect(errors).toEqual(expect.arrayContaining(['userA.bearer: must be a string', 'userB: must be an object', 'extra: is not a known setting']));
  });
});

describe('loadAuthFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-auth-'));
  const write = (name: string, text: string): string => {
    const file = join(dir, name);
    writeFileSync(file, text);
    return file;
  };

  it('reads YAML and JSON, substituting the environment', () => {
    const yaml = write('a.yaml', 'version: 1\nuserA:\n  bearer: "${env:SCAN_TOKEN}"\nadminOperations: [deleteUser, "GET /admin/stats"]\n');
    expect(loadAuthFile(yaml, { SCAN_TOKEN: 'abc.def.ghi' })).toEqual({ version: 1, userA: { bearer: 'abc.def.ghi' }, adminOperations: ['deleteUser', 'GET /admin/stats'] });
    const json = write('a.json', JSON.stringify({ userA: { headers: { 'X-Session': 'abcdefgh' } } }));
    expect(loadAuthFile(json, {})).toEqual({ userA: { headers: { 'X-Session': 'abcdefgh' } } });
    // The fixture's own auth file is valid.
    expect(Object.keys(loadAuthFile(join(FIXTURE_DIR, 'auth.yaml')))).toEqual(['version', 'userA', 'userB', 'admin']);
  });

  it('says what is wrong with the file itself', () => {
    const cases: Array<[string, string]> = [
      [join(dir, 'missing.yaml'), '(root): cannot be read (ENOENT)'],
      [write('syntax.yaml', 'userA: {bearer: [\n'), 'line'],
      [write('dup.yaml', 'userA: {bearer: abcdefg}\nuserA: {bearer: hijklmn}\n'), 'Map keys must be unique'],
      [write('empty.yaml', ''), '(root): the file is empty'],
      [write('bomb.yaml', `a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n`), '(root):'],
      [write('big.yaml', `userA: {bearer: ${'a'.repeat(1024 * 1024 + 10)}}\n`), 'larger than'],
    ];
    for (const [file, expected] of cases) {
      let caught: unknown;
      try {
        loadAuthFile(file, {});
      } catch (error) {
        caught = error;
      }
      expect(caught, file).toBeInstanceOf(AuthFileError);
      expect((caught as AuthFileError).message, file).toContain(expected);
      expect((caught as AuthFileError).message, file).toContain(file);
    }
  });
});

describe('authFileSchema', () => {
  it('is a closed draft-07 JSON Schema that the fixture auth file satisfies', () => {
    const ajv = new Ajv({ strict: true, strictRequired: false, strictTypes: false, allowUnionTypes: true });
    const validate = ajv.compile(authFileSchema);
    expect(validate({ version: 1, userA: { bearer: 'abcdef' } })).toBe(true);
    expect(validate({ userA: { bearer: 'abcdef' }, surprise: 1 })).toBe(false);
    const closed = (node: unknown, path: string): void => {
      if (node === null || typeof node !== 'object') return;
      const record = node as Record<string, unknown>;
      if (record.type === 'object' && record.properties !== undefined) expect(record.additionalProperties, path).toBe(false);
      for (const [key, value] of Object.entries(record)) closed(value, `${path}/${key}`);
    };
    closed(authFileSchema, '#');
  });
});

describe('credentials', () => {
  it('log in once, and again when the token is about to expire (injected clock)', async () => {
    const api = await startVulnerableApi({ hardened: true });
    cleanup.push(() => api.close());
    const client = new ScanClient({ origin: api.url, allowWrites: false, budget: new Budget(20), pacer: new Pacer(1000), clock: { now: () => performance.now(), sleep: async () => {} } });
    cleanup.push(() => client.close());
    let now = Date.now();
    const masker = new Masker();
    const file = loadAuthFile(join(FIXTURE_DIR, 'auth.yaml'));
    const credentials = new Credentials(file, { client, masker, now: () => now });
    const first = await credentials.apply('userA');
    expect(first.headers.authorization).toMatch(/^Bearer eyJ/);
    await credentials.apply('userA');
    expect(credentials.logins).toBe(1);
    // The hardened twin issues 15-minute tokens: 14 minutes later the scanner renews it before using it.
    now += 14.9 * 60 * 1000;
    const second = await credentials.apply('userA');
    expect(credentials.logins).toBe(2);
    expect(api.stats.logins).toBe(2);
    expect(second.headers.authorization).not.toBe(first.headers.authorization);
    // Tokens and the password of the auth file are masked wherever they appear.
    expect(masker.text(`x ${first.headers.authorization!.slice(7)} alice-wonderland-42 y`)).toBe('x *** *** y');
  });

  it('take the token from a cookie and send it as one; API keys go to the query', async () => {
    const server = createServer((req, res) => {
      if (req.url === '/login') {
        res.writeHead(200, { 'set-cookie': 'sid=s3cr3t-session-value; Path=/; HttpOnly' });
        res.end('{}');
        return;
      }
      res.end(JSON.stringify({ cookie: req.headers.cookie ?? null, url: req.url }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const client = new ScanClient({ origin, allowWrites: false, budget: new Budget(20), pacer: new Pacer(1000), clock: { now: () => performance.now(), sleep: async () => {} } });
    cleanup.push(() => client.close());
    const file = parseAuthFile({
      userA: { login: { path: '/login', form: { user: 'a', pass: 'b' }, token: { from: 'cookie', name: 'sid' }, send: { as: 'cookie', name: 'sid' } } },
      userB: { apiKey: { in: 'query', name: 'api_key', value: 'key-0123456789' } },
    });
    const credentials = new Credentials(file, { client, masker: new Masker() });
    expect(await credentials.apply('userA')).toEqual({ headers: { cookie: 'sid=s3cr3t-session-value' } });
    expect(credentials.place('userA')).toEqual({ kind: 'cookie', name: 'sid' });
    expect(await credentials.apply('userB')).toEqual({ headers: {}, query: ['api_key', 'key-0123456789'] });
  });
});

describe('forged token variants', () => {
  it('keep the claims and fail verification with the issuer\'s key', async () => {
    const keys = await TokenKeys.create();
    const token = await keys.sign({ sub: '1001', roles: ['user'] }, 600);
    const original = decodeJwt(token)!;
    const wrong = (await forgeToken(token, 'wrong-signature'))!;
    expect(decodeJwt(wrong)!.header).toEqual(original.header);
    expect(decodeJwt(wrong)!.claims).toEqual(original.claims);
    expect(wrong.split('.')[2]).not.toBe(token.split('.')[2]);
    const none = (await forgeToken(token, 'alg-none'))!;
    expect(decodeJwt(none)!.header.alg).toBe('none');
    expect(none.endsWith('.')).toBe(true);
    expect(decodeJwt(none)!.claims).toEqual(original.claims);
    const expired = (await forgeToken(token, 'expired', 2_000_000_000))!;
    expect(decodeJwt(expired)!.claims.exp).toBe(2_000_000_000 - 3600);
    const garbage = (await forgeToken(token, 'garbage'))!;
    expect(decodeJwt(garbage)).toBeUndefined();
    for (const forged of [wrong, expired, garbage]) await expect(keys.verify(forged)).rejects.toThrow();
    // The broken verifiers of the vulnerable twin are what the probes catch.
    await expect(keys.verifyLegacy(none)).resolves.toMatchObject({ sub: '1001' });
    await expect(keys.decodeOnly(expired)).resolves.toMatchObject({ sub: '1001' });
  });

  it('need a JWT for the JWT variants, and keep readable API-key prefixes', async () => {
    expect(await forgeToken('opaque-token-value', 'alg-none')).toBeUndefined();
    expect(await forgeToken('not.a.jwt', 'wrong-signature')).toBeUndefined();
    const key = (await forgeToken('sk_live_abcdefghijklmnopqrstuvwxyz', 'garbage'))!;
    expect(key.startsWith('sk_live_')).toBe(true);
    expect(key).not.toBe('sk_live_abcdefghijklmnopqrstuvwxyz');
    // RSA and HMAC tokens are re-signed with their own algorithm family.
    for (const alg of ['RS256', 'HS256', 'EdDSA']) {
      const header = Buffer.from(JSON.stringify({ alg, typ: 'JWT' })).toString('base64url');
      const body = Buffer.from(JSON.stringify({ sub: 'x' })).toString('base64url');
      const forged = (await forgeToken(`${header}.${body}.c2ln`, 'wrong-signature'))!;
      expect(decodeJwt(forged)!.header.alg, alg).toBe(alg);
    }
  });
});
