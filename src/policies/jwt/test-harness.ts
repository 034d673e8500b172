/**
 * Test support for the authentication policies (used by the tests beside them, never by the gateway): a real
 * node:http server on port 0 whose handler runs a policy's `onRequest` on a context built from the real
 * IncomingMessage (so `rawHeaders` shows duplicate headers as a client sent them), and answers the outcome as JSON.
 */
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { SharedResourcePool } from '../../gateway/runtime.ts';
import { RecordingSecurityEvents } from '../../observe/events.ts';
import type { Outcome, PolicyDeps, PolicyHandlers, RequestContext } from '../types.ts';
import { NOT_RESPONSIBLE } from '../types.ts';

export interface OutcomeReport {
  readonly outcome: 'continue' | 'not-responsible' | 'problem' | 'direct' | 'error';
  /** Whether onRequest answered without a Promise. */
  readonly synchronous: boolean;
  readonly code?: string;
  readonly detail?: string;
  readonly headers?: Record<string, string>;
  readonly principal?: { subject: string; kind: string; method: string; roles: string[]; tenant?: string; amr?: string[]; permissions: string[] };
  readonly hasCredential?: boolean;
  readonly error?: string;
}

export function contextFor(req: IncomingMessage): RequestContext {
  const url = req.url ?? '/';
  const mark = url.indexOf('?');
  return {
    req,
    requestId: 'req-test',
    method: req.method ?? 'GET',
    path: mark === -1 ? url : url.slice(0, mark),
    query: mark === -1 ? '' : url.slice(mark + 1),
    clientAddress: req.socket.remoteAddress ?? '127.0.0.1',
    secure: false,
    routeId: 'test-route',
    params: {},
    principal: undefined,
    responseHeaders: [],
    locals: {},
  };
}

function report(outcome: Outcome, synchronous: boolean, ctx: RequestContext, hasCredential: boolean | undefined): OutcomeReport {
  if (outcome === undefined) {
    const p = ctx.principal!;
    return {
      outcome: 'continue',
      synchronous,
      hasCredential,
      principal: {
        subject: p.subject,
        kind: p.kind,
        method: p.method,
        roles: [...p.roles],
        tenant: p.tenant,
        amr: p.amr ? [...p.amr] : undefined,
        permissions: [...(p.permissions ?? [])],
      },
    };
  }
  if (outcome === NOT_RESPONSIBLE) return { outcome: 'not-responsible', synchronous, hasCredential };
  if (outcome.kind === 'problem') {
    return { outcome: 'problem', synchronous, hasCredential, code: outcome.code, detail: outcome.detail, headers: { ...outcome.headers } };
  }
  return { outcome: 'direct', synchronous, hasCredential };
}

/** A server that runs `handlersFor(path)`'s onRequest for each request; the path's first segment picks the policy. */
export async function startPolicyServer(handlersFor: (name: string) => PolicyHandlers): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const ctx = contextFor(req);
    const handlers = handlersFor(ctx.path.split('/')[1] ?? '');
    const hasCredential = handlers.hasCredential?.(ctx);
    const answer = (body: OutcomeReport) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    let outcome: Outcome | Promise<Outcome>;
    try {
      outcome = handlers.onRequest!(ctx);
    } catch (error) {
      answer({ outcome: 'error', synchronous: true, error: (error as Error).message });
      return;
    }
    if (outcome instanceof Promise) {
      outcome.then(
        (resolved) => answer(report(resolved, false, ctx, hasCredential)),
        (error: unknown) => answer({ outcome: 'error', synchronous: false, error: (error as Error).message }),
      );
    } else {
      answer(report(outcome, true, ctx, hasCredential));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * Sends a GET with headers given as [name, value] pairs, so a header can be sent twice (node:http writes one line
 * per array entry).
 */
export function send(url: string, headers: ReadonlyArray<readonly [string, string]> = []): Promise<OutcomeReport> {
  return new Promise((resolve, reject) => {
    const grouped = new Map<string, string[]>();
    for (const [name, value] of headers) grouped.set(name, [...(grouped.get(name) ?? []), value]);
    const req = request(url, { method: 'GET', agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as OutcomeReport));
      res.on('error', reject);
    });
    for (const [name, values] of grouped) req.setHeader(name, values.length === 1 ? values[0]! : values);
    req.on('error', reject);
    req.end();
  });
}

/** A logger whose lines are kept in `lines` (parsed JSON), to assert that a failure was logged. */
export function recordingLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

export function policyDeps(logger: Logger = pino({ level: 'silent' }), events = new RecordingSecurityEvents()): PolicyDeps & { shared: SharedResourcePool; events: RecordingSecurityEvents } {
  return { logger, events, routeId: 'test-route', development: false, shared: new SharedResourcePool() };
}

/** A controllable clock in epoch milliseconds. */
export class TestClock {
  constructor(public ms: number = Date.UTC(2030, 0, 1)) {}
  readonly now = (): number => this.ms;
  get seconds(): number {
    return Math.floor(this.ms / 1000);
  }
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}

/** A JWKS endpoint whose key set, caching headers and failures the test controls; it counts fetches. */
export class JwksServer {
  keys: object[] = [];
  cacheControl: string | undefined = 'max-age=600';
  /** A status to answer instead of the set, 'not-json', 'huge' (over 1 MB), or 'hang' (never answers). */
  failure: number | 'not-json' | 'huge' | 'hang' | undefined;
  fetches = 0;
  url = '';
  readonly #server = createServer((req, res) => {
    this.fetches++;
    const waiters = this.#waiters.splice(0);
    for (const resolve of waiters) resolve();
    if (this.failure === 'hang') return;
    if (typeof this.failure === 'number') {
      res.writeHead(this.failure).end('{"error":"down"}');
      return;
    }
    const headers: Record<string, string> = { 'content-type': 'application/jwk-set+json' };
    if (this.cacheControl !== undefined) headers['cache-control'] = this.cacheControl;
    if (this.failure === 'not-json') {
      res.writeHead(200, headers).end('<html>maintenance</html>');
      return;
    }
    if (this.failure === 'huge') {
      res.writeHead(200, headers).end(JSON.stringify({ keys: this.keys, padding: 'x'.repeat(1_100_000) }));
      return;
    }
    res.writeHead(200, headers).end(JSON.stringify({ keys: this.keys }));
  });
  #waiters: Array<() => void> = [];

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/jwks.json`;
    return this;
  }

  /** Resolves when the next fetch arrives. */
  nextFetch(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
