/**
 * `rampart scan` as a user runs it (`node bin/rampart.js scan …`, one real process per case) for the exit-code
 * contract and the report files, and the same orchestration in process (runScan, exitCodeFor) for the baseline rules:
 * accepted findings leave the report, expired entries stop suppressing and say so, stale entries are named, and a
 * malformed baseline is refused before anything is scanned.
 *
 * Exit codes: 0 nothing at or above --fail-on, 1 findings at or above it, 2 the scan could not be done.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exitCodeFor, runScan, ScanUsageError } from '../src/scan/run.ts';
import { baselineFor } from '../src/scan/baseline.ts';
import { clean30, type Json } from './fixtures/scan/specs.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'rampart.js');
const FLAWED = 'test/fixtures/scan/flawed.yaml';
/** tsx compiles on a cold cache in each process, slowly when the machine is busy: generous bounds, cases in series. */
vi.setConfig({ testTimeout: 120_000, hookTimeout: 60_000 });

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function rampart(...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [BIN, 'scan', ...args], { cwd: ROOT, timeout: 100_000, env: { ...process.env, NO_COLOR: '1' } }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') return reject(new Error(`rampart scan did not exit normally: ${error.signal ?? error.code} ${stderr}`));
      resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
    });
  });
}

const STACK = /^\s+at /m;
let dir: string;
let clean: string;
let lowOnly: string;
const now = () => new Date('2025-06-01T12:00:00Z');

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rampart-scan-cli-'));
  clean = join(dir, 'clean.json');
  writeFileSync(clean, JSON.stringify(clean30(), null, 2));
  const low = clean30();
  delete ((((low.components as Json).schemas as Json).OrderInput as Json).properties as Json as Record<string, Json>).item!.maxLength;
  lowOnly = join(dir, 'low.json');
  writeFileSync(lowOnly, JSON.stringify(low, null, 2));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('rampart scan: exit codes and report files', () => {
  it('exits 0 on a clean document and 1 when a high finding is present', async () => {
    const ok = await rampart('--spec', clean);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('0 findings');
    const bad = await rampart('--spec', FLAWED, '--fail-on', 'high');
    expect(bad.code, bad.stderr).toBe(1);
    expect(bad.stdout).toMatch(/^3\. Encryption .*1 high$/m);
    expect(bad.stdout + bad.stderr).not.toMatch(STACK);
  });

  it('follows --fail-on: a low finding fails only at low', async () => {
    expect((await rampart('--spec', lowOnly, '--fail-on', 'medium')).code).toBe(0);
    const low = await rampart('--spec', lowOnly, '--fail-on', 'low', '--format', 'json');
    expect(low.code).toBe(1);
    expect(JSON.parse(low.stdout).findings.map((f: { rule: { id: string } }) => f.rule.id)).toEqual(['input.unbounded-string']);
  });

  it('writes every format to --out and exits 2 when a spec cannot be read, with the finding in the report', async () => {
    const broken = join(dir, 'broken.yaml');
    writeFileSync(broken, 'openapi: 3.0.3\npaths: {\n');
    const out = join(dir, 'reports');
    const run = await rampart('--spec', clean, '--spec', broken, '--format', 'terminal,json,sarif,junit,html', '--out', out);
    expect(run.code, run.stderr).toBe(2);
    expect(run.stderr).toContain('cannot be audited');
    for (const name of ['rampart-scan.json', 'rampart-scan.sarif', 'rampart-scan.junit.xml', 'rampart-scan.html']) expect(existsSync(join(out, name)), name).toBe(true);
    const json = JSON.parse(readFileSync(join(out, 'rampart-scan.json'), 'utf8'));
    expect(json.findings.map((f: { rule: { id: string } }) => f.rule.id)).toEqual(['spec.invalid']);
    expect(run.stdout).toContain('spec.invalid');
  });

  it('refuses bad invocations with exit 2 and one line, before scanning', async () => {
    for (const args of [[], ['--spec', clean, '--format', 'pdf'], ['--spec', clean, '--auth', 'a.yaml'], ['--spec', clean, '--format', 'json,sarif'], ['--spec', clean, '--fail-on', 'critical'], ['--target', 'ftp://x.example', '--spec', clean]]) {
      const run = await rampart(...args);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr.trim().split('\n').length, run.stderr).toBeLessThanOrEqual(2);
      expect(run.stderr).not.toMatch(STACK);
    }
  });
});

