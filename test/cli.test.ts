/**
 * The `rampart` command line as a user runs it: a real `node bin/rampart.js` process per case. Exit codes are the
 * contract (0 ok, 1 findings or invalid config, 2 usage error), errors are one line each with their config path,
 * and nothing ever prints a stack trace.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import YAML from 'yaml';
import { policyNames } from '../src/policies/registry.ts';
import { CONFIG_FIXTURES, INVALID_FIXTURE_ERRORS } from './fixtures/configs/expected.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'rampart.js');
const VALID = join(CONFIG_FIXTURES, 'valid.yaml');
const ACKNOWLEDGED = join(CONFIG_FIXTURES, 'valid-with-acknowledgements.yaml');
const INVALID = join(CONFIG_FIXTURES, 'invalid.yaml');
/**
 * Each process loads TypeScript through tsx, which takes a second or two on a cold cache and much longer while the
 * whole suite competes for the CPU. The cases run one after the other for the same reason.
 */
const PROCESS_TIMEOUT_MS = 50_000;
const TEST_TIMEOUT_MS = 60_000;
vi.setConfig({ testTimeout: TEST_TIMEOUT_MS, hookTimeout: TEST_TIMEOUT_MS });

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function rampart(...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [BIN, ...args], { cwd: ROOT, timeout: PROCESS_TIMEOUT_MS, env: { ...process.env, NO_COLOR: '1' } }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') {
        reject(new Error(`rampart ${args.join(' ')} did not exit normally (${error.signal ?? error.code}): ${stderr}`));
        return;
      }
      resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
    });
  });
}

/** A Node stack frame line; none may ever reach the terminal. */
const STACK_FRAME = /^\s+at /m;

function expectNoStack(run: Run): void {
  expect(run.stdout).not.toMatch(STACK_FRAME);
  expect(run.stderr).not.toMatch(STACK_FRAME);
  expect(run.stderr).not.toMatch(/\b(TypeError|ReferenceError|SyntaxError|Error):/);
}

describe('rampart config check', () => {
  it('exits 0 and prints ok for a valid file', async () => {
    const run = await rampart('config', 'check', VALID);
    expect(run.code).toBe(0);
    expect(run.stdout.trim()).toBe(`${VALID}: ok (2 routes, mode production)`);
    expect(run.stderr).toBe('');
  });

  it('prints every accepted weakened default and every warning of a valid file', async () => {
    const run = await rampart('config', 'check', ACKNOWLEDGED);
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines).toContain('warning: acknowledge[3]: matches no weakened default (rule plain-http-listener at listen[1])');
    expect(lines.filter((l) => l.startsWith('accepted: '))).toEqual([
      'accepted: listen: serves the API over plain HTTP (no TLS); use tls, or http: redirect | refuse (rule plain-http-listener, until 2999-12-31: TLS terminates at the load balancer in front of this listener)',
      'accepted: routes[0].cors.origins[0]: "*" lets every web site read responses of this route; list the origins that need access (rule cors-wildcard-origin, until 2999-12-31: the catalogue is public data meant for any web site)',
      'accepted: routes[1].errors.replaceUpstream5xx: upstream 5xx bodies reach clients (rule upstream-5xx-passthrough, until 2999-12-31: legacy clients parse the upstream error body until the v2 migration)',
    ]);
    expect(lines.at(-1)).toBe(`${ACKNOWLEDGED}: ok (2 routes, mode production)`);
  });

  it('exits 1 and prints every error with its path, without a stack trace', async () => {
    const run = await rampart('config', 'check', INVALID);
    expect(run.code).toBe(1);
    expectNoStack(run);
    const lines = run.stderr.trimEnd().split('\n');
    expect(lines[0]).toBe(`${INVALID}: ${INVALID_FIXTURE_ERRORS.length} errors`);
    expect(lines.slice(1)).toEqual(INVALID_FIXTURE_ERRORS.map((e) => `  ${e}`));
  });

  it('exits 1 with a clear message for a file that does not exist', async () => {
    const missing = join(CONFIG_FIXTURES, 'no-such-config.yaml');
    const run = await rampart('config', 'check', missing);
    expect(run.code).toBe(1);
    expectNoStack(run);
    expect(run.stderr.trimEnd().split('\n')).toEqual([`${missing}: 1 error`, `  ${missing}: cannot be read (ENOENT)`]);
  });

  it('exits 1 with line and column for a YAML syntax error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rampart-cli-'));
    try {
      const file = join(dir, 'broken.yaml');
      writeFileSync(file, 'listen: { port: 0, http: refuse\nroutes: []\n');
      const run = await rampart('config', 'check', file);
      expect(run.code).toBe(1);
      expectNoStack(run);
      expect(run.stderr).toMatch(new RegExp(`^  ${file.replaceAll('.', '\\.')}:\\d+:\\d+: `, 'm'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--json prints the result as JSON for valid and invalid files', async () => {
    const [valid, acknowledged, invalid] = await Promise.all([
      rampart('config', 'check', '--json', VALID),
      rampart('config', 'check', '--json', ACKNOWLEDGED),
      rampart('config', 'check', '--json', INVALID),
    ]);
    expect(valid.code).toBe(0);
    expect(JSON.parse(valid.stdout)).toEqual({ ok: true, warnings: [], accepted: [] });
    expect(acknowledged.code).toBe(0);
    const accepted = JSON.parse(acknowledged.stdout) as { ok: boolean; accepted: Array<{ rule: string; path: string }> };
    expect(accepted.ok).toBe(true);
    expect(accepted.accepted.map((a) => a.rule)).toEqual(['plain-http-listener', 'cors-wildcard-origin', 'upstream-5xx-passthrough']);
    expect(invalid.code).toBe(1);
    expectNoStack(invalid);
    expect(JSON.parse(invalid.stdout)).toEqual({ ok: false, errors: INVALID_FIXTURE_ERRORS, warnings: [] });
  });
});

