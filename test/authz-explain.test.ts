/** `rampart authz explain` as a user runs it: a real `bin/rampart.js` process per case. */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function rampart(...args: string[]): Promise<Run> {
  const argv = [join(ROOT, 'bin', 'rampart.js'), ...args];
  return new Promise((resolve, reject) => {
    execFile(process.execPath, argv, { cwd: ROOT, timeout: 50_000, env: { ...process.env, NO_COLOR: '1' } }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') {
        reject(new Error(`explain did not exit normally (${error.signal ?? error.code}): ${stderr}`));
        return;
      }
      resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
    });
  });
}

const CONFIG = `
mode: development
listen: { host: 127.0.0.1, port: 0 }
issuers:
  corp: { issuer: https://idp.test, audiences: [orders-api], algorithms: [ES256], jwksUrl: http://127.0.0.1:1/jwks.json }
roles:
  customer: { permissions: [orders:read, orders:write] }
  support:  { inherits: [customer], permissions: [users:read] }
routes:
  - id: orders
    match: { path: /orders, methods: [GET] }
    upstream: http://127.0.0.1:9
    authenticate: [jwt: corp]
    authorize: { permissions: [orders:read], rule: "'support' in principal.roles || request.query.customerId == principal.sub" }
  - id: order
    match: { path: "/orders/{orderId}", methods: [GET, PATCH, DELETE] }
    upstream: http://127.0.0.1:9
    authenticate: [jwt: corp]
    authorize:
      permissions: { GET: [orders:read], PATCH: [orders:write], DELETE: [orders:write] }
      object: { id: path.orderId, type: integer, lookup: { type: orders } }
      properties: { write: { customer: [quantity, note] } }
      tenant: { from: [header.x-tenant-id] }
`;

describe('rampart authz explain', () => {
  let dir: string;
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  let config: string;
  let alice: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'rampart-explain-'));
    config = file('gateway.yaml', CONFIG);
    alice = file('alice.json', JSON.stringify({ subject: 'alice', roles: ['customer'], tenant: 'acme' }));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints an allowed decision and every check consulted', async () => {
    const run = await rampart('authz', 'explain', '--config', config, '--principal', alice, '--request', 'GET /orders/7', '--owns', 'orders:7', '-H', 'x-tenant-id: acme');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines[0]).toBe('ALLOW GET /orders/7 for alice (route order)');
    expect(lines.slice(1, 6)).toEqual([
      'checks consulted:',
      '  PASS  permissions authorize.permissions.GET: holds orders:read',
      '  PASS  tenant      authorize.tenant.from: tenant acme',
      '  PASS  object      authorize.object.id: object id 7 (integer)',
      '  PASS  lookup      authorize.object.lookup: owned by alice',
    ]);
    expect(run.stdout).toContain('SKIP  properties  authorize.properties.write: no body');
  });

  it('prints a BOLA denial with the status the client would get and the deciding check', async () => {
    const run = await rampart('authz', 'explain', '-c', config, '-p', alice, '-r', 'DELETE /orders/07');
    expect(run.code).toBe(0);
    expect(run.stdout.split('\n').slice(0, 3)).toEqual([
      'DENY DELETE /orders/07 for alice (route order): 404 RAMPART_ERR_ROUTE_NOT_FOUND',
      '  decided by: authorize.object.id',
      '  reason: object id is not a canonical integer',
    ]);
    expect(run.stdout).toContain('  FAIL  object      authorize.object.id: object id is not a canonical integer');
  });

  it('explains a mass-assignment refusal from a body file, as JSON', async () => {
    const body = file('body.json', '{"quantity":2,"role":"admin","isAdmin":true}');
    const run = await rampart('authz', 'explain', '-c', config, '-p', alice, '-r', 'PATCH /orders/7', '--owns', 'orders:7', '--body', body, '--json');
    expect(run.code).toBe(0);
    const explanation = JSON.parse(run.stdout) as { decision: string; status: number; code: string; decidedBy: string; steps: Array<{ check: string; outcome: string; detail: string }> };
    expect(explanation).toMatchObject({ decision: 'deny', status: 403, code: 'RAMPART_ERR_FORBIDDEN', decidedBy: 'authorize.properties.write' });
    expect(explanation.steps.map((s) => `${s.check}:${s.outcome}`)).toEqual(['permissions:pass', 'tenant:pass', 'object:pass', 'lookup:pass', 'properties:fail']);
    expect(explanation.steps.at(-1)!.detail).toBe('not writable: role, isAdmin');
  });

  it('explains a CEL rule and a scope that narrows the roles', async () => {
    const support = file('support.json', JSON.stringify({ subject: 'carol', roles: ['support'] }));
    const allowed = await rampart('authz', 'explain', '-c', config, '-p', support, '-r', 'GET /orders?customerId=someone');
    expect(allowed.stdout).toContain('PASS  rule        authorize.rule: rule true');
    const scoped = file('scoped.json', JSON.stringify({ subject: 'carol', roles: ['support'], permissions: ['users:read'], claims: { scope: 'users:read' } }));
    const denied = await rampart('authz', 'explain', '-c', config, '-p', scoped, '-r', 'GET /orders');
    expect(denied.stdout).toContain('FAIL  permissions authorize.permissions: missing orders:read (holds: users:read)');
  });

  it('refuses an invalid rule with its exact config path, and unknown routes, with exit 1 and no stack', async () => {
    const broken = file('broken.yaml', CONFIG.replace(`rule: "'support' in principal.roles`, `rule: "'support' in principal.rolez`));
    const run = await rampart('authz', 'explain', '-c', broken, '-p', alice, '-r', 'GET /orders');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('routes[0].authorize.rule: principal has no field "rolez"');
    expect(run.stderr).not.toMatch(/^\s+at /m);
    const nowhere = await rampart('authz', 'explain', '-c', config, '-p', alice, '-r', 'GET /nowhere');
    expect(nowhere.code).toBe(1);
    expect(nowhere.stderr).toContain('no route matches /nowhere');
    const ambiguous = await rampart('authz', 'explain', '-c', config, '-p', alice, '-r', 'GET /orders/7%2Fedit');
    expect(ambiguous.code).toBe(1);
    expect(ambiguous.stderr).toContain('the gateway would refuse this target with 400');
  });
});
