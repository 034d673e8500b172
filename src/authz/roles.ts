/**
 * Roles and permissions (issue 4 point 1; OWASP API5:2023 Broken Function Level Authorization).
 *
 * A permission is `resource:action` (`orders:read`, `admin:users`); a granted `resource:*` covers every action on
 * that resource. There is no global wildcard (`*:*`): a superuser must be spelled out, so posture can see it.
 * Roles grant permissions and may inherit other roles explicitly; inheritance must be acyclic (the config check
 * names the cycle). A principal's permissions are the union over its roles, transitively.
 *
 * Scopes narrow, they never grant (RFC 6749 §3.3, RFC 8693 §4.2): a token's `scope` / `scp` and an API key's
 * scopes limit what a client may do on behalf of its principal, so the effective set is
 *
 *     effective = (union of the roles' permissions) ∩ scopes      when the principal carries scopes
 *     effective =  union of the roles' permissions                otherwise
 *
 * "Carries scopes" means: `principal.permissions` is set and either non-empty or the principal came from a token
 * that has a `scope`/`scp` claim (an explicit empty scope grants nothing). The jwt and introspection policies put
 * an empty set in `permissions` for tokens without any scope claim; that is "no scopes", not "scoped to nothing".
 * An API key with scopes `[]` is scoped to nothing. A client-credentials token without roles therefore has no
 * permissions: give the client a role (e.g. through the issuer's `roles.claim`).
 *
 * Hot path: the effective set is computed once per principal object (principals are frozen and cached by the
 * authenticators) and once per distinct role set, so a request costs one WeakMap lookup and Set probes.
 */
import type { ConfigIssue, Principal } from '../policies/types.ts';

/** `resource:action`; lower-case letters, digits, `_`, `-`, `.`; the action may be `*`. */
export const PERMISSION_PATTERN = '^[a-z][a-z0-9_.-]{0,63}:(?:\\*|[a-z][a-z0-9_.-]{0,63})$';
const PERMISSION_RE = new RegExp(PERMISSION_PATTERN);
const ROLE_NAME_PATTERN = '^[A-Za-z][A-Za-z0-9_.-]{0,63}$';

export const PERMISSION_SCHEMA = {
  type: 'string',
  pattern: PERMISSION_PATTERN,
  description: 'A permission `resource:action`, e.g. `orders:read`; `resource:*` grants every action on the resource.',
} as const;

/** Top-level `roles:` of the gateway config. The loader adds it to the document schema and calls checkRoles(). */
export const ROLES_SCHEMA = {
  type: 'object',
  default: {},
  description:
    'Roles by name. A role grants permissions and may inherit other roles (explicitly, without cycles); ' +
    'a principal holds the union of its roles\' permissions.',
  propertyNames: { pattern: ROLE_NAME_PATTERN },
  additionalProperties: {
    type: 'object',
    additionalProperties: false,
    required: ['permissions'],
    properties: {
      permissions: {
        type: 'array',
        uniqueItems: true,
        maxItems: 256,
        items: PERMISSION_SCHEMA,
        description: 'Permissions this role grants.',
      },
      inherits: {
        type: 'array',
        uniqueItems: true,
        maxItems: 32,
        default: [],
        items: { type: 'string', pattern: ROLE_NAME_PATTERN },
        description: 'Roles whose permissions this role also grants.',
      },
      description: { type: 'string', maxLength: 512, description: 'What the role is for (shown by posture).' },
    },
  },
} as const;

export interface RoleDefinition {
  readonly permissions: readonly string[];
  readonly inherits?: readonly string[];
  readonly description?: string;
}

export type RolesConfig = Readonly<Record<string, RoleDefinition>>;

export function isPermission(value: string): boolean {
  return PERMISSION_RE.test(value);
}

/**
 * Semantic checks JSON Schema cannot express: unknown inherited roles, cycles (named as a path), and permission
 * syntax (repeated here so a caller that skipped the schema still gets it).
 */
