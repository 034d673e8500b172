/**
 * The README's first command runs the demo; this runs the same showcase once (ports chosen by the system) and
 * checks that every point it promises really shows what it says.
 */
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

describe('npm run demo', () => {
  it('shows authentication, authorization, a refused path confusion, CORS preflights, a replaced stack trace and posture', async () => {
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
    expect(section('# A protected route without a credential')).toContain('HTTP 401');
    expect(section('# Login with a password')).toMatch(/HTTP 200\naccess_token: eyJ/);
    const proxied = section('# The token calls the API');
    expect(proxied).toContain('HTTP 200');
    expect(proxied).toContain("content-security-policy: default-src 'none'");
    expect(proxied).not.toMatch(/x-powered-by|^server:/im);
    expect(section('# A machine client calls with an API key')).toContain('HTTP 200');
    expect(section('# A wrong API key')).toContain('HTTP 401');
    expect(section('# alice creates an order')).toContain('HTTP 201');
    expect(section("# bob asks for alice's order")).toContain('HTTP 404');
    expect(section('# alice tries to reassign her order')).toContain('HTTP 403');
    expect(section('# An admin function with a customer token')).toContain('HTTP 403');
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
