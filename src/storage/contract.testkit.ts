/**
 * The port contract, written once and run against every adapter (memory/memory.test.ts,
 * sqlite/sqlite.test.ts; PostgreSQL and Redis adapters add one line each). Only port methods are
 * used here, so whatever passes this suite can replace any other adapter.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { deriveSecretPepper, hashSecret } from '../crypto/hashing.ts';
import { generateMasterKey, parseMasterKey } from '../crypto/master-key.ts';
import {
  API_KEY_TOUCH_RESOLUTION_MS,
  StoreConflictError,
  StoreNotFoundError,
  isSessionActive,
  type ConsumerRecord,
  type RotationResult,
  type Stores,
  type UserRecord,
} from './ports.ts';

export interface OpenedStores {
  readonly stores: Stores;
  /** Closes the stores and removes anything the adapter left (temporary files). */
  cleanup(): Promise<void>;
}

export type OpenAdapter = (masterKey: Buffer) => Promise<OpenedStores>;

const T0 = 1_750_000_000_000;
const pepper = deriveSecretPepper(parseMasterKey(generateMasterKey()));
const hashOf = (secret: string): string => hashSecret(secret, pepper);

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject');
}

export function describeStoreContract(adapter: string, open: OpenAdapter): void {
  describe(`storage port contract: ${adapter}`, () => {
    let opened: OpenedStores;
    let stores: Stores;

    beforeEach(async () => {
      opened = await open(parseMasterKey(generateMasterKey()));
      stores = opened.stores;
    });
    afterEach(async () => {
      await opened.cleanup();
    });

    async function aConsumer(name = 'billing-service'): Promise<ConsumerRecord> {
      return stores.identities.createConsumer({ name, roles: ['reader', 'writer'], createdAt: T0 });
    }

    async function aUser(username = 'Alice'): Promise<UserRecord> {
      return stores.identities.createUser({ username, passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA', roles: ['user'], createdAt: T0 });
    }

    describe('consumers', () => {
      it('creates, finds, lists, updates and deletes consumers', async () => {
        const created = await aConsumer();
        expect(created).toEqual({ id: created.id, name: 'billing-service', roles: ['reader', 'writer'], tenant: null, disabled: false, createdAt: T0 });
        expect(created.id).toMatch(/^con_[A-Za-z0-9_-]{22}$/);
        expect(Object.isFrozen(created)).toBe(true);
        const second = await stores.identities.createConsumer({ id: 'con_fixed', name: 'reports', roles: [], tenant: 'acme', createdAt: T0 + 1 });
        expect(second.tenant).toBe('acme');
        expect(await stores.identities.getConsumer(created.id)).toEqual(created);
        expect(await stores.identities.findConsumerByName('reports')).toEqual(second);
        expect(await stores.identities.findConsumerByName('nobody')).toBeUndefined();
        expect(await stores.identities.getConsumer('con_missing')).toBeUndefined();
        expect((await stores.identities.listConsumers()).map((consumer) => consumer.name)).toEqual(['billing-service', 'reports']);

        const updated = await stores.identities.updateConsumer(created.id, { roles: ['reader'], disabled: true });
        expect(updated).toEqual({ ...created, roles: ['reader'], disabled: true });
        expect(await stores.identities.getConsumer(created.id)).toEqual(updated);
        expect(await stores.identities.updateConsumer('con_missing', { disabled: true })).toBeUndefined();

        expect(await stores.identities.deleteConsumer(created.id)).toBe(true);
        expect(await stores.identities.deleteConsumer(created.id)).toBe(false);
        expect(await stores.identities.getConsumer(created.id)).toBeUndefined();
      });

      it('refuses a duplicate name or id with StoreConflictError', async () => {
        const created = await aConsumer();
        const byName = await rejection(aConsumer());
        expect(byName).toBeInstanceOf(StoreConflictError);
        expect(byName).toMatchObject({ code: 'CONFLICT', entity: 'consumer', field: 'name' });
        const byId = await rejection(stores.identities.createConsumer({ id: created.id, name: 'other', roles: [], createdAt: T0 }));
        expect(byId).toMatchObject({ code: 'CONFLICT', field: 'id' });
        expect(await stores.identities.listConsumers()).toHaveLength(1);
      });

      it('refuses malformed input before storing anything', async () => {
        await expect(stores.identities.createConsumer({ name: '', roles: [], createdAt: T0 })).rejects.toThrow(TypeError);
        await expect(stores.identities.createConsumer({ name: 'x', roles: [''], createdAt: T0 })).rejects.toThrow(TypeError);
        await expect(stores.identities.createConsumer({ name: 'x', roles: [], createdAt: -1 })).rejects.toThrow(TypeError);
        await expect(stores.identities.createConsumer({ name: 'x', roles: [], createdAt: 1.5 })).rejects.toThrow(TypeError);
        expect(await stores.identities.listConsumers()).toEqual([]);
      });
    });

    describe('API keys', () => {
      it('stores keys by prefix with scopes, expiry and revocation', async () => {
        const consumer = await aConsumer();
        const key = await stores.identities.createApiKey({
          consumerId: consumer.id,
          name: 'ci',
          prefix: 'rk_live_AbCd1234',
          hash: hashOf('rk_live_AbCd1234_secret'),
          scopes: ['orders:read'],
          expiresAt: T0 + 90 * 86_400_000,
          createdAt: T0,
        });
        expect(key).toEqual({
          id: key.id,
          consumerId: consumer.id,
          name: 'ci',
          prefix: 'rk_live_AbCd1234',
          hash: hashOf('rk_live_AbCd1234_secret'),
          scopes: ['orders:read'],
          expiresAt: T0 + 90 * 86_400_000,
          revokedAt: null,
          createdAt: T0,
          lastUsedAt: null,
        });
        expect(key.id).toMatch(/^key_/);
        const unscoped = await stores.identities.createApiKey({
          consumerId: consumer.id,
          prefix: 'rk_live_EfGh5678',
          hash: hashOf('other'),
          scopes: null,
          expiresAt: null,
          createdAt: T0 + 1,
        });
        expect(unscoped).toMatchObject({ name: null, scopes: null, expiresAt: null });
        expect(await stores.identities.findApiKeyByPrefix('rk_live_AbCd1234')).toEqual(key);
        expect(await stores.identities.findApiKeyByPrefix('rk_live_nothing')).toBeUndefined();
        expect(await stores.identities.getApiKey(unscoped.id)).toEqual(unscoped);

        expect(await stores.identities.revokeApiKey(key.id, T0 + 5)).toBe(true);
        expect(await stores.identities.revokeApiKey(key.id, T0 + 9)).toBe(false);
        expect((await stores.identities.getApiKey(key.id))?.revokedAt).toBe(T0 + 5);
        expect(await stores.identities.revokeApiKey('key_missing', T0)).toBe(false);
      });

      it('lists keys per consumer and deletes them with their consumer', async () => {
        const first = await aConsumer('first');
        const second = await aConsumer('second');
        const base = { hash: hashOf('k'), scopes: null, expiresAt: null } as const;
        await stores.identities.createApiKey({ ...base, consumerId: first.id, prefix: 'p1', createdAt: T0 + 2 });
        await stores.identities.createApiKey({ ...base, consumerId: second.id, prefix: 'p2', createdAt: T0 + 1 });
        await stores.identities.createApiKey({ ...base, consumerId: first.id, prefix: 'p3', createdAt: T0 + 3 });
        expect((await stores.identities.listApiKeys()).map((key) => key.prefix)).toEqual(['p2', 'p1', 'p3']);
        expect((await stores.identities.listApiKeys(first.id)).map((key) => key.prefix)).toEqual(['p1', 'p3']);
        await stores.identities.deleteConsumer(first.id);
        expect((await stores.identities.listApiKeys()).map((key) => key.prefix)).toEqual(['p2']);
        expect(await stores.identities.findApiKeyByPrefix('p1')).toBeUndefined();
      });

      it('refuses a duplicate prefix and an unknown consumer', async () => {
        const consumer = await aConsumer();
        const input = { consumerId: consumer.id, prefix: 'rk_live_same', hash: hashOf('a'), scopes: null, expiresAt: null, createdAt: T0 };
        await stores.identities.createApiKey(input);
        expect(await rejection(stores.identities.createApiKey({ ...input, hash: hashOf('b') }))).toMatchObject({
          code: 'CONFLICT',
          entity: 'api key',
          field: 'prefix',
        });
        const missing = await rejection(stores.identities.createApiKey({ ...input, prefix: 'rk_live_other', consumerId: 'con_ghost' }));
        expect(missing).toBeInstanceOf(StoreNotFoundError);
        expect((missing as Error).message).toContain('con_ghost');
      });

      it('records last use at the documented resolution and never moves it back', async () => {
        const consumer = await aConsumer();
        const key = await stores.identities.createApiKey({
          consumerId: consumer.id,
          prefix: 'rk_touch',
          hash: hashOf('t'),
          scopes: null,
          expiresAt: null,
          createdAt: T0,
        });
        await stores.identities.touchApiKey(key.id, T0 + 1000);
        expect((await stores.identities.getApiKey(key.id))?.lastUsedAt).toBe(T0 + 1000);
        await stores.identities.touchApiKey(key.id, T0 + 1000 + API_KEY_TOUCH_RESOLUTION_MS - 1);
        expect((await stores.identities.getApiKey(key.id))?.lastUsedAt).toBe(T0 + 1000);
        await stores.identities.touchApiKey(key.id, T0 + 1000 + API_KEY_TOUCH_RESOLUTION_MS);
        expect((await stores.identities.getApiKey(key.id))?.lastUsedAt).toBe(T0 + 1000 + API_KEY_TOUCH_RESOLUTION_MS);
        await stores.identities.touchApiKey(key.id, T0);
        expect((await stores.identities.getApiKey(key.id))?.lastUsedAt).toBe(T0 + 1000 + API_KEY_TOUCH_RESOLUTION_MS);
        await stores.identities.touchApiKey('key_missing', T0);
      });
    });

    describe('users', () => {
      it('creates users with a case-insensitive unique username', async () => {
        const alice = await aUser('Alice');
        expect(alice).toMatchObject({
          username: 'Alice',
          usernameNormalized: 'alice',
          roles: ['user'],
          tenant: null,
          mfaRequired: false,
          disabled: false,
          createdAt: T0,
          passwordChangedAt: T0,
          sessionsValidAfter: 0,
        });
        expect(alice.id).toMatch(/^usr_/);
        expect(await stores.identities.findUserByUsername('ALICE')).toEqual(alice);
        // Fullwidth letters normalise (NFKC) to the same account: no look-alike duplicate.
        expect(await stores.identities.findUserByUsername('Ａｌｉｃｅ')).toEqual(alice);
        for (const duplicate of ['alice', 'ALICE', 'Ａｌｉｃｅ']) {
          expect(await rejection(aUser(duplicate))).toMatchObject({ code: 'CONFLICT', entity: 'user', field: 'username' });
        }
        const bob = await stores.identities.createUser({
          username: 'bob',
          passwordHash: 'h',
          roles: [],
          tenant: 't1',
          mfaRequired: true,
          createdAt: T0 + 1,
        });
        expect(bob).toMatchObject({ tenant: 't1', mfaRequired: true });
        expect((await stores.identities.listUsers()).map((user) => user.username)).toEqual(['Alice', 'bob']);
        expect(await stores.identities.getUser('usr_missing')).toBeUndefined();
      });

      it('updates users, changes passwords and raises sessionsValidAfter without ever lowering it', async () => {
        const alice = await aUser();
        expect(await stores.identities.updateUser(alice.id, { roles: ['admin'], mfaRequired: true, tenant: 'acme' })).toMatchObject({
          roles: ['admin'],
          mfaRequired: true,
          tenant: 'acme',
          disabled: false,
        });
        expect(await stores.identities.updateUser(alice.id, { tenant: null })).toMatchObject({ tenant: null, roles: ['admin'] });
        const changed = await stores.identities.setPasswordHash(alice.id, 'new-hash', T0 + 500);
        expect(changed).toMatchObject({ passwordHash: 'new-hash', passwordChangedAt: T0 + 500, sessionsValidAfter: T0 + 500 });
        expect((await stores.identities.revokeUserCredentialsBefore(alice.id, T0 + 900))?.sessionsValidAfter).toBe(T0 + 900);
        expect((await stores.identities.revokeUserCredentialsBefore(alice.id, T0 + 100))?.sessionsValidAfter).toBe(T0 + 900);
        expect((await stores.identities.setPasswordHash(alice.id, 'newer', T0 + 700))?.sessionsValidAfter).toBe(T0 + 900);
        expect(await stores.identities.setPasswordHash('usr_missing', 'x', T0)).toBeUndefined();
        expect(await stores.identities.revokeUserCredentialsBefore('usr_missing', T0)).toBeUndefined();
        expect(await stores.identities.updateUser('usr_missing', { disabled: true })).toBeUndefined();
      });

      it('deletes a user with their TOTP secret, recovery codes and WebAuthn credentials', async () => {
        const alice = await aUser();
        await stores.identities.setTotpSecret(alice.id, randomBytes(20), T0);
        await stores.identities.replaceRecoveryCodes(alice.id, [hashOf('r1')], T0);
        await stores.identities.addWebAuthnCredential({ id: 'cred-1', userId: alice.id, publicKey: new Uint8Array([1, 2, 3]), counter: 0, transports: [], createdAt: T0 });
        expect(await stores.identities.deleteUser(alice.id)).toBe(true);
        expect(await stores.identities.deleteUser(alice.id)).toBe(false);
        expect(await stores.identities.getTotp(alice.id)).toBeUndefined();
        expect(await stores.identities.countUnusedRecoveryCodes(alice.id)).toBe(0);
        expect(await stores.identities.getWebAuthnCredential('cred-1')).toBeUndefined();
        // The username is free again.
        await aUser('alice');
      });
    });

    describe('TOTP', () => {
      it('stores the secret sealed and gives it back', async () => {
        const alice = await aUser();
        const secret = randomBytes(20);
        await stores.identities.setTotpSecret(alice.id, secret, T0);
        const totp = await stores.identities.getTotp(alice.id);
        expect(totp).toEqual({ userId: alice.id, secret, createdAt: T0, confirmedAt: null, lastUsedStep: null });
        expect(await stores.identities.confirmTotp(alice.id, T0 + 10)).toBe(true);
        expect(await stores.identities.confirmTotp(alice.id, T0 + 20)).toBe(false);
        expect((await stores.identities.getTotp(alice.id))?.confirmedAt).toBe(T0 + 10);
        expect(await stores.identities.getTotp('usr_missing')).toBeUndefined();
        expect(await stores.identities.confirmTotp('usr_missing', T0)).toBe(false);
      });

      it('refuses a secret for an unknown user', async () => {
        expect(await rejection(stores.identities.setTotpSecret('usr_ghost', randomBytes(20), T0))).toBeInstanceOf(StoreNotFoundError);
      });

      it('accepts each time step once and never an earlier one', async () => {
        const alice = await aUser();
        await stores.identities.setTotpSecret(alice.id, randomBytes(20), T0);
        expect(await stores.identities.recordTotpStep(alice.id, 1000)).toBe(true);
        expect(await stores.identities.recordTotpStep(alice.id, 1000)).toBe(false);
        expect(await stores.identities.recordTotpStep(alice.id, 999)).toBe(false);
        expect(await stores.identities.recordTotpStep(alice.id, 1001)).toBe(true);
        expect((await stores.identities.getTotp(alice.id))?.lastUsedStep).toBe(1001);
        expect(await stores.identities.recordTotpStep('usr_missing', 5)).toBe(false);
      });

      it('accepts a step exactly once among 20 concurrent attempts', async () => {
        const alice = await aUser();
        await stores.identities.setTotpSecret(alice.id, randomBytes(20), T0);
        const results = await Promise.all(Array.from({ length: 20 }, () => stores.identities.recordTotpStep(alice.id, 55_000_000)));
        expect(results.filter(Boolean)).toHaveLength(1);
      });

      it('starts over on re-enrolment and forgets the secret on delete', async () => {
        const alice = await aUser();
        await stores.identities.setTotpSecret(alice.id, randomBytes(20), T0);
        await stores.identities.confirmTotp(alice.id, T0);
        await stores.identities.recordTotpStep(alice.id, 77);
        const fresh = randomBytes(32);
        await stores.identities.setTotpSecret(alice.id, fresh, T0 + 1);
        expect(await stores.identities.getTotp(alice.id)).toEqual({ userId: alice.id, secret: fresh, createdAt: T0 + 1, confirmedAt: null, lastUsedStep: null });
        expect(await stores.identities.deleteTotp(alice.id)).toBe(true);
        expect(await stores.identities.deleteTotp(alice.id)).toBe(false);
        expect(await stores.identities.getTotp(alice.id)).toBeUndefined();
      });
    });

    describe('recovery codes', () => {
      it('uses each code once, also under 20 concurrent attempts, and replaces the set atomically', async () => {
        const alice = await aUser();
        const codes = ['aaaa-bbbb', 'cccc-dddd', 'eeee-ffff'].map(hashOf);
        await stores.identities.replaceRecoveryCodes(alice.id, codes, T0);
        expect(await stores.identities.countUnusedRecoveryCodes(alice.id)).toBe(3);
        const results = await Promise.all(Array.from({ length: 20 }, () => stores.identities.useRecoveryCode(alice.id, codes[0]!, T0 + 1)));
        expect(results.filter(Boolean)).toHaveLength(1);
        expect(await stores.identities.useRecoveryCode(alice.id, codes[0]!, T0 + 2)).toBe(false);
        expect(await stores.identities.useRecoveryCode(alice.id, hashOf('not-a-code'), T0 + 2)).toBe(false);
        expect(await stores.identities.countUnusedRecoveryCodes(alice.id)).toBe(2);

        const other = await aUser('bob');
        expect(await stores.identities.useRecoveryCode(other.id, codes[1]!, T0)).toBe(false);

        await stores.identities.replaceRecoveryCodes(alice.id, [hashOf('new-1'), hashOf('new-2'), hashOf('new-2')], T0 + 3);
        expect(await stores.identities.countUnusedRecoveryCodes(alice.id)).toBe(2);
        expect(await stores.identities.useRecoveryCode(alice.id, codes[1]!, T0 + 4)).toBe(false);
        expect(await stores.identities.useRecoveryCode(alice.id, hashOf('new-1'), T0 + 4)).toBe(true);
        expect(await rejection(stores.identities.replaceRecoveryCodes('usr_ghost', [hashOf('x')], T0))).toBeInstanceOf(StoreNotFoundError);
      });
    });

    describe('WebAuthn credentials', () => {
      it('stores credentials and only lets the signature counter grow', async () => {
        const alice = await aUser();
        const publicKey = new Uint8Array(randomBytes(77));
        const credential = await stores.identities.addWebAuthnCredential({
          id: 'Y3JlZC1pZA',
          userId: alice.id,
          publicKey,
          counter: 5,
          transports: ['usb', 'nfc'],
          createdAt: T0,
        });
        expect(credential).toEqual({ id: 'Y3JlZC1pZA', userId: alice.id, publicKey, counter: 5, transports: ['usb', 'nfc'], createdAt: T0, lastUsedAt: null });
        credential.publicKey.fill(0);
        expect((await stores.identities.getWebAuthnCredential('Y3JlZC1pZA'))?.publicKey).toEqual(publicKey);

        expect(await stores.identities.updateWebAuthnCounter('Y3JlZC1pZA', 5, T0 + 1)).toBe(false);
        expect(await stores.identities.updateWebAuthnCounter('Y3JlZC1pZA', 4, T0 + 1)).toBe(false);
        expect(await stores.identities.updateWebAuthnCounter('Y3JlZC1pZA', 6, T0 + 2)).toBe(true);
        expect(await stores.identities.getWebAuthnCredential('Y3JlZC1pZA')).toMatchObject({ counter: 6, lastUsedAt: T0 + 2 });
        const results = await Promise.all(Array.from({ length: 20 }, () => stores.identities.updateWebAuthnCounter('Y3JlZC1pZA', 9, T0 + 3)));
        expect(results.filter(Boolean)).toHaveLength(1);
        expect(await stores.identities.updateWebAuthnCounter('missing', 100, T0)).toBe(false);
      });

      it('accepts a counter that stays at zero (authenticators without counters)', async () => {
        const alice = await aUser();
        await stores.identities.addWebAuthnCredential({ id: 'zero', userId: alice.id, publicKey: new Uint8Array([1]), counter: 0, transports: [], createdAt: T0 });
        expect(await stores.identities.updateWebAuthnCounter('zero', 0, T0 + 1)).toBe(true);
        expect(await stores.identities.updateWebAuthnCounter('zero', 3, T0 + 2)).toBe(true);
        expect(await stores.identities.updateWebAuthnCounter('zero', 0, T0 + 3)).toBe(false);
      });

      it('lists per user, refuses duplicates and unknown users, deletes', async () => {
        const alice = await aUser();
        const bob = await aUser('bob');
        const base = { publicKey: new Uint8Array([9]), counter: 0, transports: ['internal'] };
        await stores.identities.addWebAuthnCredential({ ...base, id: 'a2', userId: alice.id, createdAt: T0 + 2 });
        await stores.identities.addWebAuthnCredential({ ...base, id: 'a1', userId: alice.id, createdAt: T0 + 1 });
        await stores.identities.addWebAuthnCredential({ ...base, id: 'b1', userId: bob.id, createdAt: T0 });
        expect((await stores.identities.listWebAuthnCredentials(alice.id)).map((credential) => credential.id)).toEqual(['a1', 'a2']);
        expect(await rejection(stores.identities.addWebAuthnCredential({ ...base, id: 'a1', userId: bob.id, createdAt: T0 }))).toMatchObject({
          code: 'CONFLICT',
          field: 'id',
        });
        expect(await rejection(stores.identities.addWebAuthnCredential({ ...base, id: 'c1', userId: 'usr_ghost', createdAt: T0 }))).toBeInstanceOf(
          StoreNotFoundError,
        );
        expect(await stores.identities.deleteWebAuthnCredential('a1')).toBe(true);
        expect(await stores.identities.deleteWebAuthnCredential('a1')).toBe(false);
        expect((await stores.identities.listWebAuthnCredentials(alice.id)).map((credential) => credential.id)).toEqual(['a2']);
      });
    });

    describe('OAuth clients', () => {
      it('creates, updates, lists and deletes clients; refuses duplicate ids', async () => {
        const client = await stores.identities.createOAuthClient({
          clientId: 'reporting',
          secretHash: hashOf('client-secret'),
          name: 'Reporting job',
          roles: ['reader'],
          scopes: ['orders:read'],
          createdAt: T0,
        });
        expect(client).toEqual({
          clientId: 'reporting',
          secretHash: hashOf('client-secret'),
          name: 'Reporting job',
          roles: ['reader'],
          scopes: ['orders:read'],
          tenant: null,
          disabled: false,
          createdAt: T0,
        });
        expect(await stores.identities.getOAuthClient('reporting')).toEqual(client);
        expect(
          await rejection(stores.identities.createOAuthClient({ ...client, name: 'again', tenant: undefined })),
        ).toMatchObject({ code: 'CONFLICT', field: 'clientId' });
        const rotated = await stores.identities.updateOAuthClient('reporting', { secretHash: hashOf('rotated'), disabled: true });
        expect(rotated).toEqual({ ...client, secretHash: hashOf('rotated'), disabled: true });
        expect(await stores.identities.updateOAuthClient('nobody', { disabled: true })).toBeUndefined();
        await stores.identities.createOAuthClient({ clientId: 'a-first', secretHash: 'h', name: 'n', roles: [], scopes: [], tenant: 't', createdAt: T0 - 1 });
        expect((await stores.identities.listOAuthClients()).map((entry) => entry.clientId)).toEqual(['a-first', 'reporting']);
        expect(await stores.identities.deleteOAuthClient('reporting')).toBe(true);
        expect(await stores.identities.deleteOAuthClient('reporting')).toBe(false);
        expect(await stores.identities.getOAuthClient('reporting')).toBeUndefined();
      });
    });

    describe('signing keys', () => {
      const privateJwk = { kty: 'EC', crv: 'P-256', x: 'eFo', y: 'eUk', d: 'PRIVATE-PART' };
      const publicJwk = { kty: 'EC', crv: 'P-256', x: 'eFo', y: 'eUk', kid: 'k1', alg: 'ES256', use: 'sig' };

      it('keeps the private JWK sealed and lists public halves only', async () => {
        const record = await stores.identities.addSigningKey({ kid: 'k1', alg: 'ES256', privateJwk, publicJwk, createdAt: T0, activatedAt: T0 + 60_000 });
        expect(record).toEqual({ kid: 'k1', alg: 'ES256', publicJwk, createdAt: T0, activatedAt: T0 + 60_000, retiredAt: null });
        expect(JSON.stringify(await stores.identities.listSigningKeys())).not.toContain('PRIVATE-PART');
        expect(await stores.identities.getSigningKeyPrivateJwk('k1')).toEqual(privateJwk);
        expect(await stores.identities.getSigningKeyPrivateJwk('k-missing')).toBeUndefined();
        expect(await rejection(stores.identities.addSigningKey({ kid: 'k1', alg: 'ES256', privateJwk, publicJwk, createdAt: T0, activatedAt: T0 }))).toMatchObject({
          code: 'CONFLICT',
          field: 'kid',
        });
      });

      it('retires once, orders by creation and deletes', async () => {
        await stores.identities.addSigningKey({ kid: 'new', alg: 'ES256', privateJwk, publicJwk, createdAt: T0 + 10, activatedAt: T0 + 10 });
        await stores.identities.addSigningKey({ kid: 'old', alg: 'ES256', privateJwk, publicJwk, createdAt: T0, activatedAt: T0 });
        expect(await stores.identities.retireSigningKey('old', T0 + 20)).toBe(true);
        expect(await stores.identities.retireSigningKey('old', T0 + 30)).toBe(false);
        expect(await stores.identities.retireSigningKey('none', T0 + 30)).toBe(false);
        expect((await stores.identities.listSigningKeys()).map((key) => [key.kid, key.retiredAt])).toEqual([
          ['old', T0 + 20],
          ['new', null],
        ]);
        expect(await stores.identities.deleteSigningKey('old')).toBe(true);
        expect(await stores.identities.deleteSigningKey('old')).toBe(false);
        expect((await stores.identities.listSigningKeys()).map((key) => key.kid)).toEqual(['new']);
      });
    });

    describe('sessions', () => {
      const session = (idHash: string, createdAt = T0) => ({
        idHash,
        userId: 'usr_alice',
        createdAt,
        absoluteExpiresAt: createdAt + 8 * 3600_000,
        idleTimeoutMs: 30 * 60_000,
        amr: ['pwd', 'otp'],
        acr: 'urn:rampart:acr:mfa',
        csrfTokenHash: hashOf('csrf'),
      });

      it('creates sessions and slides the idle timeout on touch', async () => {
        const created = await stores.sessions.createSession(session(hashOf('sid-1')));
        expect(created).toEqual({ ...session(hashOf('sid-1')), lastSeenAt: T0, revokedAt: null });
        expect(await stores.sessions.getSession(hashOf('sid-1'))).toEqual(created);
        const touched = await stores.sessions.touchSession(hashOf('sid-1'), T0 + 29 * 60_000);
        expect(touched?.lastSeenAt).toBe(T0 + 29 * 60_000);
        // Still active 29 minutes after the touch, though 58 minutes after creation: the idle window slid.
        expect((await stores.sessions.touchSession(hashOf('sid-1'), T0 + 58 * 60_000))?.lastSeenAt).toBe(T0 + 58 * 60_000);
        // A late, out-of-order touch does not move lastSeenAt back.
        expect((await stores.sessions.touchSession(hashOf('sid-1'), T0 + 40 * 60_000))?.lastSeenAt).toBe(T0 + 58 * 60_000);
        expect(await stores.sessions.getSession(hashOf('missing'))).toBeUndefined();
        expect(await stores.sessions.touchSession(hashOf('missing'), T0)).toBeUndefined();
        const duplicate = await rejection(stores.sessions.createSession(session(hashOf('sid-1'))));
        expect(duplicate).toBeInstanceOf(StoreConflictError);
        expect(duplicate).toMatchObject({ entity: 'session', field: 'idHash' });
      });

      it('ends sessions at the idle timeout and at the absolute lifetime', async () => {
        await stores.sessions.createSession(session(hashOf('idle')));
        expect(await stores.sessions.touchSession(hashOf('idle'), T0 + 30 * 60_000)).toBeUndefined();
        expect((await stores.sessions.getSession(hashOf('idle')))?.lastSeenAt).toBe(T0);

        await stores.sessions.createSession(session(hashOf('absolute')));
        let now = T0;
        while (now + 20 * 60_000 < T0 + 8 * 3600_000) {
          now += 20 * 60_000;
          expect(await stores.sessions.touchSession(hashOf('absolute'), now)).toBeDefined();
        }
        expect(await stores.sessions.touchSession(hashOf('absolute'), T0 + 8 * 3600_000)).toBeUndefined();
        const record = await stores.sessions.getSession(hashOf('absolute'));
        expect(record && isSessionActive(record, T0 + 8 * 3600_000)).toBe(false);
      });

      it('revokes one session, all of a user, and lists only active ones', async () => {
        await stores.sessions.createSession(session(hashOf('s1'), T0));
        await stores.sessions.createSession(session(hashOf('s2'), T0 + 1));
        await stores.sessions.createSession(session(hashOf('s3'), T0 + 2));
        await stores.sessions.createSession({ ...session(hashOf('other')), userId: 'usr_bob' });
        expect((await stores.sessions.listUserSessions('usr_alice', T0 + 10)).map((entry) => entry.createdAt)).toEqual([T0, T0 + 1, T0 + 2]);
        expect(await stores.sessions.revokeSession(hashOf('s2'), T0 + 5)).toBe(true);
        expect(await stores.sessions.revokeSession(hashOf('s2'), T0 + 6)).toBe(false);
        expect(await stores.sessions.revokeSession(hashOf('none'), T0 + 6)).toBe(false);
        expect(await stores.sessions.touchSession(hashOf('s2'), T0 + 7)).toBeUndefined();
        expect((await stores.sessions.getSession(hashOf('s2')))?.revokedAt).toBe(T0 + 5);
        expect((await stores.sessions.listUserSessions('usr_alice', T0 + 10)).map((entry) => entry.createdAt)).toEqual([T0, T0 + 2]);
        expect(await stores.sessions.revokeUserSessions('usr_alice', T0 + 20)).toBe(2);
        expect(await stores.sessions.revokeUserSessions('usr_alice', T0 + 21)).toBe(0);
        expect(await stores.sessions.listUserSessions('usr_alice', T0 + 30)).toEqual([]);
        expect(await stores.sessions.listUserSessions('usr_bob', T0 + 30)).toHaveLength(1);
      });
    });

    describe('refresh-token families (RFC 9700 rotation with reuse detection)', () => {
      const family = (tokenHash: string, subject = 'usr_alice') => ({
        subject,
        clientId: 'web',
        scopes: ['openid', 'orders:read'],
        amr: ['pwd'],
        acr: null,
        authTime: T0,
        createdAt: T0,
        expiresAt: T0 + 14 * 86_400_000,
        tokenHash,
      });

      it('rotates the current token, then detects reuse of the old one and revokes the family', async () => {
        const created = await stores.sessions.createRefreshFamily(family(hashOf('rt-1')));
        expect(created).toMatchObject({ subject: 'usr_alice', clientId: 'web', currentTokenHash: hashOf('rt-1'), rotatedAt: null, revokedAt: null });
        expect(created.id).toMatch(/^rtf_/);

        const rotated = await stores.sessions.rotateRefreshToken(hashOf('rt-1'), hashOf('rt-2'), T0 + 1000);
        expect(rotated.status).toBe('rotated');
        expect(rotated).toMatchObject({ family: { id: created.id, currentTokenHash: hashOf('rt-2'), rotatedAt: T0 + 1000, expiresAt: created.expiresAt } });
        expect((await stores.sessions.rotateRefreshToken(hashOf('rt-2'), hashOf('rt-3'), T0 + 2000)).status).toBe('rotated');

        // The attacker (or a confused client) presents rt-1 again.
        const reuse = await stores.sessions.rotateRefreshToken(hashOf('rt-1'), hashOf('rt-x'), T0 + 3000);
        expect(reuse).toMatchObject({ status: 'reuse-detected', family: { id: created.id, revokedAt: T0 + 3000, revokedReason: 'refresh token reuse' } });
        // The latest token is dead too: the whole family is revoked.
        expect(await stores.sessions.rotateRefreshToken(hashOf('rt-3'), hashOf('rt-4'), T0 + 4000)).toMatchObject({ status: 'inactive' });
        // And the token the reuse attempt wanted was never issued.
        expect(await stores.sessions.findRefreshFamilyByToken(hashOf('rt-x'))).toBeUndefined();
        // Reuse again keeps the first revocation time.
        expect(await stores.sessions.rotateRefreshToken(hashOf('rt-2'), hashOf('rt-y'), T0 + 5000)).toMatchObject({
          status: 'reuse-detected',
          family: { revokedAt: T0 + 3000 },
        });
      });

      it('rotates exactly once among 20 concurrent presentations of the same token; the rest revoke the family', async () => {
        const created = await stores.sessions.createRefreshFamily(family(hashOf('race-0')));
        const results: RotationResult[] = await Promise.all(
          Array.from({ length: 20 }, (_, index) => stores.sessions.rotateRefreshToken(hashOf('race-0'), hashOf(`race-next-${index}`), T0 + 10)),
        );
        expect(results.filter((result) => result.status === 'rotated')).toHaveLength(1);
        expect(results.filter((result) => result.status === 'reuse-detected')).toHaveLength(19);
        const after = await stores.sessions.getRefreshFamily(created.id);
        expect(after?.revokedAt).toBe(T0 + 10);
        const winner = results.find((result) => result.status === 'rotated');
        expect(winner?.status === 'rotated' && (await stores.sessions.rotateRefreshToken(winner.family.currentTokenHash, hashOf('later'), T0 + 20)).status).toBe(
          'inactive',
        );
      });

      it('answers unknown for tokens no family issued and inactive for expired or revoked families', async () => {
        expect(await stores.sessions.rotateRefreshToken(hashOf('never'), hashOf('n2'), T0)).toEqual({ status: 'unknown' });
        const expiring = await stores.sessions.createRefreshFamily({ ...family(hashOf('exp-1')), expiresAt: T0 + 100 });
        expect(await stores.sessions.rotateRefreshToken(hashOf('exp-1'), hashOf('exp-2'), T0 + 100)).toMatchObject({
          status: 'inactive',
          family: { id: expiring.id, currentTokenHash: hashOf('exp-1') },
        });
        const revoked = await stores.sessions.createRefreshFamily(family(hashOf('rev-1')));
        expect(await stores.sessions.revokeRefreshFamily(revoked.id, T0 + 1, 'logout')).toBe(true);
        expect(await stores.sessions.revokeRefreshFamily(revoked.id, T0 + 2, 'logout')).toBe(false);
        expect(await stores.sessions.revokeRefreshFamily('rtf_missing', T0 + 2, 'logout')).toBe(false);
        expect(await stores.sessions.rotateRefreshToken(hashOf('rev-1'), hashOf('rev-2'), T0 + 3)).toMatchObject({
          status: 'inactive',
          family: { revokedReason: 'logout', revokedAt: T0 + 1 },
        });
      });

      it('finds a family by any token it issued, revokes all of a subject, refuses duplicate token hashes', async () => {
        const first = await stores.sessions.createRefreshFamily(family(hashOf('f1-a')));
        await stores.sessions.rotateRefreshToken(hashOf('f1-a'), hashOf('f1-b'), T0 + 1);
        await stores.sessions.createRefreshFamily(family(hashOf('f2-a')));
        await stores.sessions.createRefreshFamily(family(hashOf('bob-a'), 'usr_bob'));
        expect((await stores.sessions.findRefreshFamilyByToken(hashOf('f1-a')))?.id).toBe(first.id);
        expect((await stores.sessions.findRefreshFamilyByToken(hashOf('f1-b')))?.id).toBe(first.id);
        expect(await stores.sessions.revokeSubjectRefreshFamilies('usr_alice', T0 + 5, 'password change')).toBe(2);
        expect(await stores.sessions.revokeSubjectRefreshFamilies('usr_alice', T0 + 6, 'password change')).toBe(0);
        expect((await stores.sessions.findRefreshFamilyByToken(hashOf('bob-a')))?.revokedAt).toBeNull();
        expect(await rejection(stores.sessions.createRefreshFamily(family(hashOf('f2-a'))))).toMatchObject({ code: 'CONFLICT', field: 'hash' });
        expect(await rejection(stores.sessions.rotateRefreshToken(hashOf('bob-a'), hashOf('f2-a'), T0 + 7))).toBeInstanceOf(StoreConflictError);
        // The failed rotation changed nothing: bob's token is still current.
        expect((await stores.sessions.rotateRefreshToken(hashOf('bob-a'), hashOf('bob-b'), T0 + 8)).status).toBe('rotated');
      });
    });

    describe('access-token revocation list and purge', () => {
      it('revokes jtis until they expire and purges what can no longer matter', async () => {
        await stores.sessions.revokeAccessToken('jti-1', T0 + 600_000);
        await stores.sessions.revokeAccessToken('jti-1', T0 + 300_000);
        await stores.sessions.revokeAccessToken('jti-2', T0 + 60_000);
        expect(await stores.sessions.isAccessTokenRevoked('jti-1')).toBe(true);
        expect(await stores.sessions.isAccessTokenRevoked('jti-3')).toBe(false);

        const base = { userId: 'usr_alice', amr: ['pwd'], idleTimeoutMs: 60_000 };
        await stores.sessions.createSession({ ...base, idHash: hashOf('live'), createdAt: T0, absoluteExpiresAt: T0 + 3600_000, idleTimeoutMs: 3600_000 });
        await stores.sessions.createSession({ ...base, idHash: hashOf('idle'), createdAt: T0, absoluteExpiresAt: T0 + 3600_000 });
        await stores.sessions.createSession({ ...base, idHash: hashOf('revoked'), createdAt: T0, absoluteExpiresAt: T0 + 3600_000, idleTimeoutMs: 3600_000 });
        await stores.sessions.revokeSession(hashOf('revoked'), T0);
        const familyBase = { subject: 'usr_alice', scopes: [], amr: ['pwd'], authTime: T0, createdAt: T0 };
        await stores.sessions.createRefreshFamily({ ...familyBase, expiresAt: T0 + 100_000, tokenHash: hashOf('old-family') });
        const kept = await stores.sessions.createRefreshFamily({ ...familyBase, expiresAt: T0 + 10_000_000, tokenHash: hashOf('kept-1') });
        await stores.sessions.rotateRefreshToken(hashOf('kept-1'), hashOf('kept-2'), T0 + 1);
        await stores.sessions.revokeRefreshFamily(kept.id, T0 + 2, 'logout');

        expect(await stores.sessions.purgeExpired(T0 + 120_000)).toEqual({ sessions: 2, refreshFamilies: 1, revokedAccessTokens: 1 });
        expect(await stores.sessions.isAccessTokenRevoked('jti-2')).toBe(false);
        // jti-1 kept the later of its two expiries.
        expect(await stores.sessions.isAccessTokenRevoked('jti-1')).toBe(true);
        expect(await stores.sessions.getSession(hashOf('live'))).toBeDefined();
        expect(await stores.sessions.getSession(hashOf('idle'))).toBeUndefined();
        expect(await stores.sessions.getSession(hashOf('revoked'))).toBeUndefined();
        expect(await stores.sessions.findRefreshFamilyByToken(hashOf('old-family'))).toBeUndefined();
        // A revoked family that has not expired is kept, so its used tokens are still recognised as reuse.
        expect((await stores.sessions.rotateRefreshToken(hashOf('kept-1'), hashOf('kept-3'), T0 + 130_000)).status).toBe('reuse-detected');

        expect(await stores.sessions.purgeExpired(T0 + 600_000)).toEqual({ sessions: 0, refreshFamilies: 0, revokedAccessTokens: 1 });
        expect(await stores.sessions.isAccessTokenRevoked('jti-1')).toBe(false);
      });
    });

    describe('counters', () => {
      const minute = 60_000;

      it('counts in a sliding window weighted over the previous bucket', async () => {
        const start = 1000 * minute;
        for (let index = 0; index < 10; index += 1) await stores.counters.increment('login:alice', minute, start + index);
        expect(await stores.counters.get('login:alice', minute, start + 59_999)).toBe(10);
        // A quarter into the next window, three quarters of the previous one still count.
        expect(await stores.counters.get('login:alice', minute, start + minute + 15_000)).toBe(7.5);
        expect(await stores.counters.increment('login:alice', minute, start + minute + 15_000)).toBe(8.5);
        // Two windows later, nothing is left.
        expect(await stores.counters.get('login:alice', minute, start + 3 * minute)).toBe(0);
        expect(await stores.counters.increment('login:alice', minute, start + 3 * minute)).toBe(1);
        expect(await stores.counters.get('login:bob', minute, start)).toBe(0);
      });

      it('does not allow a double burst at a bucket edge', async () => {
        const edge = 2000 * minute;
        for (let index = 0; index < 10; index += 1) await stores.counters.increment('burst', minute, edge - 1);
        // Right after the edge the previous burst still weighs almost fully.
        expect(await stores.counters.increment('burst', minute, edge + 1)).toBeGreaterThan(10);
      });

      it('resets counts and locks', async () => {
        await stores.counters.increment('k', minute, 5 * minute);
        await stores.counters.lockUntil('k', 5 * minute + 1000);
        await stores.counters.reset('k');
        expect(await stores.counters.get('k', minute, 5 * minute)).toBe(0);
        expect(await stores.counters.lockedUntil('k', 5 * minute)).toBeNull();
      });

      it('locks until a time and keeps the later of two locks', async () => {
        expect(await stores.counters.lockedUntil('ip:203.0.113.7', T0)).toBeNull();
        await stores.counters.lockUntil('ip:203.0.113.7', T0 + 900_000);
        await stores.counters.lockUntil('ip:203.0.113.7', T0 + 60_000);
        expect(await stores.counters.lockedUntil('ip:203.0.113.7', T0)).toBe(T0 + 900_000);
        expect(await stores.counters.lockedUntil('ip:203.0.113.7', T0 + 899_999)).toBe(T0 + 900_000);
        expect(await stores.counters.lockedUntil('ip:203.0.113.7', T0 + 900_000)).toBeNull();
      });

      it('keeps long keys apart without letting them collide with short ones', async () => {
        const long = 'user:' + 'x'.repeat(5000);
        await stores.counters.increment(long + 'a', minute, 0);
        await stores.counters.increment(long + 'a', minute, 1);
        await stores.counters.increment(long + 'b', minute, 2);
        expect(await stores.counters.get(long + 'a', minute, 3)).toBe(2);
        expect(await stores.counters.get(long + 'b', minute, 3)).toBe(1);
        await expect(stores.counters.increment('', minute, 0)).rejects.toThrow(TypeError);
        await expect(stores.counters.increment('k', 0, 0)).rejects.toThrow(TypeError);
      });
    });
  });
}
