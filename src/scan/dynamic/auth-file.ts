/**
 * The auth file of `rampart scan --auth FILE` (YAML or JSON): credentials for up to two ordinary users and one
 * admin, each a static bearer token, an API key, fixed headers, or a login request on the target that yields a token
 * (re-run when the token expires). Optionally the operations that are administrative, when the OpenAPI document does
 * not say so by tags, paths or scopes.
 *
 * ```yaml
 * version: 1
 * userA: { bearer: "${env:SCAN_TOKEN_A}" }
 * userB: { apiKey: { in: header, name: X-API-Key, value: "${env:SCAN_KEY_B}" } }
 * admin:
 *   login:
 *     path: /auth/login                       # on the target's origin, never another host
 *     json: { username: ops, password: "${env:SCAN_ADMIN_PASSWORD}" }
 *     token: { from: json, pointer: /access_token }
 *     send: { as: bearer }
 * adminOperations: [deleteUser, "GET /admin/stats"]
 * ```
 *
 * `${env:NAME}` in any string is replaced from the environment, so secrets stay out of the file. The schema is
 * closed (`additionalProperties: false` everywhere); every error names its exact path.
 */
import { readFileSync, statSync } from 'node:fs';
import { substituteEnv } from '../../config/env.ts';
import type { ErrorObject } from 'ajv';
import { validatorOnFirstUse } from '../../config/config-ajv.ts';
import YAML from 'yaml';
import { formatAjvErrors } from '../../config/errors.ts';

export type TokenSource =
  | { readonly from: 'json'; readonly pointer: string }
  | { readonly from: 'header'; readonly name: string }
  | { readonly from: 'cookie'; readonly name: string };

export type TokenUse =
  | { readonly as: 'bearer' }
  | { readonly as: 'header'; readonly name: string; readonly prefix?: string }
  | { readonly as: 'cookie'; readonly name: string };

export interface LoginCredential {
  readonly method?: 'POST' | 'PUT' | 'GET';
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly json?: unknown;
  readonly form?: Readonly<Record<string, string>>;
  readonly token: TokenSource;
  readonly send?: TokenUse;
  /** JSON pointer of the token lifetime in seconds in the login answer (default `/expires_in`, if present). */
  readonly expiresInPointer?: string;
}

export type Credential =
  | { readonly bearer: string }
  | { readonly apiKey: { readonly in: 'header' | 'query' | 'cookie'; readonly name: string; readonly value: string } }
  | { readonly headers: Readonly<Record<string, string>> }
  | { readonly login: LoginCredential };

export type PrincipalName = 'userA' | 'userB' | 'admin';

export interface AuthFile {
  readonly version?: 1;
  readonly userA?: Credential;
  readonly userB?: Credential;
  readonly admin?: Credential;
  /** operationIds or `METHOD /path/template` of administrative operations. */
  readonly adminOperations?: readonly string[];
}

/** RFC 9110 §5.6.2 token: header and cookie names. */
const TOKEN_NAME = "^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$";
const HEADER_MAP = {
  type: 'object',
  maxProperties: 16,
  propertyNames: { pattern: TOKEN_NAME },
  additionalProperties: { type: 'string', maxLength: 16384 },
} as const;
const SECRET = { type: 'string', minLength: 1, maxLength: 16384, pattern: '^[^\\s]+$' } as const;

