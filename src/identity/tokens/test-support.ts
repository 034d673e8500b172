/**
 * Test support for the token issuer, its endpoints and the identity-token policy (used by tests only): identity
 * deps over real stores (memory, or SQLite in a temp dir), a node:http server on port 0 that hands each request to
 * an IdentityEndpoint through a real GatewayContext, and a "protected route" server running the identity-token
 * policy the way the gateway pipeline does (NOT_RESPONSIBLE with no other authenticator → 401 with the challenge).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { deriveSecretPepper } from '../../crypto/hashing.ts';
import { generateMasterKey, parseMasterKey } from '../../crypto/master-key.ts';
import { GatewayContext } from '../../gateway/context.ts';
import { sendDirect, sendProblem } from '../../gateway/respond.ts';
import type { Runtime } from '../../gateway/runtime.ts';
import { RecordingSecurityEvents } from '../../observe/events.ts';
import type { PolicyHandlers } from '../../policies/types.ts';
import { NOT_RESPONSIBLE } from '../../policies/types.ts';
import { openStores } from '../../storage/index.ts';
import type { Stores } from '../../storage/ports.ts';
import type { IdentityConfig, IdentityDeps, IdentityEndpoint } from '../types.ts';

export const TEST_ISSUER = 'https://id.rampart.test';
export const TEST_AUDIENCE = 'rampart-test-api';

export function testIdentityConfig(overrides: Partial<IdentityConfig> = {}): IdentityConfig {
  return {
    issuer: TEST_ISSUER,
    audience: TEST_AUDIENCE,
    basePath: '/auth',
    accessTokenTtlMs: 600_000,
    refreshTokenTtlMs: 14 * 86_400_000,
    signing: { alg: 'ES256', rotateEveryMs: 30 * 86_400_000, overlapMs: 86_400_000 },
    mfa: { totpIssuer: 'Rampart', requireFor: [], stepUpTtlMs: 300_000 },
    bruteForce: { windowMs: 900_000, maxFailuresPerAccount: 5, maxFailuresPerAddress: 50, lockForMs: 900_000 },
    maxBodySize: 8192,
    ...overrides,
  };
}

export type StoreKind = 'memory' | 'sqlite';

export interface TestIdentity extends IdentityDeps {
  readonly events: RecordingSecurityEvents;
  /** The SQLite database's directory (sqlite stores only). */
  readonly dir: string | undefined;
  close(): Promise<void>;
}

/** Identity deps over fresh stores; `now` is the test's clock. */
export function testIdentityDeps(kind: StoreKind, now: () => number, config: IdentityConfig = testIdentityConfig()): TestIdentity {
  const masterKey = parseMasterKey(generateMasterKey());
  const dir = kind === 'sqlite' ? mkdtempSync(join(tmpdir(), 'rampart-tokens-')) : undefined;
  const stores: Stores = openStores(dir === undefined ? 'memory:' : `sqlite:${join(dir, 'rampart.db')}`, { masterKey });
  return {
    config,
    stores,
    pepper: deriveSecretPepper(masterKey),
    logger: pino({ level: 'silent' }),
    events: new RecordingSecurityEvents(),
    now,
    dir,
    close: async () => {
      await stores.close();
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface TestServer {
  readonly server: Server;
  readonly url: string;
  close(): Promise<void>;
}

function contextFor(req: IncomingMessage, res: ServerResponse): GatewayContext {
  // The endpoints use req, res, requestId, method, clientAddress, responseHeaders and locals; no runtime.
  const ctx = new GatewayContext(req, res, undefined as unknown as Runtime, 'req-test', req.socket.remoteAddress ?? '127.0.0.1', req.socket.remoteAddress ?? '127.0.0.1', false, false, Date.now());
  const url = req.url ?? '/';
  const mark = url.indexOf('?');
  ctx.path = mark === -1 ? url : url.slice(0, mark);
  ctx.query = mark === -1 ? '' : url.slice(mark + 1);
  return ctx;
}

async function listen(server: Server): Promise<TestServer> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    url: `http://127.0.0.1:${port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Serves IdentityEndpoints by exact path; anything else is 404. */
export function startEndpointServer(routes: Readonly<Record<string, IdentityEndpoint>>): Promise<TestServer> {
  const server = createServer((req, res) => {
    const ctx = contextFor(req, res);
    const endpoint = Object.hasOwn(routes, ctx.path) ? routes[ctx.path] : undefined;
    if (endpoint === undefined) {
      sendProblem(res, 'RAMPART_ERR_ROUTE_NOT_FOUND', ctx.requestId);
      return;
    }
    endpoint(ctx).catch(() => sendProblem(res, 'RAMPART_ERR_INTERNAL', ctx.requestId));
  });
  return listen(server);
}

/**
 * A protected route: runs the policy's onRequest like the pipeline does (NOT_RESPONSIBLE and no other
 * authenticator → 401 with the challenge) and answers 200 with the principal as JSON.
 */
export function startProtectedServer(handlers: PolicyHandlers): Promise<TestServer> {
  const server = createServer((req, res) => {
    const ctx = contextFor(req, res);
    const finish = (outcome: Awaited<ReturnType<NonNullable<PolicyHandlers['onRequest']>>>) => {
      if (outcome === undefined) {
        const p = ctx.principal!;
        const body = JSON.stringify({
          subject: p.subject,
          kind: p.kind,
          method: p.method,
          roles: p.roles,
          tenant: p.tenant ?? null,
          amr: p.amr ?? [],
          permissions: [...(p.permissions ?? [])],
          claims: p.claims,
        });
        sendDirect(res, 200, ctx.requestId, ctx.responseHeaders, { 'content-type': 'application/json' }, body);
      } else if (outcome === NOT_RESPONSIBLE) {
        sendProblem(res, 'RAMPART_ERR_UNAUTHENTICATED', ctx.requestId, ctx.responseHeaders, { 'www-authenticate': handlers.challenge ?? 'Bearer' });
      } else if (outcome.kind === 'problem') {
        sendProblem(res, outcome.code, ctx.requestId, ctx.responseHeaders, outcome.headers);
      } else {
        sendDirect(res, outcome.status, ctx.requestId, ctx.responseHeaders, outcome.headers, outcome.body);
      }
    };
    const outcome = handlers.onRequest!(ctx);
    if (outcome instanceof Promise) outcome.then(finish, () => sendProblem(res, 'RAMPART_ERR_INTERNAL', ctx.requestId));
    else finish(outcome);
  });
  return listen(server);
}

/** Basic credentials per RFC 6749 §2.3.1: each part form-urlencoded, then base64. */
export function basicAuth(clientId: string, secret: string): string {
  const encode = (value: string) => encodeURIComponent(value).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${encode(clientId)}:${encode(secret)}`).toString('base64')}`;
}
