import { describe, expect, it } from 'vitest';
import { MemoryOwnershipStore, extractObjectId, idFromLocation, normaliseId, ownsRecord, parseIdLocation, type IdLocation } from './object.ts';
import type { Principal } from '../policies/types.ts';

const loc = (text: string): IdLocation => {
  const parsed = parseIdLocation(text);
  if (typeof parsed === 'string') throw new Error(parsed);
  return parsed;
};

describe('id normalisation: one canonical form per type, every other spelling refused', () => {
  const integer: Array<[unknown, string | null]> = [
    ['7', '7'],
    ['0', '0'],
    ['%37', '7'],
    [7, '7'],
    ['07', null],
    ['007', null],
    ['7.0', null],
    ['7.', null],
    ['+7', null],
    ['-7', null],
    ['7e0', null],
    ['0x7', null],
    [' 7', null],
    ['7 ', null],
    ['%207', null],
    ['7%00', null],
    ['٧', null],
    ['', null],
    ['99999999999999999999', null],
    [7.5, null],
    [-7, null],
    [[7], null],
    [{ id: 7 }, null],
    [true, null],
    [null, null],
    ['%E0%A4%A', null],
  ];
  for (const [raw, expected] of integer) {
    it(`integer ${JSON.stringify(raw)} → ${expected ?? 'refused'}`, () => {
      const result = normaliseId(raw, 'integer', true);
      if (expected === null) expect(result.ok).toBe(false);
      else expect(result).toEqual({ ok: true, id: expected });
    });
  }

  it('uuid: case-insensitive on input, lower-case canonical form (RFC 9562 §4)', () => {
    expect(normaliseId('6F9619FF-8B86-D011-B42D-00C04FC964FF', 'uuid', true)).toEqual({ ok: true, id: '6f9619ff-8b86-d011-b42d-00c04fc964ff' });
    expect(normaliseId('{6F9619FF-8B86-D011-B42D-00C04FC964FF}', 'uuid', true).ok).toBe(false);
    expect(normaliseId('6f9619ff8b86d011b42d00c04fc964ff', 'uuid', true).ok).toBe(false);
  });

  it('string: exact after one percent-decoding; control characters and arrays refused', () => {
    expect(normaliseId('ord-1', 'string', true)).toEqual({ ok: true, id: 'ord-1' });
    expect(normaliseId('ord%2D1', 'string', true)).toEqual({ ok: true, id: 'ord-1' });
    expect(normaliseId('ORD-1', 'string', true)).toEqual({ ok: true, id: 'ORD-1' });
    expect(normaliseId('a%0Ab', 'string', true).ok).toBe(false);
    expect(normaliseId(['ord-1'], 'string', true).ok).toBe(false);
    expect(normaliseId('x'.repeat(257), 'string', true).ok).toBe(false);
    // Decoded once only: `%2537` is the text "%37", never 7.
    expect(normaliseId('%2537', 'string', true)).toEqual({ ok: true, id: '%37' });
    expect(normaliseId('%2537', 'integer', true).ok).toBe(false);
  });
});

