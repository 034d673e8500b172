/**
 * The README's first command runs the demo; this runs the same showcase once (ports chosen by the system) and
 * checks that every point it promises really shows what it says.
 */
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

describe('npm run demo', () => {
  it('shows a proxied call, a refused path confusion, CORS preflights, a replaced stack trace and the posture table', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'demo/run.ts', '--once'], {
      env: { ...process.env, RAMPART_DEMO_PORT: '0', RAMPART_DEMO_ADMIN_PORT: '0', RAMPART_DEMO_UPSTREAM_PORT: '0', FORCE_COLOR: '0' },
      timeout: 60_000,
    });
    expect(stdout).toContain('DEVELOPMENT MODE');
    const section = (title: string) => {
      const start = stdout.indexOf(title);
      expect(start, `section "${title}"`).toBeGreaterThan(-1);
      const end = stdout.indexOf('\n# ', start + 1);
      return stdout.slice(start, end === -1 ? undefined : end);
    };
    const proxied = section('# A proxied call');
    expect(proxied).toContain('HTTP 200');
    expect(proxied).toContain("content-security-policy: default-src 'none'");
    expect(proxied).not.toMatch(/x-powered-by|^server:/im);
    expect(section('# A path-confusion attempt is refused')).toContain('400 Bad Request');
    expect(section('# A CORS preflight from an allowed origin')).toContain('HTTP 204');
    expect(section('# A CORS preflight from any other origin')).toContain('HTTP 403');
    const crash = section('# An upstream stack trace is replaced');
    expect(crash).toContain('RAMPART_ERR_UPSTREAM_INTERNAL');
    expect(crash).not.toContain('    at ');
    expect(section('# The sample API itself')).toContain('x-powered-by: Express');
    expect(stdout).toMatch(/route\s+1\s+2\s+3/);
    expect(stdout).toMatch(/^orders\s/m);
  });
});
