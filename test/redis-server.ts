/**
 * Redis for the tests, never skipped: the server at REDIS_URL (default redis://127.0.0.1:6379) when it answers;
 * otherwise a `redis-server` this process starts on a free port; otherwise the run fails naming what to install.
 * Tests that stop and restart Redis start their own server (`startRedisServer`), never touching the shared one.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer, connect } from 'node:net';

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** Sends PING over a plain socket; true when `+PONG` comes back within `timeoutMs`. */
export function pingRedis(url: string, timeoutMs = 1000): Promise<boolean> {
  const parsed = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(parsed.port || 6379), parsed.hostname);
    let text = '';
    const finish = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.on('error', () => finish(false));
    socket.on('data', (chunk) => {
      text += chunk.toString('latin1');
      if (text.includes('\r\n')) finish(text.startsWith('+PONG'));
    });
    socket.on('connect', () => {
      if (parsed.password) socket.write(`AUTH ${decodeURIComponent(parsed.password)}\r\n`);
      socket.write('PING\r\n');
    });
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

function redisServerInstalled(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

export interface OwnRedis {
  readonly url: string;
  readonly port: number;
  /** Stops the server (SIGTERM) and waits until it exited. */
  stop(): Promise<void>;
  /** Starts it again on the same port (empty: it keeps nothing on disk). */
  start(): Promise<void>;
  /** Freezes the process (SIGSTOP): connections stay open, nothing is answered. */
  pause(): void;
  /** Lets a paused server run again (SIGCONT). */
  resume(): void;
}

/** Starts a throw-away redis-server on a free port (no persistence), waiting until it answers PING. */
export async function startRedisServer(port?: number): Promise<OwnRedis> {
  if (!redisServerInstalled()) {
    throw new Error('redis-server is not installed: install it (Debian: apt-get install -y redis-server) to run the Redis tests');
  }
  const chosen = port ?? (await freePort());
  const url = `redis://127.0.0.1:${chosen}`;
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn('redis-server', ['--port', String(chosen), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    const deadline = Date.now() + 10_000;
    while (!(await pingRedis(url, 200))) {
      if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode} (port ${chosen} taken?)`);
      if (Date.now() > deadline) throw new Error(`redis-server on port ${chosen} did not answer within 10 s`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  const stop = async () => {
    const running = child;
    child = undefined;
    if (running === undefined || running.exitCode !== null) return;
    running.kill('SIGCONT');
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    running.kill('SIGTERM');
    await exited;
  };
  await start();
  return { url, port: chosen, stop, start, pause: () => child?.kill('SIGSTOP'), resume: () => child?.kill('SIGCONT') };
}

let shared: Promise<{ url: string; own?: OwnRedis }> | undefined;

/** The URL of a Redis the tests may use (see the module comment); started once per test file when needed. */
export function testRedisUrl(): Promise<string> {
  shared ??= (async () => {
    const url = process.env.REDIS_URL ?? DEFAULT_REDIS_URL;
    if (await pingRedis(url)) return { url };
    if (!redisServerInstalled()) {
      throw new Error(
        `Redis does not answer at ${new URL(url).host} (REDIS_URL) and redis-server is not installed: ` +
          'start Redis or install redis-server (Debian: apt-get install -y redis-server)',
      );
    }
    const own = await startRedisServer();
    return { url: own.url, own };
  })();
  return shared.then((s) => s.url);
}

/** Stops the Redis `testRedisUrl` started, if it started one (call in afterAll). */
export async function stopTestRedis(): Promise<void> {
  const current = await shared?.catch(() => undefined);
  await current?.own?.stop();
  shared = undefined;
}

/** A key prefix no other test run uses, so runs on one Redis never see each other's counters. */
export function uniqueKeyPrefix(label: string): string {
  return `rampart-test:${label}:${randomUUID()}:`;
}
