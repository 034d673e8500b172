import { describe, expect, it } from 'vitest';
import { constantTimeEqual } from './constant-time.ts';

describe('constantTimeEqual', () => {
  const table: [string, string | Uint8Array, string | Uint8Array, boolean][] = [
    ['equal strings', 'rk_live_secret', 'rk_live_secret', true],
    ['empty strings', '', '', true],
    ['differ in the last character', 'rk_live_secret', 'rk_live_secreu', false],
    ['differ in the first character', 'Xk_live_secret', 'rk_live_secret', false],
    ['case differs', 'ABC', 'abc', false],
    ['prefix of the other', 'rk_live', 'rk_live_secret', false],
    ['longer than the other', 'rk_live_secret!', 'rk_live_secret', false],
    ['one empty', '', 'x', false],
    ['equal non-ASCII strings', 'päss wörd 🔑', 'päss wörd 🔑', true],
    ['NFC vs NFD (different bytes)', 'é', 'e\u0301', false],
    ['equal byte arrays', new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 3]), true],
    ['different byte arrays', new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 4]), false],
    ['byte arrays of different length', new Uint8Array([1, 2]), new Uint8Array([1, 2, 3]), false],
    ['string against its UTF-8 bytes', 'abc', Buffer.from('abc'), true],
    ['Buffer against Uint8Array', Buffer.from([9, 9]), new Uint8Array([9, 9]), true],
    ['string against other bytes', 'abc', Buffer.from('abd'), false],
    ['NUL inside', 'a\u0000b', 'a\u0000c', false],
  ];
  it.each(table)('%s', (_name, a, b, expected) => {
    expect(constantTimeEqual(a, b)).toBe(expected);
    expect(constantTimeEqual(b, a)).toBe(expected);
  });
});