describe('rampart config schema', () => {
  it('prints a JSON Schema that names every policy under routes.items and validates the fixtures', async () => {
    const run = await rampart('config', 'schema');
    expect(run.code).toBe(0);
    const schema = JSON.parse(run.stdout) as {
      $schema: string;
      properties: { routes: { items: { properties: Record<string, unknown>; additionalProperties: boolean } }; defaults: { properties: Record<string, unknown> } };
    };
    expect(schema.$schema).toBe('http://json-schema.org/draft-07/schema#');
    const names = policyNames();
    expect(names).toEqual(expect.arrayContaining(['cors', 'security-headers']));
    for (const name of names) {
      expect(schema.properties.routes.items.properties, name).toHaveProperty([name]);
      expect(schema.properties.defaults.properties, name).toHaveProperty([name]);
    }
    // Editors validate with the published schema: it must compile and agree with the loader on the shape.
    const validate = new Ajv({ strict: false, allowUnionTypes: true }).compile(schema);
    expect(validate(YAML.parse(readFileSync(VALID, 'utf8')))).toBe(true);
    expect(validate(YAML.parse(readFileSync(ACKNOWLEDGED, 'utf8')))).toBe(true);
    const withTypo = YAML.parse(readFileSync(VALID, 'utf8')) as { routes: Array<Record<string, unknown>> };
    withTypo.routes[0]!.corss = { origins: [] };
    expect(validate(withTypo)).toBe(false);
  });
});

describe('rampart posture', () => {
  it('prints the table with every route and item', async () => {
    const run = await rampart('posture', '--config', ACKNOWLEDGED);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Rampart posture (production mode)');
    const header = run.stdout.split('\n').find((line) => line.startsWith('route'))!;
    expect(header.trim().split(/\s+/)).toEqual(['route', ...Array.from({ length: 16 }, (_, i) => String(i + 1))]);
    expect(run.stdout).toMatch(/^catalogue /m);
    expect(run.stdout).toMatch(/^legacy /m);
    expect(run.stdout).toContain('Acknowledged weakened defaults:');
    expect(run.stdout).toContain('rule upstream-5xx-passthrough; legacy clients parse the upstream error body until the v2 migration; expires 2999-12-31');
    expect(run.stdout).toMatch(/^Summary: \d+ enforced, \d+ partial, \d+ weakened, \d+ missing, \d+ not applicable$/m);
  });

  it('--json prints the report with 16 cells per route', async () => {
    const run = await rampart('posture', '--config', ACKNOWLEDGED, '--json');
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as {
      mode: string;
      routes: Array<{ route: string; cells: Array<{ item: number; status: string; reason: string }> }>;
      acknowledged: Array<{ rule: string }>;
      summary: Record<string, number>;
    };
    expect(report.mode).toBe('production');
    expect(report.routes.map((r) => r.route)).toEqual(['catalogue', 'legacy']);
    for (const r of report.routes) expect(r.cells.map((c) => c.item)).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
    expect(report.routes[0]!.cells[12]).toMatchObject({ item: 13, status: 'weakened' });
    expect(report.routes[1]!.cells[6]).toMatchObject({ item: 7, status: 'weakened' });
    expect(report.acknowledged.map((a) => a.rule)).toEqual(['plain-http-listener', 'cors-wildcard-origin', 'upstream-5xx-passthrough']);
    expect(Object.values(report.summary).reduce((a, b) => a + b, 0)).toBe(2 * 16);
  });

  it('exits 1 with the errors for an invalid config', async () => {
    const run = await rampart('posture', '--config', INVALID);
    expect(run.code).toBe(1);
    expectNoStack(run);
    expect(run.stdout).toBe('');
    for (const error of INVALID_FIXTURE_ERRORS) expect(run.stderr).toContain(`  ${error}\n`);
  });
});

