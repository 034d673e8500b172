/**
 * Config schema of the `contract` policy (issue 5: contract enforcement from OpenAPI; checklist items 4 "input
 * validation" and 16 "data exposure"; OWASP API3:2023 and API8:2023). Syntax here; the document itself is loaded and
 * checked by `check()` in index.ts, so a broken document is a config error naming its file, pointer and line.
 */
import { SIZE_SCHEMA } from '../../config/units.ts';

const UNDECLARED = {
  type: 'object',
  additionalProperties: false,
  description: 'What to do with request input the document does not declare.',
  properties: {
    query: {
      enum: ['reject', 'allow'],
      description: 'Query parameters the operation does not declare: `reject` (400, the default) or `allow` (forwarded unchecked; needs an acknowledgement).',
    },
    body: {
      enum: ['reject', 'allow'],
      description:
        'Body properties the schema does not declare (mass assignment, OWASP API3:2023): `reject` (400, the default) or `allow` ' +
        '(needs an acknowledgement). Free-form objects (no `properties`) and `additionalProperties: true` accept any property either way.',
    },
  },
} as const;

const RESPONSES = {
  type: 'object',
  additionalProperties: false,
  description: 'Response minimization against the response schema declared for the status (checklist item 16).',
  properties: {
    undeclared: {
      enum: ['remove', 'reject', 'allow'],
      description:
        'Properties of a JSON response the schema does not declare: `remove` them (the default), `reject` the whole answer with a ' +
        '502 problem, or `allow` them (needs an acknowledgement). `writeOnly` properties are removed in every mode. A response ' +
        'with no declared schema for its status and media type declares nothing.',
    },
  },
} as const;

export const contractSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['openapi'],
  description:
    'Enforce the route\'s OpenAPI contract: requests are matched to the document\'s operations and validated (path, query, ' +
    'header and cookie parameters by style/explode, JSON, form and multipart bodies, Content-Type 415, Accept 406); ' +
    'responses are minimised to what the document declares. Runs in the validate phase, after authorization.',
  properties: {
    openapi: {
      type: 'string',
      minLength: 1,
      maxLength: 4096,
      description:
        'The OpenAPI document: Swagger 2.0, OpenAPI 3.0 or 3.1, YAML or JSON, a local file (resolved against the config ' +
        'file\'s directory when the loader passes it, otherwise the working directory). External $refs to local files are ' +
        'followed; remote $refs are refused.',
    },
    stripPrefix: {
      type: 'string',
      pattern: '^(/[^/?#]+)+$',
      maxLength: 1024,
      description:
        'A prefix of the canonical path to remove before matching operations, e.g. "/v1" when the document\'s server URL ' +
        'ends in /v1 and its paths start after it. A request outside the prefix matches no operation.',
    },
    undeclared: { ...UNDECLARED, default: {} },
    responses: { ...RESPONSES, default: {} },
    passthroughUnknownOperations: {
      type: 'boolean',
      default: false,
      description:
        'Forward requests that match no operation of the document, unchecked (default false: 404, or 405 with Allow when ' +
        'the path exists for other methods). Needs an acknowledgement.',
    },
    maxBodySize: { ...SIZE_SCHEMA, default: '1mb', description: 'Largest request body read for validation (413 beyond); the route\'s own limit still applies.' },
    maxDepth: { type: 'integer', minimum: 1, maximum: 128, default: 32, description: 'Deepest JSON nesting accepted in request bodies.' },
    multipart: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Limits for multipart/form-data bodies (413 beyond).',
      properties: {
        maxParts: { type: 'integer', minimum: 1, maximum: 1000, default: 20, description: 'Most parts (fields and files) in one body.' },
        maxPartSize: { ...SIZE_SCHEMA, default: '1mb', description: 'Largest single part.' },
      },
    },
    operations: {
      type: 'object',
      default: {},
      description:
        'Per-operation overrides, keyed by operationId or "METHOD /path" as written in the document, e.g. ' +
        '{ "legacyImport": { undeclared: { body: allow } } }. An unknown key is a config error.',
      propertyNames: { minLength: 1, maxLength: 512 },
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        properties: { undeclared: UNDECLARED, responses: RESPONSES },
      },
    },
  },
} as const;

export type UndeclaredInput = 'reject' | 'allow';
export type UndeclaredOutput = 'remove' | 'reject' | 'allow';

export interface ContractOverride {
  readonly undeclared?: { readonly query?: UndeclaredInput; readonly body?: UndeclaredInput };
  readonly responses?: { readonly undeclared?: UndeclaredOutput };
}

export interface ContractConfig {
  /** Absolute after `check()` (resolved like TLS files are). */
  openapi: string;
  readonly stripPrefix?: string;
  readonly undeclared: { readonly query?: UndeclaredInput; readonly body?: UndeclaredInput };
  readonly responses: { readonly undeclared?: UndeclaredOutput };
  readonly passthroughUnknownOperations: boolean;
  readonly maxBodySize: string | number;
  readonly maxDepth: number;
  readonly multipart: { readonly maxParts: number; readonly maxPartSize: string | number };
  readonly operations: Readonly<Record<string, ContractOverride>>;
}
