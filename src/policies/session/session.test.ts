import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Ajv } from 'ajv';
import { SharedResourcePool } from '../../gateway/runtime.ts';
import { RecordingSecurityEvents } from '../../observe/events.ts';
import { openStores } from '../../storage/index.ts';
import { generateMasterKey, parseMasterKey } from '../../crypto/master-key.ts';
import { deriveSecretPepper } from '../../crypto/hashing.ts';
import { NOT_RESPONSIBLE, type RequestContext, type RouteInfo } from '../types.ts';
import { createSessionHandlers, findSessionCookie, originRefusal, sessionPolicy, sessionSchema, sessionSettings, type SessionConfig } from './index.ts';

const ID = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456';
const ROUTE: RouteInfo = { id: 'r', public: false, methods: undefined, tls: true };

function validated(raw: Record<string, unknown>): SessionConfig {
  const config = structuredClone(raw);
  const valid = new Ajv({ useDefaults: true, strict: false }).compile(sessionSchema);
  if (!valid(config)) throw new Error(JSON.stringify(valid.errors));
  return config as unknown as SessionConfig;
}

describe('findSessionCookie (hostile Cookie headers)', () => {
  const rows: Array<[string, string | undefined, string]> = [
    ['no header', undefined, 'absent'],
    ['other cookies only', 'a=1; b=2', 'absent'],
    ['name as a value', `x=__Host-rampart`, 'absent'],
    ['name as a longer name', `__Host-rampartX=${ID}`, 'absent'],
    ['name as a suffix', `x__Host-rampart=${ID}`, 'absent'],
    ['case variant', `__host-rampart=${ID}`, 'absent'],
    ['one', `__Host-rampart=${ID}`, 'one'],
    ['among others, tab and spaces', `a=1;\t__Host-rampart=${ID} ;b=2`, 'one'],
    ['two', `__Host-rampart=${ID}; __Host-rampart=${ID}`, 'duplicate'],
    ['two, one empty', `__Host-rampart=; __Host-rampart=${ID}`, 'duplicate'],
    ['empty', '__Host-rampart=', 'malformed'],
    ['quoted', `__Host-rampart="${ID}"`, 'malformed'],
    ['too short', `__Host-rampart=${ID.slice(1)}`, 'malformed'],
    ['bad character', `__Host-rampart=${ID.slice(1)}+`, 'malformed'],
    ['padding', `__Host-rampart=${ID}=`, 'malformed'],
    ['header over 16 KB', `__Host-rampart=${ID}; junk=${'x'.repeat(17_000)}`, 'malformed'],
  ];
  for (const [name, header, kind] of rows) it(name, () => expect(findSessionCookie(header, '__Host-rampart').kind).toBe(kind));
});

describe('originRefusal', () => {
  const req = (headers: Record<string, string>): IncomingMessage => ({ headers: { host: 'app.example', ...headers } }) as unknown as IncomingMessage;
  const allowed = new Set(['https://admin.example']);
  it('accepts the own origin (scheme from the listener), an allowed one, and a same-origin Referer', () => {
    expect(originRefusal(req({ origin: 'https://app.example' }), true, allowed)).toBeUndefined();
    expect(originRefusal(req({ origin: 'https://APP.example' }), true, allowed)).toBeUndefined();
    expect(originRefusal(req({ origin: 'https://admin.example' }), true, allowed)).toBeUndefined();
    expect(originRefusal(req({ referer: 'https://app.example/x?y' }), true, allowed)).toBeUndefined();
  });
  it('refuses null, foreign, scheme mismatch, missing and odd Referers', () => {
    expect(originRefusal(req({ origin: 'null' }), true, allowed)).toBe('Origin is null');
    expect(originRefusal(req({ origin: 'https://app.example' }), false, allowed)).toMatch(/foreign/);
    expect(originRefusal(req({ origin: 'https://app.example.evil' }), true, allowed)).toMatch(/foreign/);
    expect(originRefusal(req({}), true, allowed)).toBe('neither Origin nor Referer');
    expect(originRefusal(req({ referer: 'not a url' }), true, allowed)).toMatch(/Referer/);
    // Origin wins over a same-origin Referer.
    expect(originRefusal(req({ origin: 'https://evil.example', referer: 'https://app.example/' }), true, allowed)).toMatch(/foreign/);
  });
});

