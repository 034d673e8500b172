/**
 * The dynamic scan against a hostile target: the API it probes is not trusted, and the scan carries the user's
 * credentials (a bearer token, an API key header, a session cookie). Each row is a target behaviour served by a local
 * node:http or raw node:net server on port 0; the scan must finish in bounded time with an exit code by its own rules
 * (never a crash or a hang), say what went wrong, send the credentials to the target's origin only, and produce
 * reports that are valid and escape whatever the target put in its answers.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadAuthFile, runDynamicScan, type DynamicScanOptions } from '../src/scan/dynamic/index.ts';
import { exitCodeFor, runScan, type ScanOutcome } from '../src/scan/run.ts';
import { render } from '../src/scan/report/index.ts';

const BEARER = 'SECRET-BEARER-userA-0123456789';
const API_KEY = 'SECRET-APIKEY-userB-0123456789';
const COOKIE = 'SECRET-COOKIE-admin-0123456789';
const SECRETS = [BEARER, API_KEY, COOKIE];
const HOSTILE_HTML = '</script><script>alert(1)</script><img src=x onerror=alert(2)>';
const ANSI = '\u001b[2J\u001b[31mPWNED\u001b]0;title\u0007';
const MARKDOWN = '[click](javascript:alert(3)) **bold** <b>html</b>';

let dir: string;
let specFile: string;
let authFile: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rampart-hostile-'));
  specFile = join(dir, 'openapi.json');
  authFile = join(dir, 'auth.json');
  writeFileSync(
    specFile,
    JSON.stringify({
      openapi: '3.0.3',
      info: { title: 'hostile', version: '1' },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer' },
          key: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
          session: { type: 'apiKey', in: 'cookie', name: 'sid' },
        },
      },
      security: [{ bearer: [] }, { key: [] }, { session: [] }],
      paths: {
        // Administrative (auth file adminOperations): the admin's cookie is sent here.
        '/admin/stats': { get: { operationId: 'getStats', responses: { '200': { description: 'ok' }, '401': { description: 'no' }, '403': { description: 'no' } } } },
        '/items': {
          get: {
            operationId: 'listItems',
            parameters: [{ name: 'q', in: 'query', schema: { type: 'string', maxLength: 20 } }],
            responses: {
              '200': { description: 'ok', content: { 'application/json': { schema: { type: 'object', properties: { items: { type: 'array', maxItems: 10, items: { type: 'string', maxLength: 10 } } } } } } },
              '401': { description: 'no' },
              '429': { description: 'slow down' },
            },
          },
        },
      },
    }),
  );
  writeFileSync(
    authFile,
    JSON.stringify({
      version: 1,
      userA: { bearer: BEARER },
      userB: { apiKey: { in: 'header', name: 'X-API-Key', value: API_KEY } },
      admin: { apiKey: { in: 'cookie', name: 'sid', value: COOKIE } },
      adminOperations: ['getStats'],
    }),
  );
});

interface Target {
  readonly url: string;
  readonly port: number;
  /** Request heads received (raw text for net servers, `METHOD url` + headers for http ones). */
  readonly received: string[];
  close(): Promise<void>;
}

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanup.length > 0) await cleanup.pop()!();
});

function headText(req: IncomingMessage): string {
  return `${req.method} ${req.url}\n${req.rawHeaders.join('\n')}`;
}

