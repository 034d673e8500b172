/**
 * Hot reload end to end: a config file on disk, watched by the gateway; a rewrite moves a route to another
 * upstream, an invalid file is refused while the running config keeps serving, and reloads under load lose no
 * request (in-flight requests finish on the runtime they started with). Also `reloadFromFile()` directly, and the
 * CLI's SIGHUP handler in a real `rampart gateway` process.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from 'undici';
import YAML from 'yaml';
import { startRecordingUpstream, startTestGateway, tempDir, type RecordingUpstream, type TestGateway } from './helpers.ts';

const REPO = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');

/** The whole document, as the file holds it: reloads read it from disk, not from the test. */
function configDocument(upstreamUrl: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    mode: 'development',
    listen: { host: '127.0.0.1', port: 0 },
    admin: false,
    ...extra,
    routes: [{ id: 'x', match: { path: '/x/**' }, upstream: upstreamUrl, public: true }],
  };
}

/**
 * Writes the file the way editors and config-management tools do: a temporary file, then rename(2), so a reader
 * never sees half a file.
 */
function writeAtomically(file: string, text: string): void {
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, text);
  renameSync(temporary, file);
}

function writeConfig(file: string, document: Record<string, unknown>): void {
  writeAtomically(file, YAML.stringify(document));
}

/** Polls `check` every 25 ms until it holds; fails after `limitMs`. */
async function waitFor(check: () => Promise<boolean> | boolean, limitMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} not met within ${limitMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Which upstream answered: each test upstream answers its own name. */
async function whoAnswers(baseUrl: string, path = '/x/probe'): Promise<string> {
  const res = await fetch(`${baseUrl}${path}`);
  const body = await res.text();
  return res.status === 200 ? body : `status ${res.status}`;
}

const named = (name: string, delayMs = 0) =>
  startRecordingUpstream((_req, res) => {
    const answer = () => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(name);
    };
    if (delayMs > 0) setTimeout(answer, delayMs);
    else answer();
  });

describe('reload when the config file changes', () => {
  let a: RecordingUpstream;
  let b: RecordingUpstream;
  let file: string;
  let gw: TestGateway;

  beforeAll(async () => {
    a = await named('a');
    b = await named('b');
    file = join(tempDir(), 'rampart.yaml');
    writeConfig(file, configDocument(a.url));
    gw = await startTestGateway(configDocument(a.url), { configFile: file });
  });

  afterAll(async () => {
    await gw?.close();
    await a?.close();
    await b?.close();
  });

  it('routes to the new upstream once the rewritten file is picked up', async () => {
    expect(await whoAnswers(gw.url)).toBe('a');
    writeConfig(file, configDocument(b.url));
    await waitFor(async () => (await whoAnswers(gw.url)) === 'b', 5000, 'requests reaching the new upstream');
    const reloaded = gw.events.events.find((e) => e.type === 'config.reloaded');
    // The audit entry says what changed, by route id and section name, never by value (the new upstream URL).
    expect(reloaded?.details).toMatchObject({ routes: 1, sections: [], routeChanges: { added: [], removed: [], changed: ['x'] } });
    expect(JSON.stringify(reloaded?.details)).not.toContain(b.url);
    expect(gw.appLog().some((line) => line.msg === 'configuration reloaded')).toBe(true);
  });

  const invalidFiles: Array<[string, string]> = [
    ['YAML syntax error', 'routes: [ { id: x, match: { path: /x/** }\n'],
    ['schema error (upstream not a URL)', YAML.stringify({ ...configDocument('not a url') })],
    ['semantic error (route without authentication or public: true)', YAML.stringify({
      ...configDocument('http://127.0.0.1:9'),
      routes: [{ id: 'x', match: { path: '/x/**' }, upstream: 'http://127.0.0.1:9' }],
    })],
  ];

  it.each(invalidFiles)('refuses an invalid file (%s), logs it, raises an event, and keeps serving', async (_name, text) => {
    const refusedBefore = gw.events.events.filter((e) => e.type === 'config.reload-refused').length;
    const loggedBefore = gw.appLog().filter((line) => String(line.msg).includes('configuration reload refused')).length;
    const before = await whoAnswers(gw.url);
    writeAtomically(file, text);
    await waitFor(
      () => gw.events.events.filter((e) => e.type === 'config.reload-refused').length > refusedBefore,
      5000,
      'config.reload-refused event',
    );
    const refusals = gw.appLog().filter((line) => String(line.msg).includes('configuration reload refused'));
    expect(refusals.length).toBeGreaterThan(loggedBefore);
    const errors = refusals.at(-1)!.errors as string[];
    expect(errors.length).toBeGreaterThan(0);
    const event = gw.events.events.filter((e) => e.type === 'config.reload-refused').at(-1)!;
    expect(event.severity).toBe('medium');
    // The running config is untouched.
    expect(await whoAnswers(gw.url)).toBe(before);
    expect((await fetch(`${gw.url}/elsewhere`)).status).toBe(404);
  });

  it('recovers when a valid file comes back after an invalid one', async () => {
    writeAtomically(file, 'not: [valid\n');
    await waitFor(() => gw.events.events.some((e) => e.type === 'config.reload-refused'), 5000, 'refusal');
    const target = (await whoAnswers(gw.url)) === 'a' ? b : a;
    writeConfig(file, configDocument(target.url));
    const name = target === a ? 'a' : 'b';
    await waitFor(async () => (await whoAnswers(gw.url)) === name, 5000, 'recovery');
  });

  it('keeps serving when the file is rewritten with nesting that once aborted the process inside the YAML parser', async () => {
    const before = gw.events.events.filter((e) => e.type === 'config.reload-refused').length;
    const serving = await whoAnswers(gw.url);
    let deep = '{"type":"string"}';
    for (let i = 0; i < 500; i++) deep = `{"type":"object","properties":{"a":${deep}}}`;
    writeAtomically(file, `{"x0":${deep},"x1":${deep}}`);
    await waitFor(() => gw.events.events.filter((e) => e.type === 'config.reload-refused').length > before, 5000, 'refusal');
    expect(await whoAnswers(gw.url)).toBe(serving);
  });
});

