/**
 * Test support for the login and MFA endpoints (used by the tests beside them and by test/login-mfa.e2e.test.ts,
 * never by the gateway):
 *
 * - `TestTokenIssuer`: the gateway's real issuer (tokens/issuer.ts) plus its public key and a claims reader.
 * - `startHarness`: a node:http server on port 0 that runs a tiny version of the gateway pipeline per route:
 *   authenticate with the real `jwt` policy (optional or required), then policies such as `mfa`, then an identity
 *   endpoint or a small JSON "upstream".
 * - `TestClock`, `identityDeps`: injected time and a full IdentityDeps over real stores.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet, type JWK } from 'jose';
import { pino } from 'pino';
import { deriveSecretPepper } from '../../crypto/hashing.ts';
import { generateMasterKey, parseMasterKey } from '../../crypto/master-key.ts';
import { newId } from '../../crypto/random.ts';
import { sendProblem } from '../../gateway/respond.ts';
import { SharedResourcePool } from '../../gateway/runtime.ts';
import { RecordingSecurityEvents } from '../../observe/events.ts';
import { createJwtHandlers } from '../../policies/jwt/index.ts';
import type { JwtConfig } from '../../policies/jwt/schema.ts';
import { NOT_RESPONSIBLE, type Outcome, type PolicyDeps, type PolicyHandlers } from '../../policies/types.ts';
import { openStores } from '../../storage/index.ts';
import type { Stores } from '../../storage/ports.ts';
import { ACR_MFA, type IdentityConfig, type IdentityDeps, type TokenGrant, type TokenIssuer, type TokenResponse } from '../types.ts';
import type { EndpointContext } from './http.ts';
import { createTokenIssuer, type RampartTokenIssuer } from '../tokens/issuer.ts';

export class TestClock {
  t: number;
  constructor(start = Date.UTC(2030, 0, 1, 12, 0, 0)) {
    this.t = start;
  }
  readonly now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

export function testIdentityConfig(overrides: Partial<IdentityConfig> = {}): IdentityConfig {
  return {
    issuer: 'https://id.rampart.test',
    audience: 'rampart',
    basePath: '/auth',
    accessTokenTtlMs: 10 * 60_000,
    refreshTokenTtlMs: 14 * 86_400_000,
    signing: { alg: 'ES256', rotateEveryMs: 30 * 86_400_000, overlapMs: 86_400_000 },
    mfa: { totpIssuer: 'Rampart Test', requireFor: ['admin'], stepUpTtlMs: 5 * 60_000 },
    bruteForce: { windowMs: 15 * 60_000, maxFailuresPerAccount: 5, maxFailuresPerAddress: 50, lockForMs: 15 * 60_000 },
    maxBodySize: 8192,
    ...overrides,
  };
}

export interface TestIdentity {
  readonly deps: IdentityDeps;
  readonly events: RecordingSecurityEvents;
  readonly clock: TestClock;
  readonly stores: Stores;
  /** The SQLite file (sqlite kind only), for tests that read it raw. */
  readonly databaseFile: string | undefined;
  close(): Promise<void>;
}

