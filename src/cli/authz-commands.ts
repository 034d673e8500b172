/**
 * `rampart authz explain`: what the gateway would decide for one principal and one request, and every check it
 * consulted (issue 4 point 7).
 *
 *   rampart authz explain --config gateway.yaml --principal alice.json --request 'PATCH /orders/7' \
 *     [--body body.json] [--header 'x-tenant-id: acme'] [--owns orders:7] [--json]
 *
 * The principal file is JSON: { "subject", "kind"?, "method"?, "roles"?, "permissions"?, "tenant"?, "claims"?,
 * "amr"? } (`permissions` are the token's or key's scopes, which narrow the roles). The request runs through the
 * same canonical path, router and decision engine as the gateway; the body through the same hardened JSON parser.
 * Ownership lookups see an empty store unless `--owns TYPE:ID` says the principal owns an object.
 *
 * Exit codes: 0 a decision was made (allow or deny: see the output), 1 invalid config or input, 2 usage error.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { IncomingMessage } from 'node:http';
import type { Command } from 'commander';
import YAML from 'yaml';
import { loadConfigFile } from '../config/load.ts';
import { formatAjvErrors } from '../config/errors.ts';
import { validatorOnFirstUse } from '../config/config-ajv.ts';
import { POLICIES } from '../policies/registry.ts';
import { canonicalizeRequestTarget } from '../gateway/canonical-path.ts';
import { Router } from '../gateway/router.ts';
import { parseStrictJson } from '../gateway/body.ts';
import type { Principal, RequestContext } from '../policies/types.ts';
import { authorizeSchema, type AuthorizeConfig } from '../policies/authorize/schema.ts';
import { authorizePolicy } from '../policies/authorize/index.ts';
import { Authorizer, compileAuthorization, type ExplainStep } from '../authz/engine.ts';
import { checkRoles } from '../authz/roles.ts';
import { MemoryOwnershipStore } from '../authz/object.ts';
import { buildExplanation, formatExplanation } from '../authz/explain.ts';

class InputError extends Error {}

interface ExplainOptions {
  readonly config: string;
  readonly principal: string;
  readonly request: string;
  readonly body?: string;
  readonly header: string[];
  readonly owns: string[];
  readonly json?: boolean;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function registerAuthzCommands(program: Command): void {
  const authz = program.command('authz').description('authorization tools');
  authz
    .command('explain')
    .description('print the authorization decision for a principal and a request, and every check consulted')
    .requiredOption('-c, --config <file>', 'gateway config (YAML or JSON)')
    .requiredOption('-p, --principal <file>', 'principal as JSON: { subject, roles, permissions?, tenant?, claims? }')
    .requiredOption('-r, --request <request>', "method and request target, e.g. 'GET /orders/7?view=full'")
    .option('-b, --body <file>', 'JSON request body')
    .option('-H, --header <header>', "request header 'name: value' (repeatable)", collect, [])
    .option('--owns <type:id>', 'the principal owns this object in the ownership store (repeatable)', collect, [])
    .option('--json', 'print the explanation as JSON')
    .action(async (options: ExplainOptions) => {
      try {
        const explanation = await explain(options);
        console.log(options.json ? JSON.stringify(explanation, null, 2) : formatExplanation(explanation));
      } catch (error) {
        if (!(error instanceof InputError)) throw error;
        console.error(`rampart authz explain: ${error.message}`);
        process.exitCode = 1;
      }
    });
}

function readText(file: string, what: string): string {
  try {
    return readFileSync(resolve(file), 'utf8');
  } catch (error) {
    throw new InputError(`${what} ${file}: cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/** The config document: through the full loader when it knows `authorize`, else parsed here (YAML ⊇ JSON). */
function loadDocument(file: string): { document: Record<string, unknown>; notes: string[] } {
  if (POLICIES.has('authorize')) {
    const result = loadConfigFile(resolve(file));
    if (!result.ok) throw new InputError(`${file}: ${result.errors.length} error(s)\n  ${result.errors.join('\n  ')}`);
    return { document: result.config.document, notes: [] };
  }
  const doc = YAML.parseDocument(readText(file, 'config'), { uniqueKeys: true });
  if (doc.errors.length > 0) throw new InputError(`${file}: ${doc.errors[0]!.message.split('\n')[0]}`);
  const document = doc.toJS({ maxAliasCount: 100 }) as unknown;
  if (document === null || typeof document !== 'object' || Array.isArray(document)) throw new InputError(`${file}: must be an object`);
  return { document: document as Record<string, unknown>, notes: ['the full config loader does not know the authorize policy yet: only roles and the route\'s authorize block were validated'] };
}