export function checkRoles(roles: RolesConfig | undefined, path = 'roles'): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  if (roles === undefined) return issues;
  const names = Object.keys(roles);
  for (const name of names) {
    const role = roles[name]!;
    (role.permissions ?? []).forEach((permission, i) => {
      if (!isPermission(permission)) {
        issues.push({ path: `${path}.${name}.permissions[${i}]`, message: `"${permission}" is not a permission (resource:action)` });
      }
    });
    (role.inherits ?? []).forEach((parent, i) => {
      if (parent === name) issues.push({ path: `${path}.${name}.inherits[${i}]`, message: 'a role cannot inherit itself' });
      else if (!Object.hasOwn(roles, parent)) {
        issues.push({ path: `${path}.${name}.inherits[${i}]`, message: `no role named "${parent}" (known: ${names.join(', ')})` });
      }
    });
  }
  // Depth-first search with colours; each cycle is reported once, at the role where it was closed.
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const reported = new Set<string>();
  const visit = (name: string): void => {
    state.set(name, 'visiting');
    stack.push(name);
    for (const parent of roles[name]?.inherits ?? []) {
      if (parent === name || !Object.hasOwn(roles, parent)) continue;
      const seen = state.get(parent);
      if (seen === 'visiting') {
        const cycle = [...stack.slice(stack.indexOf(parent)), parent];
        const key = [...cycle.slice(0, -1)].sort().join('\u0000');
        if (!reported.has(key)) {
          reported.add(key);
          issues.push({ path: `${path}.${name}.inherits`, message: `inheritance cycle: ${cycle.join(' → ')}` });
        }
      } else if (seen === undefined) {
        visit(parent);
      }
    }
    stack.pop();
    state.set(name, 'done');
  };
  for (const name of names) if (!state.has(name)) visit(name);
  return issues;
}

const EMPTY_SET: ReadonlySet<string> = new Set();

/** The permissions a principal effectively holds, with wildcard-aware membership. */
export class EffectivePermissions {
  /** Every granted permission, including `resource:*` entries. */
  readonly granted: ReadonlySet<string>;
  /** Sorted list (for CEL's `principal.permissions`, OPA input and explanations). */
  readonly list: readonly string[];
  /** Roles after inheritance. */
  readonly roles: readonly string[];

  constructor(granted: ReadonlySet<string>, roles: readonly string[]) {
    this.granted = granted;
    this.list = Object.freeze([...granted].sort());
    this.roles = roles;
  }

  /** `wildcard` is `resource:*` for `permission`, precomputed at config time (see RequiredPermission). */
  has(permission: string, wildcard: string): boolean {
    return this.granted.has(permission) || this.granted.has(wildcard);
  }
}

/** A permission a route requires, with its wildcard form computed once. */
export interface RequiredPermission {
  readonly name: string;
  readonly wildcard: string;
}

export function requiredPermission(name: string): RequiredPermission {
  return { name, wildcard: `${name.slice(0, name.indexOf(':'))}:*` };
}

function covers(set: ReadonlySet<string>, permission: string): boolean {
  if (set.has(permission)) return true;
  const colon = permission.indexOf(':');
  return colon > 0 && set.has(`${permission.slice(0, colon)}:*`);
}

/** Whether the principal's `permissions` set narrows its roles (see the module comment). */
export function carriesScopes(principal: Principal): boolean {
  const scopes = principal.permissions;
  if (scopes === undefined) return false;
  if (scopes.size > 0) return true;
  const claims = principal.claims;
  // API keys and other non-token principals: an explicit empty set is "scoped to nothing".
  if (claims === undefined || principal.method === 'api-key') return true;
  return Object.hasOwn(claims, 'scope') || Object.hasOwn(claims, 'scp');
}

const MAX_ROLE_SET_CACHE = 4096;