describe('usage errors exit 2 without a stack trace', () => {
  it.each([
    ['unknown command', ['bogus'], "error: unknown command 'bogus'"],
    ['unknown flag', ['config', 'check', '--strict', VALID], "error: unknown option '--strict'"],
    ['missing argument', ['config', 'check'], "error: missing required argument 'file'"],
    ['missing required option', ['posture'], "error: required option '-c, --config <file>' not specified"],
    ['missing option of gateway', ['gateway'], "error: required option '-c, --config <file>' not specified"],
  ])('%s', async (_name, args, message) => {
    const run = await rampart(...args);
    expect(run.code).toBe(2);
    expectNoStack(run);
    expect(run.stderr.trim()).toBe(message);
  });
});

describe('rampart gateway', () => {
  it('exits 1 with every error for an invalid config and never starts', async () => {
    const run = await rampart('gateway', '--config', INVALID);
    expect(run.code).toBe(1);
    expectNoStack(run);
    expect(run.stdout).toBe('');
    const lines = run.stderr.trimEnd().split('\n');
    expect(lines[0]).toBe(`${INVALID}: ${INVALID_FIXTURE_ERRORS.length} errors`);
    expect(lines.slice(1)).toEqual(INVALID_FIXTURE_ERRORS.map((e) => `  ${e}`));
  });

  describe('started on port 0', () => {
    let child: ReturnType<typeof spawn>;
    let stdout = '';
    let stderr = '';
    let exited: Promise<number | null>;

    beforeAll(() => {
      child = spawn(process.execPath, [BIN, 'gateway', '--config', VALID], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
      child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    });

    afterAll(() => {
      // Only if a test failed before SIGTERM: never leave the process behind.
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });

    /** Pino writes one JSON object per line. */
    function logLines(): Array<Record<string, unknown>> {
      // Only complete lines: a chunk may end in the middle of one.
      return stdout
        .slice(0, stdout.lastIndexOf('\n') + 1)
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>);
    }

    async function waitForLog(message: string): Promise<Record<string, unknown>> {
      for (;;) {
        const found = logLines().find((line) => line.msg === message);
        if (found) return found;
        if (child.exitCode !== null) throw new Error(`gateway exited ${child.exitCode} before "${message}":\n${stdout}\n${stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }

    it('logs "rampart gateway listening", answers requests, and exits 0 on SIGTERM', async () => {
      const listening = await waitForLog('rampart gateway listening');
      const listeners = listening.listeners as Array<{ host: string; port: number; tls: boolean }>;
      expect(listeners).toHaveLength(1);
      expect(listeners[0]).toMatchObject({ host: '127.0.0.1', tls: false });
      expect(listeners[0]!.port).toBeGreaterThan(0);
      expect(listening.admin).toBeUndefined();

      // The listener refuses plain HTTP (http: refuse): it answers, with a problem document, and never proxies.
      const response = await fetch(`http://127.0.0.1:${listeners[0]!.port}/health`);
      expect(response.status).toBeGreaterThanOrEqual(400);
      expect(response.headers.get('content-type')).toContain('application/problem+json');
      await response.arrayBuffer();

      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(logLines().some((line) => line.msg === 'draining and shutting down' && line.signal === 'SIGTERM')).toBe(true);
      expect(stderr).not.toMatch(STACK_FRAME);
    });
  });
});
