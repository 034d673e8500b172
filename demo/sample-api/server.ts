/**
 * Sample orders/users API that the demo puts Rampart in front of.
 *
 * A deliberately ordinary upstream: no dependencies (node:http only) and no security of its own. It
 * trusts whatever sits in front of it, and it carries the flaws a gateway has to cover:
 *
 * - no authentication or authorization at all; it takes the caller's identity from the
 *   `x-rampart-subject` header and lets anyone list any customer's orders (BOLA, OWASP API1:2023);
 * - `GET /admin/users` is open to everyone (function-level authorization, API5:2023);
 * - user objects carry `passwordHash` and other internal fields (excessive data exposure, API3:2023);
 * - `PATCH /orders/{orderId}` accepts `customerId` and `status` from the client (mass assignment, API3:2023);
 * - no bounds on body sizes below 1 MiB, array lengths or string lengths (API4:2023), and it parses
 *   any body as JSON whatever its Content-Type (API8:2023);
 * - every unhandled error answers 500 with an HTML page holding the full stack trace, and every
 *   response carries `Server` and `X-Powered-By` banner headers (API8:2023, CWE-209);
 * - `/debug/crash` and `/echo` are internal endpoints left reachable (API9:2023).
 *
 * `openapi.yaml` beside this file is the contract Rampart enforces in front of it.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';

export type SampleApiMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE';

export interface SampleApiRoute {
  readonly method: SampleApiMethod;
  /** OpenAPI path template, e.g. `/orders/{orderId}`. */
  readonly path: string;
  /** The operationId of this operation in openapi.yaml. */
  readonly operationId: string;
}

/** Every operation the server serves; tests compare it with openapi.yaml. */
export const SAMPLE_API_ROUTES: readonly SampleApiRoute[] = Object.freeze(
  (
    [
      { method: 'GET', path: '/health', operationId: 'getHealth' },
      { method: 'GET', path: '/orders', operationId: 'listOrders' },
      { method: 'POST', path: '/orders', operationId: 'createOrder' },
      { method: 'GET', path: '/orders/{orderId}', operationId: 'getOrder' },
      { method: 'PATCH', path: '/orders/{orderId}', operationId: 'updateOrder' },
      { method: 'DELETE', path: '/orders/{orderId}', operationId: 'deleteOrder' },
      { method: 'GET', path: '/users/{userId}', operationId: 'getUser' },
      { method: 'GET', path: '/admin/users', operationId: 'listUsers' },
      { method: 'GET', path: '/debug/crash', operationId: 'debugCrash' },
      { method: 'GET', path: '/stream/events', operationId: 'streamEvents' },
      { method: 'GET', path: '/echo', operationId: 'echoGet' },
      { method: 'POST', path: '/echo', operationId: 'echoPost' },
    ] as const
  ).map((route) => Object.freeze({ ...route })),
);

export interface SampleApiOptions {
  host?: string;
  port?: number;
}

