import { describe, expect, it } from 'vitest';
import { PropertyRules, checkPropertyPath, checkWrites, compilePropertyTree, filterReadable } from './properties.ts';
import { RoleGraph } from './roles.ts';
import { parseStrictJson } from '../gateway/body.ts';

const customer = compilePropertyTree(['quantity', 'note', 'address.city', 'items[].sku', 'items[].quantity']);

describe('write rules (mass assignment, OWASP API3)', () => {
  it('passes a body within the allowed paths', () => {
    const body = { quantity: 2, note: 'door', address: { city: 'Oslo' }, items: [{ sku: 'a', quantity: 1 }, { sku: 'b' }] };
    expect(checkWrites(body, customer, false).violations).toEqual([]);
    expect(checkWrites({}, customer, false).violations).toEqual([]);
    expect(checkWrites({ items: [] }, customer, false).violations).toEqual([]);
  });

  it('names role, isAdmin and nested items[].price as violations', () => {
    const body = { quantity: 1, role: 'admin', isAdmin: true, items: [{ sku: 'a', price: 0 }], address: { city: 'x', country: 'y' } };
    expect(checkWrites(body, customer, false).violations).toEqual(['role', 'isAdmin', 'items[].price', 'address.country']);
  });

  it('treats a value of another shape as a write of the whole property', () => {
    expect(checkWrites({ address: 'Oslo' }, customer, false).violations).toEqual(['address']);
    expect(checkWrites({ address: null }, customer, false).violations).toEqual(['address']);
    expect(checkWrites({ address: ['x'] }, customer, false).violations).toEqual(['address']);
    expect(checkWrites({ items: { sku: 'a' } }, customer, false).violations).toEqual(['items']);
    expect(checkWrites({ items: ['a'] }, customer, false).violations).toEqual(['items[]']);
    expect(checkWrites([{ quantity: 1 }], customer, false).violations).toEqual(['(body)']);
  });

  it('strips violations without touching the input', () => {
    const body = { quantity: 1, role: 'admin', items: [{ sku: 'a', price: 0 }, 'junk'], address: { city: 'x', isAdmin: true } };
    const snapshot = structuredClone(body);
    const result = checkWrites(body, customer, true);
    expect(result.stripped).toEqual({ quantity: 1, items: [{ sku: 'a' }], address: { city: 'x' } });
    expect(body).toEqual(snapshot);
    expect(checkWrites({ quantity: 1 }, customer, true).stripped).toBeUndefined();
  });

  it('a principal with no writable property may send only an empty object', () => {
    const nothing = compilePropertyTree([]);
    expect(checkWrites({}, nothing, false).violations).toEqual([]);
    expect(checkWrites({ a: 1 }, nothing, false).violations).toEqual(['a']);
  });

  it('cannot be confused by prototype keys: the hardened reader refuses them before any check', () => {
    for (const text of ['{"__proto__":{"isAdmin":true}}', '{"constructor":{"prototype":{"isAdmin":true}}}', '{"quantity":1,"quantity":2}', '{"__pro\\u0074o__":{}}']) {
      expect(() => parseStrictJson(text)).toThrow();
    }
    // Even a body built by hand with an own __proto__ key is a violation, never a write.
    const own = JSON.parse('{"__proto__":{"isAdmin":true}}') as unknown;
    expect(checkWrites(own, customer, false).violations).toEqual(['__proto__']);
  });
});

describe('read rules (excessive data exposure)', () => {
  it('keeps only readable properties, through arrays', () => {
    const tree = compilePropertyTree(['id', 'items[].sku', 'total']);
    const response = { id: 7, total: 10, internalCost: 3, ownerEmail: 'a@b', items: [{ sku: 'a', cost: 1 }, { sku: 'b' }] };
    expect(filterReadable(response, tree)).toEqual({ id: 7, total: 10, items: [{ sku: 'a' }, { sku: 'b' }] });
    expect(filterReadable([response], compilePropertyTree(['[].id']))).toEqual([{ id: 7 }]);
  });
});

describe('paths and roles', () => {
  it('checks path syntax', () => {
    expect(checkPropertyPath('items[].price')).toBeUndefined();
    expect(checkPropertyPath('matrix[][]')).toBeUndefined();
    expect(checkPropertyPath('[].id')).toBeUndefined();
    expect(checkPropertyPath('a..b')).toMatch(/no name/);
    expect(checkPropertyPath('a.[]')).toMatch(/no name/);
    expect(checkPropertyPath('__proto__.x')).toMatch(/never a valid property/);
    expect(checkPropertyPath('items[0].price')).toMatch(/not NAME/);
  });

  it('the allowed set is the union over the principal\'s roles, inheritance included', () => {
    const graph = new RoleGraph({ customer: { permissions: [] }, support: { permissions: [], inherits: ['customer'] }, pricing: { permissions: [] } });
    const rules = new PropertyRules({ customer: ['quantity'], pricing: ['items[].price'] }, (role) => graph.rolesOfRole(role));
    const body = { quantity: 1, items: [{ price: 2 }] };
    expect(checkWrites(body, rules.treeFor(['customer']), false).violations).toEqual(['items']);
    expect(checkWrites(body, rules.treeFor(['support']), false).violations).toEqual(['items']);
    expect(checkWrites(body, rules.treeFor(['support', 'pricing']), false).violations).toEqual([]);
    expect(rules.treeFor(['customer'])).toBe(rules.treeFor(['customer']));
  });
});