describe('schema and check()', () => {
  it('fills defaults: __Host-rampart, 30m idle, 12h absolute, strict, x-csrf-token, origin check on', () => {
    const settings = sessionSettings(validated({}));
    expect(settings).toEqual({ cookie: '__Host-rampart', idleMs: 1_800_000, absoluteMs: 43_200_000, sameSite: 'strict', csrfHeader: 'x-csrf-token', checkOrigin: true, allowedOrigins: [] });
    expect(sessionPolicy.check!(validated({}), 'routes[0].session', ROUTE)).toEqual([]);
  });
  it('refuses cookie names without __Host- and null or path-bearing allowed origins', () => {
    for (const raw of [{ cookie: 'sid' }, { cookie: '__Secure-sid' }, { csrf: { allowedOrigins: ['null'] } }, { csrf: { allowedOrigins: ['https://a.example/'] } }, { sameSite: 'none' }]) {
      expect(() => validated(raw), JSON.stringify(raw)).toThrow();
    }
  });
  const rows: Array<[string, Record<string, unknown>, Array<{ path: string; rule?: string; severity?: string }>]> = [
    ['idle 0', { idle: 0 }, [{ path: 'p.idle' }]],
    ['absolute 0', { absolute: '0s' }, [{ path: 'p.absolute' }]],
    ['absolute over 24h', { absolute: '25h' }, [{ path: 'p.absolute', rule: 'long-session' }]],
    ['idle over 12h', { idle: '13h', absolute: '24h' }, [{ path: 'p.idle', rule: 'long-session' }]],
    ['idle over absolute', { idle: '2h', absolute: '1h' }, [{ path: 'p.idle', severity: 'warning' }]],
    ['lax', { sameSite: 'lax' }, [{ path: 'p.sameSite', rule: 'session-samesite-lax' }]],
    ['origin check off', { csrf: { checkOrigin: false } }, [{ path: 'p.csrf.checkOrigin', rule: 'session-csrf-origin-off' }]],
  ];
  for (const [name, raw, expected] of rows) {
    it(name, () => {
      const issues = sessionPolicy.check!(validated(raw), 'p', ROUTE);
      expect(issues.map((i) => ({ path: i.path, ...(i.rule ? { rule: i.rule } : {}), ...(i.severity ? { severity: i.severity } : {}) }))).toEqual(expected);
    });
  }
  it('inherits identity.sessions (so login and policy agree), nothing otherwise', () => {
    expect(sessionPolicy.inheritConfig!({ identity: { sessions: { cookie: '__Host-app', idle: '5m' } } })).toEqual({ cookie: '__Host-app', idle: '5m' });
    expect(sessionPolicy.inheritConfig!({ identity: { issuer: 'x' } })).toEqual({});
    expect(sessionPolicy.inheritConfig!({})).toEqual({});
  });
  it('warns on a plain-HTTP route', () => {
    expect(sessionPolicy.check!(validated({}), 'p', { ...ROUTE, tls: false })).toMatchObject([{ severity: 'warning' }]);
  });
  it('declares authenticate phase, order 40, stores, and keeps the cookie and the CSRF header from upstream', () => {
    expect(sessionPolicy).toMatchObject({ name: 'session', phase: 'authenticate', order: 40, authenticates: true, requiresStores: true });
    expect(sessionPolicy.secretHeaders!(validated({}))).toEqual(['cookie', 'x-csrf-token']);
  });
});

describe('handlers', () => {
  function deps(stores: ReturnType<typeof openStores>) {
    return {
      logger: pino({ level: 'silent' }),
      events: new RecordingSecurityEvents(),
      routeId: 'r',
      development: false,
      shared: new SharedResourcePool(),
      stores,
      pepper: deriveSecretPepper(parseMasterKey(generateMasterKey())),
    };
  }
  const ctx = (cookie: string | undefined): RequestContext =>
    ({ req: { headers: cookie === undefined ? {} : { cookie } }, method: 'GET', secure: true, requestId: 'q', routeId: 'r', clientAddress: '127.0.0.1', principal: undefined }) as unknown as RequestContext;

  it('refuses to start without stores or pepper', () => {
    expect(() => createSessionHandlers({}, { ...deps(openStores('memory:', { masterKey: parseMasterKey(generateMasterKey()) })), stores: undefined })).toThrow(/stores/);
    expect(() => createSessionHandlers({}, { ...deps(openStores('memory:', { masterKey: parseMasterKey(generateMasterKey()) })), pepper: undefined })).toThrow(/pepper/);
  });

  it('is not responsible without its cookie, says so in hasCredential, and fails closed (503) when the store fails', async () => {
    const stores = openStores('memory:', { masterKey: parseMasterKey(generateMasterKey()) });
    const failing = { ...stores, sessions: { ...stores.sessions, touchSession: () => Promise.reject(new Error('down')) } } as typeof stores;
    const handlers = createSessionHandlers({}, deps(failing));
    expect(handlers.onRequest!(ctx('a=1'))).toBe(NOT_RESPONSIBLE);
    expect(handlers.hasCredential!(ctx('a=1'))).toBe(false);
    expect(handlers.hasCredential!(ctx(`__Host-rampart=${ID}`))).toBe(true);
    expect(handlers.credentialSource).toBe('cookie');
    await expect(handlers.onRequest!(ctx(`__Host-rampart=${ID}`))).resolves.toMatchObject({ kind: 'problem', code: 'RAMPART_ERR_AUTH_UNAVAILABLE' });
    await stores.close();
  });
});