describe('reloadFromFile()', () => {
  let a: RecordingUpstream;
  let b: RecordingUpstream;

  beforeAll(async () => {
    a = await named('a');
    b = await named('b');
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  it('swaps the config before it resolves, and reports errors with their path for an invalid file', async () => {
    const file = join(tempDir(), 'rampart.yaml');
    writeConfig(file, configDocument(a.url));
    const gw = await startTestGateway(configDocument(a.url), { configFile: file });
    try {
      expect(await whoAnswers(gw.url)).toBe('a');
      writeConfig(file, configDocument(b.url));
      expect(await gw.gateway.reloadFromFile()).toEqual({ ok: true, errors: [] });
      // No polling: the swap is done when the promise resolves.
      expect(await whoAnswers(gw.url)).toBe('b');

      writeConfig(file, { ...configDocument(b.url), routes: [{ id: 'x', match: { path: '/x/**' }, upstream: 'ftp://example', public: true }] });
      const refused = await gw.gateway.reloadFromFile();
      expect(refused.ok).toBe(false);
      expect(refused.errors).toContain('routes[0].upstream: must be an http(s) URL');
      expect(await whoAnswers(gw.url)).toBe('b');
    } finally {
      await gw.close();
    }
  });

  it('has nothing to reload from when the gateway was started without a file', async () => {
    const gw = await startTestGateway(configDocument(a.url));
    try {
      expect(await gw.gateway.reloadFromFile()).toEqual({ ok: false, errors: ['no config file to reload from'] });
      expect(await whoAnswers(gw.url)).toBe('a');
    } finally {
      await gw.close();
    }
  });
});

describe('hot reload under load', () => {
  it('loses no request while the config is swapped five times under 20 concurrent keep-alive clients', async () => {
    // A 50 ms upstream delay keeps requests in flight at every swap.
    const a = await named('a', 50);
    const b = await named('b', 50);
    const file = join(tempDir(), 'rampart.yaml');
    writeConfig(file, configDocument(a.url));
    const gw = await startTestGateway(configDocument(a.url), { configFile: file });
    const clients = Array.from({ length: 20 }, () => new Client(gw.url, { pipelining: 1 }));
    const statuses = new Map<number, number>();
    const failures: string[] = [];
    const answeredBy = { a: 0, b: 0 };
    let inFlightAtSwap = 0;
    let running = true;
    try {
      const loops = clients.map(async (client, i) => {
        let n = 0;
        while (running) {
          try {
            const res = await client.request({ path: `/x/load/${i}/${n++}`, method: 'GET' });
            const body = await res.body.text();
            statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
            if (res.statusCode !== 200) failures.push(`${res.statusCode} ${body}`);
            else if (body === 'a' || body === 'b') answeredBy[body]++;
            else failures.push(`unexpected body ${body}`);
          } catch (error) {
            failures.push(`${(error as NodeJS.ErrnoException).code ?? ''} ${(error as Error).message}`);
          }
        }
      });
      // Five reloads over about two seconds, alternating upstreams; each waits until the swap is done.
      for (let reload = 1; reload <= 5; reload++) {
        await new Promise((resolve) => setTimeout(resolve, 350));
        inFlightAtSwap += gw.gateway.inFlight;
        writeConfig(file, configDocument(reload % 2 === 1 ? b.url : a.url));
        expect(await gw.gateway.reloadFromFile()).toEqual({ ok: true, errors: [] });
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
      running = false;
      await Promise.all(loops);

      expect(failures).toEqual([]);
      expect([...statuses.keys()]).toEqual([200]);
      // Both upstreams served, and the swaps happened with requests in flight.
      expect(answeredBy.a).toBeGreaterThan(0);
      expect(answeredBy.b).toBeGreaterThan(0);
      expect(inFlightAtSwap).toBeGreaterThan(0);
      expect(gw.events.events.filter((e) => e.type === 'config.reloaded').length).toBeGreaterThanOrEqual(5);
      // The last reload pointed at b (5 is odd): the gateway ends on it.
      expect(await whoAnswers(gw.url)).toBe('b');
    } finally {
      running = false;
      await Promise.all(clients.map((c) => c.close()));
      await gw.close();
      await a.close();
      await b.close();
    }
  });
});

interface CliProcess {
  readonly child: ChildProcess;
  readonly lines: Array<Record<string, unknown>>;
  readonly stderr: string[];
  readonly exited: Promise<number | null>;
}

function startCli(configFile: string): CliProcess {
  const child = spawn(process.execPath, ['bin/rampart.js', 'gateway', '--config', configFile], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Array<Record<string, unknown>> = [];
  const stderr: string[] = [];
  let pending = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    pending += chunk;
    const parts = pending.split('\n');
    pending = parts.pop()!;
    for (const line of parts) {
      if (!line.trim()) continue;
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        lines.push({ msg: line, unparsed: true });
      }
    }
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => stderr.push(chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, lines, stderr, exited };
}

describe('the rampart gateway CLI', () => {
  let a: RecordingUpstream;
  let b: RecordingUpstream;
  let cli: CliProcess | undefined;

  beforeAll(async () => {
    a = await named('a');
    b = await named('b');
  });

  afterAll(async () => {
    if (cli && cli.child.exitCode === null && cli.child.signalCode === null) {
      cli.child.kill('SIGKILL');
      await cli.exited;
    }
    await a?.close();
    await b?.close();
  });

  it('reloads on SIGHUP and drains on SIGTERM', async () => {
    // The gateway watches the directory of the path it was given. Giving it a symlink to a file in another
    // directory means edits to the real file are invisible to the watcher: only SIGHUP can reload them.
    const realDir = join(tempDir(), 'real');
    const linkDir = join(tempDir(), 'link');
    mkdirSync(realDir);
    mkdirSync(linkDir);
    const realFile = join(realDir, 'rampart.yaml');
    const linkFile = join(linkDir, 'rampart.yaml');
    const accessLog = join(realDir, 'access.log');
    const extra = { accessLog: { destination: accessLog } };
    writeConfig(realFile, configDocument(a.url, extra));
    symlinkSync(realFile, linkFile);

    cli = startCli(linkFile);
    const running = cli;
    await waitFor(
      () => running.lines.some((line) => line.msg === 'rampart gateway listening') || running.child.exitCode !== null,
      15_000,
      'the gateway to listen',
    );
    const listening = running.lines.find((line) => line.msg === 'rampart gateway listening');
    expect(listening, running.stderr.join('')).toBeDefined();
    const port = (listening!.listeners as Array<{ port: number }>)[0]!.port;
    const url = `http://127.0.0.1:${port}`;
    expect(await whoAnswers(url)).toBe('a');

    writeConfig(realFile, configDocument(b.url, extra));
    // Four times the watcher's debounce: had the watcher seen the edit, it would have reloaded by now.
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(await whoAnswers(url)).toBe('a');

    running.child.kill('SIGHUP');
    await waitFor(async () => (await whoAnswers(url)) === 'b', 5000, 'reload after SIGHUP');
    expect(running.lines.some((line) => line.msg === 'configuration reloaded')).toBe(true);

    running.child.kill('SIGTERM');
    expect(await running.exited).toBe(0);
    expect(running.lines.some((line) => line.msg === 'draining and shutting down' && line.signal === 'SIGTERM')).toBe(true);
    await expect(fetch(url)).rejects.toThrow();
  });
});
