/**
 * Client authentication does the same work whatever the failure: the unknown-client path hashes the presented secret
 * and runs one constant-time comparison exactly like the known-client path (no timing oracle for which client ids
 * exist), and the parser of presented credentials follows RFC 6749 §2.3.
 */
import type { IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { GatewayContext } from '../../gateway/context.ts';
import { TestClock } from '../../policies/jwt/test-harness.ts';

const calls = vi.hoisted(() => ({ hash: 0, compare: 0 }));

vi.mock('../../crypto/hashing.ts', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../crypto/hashing.ts')>();
  return {
    ...original,
    hashSecret: (value: string, pepper: Buffer) => {
      calls.hash++;
      return original.hashSecret(value, pepper);
    },
  };
});
vi.mock('../../crypto/constant-time.ts', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../crypto/constant-time.ts')>();
  return {
    ...original,
    constantTimeEqual: (a: string | Uint8Array, b: string | Uint8Array) => {
      calls.compare++;
      return original.constantTimeEqual(a, b);
    },
  };
});

const { hashSecret } = await import('../../crypto/hashing.ts');
const { ClientAuthenticator, presentedClient } = await import('./client-auth.ts');
const { testIdentityDeps } = await import('./test-support.ts');

function ctxWith(headers: Record<string, string>, rawHeaders: string[] = Object.entries(headers).flat()): GatewayContext {
  return { req: { headers, rawHeaders } as unknown as IncomingMessage, requestId: 'r', clientAddress: '192.0.2.7' } as unknown as GatewayContext;
}

describe('ClientAuthenticator', () => {
  const clock = new TestClock();
  const identity = testIdentityDeps('memory', clock.now);
  const authenticator = new ClientAuthenticator(identity);

  beforeAll(async () => {
    await identity.stores.identities.createOAuthClient({ clientId: 'known', secretHash: hashSecret('right', identity.pepper), name: 'k', roles: [], scopes: [], createdAt: clock.ms });
    await identity.stores.identities.createOAuthClient({ clientId: 'off', secretHash: hashSecret('right', identity.pepper), name: 'o', roles: [], scopes: [], disabled: true, createdAt: clock.ms });
  });
  afterAll(() => identity.close());

  it.each([
    ['known client, right secret', 'known', 'right', 'ok'],
    ['known client, wrong secret', 'known', 'wrong', 'secret'],
    ['disabled client', 'off', 'right', 'disabled'],
    ['unknown client', 'nobody', 'right', 'unknown'],
    ['absurdly long client id', 'x'.repeat(5000), 'right', 'unknown'],
  ])('%s: one hash and one constant-time comparison', async (_name, clientId, secret, expected) => {
    calls.hash = 0;
    calls.compare = 0;
    const verdict = await authenticator.authenticate(ctxWith({}), clientId, secret);
    expect(verdict.ok ? 'ok' : verdict.reason).toBe(expected);
    expect(calls).toEqual({ hash: 1, compare: 1 });
    clock.advance(3600);
  });
});

describe('presentedClient (RFC 6749 §2.3)', () => {
  const basic = (text: string) => `Basic ${Buffer.from(text).toString('base64')}`;
  it.each([
    ['nothing', {}, {}, { method: 'none' }],
    ['client_id only (public client)', {}, { client_id: 'app' }, { method: 'public', clientId: 'app' }],
    ['client_secret_post', {}, { client_id: 'app', client_secret: 's' }, { method: 'post', clientId: 'app', secret: 's' }],
    ['Basic, form-urlencoded parts', { authorization: basic('my+app%3A1:s%2Bcret+x') }, {}, { method: 'basic', clientId: 'my app:1', secret: 's+cret x' }],
    ['Basic, scheme in lower case', { authorization: `basic ${Buffer.from('a:b').toString('base64')}` }, {}, { method: 'basic', clientId: 'a', secret: 'b' }],
    ['Basic plus the same client_id in the form', { authorization: basic('a:b') }, { client_id: 'a' }, { method: 'basic', clientId: 'a', secret: 'b' }],
    ['Basic plus another client_id', { authorization: basic('a:b') }, { client_id: 'z' }, { method: 'invalid-request' }],
    ['Basic plus client_secret', { authorization: basic('a:b') }, { client_id: 'a', client_secret: 'b' }, { method: 'invalid-request' }],
    ['client_secret alone', {}, { client_secret: 'b' }, { method: 'invalid-request' }],
    ['Basic without padding', { authorization: `Basic ${Buffer.from('ab:c').toString('base64').replace(/=+$/, '')}` }, {}, { method: 'malformed' }],
    ['Basic with invalid UTF-8', { authorization: `Basic ${Buffer.from([0x61, 0x3a, 0xff, 0xfe]).toString('base64')}` }, {}, { method: 'malformed' }],
    ['Digest scheme', { authorization: 'Digest username="a"' }, {}, { method: 'malformed' }],
  ])('%s', (_name, headers, form, expected) => {
    const presented = presentedClient(ctxWith(headers as Record<string, string>), new Map(Object.entries(form)));
    expect(presented).toMatchObject(expected);
  });

  it('refuses two Authorization headers even when Node keeps only one', () => {
    const ctx = ctxWith({ authorization: basic('a:b') }, ['Authorization', basic('a:b'), 'authorization', basic('c:d')]);
    expect(presentedClient(ctx, new Map())).toMatchObject({ method: 'invalid-request' });
  });
});