describe('baselines', () => {
  it('accepts listed findings until they expire, then reports them again and says so', async () => {
    const first = await runScan({ specs: [FLAWED], cwd: ROOT, now });
    expect(exitCodeFor(first, 'high')).toBe(1);
    const file = join(dir, 'baseline.yaml');
    writeFileSync(file, baselineFor(first.report, now()));
    const accepted = await runScan({ specs: [FLAWED], cwd: ROOT, now, baseline: file });
    expect(accepted.report.findings).toEqual([]);
    expect(accepted.report.suppressed).toHaveLength(first.report.findings.length);
    expect(exitCodeFor(accepted, 'low')).toBe(0);

    // Expire the entry of the TLS finding: it is reported again, and the report says why.
    const tls = first.report.findings.find((f) => f.rule.id === 'tls.spec-http-server')!;
    const text = readFileSync(file, 'utf8').replace(new RegExp(`(fingerprint: ${tls.fingerprint}\\n(?:.*\\n){2}\\s+expires: )\\S+`), '$12025-05-31');
    writeFileSync(file, text);
    const expired = await runScan({ specs: [FLAWED], cwd: ROOT, now, baseline: file });
    expect(expired.report.findings.map((f) => f.fingerprint)).toEqual([tls.fingerprint]);
    expect(expired.report.notes).toContain(`baseline ${file}: entry ${tls.fingerprint} (tls.spec-http-server) expired on 2025-05-31: the finding is reported again`);
    expect(exitCodeFor(expired, 'high')).toBe(1);
    // The expiry date itself still counts (as the gateway's acknowledgements do).
    writeFileSync(file, text.replace('2025-05-31', '2025-06-01'));
    expect((await runScan({ specs: [FLAWED], cwd: ROOT, now, baseline: file })).report.findings).toEqual([]);
  });

  it('names stale entries and entries whose rule does not match', async () => {
    const first = await runScan({ specs: [FLAWED], cwd: ROOT, now });
    const f = first.report.findings[0]!;
    const file = join(dir, 'stale.yaml');
    writeFileSync(file, `version: 1\naccepted:\n  - { fingerprint: ${'a'.repeat(32)}, reason: fixed long ago, expires: 2030-01-01 }\n  - { fingerprint: ${f.fingerprint}, rule: some.other-rule, reason: wrong rule, expires: 2030-01-01 }\n`);
    const run = await runScan({ specs: [FLAWED], cwd: ROOT, now, baseline: file });
    expect(run.report.suppressed).toEqual([]);
    expect(run.report.notes!.some((n) => n.includes(`${'a'.repeat(32)} matches no finding`))).toBe(true);
    expect(run.report.notes!.some((n) => n.includes(`names rule some.other-rule but the finding is ${f.rule.id}`))).toBe(true);
  });

  it('refuses malformed baselines before scanning', async () => {
    const cases: Array<[string, RegExp]> = [
      ['version: 1\naccepted:\n  - { fingerprint: 0123456789abcdef0123456789abcdef, expires: 2030-01-01 }\n', /reason/],
      ['version: 1\naccepted:\n  - { fingerprint: 0123456789abcdef0123456789abcdef, reason: "  ", expires: 2030-01-01 }\n', /pattern/],
      ['version: 1\naccepted:\n  - { fingerprint: 0123456789abcdef0123456789abcdef, reason: x, expires: 2030-02-30 }\n', /not a calendar date/],
      ['version: 1\naccepted:\n  - { fingerprint: 0123456789abcdef0123456789abcdef, reason: x, expires: 2030-01-01 }\n  - { fingerprint: 0123456789abcdef0123456789abcdef, reason: y, expires: 2030-01-01 }\n', /listed twice/],
      ['version: 1\naccepted:\n  - { fingerprint: XYZ, reason: x, expires: 2030-01-01 }\n', /fingerprint/],
      ['version: 2\naccepted: []\n', /version/],
      ['version: 1\naccepted: []\n__proto__: { polluted: true }\n', /additional properties/],
      ['a: &a [*a]\n', /parse|must/],
      ['version: 1\nversion: 1\naccepted: []\n', /parse/],
    ];
    for (const [text, message] of cases) {
      const file = join(dir, 'bad-baseline.yaml');
      writeFileSync(file, text);
      await expect(runScan({ specs: [FLAWED], cwd: ROOT, now, baseline: file }), text).rejects.toThrow(ScanUsageError);
      await expect(runScan({ specs: [FLAWED], cwd: ROOT, now, baseline: file }), text).rejects.toThrow(message);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    await expect(runScan({ specs: [FLAWED], cwd: ROOT, now, baseline: join(dir, 'missing.yaml') })).rejects.toThrow(/cannot be read/);
    // After hostile baselines, a good one still works.
    const good = join(dir, 'good.yaml');
    writeFileSync(good, 'version: 1\naccepted: []\n');
    expect((await runScan({ specs: [FLAWED], cwd: ROOT, now, baseline: good })).report.findings.length).toBeGreaterThan(0);
  });
});
