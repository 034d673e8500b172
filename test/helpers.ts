/**
 * Test helpers: a gateway from an inline config on port 0, raw socket requests (to send what fetch would
 * refuse or fix), and small upstreams that record what reached them.
 */
import { connect } from 'node:net';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AccessLog, createAppLogger } from '../src/observe/logger.ts';
import { loadConfigObject, type GatewayConfig } from '../src/config/load.ts';
import { Gateway } from '../src/gateway/server.ts';
import { RecordingSecurityEvents } from '../src/observe/events.ts';
import type { ConfiguredStores } from '../src/storage/configured.ts';

export interface TestGateway {
  readonly gateway: Gateway;
  readonly url: string;
  readonly port: number;
  readonly adminUrl: string | undefined;
  readonly events: RecordingSecurityEvents;
  readonly logFile: string;
  readonly accessLogFile: string;
  /** Lines of the application log parsed as JSON. */
  appLog(): Array<Record<string, unknown>>;
  accessLog(): Promise<Array<Record<string, unknown>>>;
  close(): Promise<void>;
}

export function loadTestConfig(document: Record<string, unknown>): GatewayConfig {
  const result = loadConfigObject({ mode: 'development', listen: { host: '127.0.0.1', port: 0 }, admin: false, ...document });
  if (!result.ok) throw new Error(`test config invalid:\n${result.errors.join('\n')}`);
  return result.config;
}

export async function startTestGateway(
  document: Record<string, unknown>,
  options: { configFile?: string; stores?: ConfiguredStores } = {},
): Promise<TestGateway> {
  const config = loadTestConfig(document);
  const dir = mkdtempSync(join(tmpdir(), 'rampart-test-'));
  const logFile = join(dir, 'app.log');
  const accessLogFile = join(dir, 'access.log');
  // The gateway's own loggers (with their redaction), writing synchronously so tests can read right away.
  const logger = createAppLogger({ level: 'debug', redact: config.accessLog.redact, destination: logFile, async: false });
  const accessLog = new AccessLog({ redact: config.accessLog.redact, destination: accessLogFile, async: false });
  const events = new RecordingSecurityEvents();
  const gateway = await Gateway.start(config, {
    logger,
    accessLog,
    events,
    configFile: options.configFile,
    watch: options.configFile !== undefined,
    stores: options.stores,
  });
  const { listeners, admin } = gateway.addresses();
  const first = listeners[0]!;
  const readLines = (file: string) =>
    existsSync(file)
      ? readFileSync(file, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((line) => JSON.parse(line) as Record<string, unknown>)
      : [];
  return {
    gateway,
    url: `${first.tls ? 'https' : 'http'}://127.0.0.1:${first.port}`,
    port: first.port,
    adminUrl: admin ? `http://127.0.0.1:${admin.port}` : undefined,
    events,
    logFile,
    accessLogFile,
    appLog: () => readLines(logFile),
    accessLog: async () => {
      // The access line is written when the response closes; give the event loop a turn.
      await new Promise((resolve) => setTimeout(resolve, 20));
      return readLines(accessLogFile);
    },
    close: () => gateway.stop(),
  };
}

export interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly raw: string;
}

/**
 * Sends bytes as-is and reads until the server closes (requests should carry `Connection: close`).
 * `destroyAfterMs`: the client hangs up that long after sending (a client that leaves mid-exchange).
 */
export function rawRequest(port: number, data: string | Buffer, timeoutMs = 5000, destroyAfterMs?: number): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('raw request timed out'));
    }, timeoutMs);
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(parseRawResponse(Buffer.concat(chunks).toString('latin1')));
    });
    socket.write(data);
    if (destroyAfterMs !== undefined) setTimeout(() => socket.destroy(), destroyAfterMs);
  });
}

export function parseRawResponse(raw: string): RawResponse {
  const end = raw.indexOf('\r\n\r\n');
  const head = end === -1 ? raw : raw.slice(0, end);
  const [statusLine, ...lines] = head.split('\r\n');
  const status = Number(statusLine?.split(' ')[1] ?? 0);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = end === -1 ? '' : raw.slice(end + 4);
  if (headers['transfer-encoding'] === 'chunked') body = dechunk(body);
  return { status, headers, body, raw };
}

function dechunk(body: string): string {
  let out = '';
  let rest = body;
  for (;;) {
    const lineEnd = rest.indexOf('\r\n');
    if (lineEnd === -1) break;
    const size = parseInt(rest.slice(0, lineEnd), 16);
    if (!size) break;
    out += rest.slice(lineEnd + 2, lineEnd + 2 + size);
    rest = rest.slice(lineEnd + 2 + size + 2);
  }
  return out;
}

export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly rawHeaders: string[];
  readonly body: string;
}

export interface RecordingUpstream {
  readonly url: string;
  readonly port: number;
  readonly seen: SeenRequest[];
  readonly server: Server;
  close(): Promise<void>;
}

/** An upstream that records each request and answers with `handler` (default: 200 JSON echo of method and url). */
export async function startRecordingUpstream(
  handler?: (req: IncomingMessage, res: ServerResponse, body: string) => void,
): Promise<RecordingUpstream> {
  const seen: SeenRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, body });
      if (handler) handler(req, res, body);
      else {
        const text = JSON.stringify({ method: req.method, url: req.url });
        res.writeHead(200, { 'content-type': 'application/json', server: 'TestUpstream/1.0', 'x-powered-by': 'PHP/5.4' });
        res.end(text);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    seen,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'rampart-test-'));
}

/**
 * A response text with its correlation ids (random UUIDs, in the problem body and headers) blanked, so a
 * "must not leak value X" assertion cannot fail by chance when a short number such as '99' happens to
 * appear inside a fresh UUID.
 */
export function withoutCorrelationIds(text: string): string {
  return text.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '<id>');
}
