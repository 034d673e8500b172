/**
 * Test support for the api-key tests (never used by the gateway): a real node:http server on port 0 whose handler
 * runs the policy's `onRequest` on a context built from the real IncomingMessage (so `rawHeaders` shows repeated
 * headers as the client sent them, and `clientAddress` is the real TCP peer), and answers the outcome as JSON.
 * Clients can bind other loopback addresses (127.0.x.y) to act as different client addresses.
 */
import { createServer, request, type IncomingMessage } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { ERRORS, isErrorCode } from '../../errors/catalogue.ts';
import type { Outcome, PolicyHandlers, RequestContext } from '../types.ts';
import { NOT_RESPONSIBLE } from '../types.ts';

export interface Answer {
  readonly outcome: 'continue' | 'not-responsible' | 'problem' | 'direct' | 'error';
  /** The HTTP status the gateway would answer (200 for continue). */
  readonly status: number;
  /** Whether onRequest answered without a Promise. */
  readonly synchronous: boolean;
  readonly hasCredential: boolean;
  readonly code?: string;
  readonly detail?: string;
  readonly wwwAuthenticate?: string;
  readonly principal?: {
    subject: string;
    kind: string;
    method: string;
    roles: string[];
    tenant: string | null;
    permissions: string[] | null;
    claims: Record<string, unknown>;
    frozen: boolean;
  };
  readonly error?: string;
}

function contextFor(req: IncomingMessage): RequestContext {
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

function report(outcome: Outcome, synchronous: boolean, ctx: RequestContext, hasCredential: boolean): Answer {
  if (outcome === undefined) {
    const p = ctx.principal!;
    return {
      outcome: 'continue',
      status: 200,
      synchronous,
      hasCredential,
      principal: {
        subject: p.subject,
        kind: p.kind,
        method: p.method,
        roles: [...p.roles],
        tenant: p.tenant ?? null,
        permissions: p.permissions === undefined ? null : [...p.permissions],
        claims: { ...p.claims },
        frozen: Object.isFrozen(p) && (p.claims === undefined || Object.isFrozen(p.claims)),
      },
    };
  }
  if (outcome === NOT_RESPONSIBLE) return { outcome: 'not-responsible', status: 401, synchronous, hasCredential };
  if (outcome.kind === 'problem') {
    return {
      outcome: 'problem',
      status: isErrorCode(outcome.code) ? ERRORS[outcome.code].status : 500,
      synchronous,
      hasCredential,
      code: outcome.code,
      detail: outcome.detail,
      wwwAuthenticate: outcome.headers?.['www-authenticate'],
    };
  }
  return { outcome: 'direct', status: outcome.status, synchronous, hasCredential };
}

export interface PolicyServer {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** A server that runs `handlersFor(first path segment)` for each request. */
export async function startPolicyServer(handlersFor: (name: string) => PolicyHandlers): Promise<PolicyServer> {
  const server = createServer((req, res) => {
    const ctx = contextFor(req);
    const handlers = handlersFor(ctx.path.split('/')[1] ?? '');
    const answer = (body: Answer) => {
      const text = JSON.stringify(body);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), connection: 'close' });
      res.end(text);
    };
    const hasCredential = handlers.hasCredential?.(ctx) ?? false;
    let outcome: Outcome | Promise<Outcome>;
    try {
      outcome = handlers.onRequest!(ctx);
    } catch (error) {
      answer({ outcome: 'error', status: 500, synchronous: true, hasCredential, error: (error as Error).message });
      return;
    }
    if (outcome instanceof Promise) {
      outcome.then(
        (resolved) => answer(report(resolved, false, ctx, hasCredential)),
        (error: unknown) => answer({ outcome: 'error', status: 500, synchronous: false, hasCredential, error: (error as Error).message }),
      );
    } else {
      answer(report(outcome, true, ctx, hasCredential));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface SendOptions {
  /** Header [name, value] pairs; a name may repeat (one header line each). */
  readonly headers?: ReadonlyArray<readonly [string, string]>;
  /** Local address to connect from (a 127.x.y.z loopback address acts as another client). */
  readonly from?: string;
}

/** GET `url` with the headers as given, from `from`. */
export function send(url: string, options: SendOptions = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const grouped = new Map<string, string[]>();
    for (const [name, value] of options.headers ?? []) grouped.set(name, [...(grouped.get(name) ?? []), value]);
    const req = request(url, { method: 'GET', agent: false, localAddress: options.from ?? '127.0.0.1' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Answer));
      res.on('error', reject);
    });
    // Node sends an array value as one header line per entry, in order, with the name as given (case kept).
    for (const [name, values] of grouped) req.setHeader(name, values.length === 1 ? values[0]! : values);
    req.on('error', reject);
    req.end();
  });
}

/**
 * Sends raw request bytes (for header values Node's client refuses to write: control characters, UTF-8) and
 * resolves the status and the parsed body when there is one (the server's own 400 for unparsable requests has none).
 */
export function sendRaw(port: number, path: string, headerLines: readonly Buffer[], from = '127.0.0.1'): Promise<{ status: number; answer?: Answer }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress: from });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      const body = text.slice(text.indexOf('\r\n\r\n') + 4);
      let answer: Answer | undefined;
      try {
        answer = body.startsWith('{') ? (JSON.parse(body) as Answer) : undefined;
      } catch {
        answer = undefined;
      }
      resolve({ status, answer });
    });
    socket.write(Buffer.concat([Buffer.from(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n`), ...headerLines.flatMap((line) => [line, Buffer.from('\r\n')]), Buffer.from('\r\n')]));
  });
}