/** The compiled role graph: transitive permissions per role, and effective permissions per principal. */
export class RoleGraph {
  readonly #closure = new Map<string, { permissions: ReadonlySet<string>; roles: readonly string[] }>();
  readonly #byPrincipal = new WeakMap<Principal, EffectivePermissions>();
  readonly #byRoleSet = new Map<string, EffectivePermissions>();

  /** `roles` must have passed checkRoles (acyclic); a cycle left in anyway is cut, never looped on. */
  constructor(roles: RolesConfig) {
    for (const name of Object.keys(roles)) this.#closure.set(name, this.#resolve(roles, name));
  }

  #resolve(roles: RolesConfig, start: string): { permissions: ReadonlySet<string>; roles: readonly string[] } {
    const permissions = new Set<string>();
    const seen = new Set<string>();
    const queue = [start];
    while (queue.length > 0) {
      const name = queue.pop()!;
      if (seen.has(name) || !Object.hasOwn(roles, name)) continue;
      seen.add(name);
      const role = roles[name]!;
      for (const permission of role.permissions ?? []) permissions.add(permission);
      for (const parent of role.inherits ?? []) queue.push(parent);
    }
    return { permissions, roles: Object.freeze([...seen].sort()) };
  }

  /** Whether a role of this name is defined. */
  hasRole(name: string): boolean {
    return this.#closure.has(name);
  }

  /** Every defined role name. */
  roleNames(): string[] {
    return [...this.#closure.keys()];
  }

  /** A role's permissions after inheritance (empty for an unknown role: unknown roles grant nothing). */
  permissionsOfRole(name: string): ReadonlySet<string> {
    return this.#closure.get(name)?.permissions ?? EMPTY_SET;
  }

  /** A role and every role it inherits, transitively. */
  rolesOfRole(name: string): readonly string[] {
    return this.#closure.get(name)?.roles ?? [];
  }

  /** The principal's effective permissions (cached per principal object, then per role set and scopes). */
  effective(principal: Principal): EffectivePermissions {
    const cached = this.#byPrincipal.get(principal);
    if (cached !== undefined) return cached;
    const scoped = carriesScopes(principal);
    const key = scoped ? `${principal.roles.join('\u0000')}\u0001${[...principal.permissions!].sort().join('\u0000')}` : principal.roles.join('\u0000');
    let result = this.#byRoleSet.get(key);
    if (result === undefined) {
      result = this.#compute(principal.roles, scoped ? principal.permissions! : undefined);
      // A bounded cache: role sets are few in practice; a flood of distinct scope sets only costs recomputation.
      if (this.#byRoleSet.size >= MAX_ROLE_SET_CACHE) this.#byRoleSet.clear();
      this.#byRoleSet.set(key, result);
    }
    // Principals that are not frozen might be changed by a later policy; only frozen ones are cached by identity.
    if (Object.isFrozen(principal)) this.#byPrincipal.set(principal, result);
    return result;
  }

  #compute(roleNames: readonly string[], scopes: ReadonlySet<string> | undefined): EffectivePermissions {
    const fromRoles = new Set<string>();
    const allRoles = new Set<string>();
    for (const role of roleNames) {
      const closure = this.#closure.get(role);
      if (closure === undefined) continue;
      for (const permission of closure.permissions) fromRoles.add(permission);
      for (const name of closure.roles) allRoles.add(name);
    }
    let granted: Set<string> = fromRoles;
    if (scopes !== undefined) {
      // Intersection with wildcards on both sides: role `orders:*` ∩ scope `orders:read` = `orders:read`;
      // role `orders:read` ∩ scope `orders:*` = `orders:read`.
      granted = new Set();
      for (const permission of fromRoles) if (covers(scopes, permission)) granted.add(permission);
      for (const scope of scopes) if (isPermission(scope) && covers(fromRoles, scope)) granted.add(scope);
    }
    return new EffectivePermissions(granted, Object.freeze([...allRoles].sort()));
  }
}
