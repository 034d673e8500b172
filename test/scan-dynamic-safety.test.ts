/**
 * Safety of the dynamic scan (issue 8 point 3): requests only to the target's origin (redirects elsewhere are not
 * followed, a document's `servers` cannot move the scan), the request budget, the scanner's own pacing, write
 * methods only with allowWrites, and a prompt stop on abort with a partial result.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadAuthFile, parseAuthFile, runDynamicScan, ScanSetupError } from '../src/scan/dynamic/index.ts';
import { OriginViolation, ScanClient, WriteNotAllowed } from '../src/scan/dynamic/client.ts';
import { Budget, BudgetExhausted, Pacer, ScanAborted, type Clock } from '../src/scan/dynamic/pacing.ts';
import { FIXTURE_DIR, OPENAPI_FILE, startVulnerableApi } from './fixtures/vulnerable-api/server.ts';

interface Recorder {
  readonly url: string;
  readonly hits: string[];
  close(): Promise<void>;
}

async function listen(handler: (req: IncomingMessage, res: ServerResponse, hits: string[]) => void): Promise<Recorder> {
  const hits: string[] = [];
  const server: Server = createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`);
    handler(req, res, hits);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanup.length > 0) await cleanup.pop()!();
});

function fakeClock(): Clock & { t: number; sleeps: number[] } {
  const clock = {
    t: 0,
    sleeps: [] as number[],
    now: () => clock.t,
    sleep: async (ms: number) => {
      clock.sleeps.push(ms);
      clock.t += ms;
    },
  };
  return clock;
}

describe('origin lock', () => {
  it('refuses every path that would leave the target origin', () => {
    const client = new ScanClient({ origin: 'http://127.0.0.1:9', allowWrites: false, budget: new Budget(10), pacer: new Pacer(10), clock: fakeClock() });
    cleanup.push(() => client.close());
    for (const path of ['//evil.example/x', 'http://evil.example/', 'https://127.0.0.1:9/', '\\\\evil.example\\x', '/\\evil.example', 'evil', '']) {
      expect(() => client.url(path), path).toThrow(OriginViolation);
    }
    expect(client.url('/a/../b?x=1').href).toBe('http://127.0.0.1:9/b?x=1');
    expect(() => new ScanClient({ origin: 'file:///etc/passwd', allowWrites: false, budget: new Budget(1), pacer: new Pacer(1), clock: fakeClock() })).toThrow(OriginViolation);
  });

  it('never follows a redirect to another origin, nor a login that redirects, nor a spec whose servers point elsewhere', async () => {
    const elsewhere = await listen((_req, res) => res.end('stolen'));
    cleanup.push(() => elsewhere.close());
    const target = await listen((_req, res) => {
      res.writeHead(302, { location: `${elsewhere.url}/steal` });
      res.end();
    });
    cleanup.push(() => target.close());
    const dir = mkdtempSync(join(tmpdir(), 'rampart-scan-'));
    const spec = join(dir, 'spec.json');
    writeFileSync(
      spec,
      JSON.stringify({
        openapi: '3.0.3',
        info: { title: 't', version: '1' },
        servers: [{ url: `${elsewhere.url}/api` }],
        paths: { '/items': { get: { operationId: 'listItems', parameters: [{ name: 'q', in: 'query', schema: { type: 'string' } }], responses: { '200': { description: 'ok' } } } } },
      }),
    );
    const result = await runDynamicScan({ target: target.url, specFile: spec, allowWrites: false, budget: 300, ratePerSecond: 1000, timingDelaySeconds: 0 });
    expect(result.partial).toBe(false);
    expect(target.hits.length).toBe(result.stats.requests);
    // The document's server is on the other origin: only its base path is used, on the target.
    expect(target.hits).toContain('GET /api/items');
    expect(elsewhere.hits).toEqual([]);

    const auth = parseAuthFile({ userA: { login: { path: '/login', json: { u: 'a' }, token: { from: 'json', pointer: '/t' } } } });
    await expect(runDynamicScan({ target: target.url, auth, allowWrites: false, budget: 50, ratePerSecond: 1000 })).rejects.toThrow(ScanSetupError);
    expect(elsewhere.hits).toEqual([]);
  });

  it('refuses targets that are not plain http(s) origins', async () => {
    for (const target of ['ftp://127.0.0.1/', 'not a url', 'http://user:pass@127.0.0.1/']) {
      await expect(runDynamicScan({ target, allowWrites: false, budget: 10, ratePerSecond: 10 })).rejects.toThrow(ScanSetupError);
    }
  });
});

describe('request budget', () => {
  it('stops at the budget with a partial result, having sent exactly that many requests', async () => {
    const api = await startVulnerableApi({ hardened: false });
    cleanup.push(() => api.close());
    const progress: number[] = [];
    const result = await runDynamicScan({
      target: api.url,
      specFile: OPENAPI_FILE,
      auth: loadAuthFile(`${FIXTURE_DIR}/auth.yaml`),
      allowWrites: true,
      budget: 25,
      ratePerSecond: 1000,
      onProgress: (done) => progress.push(done),
    });
    expect(result.partial).toBe(true);
    expect(result.stats.budgetExhausted).toBe(1);
    expect(result.stats.requests).toBe(25);
    expect(api.stats.requests).toBe(25);
    // What was found before the stop is kept (the login already shows the 30-day token).
    expect(result.findings.map((f) => f.rule.id)).toContain('session.token-no-expiry');
    // Progress after every request, monotonic, ending at the budget.
    expect(progress.slice(0, -1)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    expect(progress.at(-1)).toBe(25);
  });

  it('Budget counts and refuses beyond its limit', () => {
    const budget = new Budget(2);
    budget.take();
    budget.take();
    expect(() => budget.take()).toThrow(BudgetExhausted);
    expect(budget.spent).toBe(2);
    expect(() => new Budget(-1)).toThrow(RangeError);
    expect(() => new Budget(1.5)).toThrow(RangeError);
  });
});

describe('pacing (the scanner\'s own rate limit)', () => {
  it('spaces requests evenly at the rate, without bursts', async () => {
    const clock = fakeClock();
    const pacer = new Pacer(10, clock);
    for (let i = 0; i < 25; i++) await pacer.acquire();
    // 25 requests at 10/s: the first at once, then one every 100 ms of the (fake) clock.
    expect(clock.t).toBe(2400);
    expect(clock.sleeps).toHaveLength(24);
    expect(new Set(clock.sleeps)).toEqual(new Set([100]));
  });

  it('lets time that passed anyway count', async () => {
    const clock = fakeClock();
    const pacer = new Pacer(2, clock);
    await pacer.acquire();
    clock.t += 5000;
    await pacer.acquire();
    expect(clock.sleeps).toEqual([]);
  });

  it('refuses nonsense rates', () => {
    for (const rate of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) expect(() => new Pacer(rate)).toThrow(RangeError);
  });

  it('paces a real scan: every request of the client waits for its slot', async () => {
    const target = await listen((_req, res) => res.end('{}'));
    cleanup.push(() => target.close());
    const clock = fakeClock();
    const client = new ScanClient({ origin: target.url, allowWrites: false, budget: new Budget(100), pacer: new Pacer(4, clock), clock });
    cleanup.push(() => client.close());
    for (let i = 0; i < 9; i++) await client.send({ method: 'GET', path: '/', principal: 'anonymous', purpose: 'test' });
    expect(target.hits).toHaveLength(9);
    // 9 requests at 4/s: 8 waits of 250 ms on the injected clock (the requests take no time on it).
    expect(clock.sleeps).toEqual(Array.from({ length: 8 }, () => 250));
  });
});

describe('write methods', () => {
  it('are refused by the client without allowWrites, whatever the probe', async () => {
    const target = await listen((_req, res) => res.end('{}'));
    cleanup.push(() => target.close());
    const client = new ScanClient({ origin: target.url, allowWrites: false, budget: new Budget(100), pacer: new Pacer(1000), clock: fakeClock() });
    cleanup.push(() => client.close());
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE', 'post', 'CONNECT', 'PROPPATCH']) {
      await expect(client.send({ method, path: '/', principal: 'anonymous', purpose: 'test' }), method).rejects.toThrow(WriteNotAllowed);
    }
    for (const method of ['GET', 'HEAD', 'OPTIONS', 'TRACE', 'SEARCH']) {
      expect((await client.send({ method, path: '/', principal: 'anonymous', purpose: 'test' })).status, method).toBe(200);
    }
    // The auth file's login is the one exception.
    expect((await client.send({ method: 'POST', path: '/login', principal: 'login:userA', purpose: 'login', authFlow: true })).status).toBe(200);
    expect(target.hits.filter((hit) => !/^(GET|HEAD|OPTIONS|TRACE|SEARCH) /.test(hit))).toEqual(['POST /login']);
  });
});

describe('abort', () => {
  it('stops promptly on the signal, also in the middle of a slow request, and returns what was found', async () => {
    let answered = 0;
    let abandoned = 0;
    const controller = new AbortController();
    const target = await listen((_req, res, hits) => {
      if (hits.length === 1) {
        // The scan's first request is answered; the next one hangs until the scan gives up on it.
        res.writeHead(200, { 'content-type': 'application/json', 'x-powered-by': 'PHP/5.4.0' });
        res.end('{}');
        answered++;
        return;
      }
      res.on('close', () => {
        if (!res.writableEnded) abandoned++;
      });
      controller.abort();
    });
    cleanup.push(() => target.close());
    const result = await runDynamicScan({ target: target.url, allowWrites: false, budget: 500, ratePerSecond: 1000, signal: controller.signal, timeoutMs: 60_000 });
    expect(result.partial).toBe(true);
    expect(result.stats.aborted).toBe(1);
    expect(answered).toBe(1);
    // The request in flight was abandoned (not waited for), and nothing was sent after the abort.
    await new Promise((resolve) => setImmediate(resolve));
    expect(abandoned).toBe(1);
    expect(target.hits).toHaveLength(2);
    expect(result.findings.map((f) => f.rule.id)).toContain('errors.banner-headers');
  });

  it('stops a scan of the fixture after the request that saw the abort', async () => {
    const api = await startVulnerableApi({ hardened: false });
    cleanup.push(() => api.close());
    const controller = new AbortController();
    const result = await runDynamicScan({
      target: api.url,
      specFile: OPENAPI_FILE,
      auth: loadAuthFile(`${FIXTURE_DIR}/auth.yaml`),
      allowWrites: false,
      budget: 2000,
      ratePerSecond: 1000,
      signal: controller.signal,
      onProgress: (done) => {
        if (done === 40) controller.abort();
      },
    });
    expect(result.partial).toBe(true);
    expect(result.stats.requests).toBe(40);
    expect(api.stats.requests).toBe(40);
  });

  it('the pacer\'s wait ends on abort', async () => {
    const controller = new AbortController();
    const pacer = new Pacer(0.001);
    await pacer.acquire(controller.signal);
    const waiting = pacer.acquire(controller.signal);
    controller.abort();
    await expect(waiting).rejects.toThrow(ScanAborted);
  });
});