describe('reading the id from path, query or body', () => {
  it('path parameter', () => {
    expect(extractObjectId(loc('path.orderId'), 'integer', { orderId: '7' }, '', undefined)).toEqual({ ok: true, id: '7' });
    expect(extractObjectId(loc('path.orderId'), 'integer', {}, '', undefined).ok).toBe(false);
  });

  it('query: decoded once, duplicates and bracket forms refused', () => {
    const q = loc('query.orderId');
    expect(extractObjectId(q, 'integer', {}, 'orderId=7', undefined)).toEqual({ ok: true, id: '7' });
    expect(extractObjectId(q, 'integer', {}, 'orderId=%37', undefined)).toEqual({ ok: true, id: '7' });
    expect(extractObjectId(q, 'integer', {}, 'order%49d=7', undefined)).toEqual({ ok: true, id: '7' });
    expect(extractObjectId(q, 'integer', {}, 'orderId=7&orderId=8', undefined)).toMatchObject({ ok: false, reason: expect.stringContaining('more than once') });
    expect(extractObjectId(q, 'integer', {}, 'orderId=7&order%49d=8', undefined).ok).toBe(false);
    expect(extractObjectId(q, 'integer', {}, 'orderId[]=7', undefined)).toMatchObject({ ok: false, reason: expect.stringContaining('array') });
    expect(extractObjectId(q, 'integer', {}, 'orderId=7&orderId[]=8', undefined).ok).toBe(false);
    expect(extractObjectId(q, 'integer', {}, 'orderId%5B0%5D=8', undefined).ok).toBe(false);
    expect(extractObjectId(q, 'integer', {}, 'other=1', undefined).ok).toBe(false);
  });

  it('body: own properties only, nested paths, arrays and objects refused', () => {
    const b = loc('body.order.id');
    expect(extractObjectId(b, 'integer', {}, '', { order: { id: 7 } })).toEqual({ ok: true, id: '7' });
    expect(extractObjectId(b, 'integer', {}, '', { order: { id: '7' } })).toEqual({ ok: true, id: '7' });
    expect(extractObjectId(b, 'integer', {}, '', { order: { id: [7] } }).ok).toBe(false);
    expect(extractObjectId(b, 'integer', {}, '', { order: { id: { $gt: 0 } } }).ok).toBe(false);
    expect(extractObjectId(b, 'integer', {}, '', { order: [{ id: 7 }] }).ok).toBe(false);
    expect(extractObjectId(b, 'integer', {}, '', Object.create({ order: { id: 7 } })).ok).toBe(false);
    expect(extractObjectId(b, 'integer', {}, '', undefined).ok).toBe(false);
  });

  it('refuses malformed locations at config time', () => {
    expect(parseIdLocation('orderId')).toMatch(/must be/);
    expect(parseIdLocation('cookie.id')).toMatch(/unknown source/);
    expect(parseIdLocation('body.__proto__.id')).toMatch(/forbidden/);
    expect(parseIdLocation('body.a..b')).toMatch(/empty/);
  });
});

describe('ownership store', () => {
  const alice: Principal = { subject: 'alice', kind: 'user', method: 'jwt', roles: [], tenant: 'acme' };

  it('first writer wins: a later create answer cannot transfer ownership', () => {
    const store = new MemoryOwnershipStore();
    store.record('orders', '7', { owner: 'alice', tenant: 'acme' });
    store.record('orders', '7', { owner: 'mallory' });
    expect(ownsRecord(alice, store.owner('orders', '7'))).toBe(true);
    expect(store.owner('orders', '7')).toEqual({ owner: 'alice', tenant: 'acme' });
  });

  it('separates collections and tenants; unknown objects are nobody\'s', () => {
    const store = new MemoryOwnershipStore();
    store.record('orders', '7', { owner: 'alice', tenant: 'globex' });
    expect(ownsRecord(alice, store.owner('orders', '7'))).toBe(false);
    expect(ownsRecord(alice, store.owner('invoices', '7'))).toBe(false);
    expect(ownsRecord(alice, store.owner('orders', '8'))).toBe(false);
  });

  it('is bounded and forgets the oldest first', () => {
    const store = new MemoryOwnershipStore(3);
    for (const id of ['1', '2', '3', '4']) store.record('orders', id, { owner: 'alice' });
    expect(store.size).toBe(3);
    expect(store.owner('orders', '1')).toBeUndefined();
    expect(store.owner('orders', '4')).toEqual({ owner: 'alice' });
  });

  it('reads the created id from Location (RFC 9110 §10.2.2)', () => {
    expect(idFromLocation('/orders/42', 'integer')).toEqual({ ok: true, id: '42' });
    expect(idFromLocation('https://api.example.com/orders/42/', 'integer')).toEqual({ ok: true, id: '42' });
    expect(idFromLocation('/orders/42?x=1#y', 'integer')).toEqual({ ok: true, id: '42' });
    expect(idFromLocation('/orders/ord%2D9', 'string')).toEqual({ ok: true, id: 'ord-9' });
    expect(idFromLocation('/orders/042', 'integer').ok).toBe(false);
  });
});