const LOGIN = {
  type: 'object',
  additionalProperties: false,
  required: ['path', 'token'],
  description: 'A request on the target that answers with a credential; sent again when the credential expires.',
  properties: {
    method: { enum: ['POST', 'PUT', 'GET'], default: 'POST' },
    path: {
      type: 'string',
      maxLength: 2048,
      // A path on the target: the scanner never sends credentials to another origin.
      pattern: '^/(?![/\\\\])[^\\s#]*$',
      description: 'Path (and query) on the target, e.g. /auth/login. Absolute URLs are refused: requests stay on the target.',
    },
    headers: HEADER_MAP,
    json: { description: 'JSON request body.' },
    form: { type: 'object', maxProperties: 32, additionalProperties: { type: 'string', maxLength: 4096 }, description: 'Form-encoded request body.' },
    token: {
      type: 'object',
      additionalProperties: false,
      required: ['from'],
      properties: {
        from: { enum: ['json', 'header', 'cookie'] },
        pointer: { type: 'string', pattern: '^(/[^/]*)*$', maxLength: 512, description: 'JSON pointer (RFC 6901) into the answer, for from: json.' },
        name: { type: 'string', pattern: TOKEN_NAME, description: 'Header or cookie name, for from: header | cookie.' },
      },
      allOf: [
        { if: { properties: { from: { const: 'json' } } }, then: { required: ['pointer'], not: { required: ['name'] } } },
        { if: { properties: { from: { enum: ['header', 'cookie'] } } }, then: { required: ['name'], not: { required: ['pointer'] } } },
      ],
    },
    send: {
      type: 'object',
      additionalProperties: false,
      required: ['as'],
      default: { as: 'bearer' },
      properties: {
        as: { enum: ['bearer', 'header', 'cookie'] },
        name: { type: 'string', pattern: TOKEN_NAME },
        prefix: { type: 'string', maxLength: 64 },
      },
      allOf: [
        { if: { properties: { as: { const: 'bearer' } } }, then: { not: { anyOf: [{ required: ['name'] }, { required: ['prefix'] }] } } },
        { if: { properties: { as: { const: 'header' } } }, then: { required: ['name'] } },
        { if: { properties: { as: { const: 'cookie' } } }, then: { required: ['name'], not: { required: ['prefix'] } } },
      ],
    },
    expiresInPointer: { type: 'string', pattern: '^(/[^/]*)*$', maxLength: 512 },
  },
  not: { required: ['json', 'form'] },
} as const;

const CREDENTIAL = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  maxProperties: 1,
  description: 'Exactly one of bearer, apiKey, headers, login.',
  properties: {
    bearer: { ...SECRET, description: 'A static token, sent as `Authorization: Bearer <token>`.' },
    apiKey: {
      type: 'object',
      additionalProperties: false,
      required: ['in', 'name', 'value'],
      properties: {
        in: { enum: ['header', 'query', 'cookie'] },
        name: { type: 'string', pattern: TOKEN_NAME },
        value: SECRET,
      },
    },
    headers: { ...HEADER_MAP, minProperties: 1, description: 'Fixed headers sent as the credential (e.g. a custom scheme).' },
    login: LOGIN,
  },
} as const;

/** JSON Schema (draft-07) of the auth file, published with `rampart scan` (`--auth`). */
export const authFileSchema = Object.freeze({
  $schema: 'http://json-schema.org/draft-07/schema#',
  title: 'rampart scan auth file',
  description: 'Credentials for the dynamic scan: up to two ordinary users (userA, userB) and one admin.',
  type: 'object',
  additionalProperties: false,
  properties: {
    version: { const: 1 },
    userA: { ...CREDENTIAL, description: 'Ordinary user A: baseline requests, token probes, and the owner of objects for BOLA.' },
    userB: { ...CREDENTIAL, description: 'Ordinary user B: requests user A\'s objects (BOLA).' },
    admin: { ...CREDENTIAL, description: 'An administrator: baseline requests of administrative operations.' },
    adminOperations: {
      type: 'array',
      maxItems: 1000,
      uniqueItems: true,
      items: { type: 'string', minLength: 1, maxLength: 512 },
      description: 'operationIds or "METHOD /path/template" of administrative operations (added to what the document shows).',
    },
  },
});

const validate = validatorOnFirstUse(authFileSchema);

export class AuthFileError extends Error {
  override readonly name = 'AuthFileError';
  constructor(
    readonly file: string,
    readonly errors: readonly string[],
  ) {
    super(`${file}: invalid auth file\n${errors.map((e) => `  ${e}`).join('\n')}`);
  }
}

