/**
 * Config schema of the `authorize` policy (route key `authorize:`). The top-level `roles:` map reaches the policy
 * through inheritConfig() as `roles`; a route never writes it itself.
 */
import { DURATION_SCHEMA, SIZE_SCHEMA } from '../../config/units.ts';
import { PERMISSION_SCHEMA, ROLES_SCHEMA, type RolesConfig } from '../../authz/roles.ts';
import { OPA_PATH_PATTERN } from '../../authz/opa.ts';

const PERMISSION_LIST = {
  type: 'array',
  uniqueItems: true,
  maxItems: 32,
  items: PERMISSION_SCHEMA,
} as const;

const RULE = { type: 'string', minLength: 1, maxLength: 4096 } as const;

const PROPERTY_PATHS = {
  type: 'object',
  propertyNames: { pattern: '^[A-Za-z][A-Za-z0-9_.-]{0,63}$' },
  additionalProperties: { type: 'array', uniqueItems: true, maxItems: 256, items: { type: 'string', minLength: 1, maxLength: 512 } },
} as const;

const ID_TYPE = {
  type: 'string',
  enum: ['integer', 'string', 'uuid'],
  default: 'string',
  description:
    'How ids compare: integer (canonical decimal only: 07, 7.0, +7 are refused), uuid (case-insensitive) or string (exact).',
} as const;