/** IdentityDeps over real stores: `memory:` or a SQLite file in a fresh temporary directory. */
export function openTestIdentity(kind: 'memory' | 'sqlite', overrides: Partial<IdentityConfig> = {}, clock = new TestClock()): TestIdentity {
  const masterKey = parseMasterKey(generateMasterKey());
  const dir = kind === 'sqlite' ? mkdtempSync(join(tmpdir(), 'rampart-login-')) : undefined;
  const databaseFile = dir === undefined ? undefined : join(dir, 'rampart.db');
  const stores = openStores(databaseFile === undefined ? 'memory:' : `sqlite:${databaseFile}`, { masterKey });
  const events = new RecordingSecurityEvents();
  const deps: IdentityDeps = {
    config: testIdentityConfig(overrides),
    stores,
    pepper: deriveSecretPepper(masterKey),
    logger: pino({ level: 'silent' }),
    events,
    now: clock.now,
  };
  return {
    deps,
    events,
    clock,
    stores,
    databaseFile,
    close: async () => {
      await stores.close();
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The gateway's real token issuer (tokens/issuer.ts) with what tests need around it: the public key it signs
 * with (for a static-key authenticator) and the verified claims of a token it issued.
 */
export class TestTokenIssuer implements TokenIssuer {
  readonly #inner: RampartTokenIssuer;
  readonly #config: IdentityConfig;
  readonly #now: () => number;
  readonly publicJwk: JWK & { kid: string };

  private constructor(inner: RampartTokenIssuer, deps: IdentityDeps, publicJwk: JWK & { kid: string }) {
    this.#inner = inner;
    this.#config = deps.config;
    this.#now = deps.now;
    this.publicJwk = publicJwk;
  }

  static async create(deps: IdentityDeps): Promise<TestTokenIssuer> {
    const inner = await createTokenIssuer(deps);
    const { keys } = await inner.jwks();
    if (keys.length !== 1) throw new Error(`expected one signing key at start, got ${keys.length}`);
    return new TestTokenIssuer(inner, deps, keys[0] as JWK & { kid: string });
  }

  issue(grant: TokenGrant): Promise<TokenResponse> {
    return this.#inner.issue(grant);
  }

  jwks(): Promise<{ keys: Array<Record<string, unknown>> }> {
    return this.#inner.jwks();
  }

  rotateIfDue(): Promise<void> {
    return this.#inner.rotateIfDue();
  }

  close(): Promise<void> {
    return this.#inner.close();
  }

  /** The verified claims of an access token this issuer signed (tests inspect amr, acr, auth_time). */
  async claims(accessToken: string): Promise<Record<string, unknown>> {
    const keySet = createLocalJWKSet((await this.#inner.jwks()) as JSONWebKeySet);
    const { payload } = await jwtVerify(accessToken, keySet, {
      issuer: this.#config.issuer,
      audience: this.#config.audience,
      currentDate: new Date(this.#now()),
    });
    return payload as Record<string, unknown>;
  }
}

/** The `jwt` policy config that accepts this provider's tokens (what `identity-token` does in the gateway). */
export function identityJwtConfig(config: IdentityConfig, keys: { jwksUrl: string } | { jwk: JWK & { kid: string } }): JwtConfig {
  return {
    name: 'rampart-identity',
    issuer: config.issuer,
    audiences: [config.audience],
    algorithms: ['ES256'],
    ...('jwksUrl' in keys ? { jwksUrl: keys.jwksUrl } : { keys: [{ kid: keys.jwk.kid, alg: 'ES256', jwk: keys.jwk as Record<string, unknown> }] }),
    clockSkew: 30,
    maxTokenAge: 0,
    requireTyp: 'at+jwt',
    requiredClaims: ['exp', 'iat', 'sub'],
    roles: { claim: 'roles' },
    tenant: { claim: 'tenant' },
    mfa: { amrContains: ['otp', 'hwk', 'swk', 'mfa'], acrValues: [ACR_MFA] },
    cache: { maxEntries: 1000, maxBytes: 67_108_864, maxTtl: 300 },
    jwks: { minRefreshInterval: 1, defaultMaxAge: 60, maxMaxAge: 600, timeout: 2000, maxBytes: 65536 },
    allowQueryToken: false,
    maxTokenBytes: 8192,
    realm: 'rampart',
  };
}

export function testPolicyDeps(events = new RecordingSecurityEvents()): PolicyDeps & { events: RecordingSecurityEvents; shared: SharedResourcePool } {
  return { logger: pino({ level: 'silent' }), events, routeId: 'test-route', development: false, shared: new SharedResourcePool() };
}

export interface HarnessRoute {
  readonly path: string;
  /** Run the bearer authenticator: 'required' answers 401 without a token; 'optional' lets such requests through. */
  readonly authenticate?: 'required' | 'optional';
  /** Policies after authentication (e.g. mfa), in order. */
  readonly policies?: readonly PolicyHandlers[];
  /** The identity endpoint answering; without one, a JSON echo of the principal stands for the upstream. */
  readonly endpoint?: (ctx: EndpointContext) => Promise<void>;
}

export interface Harness {
  readonly url: string;
  readonly server: Server;
  /** Sets the bearer authenticator (built once the URL, hence the JWKS URL, is known). */
  setAuthenticator(handlers: PolicyHandlers): void;
  close(): Promise<void>;
}

function contextFor(req: IncomingMessage, res: ServerResponse): EndpointContext {
  const url = req.url ?? '/';
  const mark = url.indexOf('?');
  return {
    req,
    res,
    requestId: newId('req_'),
    method: req.method ?? 'GET',
    path: mark === -1 ? url : url.slice(0, mark),
    query: mark === -1 ? '' : url.slice(mark + 1),
    clientAddress: req.socket.remoteAddress ?? '127.0.0.1',
    secure: false,
    routeId: 'harness',
    params: {},
    principal: undefined,
    responseHeaders: [],
    locals: {},
    errorCode: undefined,
    errorDetail: undefined,
  };
}

/** Applies a policy outcome; true when the request was answered. */
function answered(ctx: EndpointContext, outcome: Outcome): boolean {
  if (outcome === undefined || outcome === NOT_RESPONSIBLE) return false;
  if (outcome.kind === 'problem') {
    ctx.errorCode = outcome.code;
    ctx.errorDetail = outcome.detail;
    sendProblem(ctx.res, outcome.code, ctx.requestId, ctx.responseHeaders, outcome.headers);
  } else {
    ctx.res.writeHead(outcome.status, outcome.headers);
    ctx.res.end(outcome.body);
  }
  return true;
}

export async function startHarness(routes: readonly HarnessRoute[], jwks?: () => Promise<unknown>): Promise<Harness> {
  let authenticator: PolicyHandlers | undefined;
  const server = createServer((req, res) => {
    const ctx = contextFor(req, res);
    void (async () => {
      if (ctx.path === '/.well-known/jwks.json' && jwks !== undefined) {
        res.writeHead(200, { 'content-type': 'application/jwk-set+json', 'cache-control': 'max-age=60' });
        res.end(JSON.stringify(await jwks()));
        return;
      }
      const route = routes.find((r) => r.path === ctx.path || (r.path.endsWith('/*') && ctx.path.startsWith(r.path.slice(0, -1))));
      if (route === undefined) {
        sendProblem(res, 'RAMPART_ERR_ROUTE_NOT_FOUND', ctx.requestId);
        return;
      }
      if (route.authenticate !== undefined) {
        if (authenticator === undefined) throw new Error('harness: no authenticator set');
        const outcome = await authenticator.onRequest!(ctx);
        if (outcome === NOT_RESPONSIBLE) {
          if (route.authenticate === 'required') {
            sendProblem(res, 'RAMPART_ERR_UNAUTHENTICATED', ctx.requestId, [], { 'www-authenticate': authenticator.challenge ?? 'Bearer' });
            return;
          }
        } else if (answered(ctx, outcome)) {
          return;
        }
      }
      for (const policy of route.policies ?? []) {
        if (answered(ctx, await policy.onRequest!(ctx))) return;
      }
      if (route.endpoint !== undefined) {
        await route.endpoint(ctx);
        return;
      }
      const body = JSON.stringify({ ok: true, method: ctx.method, subject: ctx.principal?.subject ?? null });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
    })().catch((error: unknown) => {
      if (!res.headersSent) sendProblem(res, 'RAMPART_ERR_INTERNAL', ctx.requestId);
      else res.destroy();
      process.emitWarning(`harness: ${(error as Error).stack ?? String(error)}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    setAuthenticator(handlers) {
      authenticator = handlers;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The real jwt policy configured for the provider's tokens, with the injected clock. */
export function identityAuthenticator(config: IdentityConfig, keys: Parameters<typeof identityJwtConfig>[1], now: () => number): Promise<PolicyHandlers> {
  return createJwtHandlers(identityJwtConfig(config, keys), testPolicyDeps(), { now });
}

export interface JsonAnswer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Record<string, unknown>;
  readonly text: string;
}

/** POST (or another method) with a JSON body (or raw text) and optional headers; the answer parsed when JSON. */
export async function call(
  url: string,
  options: { method?: string; json?: unknown; raw?: string; contentType?: string; bearer?: string; headers?: Record<string, string> } = {},
): Promise<JsonAnswer> {
  const headers: Record<string, string> = { ...options.headers };
  let body: string | undefined;
  if (options.json !== undefined) {
    body = JSON.stringify(options.json);
    headers['content-type'] = options.contentType ?? 'application/json';
  } else if (options.raw !== undefined) {
    body = options.raw;
    headers['content-type'] = options.contentType ?? 'application/json';
  }
  if (options.bearer !== undefined) headers.authorization = `Bearer ${options.bearer}`;
  const response = await fetch(url, { method: options.method ?? 'POST', headers, body });
  const text = await response.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = text.length > 0 ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    parsed = {};
  }
  return { status: response.status, headers: response.headers, body: parsed, text };
}
