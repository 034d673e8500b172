import { describe, expect, it } from 'vitest';
import { newId, randomToken } from './random.ts';

describe('randomToken', () => {
  it('returns base64url of the requested number of random bytes', () => {
    const token = randomToken();
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(token, 'base64url')).toHaveLength(32);
    expect(Buffer.from(randomToken(16), 'base64url')).toHaveLength(16);
    expect(new Set(Array.from({ length: 1000 }, () => randomToken(16))).size).toBe(1000);
  });

  it.each([0, 8, 15, 1025, 1.5, Number.NaN, -32])('refuses %s bytes', (bytes) => {
    expect(() => randomToken(bytes)).toThrow(RangeError);
  });
});

describe('newId', () => {
  it('prefixes 128 random bits', () => {
    expect(newId('usr_')).toMatch(/^usr_[A-Za-z0-9_-]{22}$/);
    expect(newId()).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(newId('usr_')).not.toBe(newId('usr_'));
  });
});