function parsePrincipal(file: string): Principal {
  let raw: unknown;
  try {
    raw = parseStrictJson(readText(file, 'principal'));
  } catch (error) {
    throw new InputError(`principal ${file}: ${(error as Error).message}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new InputError(`principal ${file}: must be a JSON object`);
  const p = raw as Record<string, unknown>;
  const strings = (value: unknown, name: string): string[] | undefined => {
    if (value === undefined) return undefined;
    if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw new InputError(`principal ${file}: ${name} must be a list of strings`);
    return value as string[];
  };
  if (typeof p.subject !== 'string' || p.subject === '') throw new InputError(`principal ${file}: subject must be a non-empty string`);
  const kinds = ['user', 'consumer', 'client', 'anonymous'];
  if (p.kind !== undefined && !kinds.includes(p.kind as string)) throw new InputError(`principal ${file}: kind must be one of ${kinds.join(', ')}`);
  if (p.tenant !== undefined && typeof p.tenant !== 'string') throw new InputError(`principal ${file}: tenant must be a string`);
  if (p.claims !== undefined && (p.claims === null || typeof p.claims !== 'object' || Array.isArray(p.claims))) {
    throw new InputError(`principal ${file}: claims must be an object`);
  }
  const permissions = strings(p.permissions, 'permissions');
  return Object.freeze({
    subject: p.subject,
    kind: (p.kind as Principal['kind'] | undefined) ?? 'user',
    method: typeof p.method === 'string' ? p.method : 'explain',
    roles: Object.freeze(strings(p.roles, 'roles') ?? []),
    permissions: permissions === undefined ? undefined : new Set(permissions),
    claims: p.claims as Record<string, unknown> | undefined,
    tenant: p.tenant as string | undefined,
    amr: strings(p.amr, 'amr'),
  });
}

interface RawRoute {
  id: string;
  match: { path: string; methods?: string[]; host?: string };
  authorize?: unknown;
}

export async function explain(options: ExplainOptions) {
  const { document, notes } = loadDocument(options.config);
  const roles = (document.roles ?? {}) as Record<string, never>;
  const roleIssues = checkRoles(roles, 'roles');
  if (roleIssues.length > 0) throw new InputError(`${options.config}: ${roleIssues.map((i) => `${i.path}: ${i.message}`).join('\n  ')}`);
  const principal = parsePrincipal(options.principal);

  const space = options.request.indexOf(' ');
  if (space <= 0) throw new InputError(`--request must be 'METHOD /path', e.g. 'GET /orders/7'`);
  const method = options.request.slice(0, space).toUpperCase();
  if (!/^[A-Z]{1,16}$/.test(method)) throw new InputError(`--request: "${method}" is not a method`);
  const target = canonicalizeRequestTarget(options.request.slice(space + 1).trim());
  if (!target.ok) throw new InputError(`--request: the gateway would refuse this target with 400 (${target.reason})`);

  const routes = (Array.isArray(document.routes) ? document.routes : []) as RawRoute[];
  const router = new Router(routes.map((r) => ({ id: r.id, path: r.match.path, methods: r.match.methods, host: r.match.host, value: r })));
  const match = router.match(method, undefined, target.path);
  if (match.kind === 'not-found') throw new InputError(`no route matches ${target.path} (the gateway answers 404)`);
  if (match.kind === 'method-not-allowed') throw new InputError(`the route does not accept ${method} (the gateway answers 405; allowed: ${match.allow.join(', ')})`);
  const route = match.value;
  if (route.authorize === undefined || route.authorize === false) {
    throw new InputError(`route ${route.id} has no authorize block: every authenticated principal reaches its upstream`);
  }

  const config = { ...(authorizePolicy.inheritConfig?.(document) ?? {}), ...structuredClone(route.authorize as Record<string, unknown>) };
  const validate = validatorOnFirstUse(authorizeSchema);
  const routePath = `routes[${routes.indexOf(route)}].authorize`;
  if (!validate(config)) throw new InputError(`${options.config}: ${formatAjvErrors(validate.errors ?? [], routePath).join('\n  ')}`);
  const compiled = compileAuthorization(config as unknown as AuthorizeConfig, routePath);
  if (!compiled.ok) throw new InputError(`${options.config}: ${compiled.issues.map((i) => `${i.path}: ${i.message}`).join('\n  ')}`);

  const ownership = new MemoryOwnershipStore();
  for (const entry of options.owns) {
    const colon = entry.indexOf(':');
    if (colon <= 0) throw new InputError(`--owns must be TYPE:ID, e.g. orders:7`);
    ownership.record(entry.slice(0, colon), entry.slice(colon + 1), principal.tenant === undefined ? { owner: principal.subject } : { owner: principal.subject, tenant: principal.tenant });
  }
  if (compiled.compiled.object?.lookup !== undefined && options.owns.length === 0) {
    notes.push('ownership lookups see an empty store: pass --owns TYPE:ID for objects the principal owns');
  }

  const headers: Record<string, string> = {};
  for (const line of options.header) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new InputError(`--header must be 'name: value'`);
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let bodyText: string | undefined;
  if (options.body !== undefined) {
    bodyText = readText(options.body, 'body');
    headers['content-type'] ??= 'application/json';
    headers['content-length'] = String(Buffer.byteLength(bodyText));
  }
  const ctx: RequestContext = {
    req: { headers } as unknown as IncomingMessage,
    requestId: 'explain',
    method,
    path: target.path,
    query: target.query,
    clientAddress: '-',
    secure: true,
    routeId: route.id,
    params: match.params,
    principal,
    responseHeaders: [],
    locals: {},
  };
  const authorizer = new Authorizer(compiled.compiled, {
    ownership,
    // Same hardening as the gateway's reader: duplicate and prototype keys, depth.
    readBody: async () => parseStrictJson(bodyText ?? ''),
  });
  const steps: ExplainStep[] = [];
  try {
    const decision = await authorizer.decide(ctx, steps);
    return buildExplanation(route.id, method, target.path + (target.query ? `?${target.query}` : ''), principal.subject, decision, steps, notes);
  } finally {
    authorizer.close();
  }
}
