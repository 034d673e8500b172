import { describe, expect, it } from 'vitest';
import { Ajv } from 'ajv';
import { RoleGraph, ROLES_SCHEMA, carriesScopes, checkRoles, requiredPermission } from './roles.ts';
import type { Principal } from '../policies/types.ts';

const ROLES = {
  customer: { permissions: ['orders:read', 'orders:write'] },
  support: { inherits: ['customer'], permissions: ['users:read'] },
  admin: { inherits: ['support'], permissions: ['admin:users', 'docs:read'] },
  warehouse: { permissions: ['stock:*'] },
};

const user = (roles: string[], extra: Partial<Principal> = {}): Principal =>
  Object.freeze({ subject: 'u', kind: 'user', method: 'jwt', roles, claims: {}, ...extra });

describe('roles config check', () => {
  it('accepts the sketch roles', () => {
    expect(checkRoles(ROLES)).toEqual([]);
  });

  it('names an unknown inherited role and a role inheriting itself with their exact paths', () => {
    const issues = checkRoles({ a: { permissions: [], inherits: ['ghost'] }, b: { permissions: [], inherits: ['b'] } });
    expect(issues).toEqual([
      { path: 'roles.a.inherits[0]', message: 'no role named "ghost" (known: a, b)' },
      { path: 'roles.b.inherits[0]', message: 'a role cannot inherit itself' },
    ]);
  });

  it('refuses a cycle and names it once, as a path', () => {
    const issues = checkRoles({
      a: { permissions: [], inherits: ['b'] },
      b: { permissions: [], inherits: ['c'] },
      c: { permissions: [], inherits: ['a'] },
      d: { permissions: [], inherits: ['a'] },
    });
    expect(issues).toEqual([{ path: 'roles.c.inherits', message: 'inheritance cycle: a → b → c → a' }]);
  });

  it('refuses permissions that are not resource:action', () => {
    const bad = ['orders', 'Orders:read', '*:*', 'orders:', ':read', 'orders:read:all', 'orders: read'];
    const issues = checkRoles({ r: { permissions: bad } });
    expect(issues.map((i) => i.path)).toEqual(bad.map((_, i) => `roles.r.permissions[${i}]`));
  });

  it('has a JSON Schema with additionalProperties false per role and defaults for inherits', () => {
    const validate = new Ajv({ useDefaults: true, strict: false }).compile(ROLES_SCHEMA);
    const ok = { customer: { permissions: ['orders:read'] } };
    expect(validate(ok)).toBe(true);
    expect(ok).toEqual({ customer: { permissions: ['orders:read'], inherits: [] } });
    expect(validate({ customer: { permissions: [], grants: ['x'] } })).toBe(false);
    expect(validate({ 'bad name!': { permissions: [] } })).toBe(false);
    expect(validate({ customer: {} })).toBe(false);
  });
});

describe('role graph', () => {
  const graph = new RoleGraph(ROLES);

  it('grants the union over roles, transitively', () => {
    expect([...graph.permissionsOfRole('admin')].sort()).toEqual(['admin:users', 'docs:read', 'orders:read', 'orders:write', 'users:read']);
    expect(graph.rolesOfRole('admin')).toEqual(['admin', 'customer', 'support']);
    const both = graph.effective(user(['customer', 'warehouse']));
    expect(both.list).toEqual(['orders:read', 'orders:write', 'stock:*']);
  });

  it('grants nothing for unknown roles and nothing without roles', () => {
    expect(graph.effective(user(['root', 'superuser'])).list).toEqual([]);
    expect(graph.effective(user([])).list).toEqual([]);
  });

  it('matches resource:* grants against any action, and nothing else', () => {
    const effective = graph.effective(user(['warehouse']));
    const move = requiredPermission('stock:move');
    expect(effective.has(move.name, move.wildcard)).toBe(true);
    const orders = requiredPermission('orders:read');
    expect(effective.has(orders.name, orders.wildcard)).toBe(false);
  });

  it('never loops on a cycle that slipped past the check', () => {
    const cyclic = new RoleGraph({ a: { permissions: ['x:a'], inherits: ['b'] }, b: { permissions: ['x:b'], inherits: ['a'] } });
    expect([...cyclic.permissionsOfRole('a')].sort()).toEqual(['x:a', 'x:b']);
  });

  it('is not fooled by role names from the prototype', () => {
    expect(graph.effective(user(['__proto__', 'constructor', 'toString', 'hasOwnProperty'])).list).toEqual([]);
  });
});

describe('scopes narrow, never grant', () => {
  const graph = new RoleGraph(ROLES);

  it('a token with scope: effective = role permissions ∩ scopes', () => {
    const principal = user(['admin'], { permissions: new Set(['orders:read', 'admin:users', 'payments:refund']), claims: { scope: 'orders:read admin:users payments:refund' } });
    expect(carriesScopes(principal)).toBe(true);
    expect(graph.effective(principal).list).toEqual(['admin:users', 'orders:read']);
  });

  it('a token without any scope claim: the roles decide (jwt puts an empty set there)', () => {
    const principal = user(['customer'], { permissions: new Set(), claims: { sub: 'u' } });
    expect(carriesScopes(principal)).toBe(false);
    expect(graph.effective(principal).list).toEqual(['orders:read', 'orders:write']);
  });

  it('a token with an empty scope grants nothing', () => {
    const principal = user(['customer'], { permissions: new Set(), claims: { scope: '' } });
    expect(graph.effective(principal).list).toEqual([]);
  });

  it('an API key: null scopes = all of the roles, [] = nothing, a list narrows', () => {
    const key = (permissions: Set<string> | undefined) =>
      Object.freeze({ subject: 'acme', kind: 'consumer' as const, method: 'api-key', roles: ['customer'], permissions, claims: { keyId: 'k' } });
    expect(graph.effective(key(undefined)).list).toEqual(['orders:read', 'orders:write']);
    expect(graph.effective(key(new Set())).list).toEqual([]);
    expect(graph.effective(key(new Set(['orders:read', 'admin:users']))).list).toEqual(['orders:read']);
  });

  it('intersects wildcards on either side', () => {
    const scopedWildcardRole = user(['warehouse'], { permissions: new Set(['stock:read']), claims: { scope: 'stock:read' } });
    expect(graph.effective(scopedWildcardRole).list).toEqual(['stock:read']);
    const wildcardScope = user(['customer'], { permissions: new Set(['orders:*']), claims: { scope: 'orders:*' } });
    expect(graph.effective(wildcardScope).list).toEqual(['orders:read', 'orders:write']);
  });

  it('caches per frozen principal and per role set', () => {
    const principal = user(['support']);
    expect(graph.effective(principal)).toBe(graph.effective(principal));
    expect(graph.effective(user(['support']))).toBe(graph.effective(principal));
  });
});