const MAX_FILE_BYTES = 1024 * 1024;

/** Reads, substitutes `${env:NAME}` and validates an auth file; throws AuthFileError naming every problem. */
export function loadAuthFile(file: string, env: Readonly<Record<string, string | undefined>> = process.env): AuthFile {
  let text: string;
  try {
    if (statSync(file).size > MAX_FILE_BYTES) throw new AuthFileError(file, [`(root): the file is larger than ${MAX_FILE_BYTES} bytes`]);
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if (error instanceof AuthFileError) throw error;
    throw new AuthFileError(file, [`(root): cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`]);
  }
  // YAML is a superset of JSON. A duplicated key is an error, alias expansion is bounded ("billion laughs").
  const doc = YAML.parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new AuthFileError(
      file,
      doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        return `${pos ? `line ${pos.line}, column ${pos.col}` : '(root)'}: ${e.message.split('\n')[0]}`;
      }),
    );
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 50 });
  } catch (error) {
    throw new AuthFileError(file, [`(root): ${(error as Error).message}`]);
  }
  return parseAuthFile(value, file, env);
}

/** Validates an already parsed auth file (tests, programmatic use). */
export function parseAuthFile(value: unknown, name = 'auth file', env: Readonly<Record<string, string | undefined>> = process.env): AuthFile {
  if (value === null || value === undefined) throw new AuthFileError(name, ['(root): the file is empty']);
  const errors: string[] = [];
  const substituted = substituteEnv(value, env, '', errors);
  if (errors.length > 0) throw new AuthFileError(name, errors);
  if (!validate(substituted)) throw new AuthFileError(name, describeErrors(validate.errors ?? []));
  const file = substituted as AuthFile;
  for (const principal of ['userB', 'admin'] as const) {
    if (file[principal] !== undefined && file.userA === undefined) errors.push(`${principal}: needs userA as well (the scan compares every other principal with user A)`);
  }
  if (errors.length > 0) throw new AuthFileError(name, errors);
  return file;
}

function describeErrors(errors: readonly ErrorObject[]): string[] {
  const out: string[] = [];
  const rest: ErrorObject[] = [];
  for (const error of errors) {
    // `if` failures only repeat the `then` errors reported next to them; a property name's own pattern error
    // repeats the propertyNames error.
    if (error.keyword === 'if' || error.propertyName !== undefined) continue;
    if (error.keyword === 'propertyNames') {
      const path = error.instancePath.slice(1).split('/').join('.');
      out.push(`${path}: ${JSON.stringify(String((error.params as { propertyName?: unknown }).propertyName))} is not a valid header name`);
      continue;
    }
    if (error.keyword === 'minProperties' || error.keyword === 'maxProperties') {
      const path = error.instancePath.slice(1).split('/').join('.');
      if (/^(userA|userB|admin)$/.test(path)) {
        out.push(`${path}: needs exactly one of bearer, apiKey, headers, login`);
        continue;
      }
      if (/\.headers$|^(userA|userB|admin)\.login\.headers$/.test(path) || path.endsWith('headers')) {
        out.push(`${path}: ${error.keyword === 'minProperties' ? 'must not be empty' : 'has too many entries'}`);
        continue;
      }
    }
    if (error.keyword === 'not') {
      const path = error.instancePath.slice(1).split('/').join('.');
      if (path.endsWith('login')) out.push(`${path}: json and form cannot both be given`);
      else if (path.endsWith('token')) out.push(`${path}: from json takes pointer, from header or cookie takes name`);
      else if (path.endsWith('send')) out.push(`${path}: bearer takes no name or prefix, cookie takes no prefix`);
      else out.push(`${path || '(root)'}: is not allowed here`);
      continue;
    }
    rest.push(error);
  }
  return [...new Set([...out, ...formatAjvErrors(rest)])];
}

/** Replaces `${env:NAME}`; refuses prototype keys (they are never valid settings and could pollute objects). */
