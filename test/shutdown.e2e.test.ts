/**
 * Graceful shutdown end to end: requests in flight when stop() begins are answered, new connections are refused,
 * and the drain deadline bounds how long stop() can take when an upstream never answers.
 */
import { describe, expect, it } from 'vitest';
import { connect } from 'node:net';
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { startRecordingUpstream, startTestGateway } from './helpers.ts';

interface Answer {
  readonly status: number;
  readonly body: string;
}

/** One request on its own connection (no agent): resolves with the answer or rejects with the socket error. */
function get(port: number, path: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Resolves with the connect error code, or 'connected' if a TCP connection could still be made. */
function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
  });
}

async function waitFor(check: () => boolean, limitMs = 5000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('graceful shutdown', () => {
  it('answers every request in flight, refuses new connections once stop() begins, then resolves', async () => {
    const upstream = await startRecordingUpstream((req: IncomingMessage, res: ServerResponse) => {
      setTimeout(() => res.end(`done ${req.url}`), 300);
    });
    const gw = await startTestGateway({
      routes: [{ id: 'slow', match: { path: '/slow/**' }, upstream: upstream.url, public: true }],
    });
    try {
      const inFlight = Array.from({ length: 10 }, (_, i) => get(gw.port, `/slow/${i}`));
      // Every request has reached the upstream (which holds it 300 ms): all ten are in flight at the gateway.
      await waitFor(() => upstream.seen.length === 10);
      expect(gw.gateway.inFlight).toBe(10);

      const stopped = gw.gateway.stop();
      // The listening socket closes synchronously in server.close(): the next connect is refused.
      expect(await tryConnect(gw.port)).toBe('ECONNREFUSED');

      const answers = await Promise.all(inFlight);
      expect(answers.map((a) => a.status)).toEqual(Array(10).fill(200));
      expect(answers.map((a) => a.body).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `done /slow/${i}`).sort());
      await stopped;
      expect(gw.gateway.inFlight).toBe(0);
      expect(await tryConnect(gw.port)).toBe('ECONNREFUSED');
      // The access log has all ten, each a 200.
      const lines = (await gw.accessLog()).filter((line) => line.route === 'slow');
      expect(lines.map((line) => line.status)).toEqual(Array(10).fill(200));
    } finally {
      await gw.close();
      await upstream.close();
    }
  });

  it('closes idle keep-alive connections at once instead of waiting for the drain deadline', async () => {
    const upstream = await startRecordingUpstream();
    const gw = await startTestGateway({
      shutdown: { drainTimeout: '30s' },
      routes: [{ id: 'api', match: { path: '/api/**' }, upstream: upstream.url, public: true }],
    });
    try {
      // fetch keeps its connection open after the answer: an idle keep-alive connection.
      const res = await fetch(`${gw.url}/api/x`);
      expect(res.status).toBe(200);
      await res.text();
      // stop() must resolve although a client still holds an idle connection; the test timeout (20 s, below the
      // 30 s drain deadline) is the bound.
      await gw.gateway.stop();
      expect(gw.gateway.inFlight).toBe(0);
    } finally {
      await gw.close();
      await upstream.close();
    }
  });

  // Regression (was a bug in src/gateway/server.ts stop(), and #handle): when the drain deadline passes, stop() cuts the client
  // connections but the proxied upstream requests keep running: ctx.abortUpstream is set in proxy.ts onConnect but
  // never called when the client goes away, and stop() then awaits `this.#runtime.close(0)`, whose
  // UpstreamGroup.close() is undici's graceful pool.close(), which waits for those requests, i.e. until the
  // upstream response timeout (30 s by default). Remove `.fails` once stop() aborts or destroys what is left
  // after the deadline.
  it('resolves after the drain deadline when an upstream never answers, cutting the connections', async () => {
    const held: ServerResponse[] = [];
    const upstream = await startRecordingUpstream((_req, res) => held.push(res));
    const gw = await startTestGateway({
      shutdown: { drainTimeout: '200ms' },
      routes: [{ id: 'stuck', match: { path: '/stuck/**' }, upstream: upstream.url, public: true }],
    });
    try {
      const outcomes = Array.from({ length: 3 }, (_, i) =>
        get(gw.port, `/stuck/${i}`).then(
          (answer) => `answered ${answer.status}`,
          (error: NodeJS.ErrnoException) => error.code ?? 'error',
        ),
      );
      await waitFor(() => upstream.seen.length === 3);
      let resolved = false;
      const stopped = gw.gateway.stop().then(() => {
        resolved = true;
      });
      // Bounded at 5 s, 25 times the drain deadline (and far below the 30 s upstream response timeout).
      await waitFor(() => resolved, 5000);
      await stopped;
      // The clients saw their connection cut, not an answer.
      expect(await Promise.all(outcomes)).toEqual(Array(3).fill('ECONNRESET'));
    } finally {
      for (const res of held) res.destroy();
      await gw.close();
      await upstream.close();
    }
  });

  it('cuts the client connections at the drain deadline when an upstream never answers', async () => {
    // The part of the previous case that holds today: the clients are not kept waiting past the deadline.
    const held: ServerResponse[] = [];
    const upstream = await startRecordingUpstream((_req, res) => held.push(res));
    const gw = await startTestGateway({
      shutdown: { drainTimeout: '200ms' },
      routes: [{ id: 'stuck', match: { path: '/stuck/**' }, upstream: upstream.url, public: true }],
    });
    try {
      const outcome = get(gw.port, '/stuck/1').then(
        (answer) => `answered ${answer.status}`,
        (error: NodeJS.ErrnoException) => error.code ?? 'error',
      );
      await waitFor(() => upstream.seen.length === 1);
      const stopped = gw.gateway.stop();
      expect(await outcome).toBe('ECONNRESET');
      // Cut the upstream side too, so that stop() can finish (see the failing case above: an upstream answer that
      // arrives now would stall on the destroyed client response until the upstream closes its keep-alive socket).
      for (const res of held) res.destroy();
      await stopped;
    } finally {
      await gw.close();
      await upstream.close();
    }
  });

  // Root cause of the failing drain case above (src/gateway/server.ts #handle / proxy.ts): nothing calls
  // ctx.abortUpstream when the client connection closes before the answer, so the upstream keeps working for a
  // client that is gone, and a pooled upstream connection stays busy. Remove `.fails` once the client's 'close'
  // aborts the upstream attempt.
  it('aborts the upstream request when the client goes away before the answer', async () => {
    let upstreamSawClose = false;
    const held: ServerResponse[] = [];
    const upstream = await startRecordingUpstream((_req, res) => {
      held.push(res);
      res.once('close', () => {
        upstreamSawClose = true;
      });
    });
    const gw = await startTestGateway({
      routes: [{ id: 'stuck', match: { path: '/stuck/**' }, upstream: upstream.url, public: true }],
    });
    try {
      const req = httpRequest({ host: '127.0.0.1', port: gw.port, path: '/stuck/gone', agent: false });
      req.on('error', () => {});
      req.end();
      await waitFor(() => upstream.seen.length === 1);
      req.destroy();
      await waitFor(() => upstreamSawClose, 3000);
    } finally {
      for (const res of held) res.destroy();
      await gw.close();
      await upstream.close();
    }
  });
});