export const authorizeSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['permissions'],
  description:
    'Authorization after authentication (OWASP API1, API3, API5): permissions from roles, CEL rules, object ownership, ' +
    'property rules, tenancy and optionally Open Policy Agent. Everything not granted is denied.',
  properties: {
    roles: { ...ROLES_SCHEMA, description: 'Set from the top-level `roles:` of the config; not written on a route.' },
    permissions: {
      description:
        'Permissions every request must hold (all of them): a list for every method, or per method ' +
        '({ GET: [orders:read], PATCH: [orders:write] }; a method not listed is denied; HEAD uses GET\'s). ' +
        '`[]` lets any authenticated principal through (posture reports it).',
      anyOf: [
        PERMISSION_LIST,
        { type: 'object', propertyNames: { pattern: '^[A-Z]{1,16}$' }, additionalProperties: PERMISSION_LIST, minProperties: 1 },
      ],
    },
    rule: {
      ...RULE,
      description:
        'A CEL expression over principal, request, now (and object, with object:) that must be true, e.g. ' +
        '"request.params.userId == principal.sub". Errors and missing fields deny.',
    },
    object: {
      type: 'object',
      additionalProperties: false,
      required: ['id'],
      description: 'Object-level authorization (BOLA): where the object id is and how ownership is decided.',
      properties: {
        id: { type: 'string', pattern: '^(path|query|body)\\.[A-Za-z0-9_.$-]+$', description: 'path.NAME, query.NAME or body.PATH' },
        type: ID_TYPE,
        owner: { ...RULE, description: 'CEL rule deciding ownership, e.g. "object.id == principal.sub".' },
        lookup: {
          type: 'object',
          additionalProperties: false,
          required: ['type'],
          description: 'Ownership from the store Rampart keeps (filled by `creates:` on the creating route).',
          properties: { type: { type: 'string', pattern: '^[a-z][a-z0-9_-]{0,63}$', description: 'The object collection, e.g. orders.' } },
        },
        deny: { type: 'integer', enum: [403, 404], default: 404, description: 'Status of a denied object; 404 does not confirm it exists.' },
      },
    },
    creates: {
      type: 'object',
      additionalProperties: false,
      required: ['type'],
      description:
        'This route creates objects: on a 200/201 answer the id is recorded as owned by the caller (and their tenant).',
      properties: {
        type: { type: 'string', pattern: '^[a-z][a-z0-9_-]{0,63}$', description: 'The object collection, e.g. orders.' },
        from: {
          type: 'string',
          default: 'header.location',
          pattern: '^(header\\.[a-z0-9-]+|body\\.[A-Za-z0-9_.$-]+)$',
          description: 'header.location (last path segment of Location, RFC 9110 §10.2.2), header.NAME, or body.PATH.',
        },
        idType: ID_TYPE,
      },
    },
    properties: {
      type: 'object',
      additionalProperties: false,
      description: 'Property-level authorization: per role, the body properties it may write and the response properties it may read.',
      properties: {
        write: { ...PROPERTY_PATHS, description: 'Role → writable paths (items[].price style). Others are rejected or stripped.' },
        read: { ...PROPERTY_PATHS, description: 'Role → readable paths of the response body (others removed).' },
        onWriteViolation: { type: 'string', enum: ['reject', 'strip'], default: 'reject', description: 'reject (403) or strip the properties.' },
      },
    },
    tenant: {
      type: 'object',
      additionalProperties: false,
      required: ['from'],
      description: 'Where requests name a tenant; any tenant other than the principal\'s is denied.',
      properties: {
        from: {
          type: 'array',
          minItems: 1,
          maxItems: 8,
          uniqueItems: true,
          items: { type: 'string', pattern: '^(path|header|query|body)\\.[A-Za-z0-9_.$-]+$' },
          description: 'e.g. [path.tenantId, header.x-tenant-id, body.tenant]',
        },
        deny: { type: 'integer', enum: [403, 404], default: 404, description: 'Status of a tenant crossing.' },
      },
    },
    opa: {
      type: 'object',
      additionalProperties: false,
      required: ['url', 'path'],
      description: 'Delegate the final decision to Open Policy Agent (Data API). Fails closed.',
      properties: {
        url: { type: 'string', minLength: 1, maxLength: 2048, description: 'OPA base URL (https, or http on loopback).' },
        path: { type: 'string', pattern: OPA_PATH_PATTERN, description: 'Decision document path, e.g. rampart/authz/allow.' },
        timeout: { ...DURATION_SCHEMA, default: '500ms', description: 'Deadline for one OPA answer; beyond it the request is denied.' },
        cacheTtl: { ...DURATION_SCHEMA, default: '10s', description: 'How long a decision is reused for the same input (0: never).' },
        headers: {
          type: 'array',
          default: [],
          uniqueItems: true,
          maxItems: 16,
          items: { type: 'string', pattern: '^[a-z0-9-]+$' },
          description: 'Request headers to include in the input (credentials are never allowed).',
        },
        includeBody: { type: 'boolean', default: false, description: 'Include the parsed JSON body in the input.' },
        includeClaims: { type: 'boolean', default: false, description: 'Include the principal\'s token claims in the input.' },
      },
    },
    maxBodySize: { ...SIZE_SCHEMA, default: '1mb', description: 'Largest JSON body read when a check needs it.' },
  },
} as const;

export type MethodPermissions = readonly string[] | Readonly<Record<string, readonly string[]>>;

export interface AuthorizeConfig {
  readonly roles?: RolesConfig;
  readonly permissions: MethodPermissions;
  readonly rule?: string;
  readonly object?: {
    readonly id: string;
    readonly type?: 'integer' | 'string' | 'uuid';
    readonly owner?: string;
    readonly lookup?: { readonly type: string };
    readonly deny?: 403 | 404;
  };
  readonly creates?: { readonly type: string; readonly from?: string; readonly idType?: 'integer' | 'string' | 'uuid' };
  readonly properties?: {
    readonly write?: Readonly<Record<string, readonly string[]>>;
    readonly read?: Readonly<Record<string, readonly string[]>>;
    readonly onWriteViolation?: 'reject' | 'strip';
  };
  readonly tenant?: { readonly from: readonly string[]; readonly deny?: 403 | 404 };
  readonly opa?: {
    readonly url: string;
    readonly path: string;
    readonly timeout?: string | number;
    readonly cacheTtl?: string | number;
    readonly headers?: readonly string[];
    readonly includeBody?: boolean;
    readonly includeClaims?: boolean;
  };
  readonly maxBodySize?: string | number;
}