export interface SampleApiHandle {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Data

export type OrderStatus = 'pending' | 'paid' | 'shipped' | 'cancelled';
const ORDER_STATUSES: ReadonlySet<string> = new Set<OrderStatus>(['pending', 'paid', 'shipped', 'cancelled']);

export interface OrderLine {
  sku: string;
  qty: number;
}

export interface Order {
  id: string;
  customerId: string;
  items: OrderLine[];
  note?: string;
  status: OrderStatus;
  /** Total in cents. */
  total: number;
  createdAt: string;
}

export interface User {
  id: string;
  name: string;
  email: string;
  role: 'customer' | 'support' | 'admin';
  createdAt: string;
  // Internal fields the contract does not declare; the gateway's response minimization must drop them.
  passwordHash: string;
  lastLoginIp: string;
  internalNotes: string;
}

/** Unit prices in cents; an order line with a SKU outside this catalogue is refused. */
const CATALOGUE: ReadonlyMap<string, number> = new Map([
  ['SKU-1001', 1299],
  ['SKU-1002', 2499],
  ['SKU-2001', 499],
  ['SKU-3001', 12900],
]);

function orderTotal(items: readonly OrderLine[]): number {
  let total = 0;
  for (const line of items) total += (CATALOGUE.get(line.sku) ?? 0) * line.qty;
  return total;
}

function seedOrders(): Map<string, Order> {
  const seeds: Array<Omit<Order, 'id' | 'total'>> = [
    { customerId: 'alice', items: [{ sku: 'SKU-1001', qty: 2 }], status: 'paid', createdAt: '2025-01-10T09:15:00.000Z' },
    {
      customerId: 'alice',
      items: [
        { sku: 'SKU-2001', qty: 1 },
        { sku: 'SKU-1002', qty: 1 },
      ],
      note: 'Leave at the front desk',
      status: 'shipped',
      createdAt: '2025-02-03T14:02:00.000Z',
    },
    { customerId: 'bob', items: [{ sku: 'SKU-3001', qty: 1 }], status: 'pending', createdAt: '2025-02-20T18:40:00.000Z' },
    { customerId: 'bob', items: [{ sku: 'SKU-2001', qty: 5 }], status: 'cancelled', createdAt: '2025-03-01T07:55:00.000Z' },
  ];
  const orders = new Map<string, Order>();
  seeds.forEach((seed, index) => {
    const id = String(index + 1);
    orders.set(id, { id, ...seed, total: orderTotal(seed.items) });
  });
  return orders;
}

function seedUsers(): Map<string, User> {
  // The hashes are placeholders shaped like PHC argon2id strings; no real password is behind them.
  const users: User[] = [
    {
      id: 'alice',
      name: 'Alice Example',
      email: 'alice@example.com',
      role: 'customer',
      createdAt: '2024-11-02T10:00:00.000Z',
      passwordHash: '$argon2id$v=19$m=65536,t=3,p=4$c2FtcGxlLWFsaWNl$placeholderplaceholderplaceholderAA',
      lastLoginIp: '203.0.113.17',
      internalNotes: 'VIP; refund approved 2025-01 without review',
    },
    {
      id: 'bob',
      name: 'Bob Example',
      email: 'bob@example.com',
      role: 'customer',
      createdAt: '2024-12-15T16:30:00.000Z',
      passwordHash: '$argon2id$v=19$m=65536,t=3,p=4$c2FtcGxlLWJvYg$placeholderplaceholderplaceholderBB',
      lastLoginIp: '198.51.100.4',
      internalNotes: 'chargeback history',
    },
    {
      id: 'carol',
      name: 'Carol Admin',
      email: 'carol@example.com',
      role: 'admin',
      createdAt: '2024-06-01T08:00:00.000Z',
      passwordHash: '$argon2id$v=19$m=65536,t=3,p=4$c2FtcGxlLWNhcm9s$placeholderplaceholderplaceholderCC',
      lastLoginIp: '192.0.2.10',
      internalNotes: 'break-glass account',
    },
  ];
  return new Map(users.map((user) => [user.id, user]));
}

// ---------------------------------------------------------------------------------------------
// HTTP plumbing

/** Banner headers an ordinary Express-style service leaks; the gateway strips them (ARCHITECTURE.md "Errors"). */
const BANNER_HEADERS: ReadonlyArray<[string, string]> = [
  ['Server', 'SampleAPI/1.0 (Node.js)'],
  ['X-Powered-By', 'Express'],
];

/** Bodies above this are refused with 413, like a default body-parser limit, only larger. */
const MAX_JSON_BODY_BYTES = 1024 * 1024;

const SSE_EVENT_COUNT = 5;
const SSE_INTERVAL_MS = 50;

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    message: string,
  ) {
    super(message);
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers?: Record<string, string>): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
  });
  res.end(text);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * The error page of a service left in development mode (shaped like Express's finalhandler): the
 * full stack with internal file paths. Exactly what must never reach a client (CWE-209).
 */
function sendStackTrace(res: ServerResponse, err: unknown): void {
  const stack = err instanceof Error ? (err.stack ?? String(err)) : String(err);
  const body =
    '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Error</title>\n</head>\n<body>\n<pre>' +
    escapeHtml(stack).replaceAll('\n', '<br>') +
    `<br><br>cwd: ${escapeHtml(process.cwd())}<br>node: ${escapeHtml(process.version)}` +
    '</pre>\n</body>\n</html>\n';
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(500, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new HttpError(413, 'payload_too_large', `request body exceeds ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Parses the body as JSON whatever the Content-Type says (one of the deliberate flaws). */
async function readJson(req: IncomingMessage): Promise<unknown> {
  const raw = (await readBody(req, MAX_JSON_BODY_BYTES)).toString('utf8');
  try {
    return JSON.parse(raw) as unknown;
  } catch (err) {
    // Verbose on purpose, as many frameworks answer: the parser's own message goes back to the client.
    throw new HttpError(400, 'invalid_json', `Malformed JSON body: ${(err as Error).message}`);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Checks order lines for type and catalogue membership only; no upper bounds (the gateway's job). */
function parseOrderLines(value: unknown): OrderLine[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new HttpError(400, 'validation_failed', '"items" must be a non-empty array');
  }
  return value.map((line: unknown, index) => {
    if (!isRecord(line) || typeof line.sku !== 'string' || !Number.isInteger(line.qty) || (line.qty as number) < 1) {
      throw new HttpError(400, 'validation_failed', `items[${index}] must be {"sku": string, "qty": positive integer}`);
    }
    if (!CATALOGUE.has(line.sku)) {
      throw new HttpError(400, 'unknown_sku', `items[${index}].sku "${line.sku}" is not in the catalogue`);
    }
    return { sku: line.sku, qty: line.qty as number };
  });
}

// ---------------------------------------------------------------------------------------------
// Routing

type Params = Record<string, string>;
interface RequestParts {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly params: Params;
  readonly path: string;
  readonly rawQuery: string;
}
type Handler = (parts: RequestParts) => void | Promise<void>;

interface CompiledPath {
  readonly template: string;
  /** Literal segment, or null for a `{param}` segment. */
  readonly segments: ReadonlyArray<string | null>;
  readonly paramNames: readonly string[];
  readonly handlers: ReadonlyMap<string, Handler>;
  readonly allow: string;
}

function compilePaths(handlers: Readonly<Record<string, Handler>>): CompiledPath[] {
  const byTemplate = new Map<string, Map<string, Handler>>();
  for (const route of SAMPLE_API_ROUTES) {
    const handler = handlers[route.operationId];
    if (handler === undefined) throw new Error(`no handler for ${route.operationId}`);
    let methods = byTemplate.get(route.path);
    if (methods === undefined) byTemplate.set(route.path, (methods = new Map()));
    methods.set(route.method, handler);
  }
  return [...byTemplate].map(([template, methods]) => {
    const parts = template.split('/').slice(1);
    const paramNames: string[] = [];
    const segments = parts.map((part) => {
      const param = /^\{([A-Za-z]+)\}$/.exec(part);
      if (param === null) return part;
      paramNames.push(param[1]!);
      return null;
    });
    return { template, segments, paramNames, handlers: methods, allow: [...methods.keys()].join(', ') };
  });
}

function matchPath(paths: readonly CompiledPath[], path: string): { compiled: CompiledPath; params: Params } | undefined {
  const parts = path.split('/').slice(1);
  for (const compiled of paths) {
    if (compiled.segments.length !== parts.length) continue;
    const params: Params = {};
    let matched = true;
    let paramIndex = 0;
    for (let i = 0; i < parts.length; i++) {
      const expected = compiled.segments[i];
      const actual = parts[i]!;
      if (expected === null) {
        if (actual === '') {
          matched = false;
          break;
        }
        let decoded: string;
        try {
          decoded = decodeURIComponent(actual);
        } catch {
          throw new HttpError(400, 'bad_path', `cannot decode path segment "${actual}"`);
        }
        params[compiled.paramNames[paramIndex++]!] = decoded;
      } else if (expected !== actual) {
        matched = false;
        break;
      }
    }
    if (matched) return { compiled, params };
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// The application

function createHandlers(): Record<string, Handler> {
  const orders = seedOrders();
  const users = seedUsers();
  let nextOrderId = orders.size + 1;

  const findOrder = (params: Params): Order => {
    const order = orders.get(params.orderId!);
    if (order === undefined) throw new HttpError(404, 'not_found', `order ${params.orderId!} not found`);
    return order;
  };

  return {
    getHealth: ({ res }) => sendJson(res, 200, { status: 'ok' }),

    listOrders: ({ res, rawQuery }) => {
      const query = new URLSearchParams(rawQuery);
      const limitText = query.get('limit');
      let limit = 20;
      if (limitText !== null) {
        limit = Number(limitText);
        if (!/^[0-9]+$/.test(limitText) || limit < 1 || limit > 100) {
          throw new HttpError(400, 'validation_failed', '"limit" must be an integer between 1 and 100');
        }
      }
      const customerId = query.get('customerId');
      const result: Order[] = [];
      for (const order of orders.values()) {
        if (customerId !== null && order.customerId !== customerId) continue;
        result.push(order);
        if (result.length === limit) break;
      }
      sendJson(res, 200, { orders: result });
    },

    createOrder: async ({ req, res }) => {
      const body = await readJson(req);
      if (!isRecord(body)) throw new HttpError(400, 'validation_failed', 'body must be a JSON object');
      const items = parseOrderLines(body.items);
      if (body.note !== undefined && typeof body.note !== 'string') {
        throw new HttpError(400, 'validation_failed', '"note" must be a string');
      }
      const subject = req.headers['x-rampart-subject'];
      const id = String(nextOrderId++);
      const order: Order = {
        id,
        customerId: typeof subject === 'string' && subject !== '' ? subject : 'anonymous',
        items,
        ...(body.note !== undefined ? { note: body.note } : {}),
        status: 'pending',
        total: orderTotal(items),
        createdAt: new Date().toISOString(),
      };
      orders.set(id, order);
      sendJson(res, 201, order, { Location: `/orders/${id}` });
    },

    getOrder: ({ res, params }) => sendJson(res, 200, findOrder(params)),

    updateOrder: async ({ req, res, params }) => {
      const order = findOrder(params);
      const body = await readJson(req);
      if (!isRecord(body)) throw new HttpError(400, 'validation_failed', 'body must be a JSON object');
      // Validate everything before changing anything, so a rejected patch leaves the order as it was.
      const items = body.items !== undefined ? parseOrderLines(body.items) : undefined;
      if (body.note !== undefined && typeof body.note !== 'string') {
        throw new HttpError(400, 'validation_failed', '"note" must be a string');
      }
      if (body.status !== undefined && (typeof body.status !== 'string' || !ORDER_STATUSES.has(body.status))) {
        throw new HttpError(400, 'validation_failed', '"status" must be one of pending, paid, shipped, cancelled');
      }
      if (body.customerId !== undefined && typeof body.customerId !== 'string') {
        throw new HttpError(400, 'validation_failed', '"customerId" must be a string');
      }
      if (items !== undefined) {
        order.items = items;
        order.total = orderTotal(items);
      }
      if (body.note !== undefined) order.note = body.note as string;
      // Mass assignment (API3:2023): the contract makes both read-only, this service takes them anyway.
      if (body.status !== undefined) order.status = body.status as OrderStatus;
      if (body.customerId !== undefined) order.customerId = body.customerId as string;
      sendJson(res, 200, order);
    },

    deleteOrder: ({ res, params }) => {
      findOrder(params);
      orders.delete(params.orderId!);
      res.writeHead(204);
      res.end();
    },

    getUser: ({ res, params }) => {
      const user = users.get(params.userId!);
      if (user === undefined) throw new HttpError(404, 'not_found', `user ${params.userId!} not found`);
      sendJson(res, 200, user);
    },

    listUsers: ({ res }) => sendJson(res, 200, { users: [...users.values()] }),

    debugCrash: () => {
      throw new Error('ledger connection lost: connect ECONNREFUSED 10.0.3.12:5432 (db-primary.internal)');
    },

    streamEvents: ({ res }) => {
      res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache' });
      let sent = 0;
      let timer: NodeJS.Timeout | undefined;
      const sendNext = (): void => {
        sent += 1;
        // One event per write, so each leaves as its own chunk (HTML Living Standard, server-sent events).
        res.write(`id: ${sent}\nevent: tick\ndata: {"seq":${sent},"of":${SSE_EVENT_COUNT}}\n\n`);
        if (sent === SSE_EVENT_COUNT) {
          res.end();
          return;
        }
        timer = setTimeout(sendNext, SSE_INTERVAL_MS);
      };
      // 'close' fires when the response ends or the client goes away; either way no more writes.
      res.once('close', () => clearTimeout(timer));
      sendNext();
    },

    echoGet: ({ req, res, path, rawQuery }) => sendJson(res, 200, describeRequest(req, path, rawQuery)),

    echoPost: async ({ req, res, path, rawQuery }) => {
      // Counted and hashed as it streams, never buffered, so any body size can be echoed.
      const hash = createHash('sha256');
      let bodyLength = 0;
      for await (const chunk of req as AsyncIterable<Buffer>) {
        bodyLength += chunk.length;
        hash.update(chunk);
      }
      sendJson(res, 200, { ...describeRequest(req, path, rawQuery), bodyLength, bodySha256: hash.digest('hex') });
    },
  };
}

/** What the upstream saw: lets gateway tests check forwarded, stripped and rewritten headers. */
function describeRequest(req: IncomingMessage, path: string, rawQuery: string) {
  const rawHeaders: Array<[string, string]> = [];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) rawHeaders.push([req.rawHeaders[i]!, req.rawHeaders[i + 1]!]);
  return {
    method: req.method,
    url: req.url,
    path,
    query: rawQuery,
    httpVersion: req.httpVersion,
    headers: req.headers,
    rawHeaders,
    remoteAddress: req.socket.remoteAddress,
  };
}

/** Builds the server with a freshly seeded store; not listening yet. */
export function createSampleApiServer(): Server {
  const paths = compilePaths(createHandlers());

  const dispatch = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = req.url ?? '/';
    const queryStart = url.indexOf('?');
    const path = queryStart === -1 ? url : url.slice(0, queryStart);
    const rawQuery = queryStart === -1 ? '' : url.slice(queryStart + 1);
    const found = matchPath(paths, path);
    if (found === undefined) throw new HttpError(404, 'not_found', `Cannot ${req.method ?? 'GET'} ${path}`);
    const handler = found.compiled.handlers.get(req.method ?? '');
    if (handler === undefined) {
      res.setHeader('Allow', found.compiled.allow);
      throw new HttpError(405, 'method_not_allowed', `${req.method ?? ''} is not supported on ${found.compiled.template}`);
    }
    await handler({ req, res, params: found.params, path, rawQuery });
  };

  return createServer((req, res) => {
    for (const [name, value] of BANNER_HEADERS) res.setHeader(name, value);
    dispatch(req, res).catch((err: unknown) => {
      if (err instanceof HttpError && !res.headersSent) {
        sendJson(res, err.status, { error: err.error, message: err.message, status: err.status });
      } else {
        sendStackTrace(res, err);
      }
    });
  });
}

/** Starts the sample API; `port` 0 (the default here) picks a free port. */
export async function startSampleApi(options: SampleApiOptions = {}): Promise<SampleApiHandle> {
  const host = options.host ?? '127.0.0.1';
  const server = createSampleApiServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // Keep-alive clients would otherwise hold close() open until their idle timeout.
        server.closeAllConnections();
      }),
  };
}

const runAsScript = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (runAsScript) {
  const portText = process.env.PORT ?? '3000';
  const port = Number(portText);
  if (!/^[0-9]{1,5}$/.test(portText) || port > 65535) {
    console.error(`PORT must be a port number, got "${portText}"`);
    process.exit(2);
  }
  const host = process.env.HOST ?? '127.0.0.1';
  startSampleApi({ host, port }).then(
    (api) => {
      console.log(`sample API listening on ${api.url}`);
      const stop = (): void => {
        api.close().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    },
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
