import { describe, expect, it } from 'vitest';
import { addressPrefix, failedAccount } from './inputs.ts';
import { MAX_KEY_LENGTH } from './detector.ts';
import type { SecurityEvent } from '../observe/events.ts';

const failure = (type: string, details: Record<string, unknown> | undefined): SecurityEvent => ({
  type,
  severity: 'low',
  requestId: 'r1',
  clientAddress: '192.0.2.1',
  ...(details !== undefined ? { details } : {}),
});

describe('failedAccount', () => {
  it.each([
    ['auth.login-failed', { reason: 'wrong-password', user: '0123456789abcdef' }, 'user:0123456789abcdef'],
    ['auth.login-failed', { reason: 'unknown-user', user: 'fedcba9876543210' }, 'user:fedcba9876543210'],
    ['auth.mfa-failed', { reason: 'invalid', method: 'totp', userId: 'u_1' }, 'user-id:u_1'],
    ['auth.client-authentication-failed', { clientId: 'billing-job', reason: 'bad-secret' }, 'client:billing-job'],
    ['auth.api-key-failed', { method: 'api-key', reason: 'revoked', prefix: 'rk_live_ab12' }, 'api-key:rk_live_ab12'],
  ])('%s names its account', (type, details, expected) => {
    expect(failedAccount(failure(type, details))).toBe(expected);
  });

  // Hostile or incomplete events: no account, never an exception.
  it.each([
    ['no details', 'auth.login-failed', undefined],
    ['user missing', 'auth.login-failed', { reason: 'empty' }],
    ['user not a string', 'auth.login-failed', { user: { toString: () => 'x' } }],
    ['user empty', 'auth.login-failed', { user: '' }],
    ['user a number', 'auth.login-failed', { user: 42 }],
    ['api key without prefix (unknown key)', 'auth.api-key-failed', { reason: 'unknown' }],
    ['another event type', 'credential.rejected', { user: 'abc' }],
    ['prototype key', 'auth.login-failed', JSON.parse('{"__proto__": {"user": "polluted"}}') as Record<string, unknown>],
  ])('%s gives no account', (_name, type, details) => {
    expect(failedAccount(failure(type, details))).toBeUndefined();
  });

  it('cuts very long account names, so a hostile client id cannot make keys large', () => {
    const account = failedAccount(failure('auth.client-authentication-failed', { clientId: 'x'.repeat(100_000) }));
    expect(account).toHaveLength(MAX_KEY_LENGTH);
  });
});

describe('addressPrefix', () => {
  it.each([
    ['203.0.113.7', 32, 64, '203.0.113.7'],
    ['203.0.113.7', 24, 64, '203.0.113.0/24'],
    ['203.0.113.7', 16, 64, '203.0.0.0/16'],
    ['255.255.255.255', 8, 64, '255.0.0.0/8'],
    ['2001:db8:1:2:a:b:c:d', 32, 64, '2001:db8:1:2:0:0:0:0/64'],
    ['2001:db8:1:2::d', 32, 64, '2001:db8:1:2:0:0:0:0/64'],
    ['2001:DB8:1:2::D', 32, 64, '2001:db8:1:2:0:0:0:0/64'],
    ['2001:db8:1:2:ffff::', 32, 48, '2001:db8:1:0:0:0:0:0/48'],
    ['::1', 32, 64, '0:0:0:0:0:0:0:0/64'],
    ['::', 32, 64, '0:0:0:0:0:0:0:0/64'],
    ['::ffff:192.0.2.1', 32, 128, '192.0.2.1'],
    ['::ffff:192.0.2.1', 32, 64, '192.0.2.1'],
    ['::ffff:192.0.2.1', 24, 64, '192.0.2.0/24'],
    ['64:ff9b::192.0.2.1', 32, 96, '64:ff9b:0:0:0:0:0:0/96'],
    ['fe80::1%eth0', 32, 64, 'fe80:0:0:0:0:0:0:0/64'],
    ['2001:db8::1', 32, 60, '2001:db8:0:0:0:0:0:0/60'],
    ['2001:db8:0:1f::1', 32, 60, '2001:db8:0:10:0:0:0:0/60'],
  ])('%s with /%i and /%i is %s', (address, v4, v6, expected) => {
    expect(addressPrefix(address, v4, v6)).toBe(expected);
  });

  it('two privacy addresses of one /64 are one network, two /64s are two', () => {
    expect(addressPrefix('2001:db8:aa:bb:1:2:3:4', 32, 64)).toBe(addressPrefix('2001:db8:aa:bb:9:8:7:6', 32, 64));
    expect(addressPrefix('2001:db8:aa:bb::1', 32, 64)).not.toBe(addressPrefix('2001:db8:aa:bc::1', 32, 64));
  });

  it.each(['', 'not-an-address', '999.1.1.1', '1.2.3', 'x'.repeat(10_000), '::g'])('leaves %j unchanged (not an IP)', (value) => {
    expect(addressPrefix(value, 24, 64)).toBe(value);
  });
});