async function httpTarget(handler: (req: IncomingMessage, res: ServerResponse, self: Target) => void): Promise<Target> {
  const received: string[] = [];
  const self = {} as { -readonly [K in keyof Target]: Target[K] };
  const server = createServer({ maxHeaderSize: 64 * 1024 }, (req, res) => {
    received.push(headText(req));
    req.resume();
    res.on('error', () => {});
    handler(req, res, self);
  });
  server.on('clientError', (_e, socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  Object.assign(self, {
    url: `http://127.0.0.1:${port}`,
    port,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
  cleanup.push(() => self.close());
  return self;
}

/** A raw TCP server: `onRequest` gets each request head as it arrives (keep-alive may bring several). */
async function netTarget(onRequest: (socket: Socket, head: string) => void): Promise<Target> {
  const received: string[] = [];
  const sockets = new Set<Socket>();
  const server: NetServer = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffer = '';
    socket.on('data', (data) => {
      buffer += data.toString('latin1');
      for (;;) {
        const end = buffer.indexOf('\r\n\r\n');
        if (end < 0) break;
        const head = buffer.slice(0, end);
        buffer = buffer.slice(end + 4);
        // Probe bodies (none without allowWrites, but be safe): drop a declared body.
        const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
        if (length) buffer = buffer.slice(Number(length[1]));
        received.push(head);
        if (!socket.destroyed) onRequest(socket, head);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const target: Target = {
    url: `http://127.0.0.1:${port}`,
    port,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  cleanup.push(() => target.close());
  return target;
}

interface Scanned {
  readonly outcome: ScanOutcome;
  readonly exit: number;
  readonly ms: number;
  readonly reports: Record<'terminal' | 'json' | 'sarif' | 'junit' | 'html', string>;
}

/** `rampart scan --spec --target --auth` as the CLI runs it (runScan + reports), with test tuning. */
async function scan(target: string, tuning: Partial<DynamicScanOptions> = {}): Promise<Scanned> {
  const started = Date.now();
  const outcome = await runScan({
    specs: [specFile],
    cwd: dir,
    target,
    authFile,
    dynamic: (options) =>
      runDynamicScan({
        target: options.target,
        specFile,
        auth: loadAuthFile(authFile),
        allowWrites: false,
        budget: 400,
        ratePerSecond: 10_000,
        timingDelaySeconds: 0,
        rateLimitBurst: 0,
        timeoutMs: 1500,
        signal: options.signal,
        ...tuning,
      }),
  });
  const ms = Date.now() - started;
  const reports = {
    terminal: render(outcome.report, 'terminal', { color: false, verbose: true }),
    json: render(outcome.report, 'json'),
    sarif: render(outcome.report, 'sarif'),
    junit: render(outcome.report, 'junit'),
    html: render(outcome.report, 'html'),
  };
  // The CLI's rule (src/cli/scan-commands.ts): a partial scan never passes.
  const code = exitCodeFor(outcome, 'high');
  return { outcome, exit: code === 0 && outcome.report.partial ? 2 : code, ms, reports };
}

/** What every row expects of the reports: valid, no credential, no raw target markup or terminal control. */
function expectSoundReports(scanned: Scanned): void {
  const { reports } = scanned;
  expect([0, 1, 2]).toContain(scanned.exit);
  if (!scanned.outcome.report.partial) expect([0, 1]).toContain(scanned.exit);
  expect(() => JSON.parse(reports.json)).not.toThrow();
  const sarif = JSON.parse(reports.sarif) as { version: string; runs: unknown[] };
  expect(sarif.version).toBe('2.1.0');
  expect(reports.junit.startsWith('<?xml')).toBe(true);
  // XML 1.0 forbids these even escaped.
  // eslint-disable-next-line no-control-regex
  expect(reports.junit).not.toMatch(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/);
  expect(reports.junit).not.toContain('<script>');
  expect(reports.html).not.toContain('<script>alert');
  expect(reports.html).not.toContain('<img src=x');
  expect(reports.html).not.toContain('<b>html</b>');
  expect(reports.terminal).not.toContain('\u001b');
  expect(reports.terminal).not.toContain('\u0007');
  for (const format of Object.values(reports)) for (const secret of SECRETS) expect(format).not.toContain(secret);
}

function secretsIn(texts: readonly string[]): string[] {
  return SECRETS.filter((secret) => texts.some((t) => t.includes(secret)));
}

/** Sends `total` bytes (or for ever) with back-pressure, until the client goes away. */
function stream(res: ServerResponse, chunk: Buffer, total = Infinity): void {
  let sent = 0;
  const pump = (): void => {
    while (sent < total && !res.destroyed) {
      sent += chunk.length;
      if (!res.write(chunk)) {
        res.once('drain', pump);
        return;
      }
    }
    if (!res.destroyed) res.end();
  };
  res.on('close', () => res.removeAllListeners('drain'));
  pump();
}

describe('redirects: never followed, credentials stay on the target origin', () => {
  for (const status of [301, 302, 307, 308]) {
    it(`${status} to another origin (a second local server) gets nothing, not even a request`, { timeout: 30_000 }, async () => {
      const elsewhere = await httpTarget((_req, res) => res.end('{"stolen":true}'));
      const target = await httpTarget((req, res) => {
        res.writeHead(status, { location: `${elsewhere.url}/steal${req.url ?? ''}`, 'content-type': 'application/json' });
        res.end('{}');
      });
      const scanned = await scan(target.url);
      expect(scanned.outcome.incomplete).toBe(false);
      expect(elsewhere.received).toEqual([]);
      expect(secretsIn(elsewhere.received)).toEqual([]);
      // Every request the scan counted reached the target, and the credentials were sent there (so the check above
      // is not vacuous).
      expect(target.received.length).toBe(scanned.outcome.report.stats.requests);
      expect(secretsIn(target.received)).toEqual(SECRETS);
      expectSoundReports(scanned);
    });
  }

  it('redirects to the cloud metadata address, a loopback port and a scheme change are not followed', { timeout: 30_000 }, async () => {
    const loopback = await httpTarget((_req, res) => res.end('{}'));
    const places = ['http://169.254.169.254/latest/meta-data/', `http://localhost:${loopback.port}/x`, `http://[::1]:${loopback.port}/x`, 'file:///etc/passwd', 'https://127.0.0.1/'];
    let n = 0;
    const target = await httpTarget((_req, res) => {
      res.writeHead(302, { location: places[n++ % places.length]! });
      res.end();
    });
    const scanned = await scan(target.url);
    expect(scanned.outcome.incomplete).toBe(false);
    expect(loopback.received).toEqual([]);
    expect(target.received.length).toBe(scanned.outcome.report.stats.requests);
    expectSoundReports(scanned);
  });

  it('a redirect loop on the target is bounded: one request per probe, the scan finishes', { timeout: 30_000 }, async () => {
    const target = await httpTarget((req, res) => {
      res.writeHead(307, { location: req.url ?? '/' });
      res.end();
    });
    const scanned = await scan(target.url);
    expect(scanned.outcome.incomplete).toBe(false);
    expect(scanned.outcome.report.partial).toBe(false);
    expect(target.received.length).toBe(scanned.outcome.report.stats.requests);
    expectSoundReports(scanned);
  });
});

describe('huge and endless answers: bounded reads, bounded time and memory', () => {
  it('a 50 MB body on every answer is read up to the bound', { timeout: 60_000 }, async () => {
    const chunk = Buffer.alloc(64 * 1024, 'a');
    const target = await httpTarget((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(50 * 1024 * 1024) });
      stream(res, chunk, 50 * 1024 * 1024);
    });
    const before = process.memoryUsage().rss;
    const scanned = await scan(target.url, { budget: 40 });
    const grown = process.memoryUsage().rss - before;
    expect(grown).toBeLessThan(200 * 1024 * 1024);
    expect(scanned.ms).toBeLessThan(45_000);
    expect(scanned.outcome.incomplete).toBe(false);
    expect(scanned.outcome.report.stats.truncatedAnswers).toBeGreaterThan(0);
    expectSoundReports(scanned);
  });

  it('an endless chunked body is cut off at the bound', { timeout: 60_000 }, async () => {
    const chunk = Buffer.from('{"items":["' + 'x'.repeat(16 * 1024));
    const target = await httpTarget((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      stream(res, chunk);
    });
    const scanned = await scan(target.url, { budget: 40 });
    expect(scanned.ms).toBeLessThan(45_000);
    expect(scanned.outcome.incomplete).toBe(false);
    expect(scanned.outcome.report.stats.truncatedAnswers).toBeGreaterThan(0);
    expectSoundReports(scanned);
  });

  it('a gzip bomb (Content-Encoding: gzip) is not inflated', { timeout: 60_000 }, async () => {
    // 64 MiB of zeros compresses to ~64 KiB.
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024));
    const target = await httpTarget((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': String(bomb.length) });
      res.end(bomb);
    });
    const before = process.memoryUsage().rss;
    const scanned = await scan(target.url, { budget: 60 });
    expect(process.memoryUsage().rss - before).toBeLessThan(200 * 1024 * 1024);
    expect(scanned.outcome.incomplete).toBe(false);
    expectSoundReports(scanned);
  });
});

describe('silent and stalling targets: per-request timeout, reported, the scan finishes', () => {
  /** A target that answered nothing: stopped after 10 requests, partial (exit 2 by the CLI's rule), said in the notes. */
  function expectUnanswered(scanned: Scanned, timeouts: boolean): void {
    const { report } = scanned.outcome;
    expect(scanned.outcome.incomplete).toBe(false);
    expect(report.partial).toBe(true);
    expect(scanned.exit).toBe(2);
    expect(report.stats.requests).toBe(10);
    expect(report.stats.noAnswer).toBe(10);
    expect(report.stats.targetUnresponsive).toBe(1);
    const notes = report.notes?.join('\n') ?? '';
    expect(notes).toMatch(/answered none of the first 10 requests/);
    expect(notes).toMatch(/10 requests got no answer/);
    if (timeouts) expect(notes).toMatch(/10 of them timed out/);
    expect(scanned.reports.terminal).toMatch(/PARTIAL/);
    expectSoundReports(scanned);
  }

  it('accepts the connection and never answers', { timeout: 60_000 }, async () => {
    const target = await netTarget(() => {});
    const scanned = await scan(target.url, { timeoutMs: 300 });
    expect(scanned.ms).toBeLessThan(10 * 300 + 5_000);
    expectUnanswered(scanned, true);
  });

  it('answers the headers, then stalls the body', { timeout: 60_000 }, async () => {
    const target = await netTarget((socket) => socket.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"items":'));
    const scanned = await scan(target.url, { timeoutMs: 300 });
    expect(scanned.ms).toBeLessThan(10 * 300 + 5_000);
    expectUnanswered(scanned, true);
  });

  it('a target that is down (connection refused)', { timeout: 30_000 }, async () => {
    const gone = await netTarget(() => {});
    await gone.close();
    const scanned = await scan(gone.url);
    expectUnanswered(scanned, false);
  });

  /** A target that answered 3 requests and then nothing: stopped after 20 unanswered in a row, partial, said so. */
  function expectStoppedAnswering(scanned: Scanned, timeouts: boolean): void {
    const { report } = scanned.outcome;
    expect(scanned.outcome.incomplete).toBe(false);
    expect(report.partial).toBe(true);
    expect(scanned.exit).toBe(2);
    expect(report.stats.requests).toBe(3 + 20);
    expect(report.stats.noAnswer).toBe(20);
    expect(report.stats.targetStoppedAnswering).toBe(1);
    expect(report.stats.targetUnresponsive).toBeUndefined();
    const notes = report.notes?.join('\n') ?? '';
    expect(notes).toMatch(/the target stopped answering: 20 requests in a row got no answer/);
    expect(notes).toMatch(/20 requests got no answer/);
    if (timeouts) expect(notes).toMatch(/20 of them timed out/);
    expect(scanned.reports.terminal).toMatch(/PARTIAL/);
    expectSoundReports(scanned);
  }

  it('answers at first, then stalls: the scan stops after 20 timeouts in a row instead of waiting out the budget', { timeout: 60_000 }, async () => {
    let n = 0;
    const target = await netTarget((socket) => {
      if (n++ < 3) socket.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}');
    });
    const scanned = await scan(target.url, { timeoutMs: 200, budget: 400 });
    // 20 timeouts, not the 397 the budget would allow.
    expect(scanned.ms).toBeLessThan(20 * 200 + 10_000);
    expectStoppedAnswering(scanned, true);
  });

  it('answers at first, then goes down (connection refused): stopped after 20 in a row, partial', { timeout: 60_000 }, async () => {
    let n = 0;
    const target: Target = await netTarget((socket) => {
      if (++n > 3) return void socket.destroy();
      socket.end('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}');
      // The listener goes away once the third answer is out: every later connection is refused.
      if (n === 3) socket.once('close', () => void target.close());
    });
    const scanned = await scan(target.url, { budget: 400 });
    expectStoppedAnswering(scanned, false);
  });

  it('a few unanswered requests between answers do not stop the scan', { timeout: 60_000 }, async () => {
    let n = 0;
    // Every 10th connection is reset: 9 answers, then 1 failure, and so on: never 20 in a row.
    const target = await netTarget((socket) => {
      if (++n % 10 === 0) socket.resetAndDestroy();
      else socket.end('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}');
    });
    const scanned = await scan(target.url, { budget: 80 });
    const { report } = scanned.outcome;
    expect(report.stats.noAnswer).toBeGreaterThan(0);
    expect(report.stats.targetStoppedAnswering).toBeUndefined();
    expect(report.stats.requests).toBeGreaterThan(23);
    expectSoundReports(scanned);
  });
});

describe('invalid answers', () => {
  it.each([
    ['garbage bytes instead of HTTP', (socket: Socket) => socket.end(Buffer.from('\u0000\u00ff\u001b[2J garbage \r\n\r\nHTTP/9 ??? \u0007\r\n\r\n', 'latin1'))],
    ['a connection reset on every request', (socket: Socket) => socket.resetAndDestroy()],
  ])('%s: the scan stops after 10 unanswered requests, partial, and says so', { timeout: 30_000 }, async (_what, answer) => {
    const target = await netTarget(answer);
    const scanned = await scan(target.url);
    expect(scanned.outcome.incomplete).toBe(false);
    expect(scanned.outcome.report.partial).toBe(true);
    expect(scanned.exit).toBe(2);
    expect(scanned.outcome.report.stats.noAnswer).toBe(10);
    expect(scanned.outcome.report.notes?.join('\n')).toMatch(/answered none of the first 10 requests/);
    expectSoundReports(scanned);
  });

  it('invalid JSON where JSON is declared, and a Content-Type lying about the body', { timeout: 30_000 }, async () => {
    let n = 0;
    const target = await httpTarget((_req, res) => {
      const lie = n++ % 3;
      if (lie === 0) res.writeHead(200, { 'content-type': 'application/json' }).end('{"items": [1, 2,, } ' + HOSTILE_HTML);
      else if (lie === 1) res.writeHead(200, { 'content-type': 'application/json' }).end(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0xff]));
      else res.writeHead(200, { 'content-type': 'image/png' }).end('{"items":["a"]}');
    });
    const scanned = await scan(target.url);
    expect(scanned.outcome.incomplete).toBe(false);
    expect(scanned.outcome.report.partial).toBe(false);
    expectSoundReports(scanned);
  });
});

describe('hostile headers', () => {
  it('control characters in a header value', { timeout: 30_000 }, async () => {
    const target = await netTarget((socket) =>
      socket.write(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-evil: a${ANSI}b\r\nserver: Apache/2.4.1 ${ANSI}\r\ncontent-length: 2\r\n\r\n{}`),
    );
    const scanned = await scan(target.url, { budget: 60 });
    expect(scanned.outcome.incomplete).toBe(false);
    // undici (llhttp) refuses the answer as invalid HTTP: nothing answered, so the scan stops, partial, and says so.
    expect(scanned.outcome.report.stats.noAnswer).toBe(10);
    expect(scanned.outcome.report.partial).toBe(true);
    expect(scanned.outcome.report.notes?.join('\n')).toMatch(/answered none of the first 10 requests/);
    expectSoundReports(scanned);
  });

  it('an enormous header value (1 MiB) and very many Set-Cookie headers', { timeout: 30_000 }, async () => {
    let n = 0;
    const target = await netTarget((socket) => {
      if (n++ % 2 === 0) {
        socket.write(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-big: ${'A'.repeat(1024 * 1024)}\r\ncontent-length: 2\r\n\r\n{}`);
      } else {
        const cookies = Array.from({ length: 300 }, (_, i) => `set-cookie: sess${i}=v${i}; Path=/\r\n`).join('');
        socket.write(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n${cookies}content-length: 2\r\n\r\n{}`);
      }
    });
    const scanned = await scan(target.url, { budget: 60 });
    expect(scanned.outcome.incomplete).toBe(false);
    // The 1 MiB header is refused (undici's header size limit) and counted; the cookie answers are read.
    expect(scanned.outcome.report.stats.noAnswer).toBeGreaterThan(0);
    expect(scanned.outcome.report.notes?.join('\n')).toMatch(/got no answer/);
    // One finding per insecure cookie name, bounded by what one answer's headers can hold (300 names here).
    expect(scanned.outcome.report.findings.filter((f) => f.rule.id === 'session.cookie-insecure').length).toBeLessThanOrEqual(300);
    expectSoundReports(scanned);
  });
});

describe('answers shaped against the scan\'s own patterns', () => {
  it('256 KiB bodies of `panic: ` and `eyJaa-` repeated (quadratic for the Go-panic signature and JWT masking before): read, reported with evidence, in bounded time', { timeout: 30_000 }, async () => {
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyQSJ9.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg';
    const head = `TypeError: boom\n    at handler (/srv/app/index.js:10:5)\nAuthorization: Bearer ${jwt}\n`;
    const half = 128 * 1024;
    const body = (head + 'panic: '.repeat(half / 7) + 'eyJaa-'.repeat(half / 6)).slice(0, 256 * 1024);
    const target = await httpTarget((_req, res) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(body);
    });
    const scanned = await scan(target.url, { budget: 60 });
    expect(scanned.outcome.incomplete).toBe(false);
    const stack = scanned.outcome.report.findings.find((f) => f.rule.id === 'errors.stack-trace');
    expect(stack?.message).toMatch(/node stack traces/);
    const evidence = stack?.evidence?.[0]?.response ?? '';
    expect(evidence).toContain('Authorization: Bearer eyJ***');
    expect(evidence).toContain(`… (${body.length} characters)`);
    for (const format of Object.values(scanned.reports)) expect(format).not.toContain(jwt);
    expectSoundReports(scanned);
  });
});

describe('hostile content reflected into the reports', () => {
  it('script tags, ANSI escapes and markdown in bodies and headers are escaped or dropped in every report', { timeout: 30_000 }, async () => {
    const payload = `${HOSTILE_HTML} ${ANSI} ${MARKDOWN}`;
    const target = await httpTarget((req, res) => {
      // Error answers with a stack trace and SQL error (reported with evidence), banners, an insecure cookie, and
      // the payload everywhere the scan reads.
      res.writeHead(500, {
        'content-type': 'text/html',
        server: `Apache/2.4.1 (Unix) ${HOSTILE_HTML}`,
        'x-powered-by': `PHP/5.4 ${MARKDOWN}`,
        'set-cookie': `session=${encodeURIComponent(HOSTILE_HTML)}; Path=/`,
      });
      res.end(
        `<html>${payload}\nYou have an error in your SQL syntax; check the manual that corresponds to your MySQL server version ${payload}\n` +
          `Traceback (most recent call last):\n  File "/srv/app.py", line 12, in handler ${payload}\n    raise ValueError(${JSON.stringify(payload)})\n` +
          `    at Object.<anonymous> (/srv/app/index.js:10:5)\n    at Module._compile (node:internal/modules/cjs/loader:1105:14)\n${req.url} ${payload}</html>`,
      );
    });
    const scanned = await scan(target.url);
    expect(scanned.outcome.incomplete).toBe(false);
    // The target's content did reach the findings (so the escaping is exercised).
    expect(scanned.reports.json).toContain('alert(1)');
    expect(scanned.outcome.report.findings.length).toBeGreaterThan(0);
    // The findings are low/medium here: failing on them is the scanner's own rule.
    expect(exitCodeFor(scanned.outcome, 'low')).toBe(1);
    expectSoundReports(scanned);
    expect(scanned.reports.html).toContain('&lt;/script&gt;&lt;script&gt;alert(1)');
  });

  it('hostile JSON field names and cookie names (which findings name) are escaped or dropped in every report', { timeout: 30_000 }, async () => {
    const target = await httpTarget((_req, res) => {
      res.writeHead(200, {
        'content-type': 'application/json',
        'set-cookie': [`${HOSTILE_HTML.replace(/[\s;=,]/g, '')}session=1; Path=/`, `sid[${MARKDOWN.replace(/[\s;=,]/g, '')}]=2`],
      });
      res.end(JSON.stringify({ items: ['a'], [`${ANSI}${HOSTILE_HTML}`]: 'x', [`password${ANSI}`]: 'hunter2', [MARKDOWN]: { [`${HOSTILE_HTML}ssn`]: '078-05-1120' } }));
    });
    const scanned = await scan(target.url);
    expect(scanned.outcome.incomplete).toBe(false);
    // Field names from the target are in the findings (so the escaping is exercised).
    expect(scanned.reports.json).toContain('alert(1)');
    expect(scanned.reports.terminal).toContain('alert(1)');
    // The target's escape sequences are shown, not run.
    expect(scanned.reports.terminal).toContain('\\u001b[2J');
    expectSoundReports(scanned);
  });
});
