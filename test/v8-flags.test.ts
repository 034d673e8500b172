/**
 * `tuneV8ForGateway` (bin/v8-flags.js) turns allocation-site pretenuring off in the process that runs the gateway.
 * V8 reports on its pretenuring feedback under `--trace-pretenuring-statistics` (on stdout); the first case shows that
 * this Node's V8 still does, for a workload whose objects all survive, so that the absence of any report in the others
 * means the feature is off, not that the trace went quiet.
 */
import { describe, expect, it } from 'vitest';
import { spawn, execFile } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'rampart.js');
const TRACE = '--trace-pretenuring-statistics';
/** A site whose objects all survive: V8 decides to pretenure it within a few scavenges. */
const SURVIVING_ALLOCATIONS = 'function make(i) { return { a: i, b: [i, i + 1] }; } const keep = []; for (let i = 0; i < 300000; i++) keep.push(make(i));';

function node(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { cwd: ROOT, timeout: 60_000, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`node ${args.join(' ')} failed: ${error.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

describe('tuneV8ForGateway', () => {
  it('this V8 reports on its pretenuring feedback for a site whose objects all survive (the control)', async () => {
    const stdout = await node([TRACE, '-e', SURVIVING_ALLOCATIONS]);
    // A report at every scavenge that finds the site's objects alive; whether it has reached `=> tenure` by the last
    // one depends on how many scavenges ran, which depends on the machine's load (seen: only `=> maybe tenure`).
    expect(stdout).toMatch(/pretenuring: AllocationSite\(.*=> (maybe )?tenure/);
  }, 60_000);

  it('turns pretenuring off: the same workload after it makes no pretenuring decision', async () => {
    const script = `import { tuneV8ForGateway } from ${JSON.stringify(join(ROOT, 'bin/v8-flags.js'))}; tuneV8ForGateway(); ${SURVIVING_ALLOCATIONS}`;
    const stdout = await node([TRACE, '--input-type=module', '-e', script]);
    expect(stdout).not.toMatch(/pretenuring:/);
  }, 60_000);

  it('`rampart gateway` applies it: no pretenuring decision while it starts and proxies streamed POST bodies', async () => {
    const upstream = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 1, padding: 'x'.repeat(2000) })));
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const dir = mkdtempSync(join(tmpdir(), 'rampart-v8-'));
    const config = join(dir, 'gateway.json');
    writeFileSync(
      config,
      JSON.stringify({
        mode: 'development',
        listen: { host: '127.0.0.1', port: 0 },
        admin: false,
        accessLog: { enabled: false },
        routes: [{ id: 'orders', match: { path: '/**' }, upstream: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`, public: true }],
      }),
    );
    const child = spawn(process.execPath, [TRACE, BIN, 'gateway', '--config', config], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      let port: number | undefined;
      while (port === undefined) {
        if (child.exitCode !== null) throw new Error(`gateway exited ${child.exitCode}:\n${stdout}`);
        const listening = /"listeners":\[\{"host":"127\.0\.0\.1","port":(\d+)/.exec(stdout);
        if (listening) port = Number(listening[1]);
        else await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const body = JSON.stringify({ items: Array.from({ length: 20 }, (_, i) => ({ sku: `SKU-${i}`, qty: i })) });
      // Enough requests for many scavenges: 50 at a time, as a load generator would send them.
      for (let batch = 0; batch < 40; batch++) {
        const answers = await Promise.all(
          Array.from({ length: 50 }, () => fetch(`http://127.0.0.1:${port}/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body }).then(async (r) => [r.status, (await r.text()).length])),
        );
        for (const [status, length] of answers) {
          expect(status).toBe(201);
          expect(length).toBeGreaterThan(2000);
        }
      }
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(stdout).toContain('rampart gateway listening');
      const decisions = stdout.split('\n').filter((line) => line.includes('pretenuring:'));
      expect(decisions.length, `V8 made pretenuring decisions, first: ${decisions[0]}`).toBe(0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      upstream.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
