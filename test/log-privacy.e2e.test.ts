/**
 * Client addresses in the gateway's own logs (issue 7 point 5): the access log and the security-event lines carry
 * the address as `privacy.addresses` says (keyed hash by default, /24 or /48 with `truncate`), never in clear unless
 * `keep` is acknowledged as a weakened default, which posture then reports. With an events store, the log and the
 * store carry the same value for the same client, so an operator can follow one client across both.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { Gateway } from '../src/gateway/server.ts';
import { AccessLog, createAppLogger } from '../src/observe/logger.ts';
import { loadConfigObject } from '../src/config/load.ts';
import { evaluatePosture } from '../src/posture/posture.ts';
import { openEventsStore } from '../src/events-store/index.ts';
import { startRecordingUpstream, type RecordingUpstream } from './helpers.ts';

const HASHED = /^h:[0-9a-f]{32}$/;

interface Running {
  gateway: Gateway;
  port: number;
  accessLines(): Array<Record<string, unknown>>;
  appLines(): Array<Record<string, unknown>>;
}

const running: Gateway[] = [];
const upstreams: RecordingUpstream[] = [];

afterEach(async () => {
  for (const g of running.splice(0)) await g.stop();
  for (const u of upstreams.splice(0)) await u.close();
});

async function start(extra: Record<string, unknown>): Promise<Running> {
  const upstream = await startRecordingUpstream();
  upstreams.push(upstream);
  const result = loadConfigObject({
    mode: 'development',
    listen: { host: '127.0.0.1', port: 0 },
    admin: false,
    routes: [{ id: 'open', match: { path: '/**' }, upstream: upstream.url, public: true }],
    ...extra,
  });
  if (!result.ok) throw new Error(result.errors.join('\n'));
  const dir = mkdtempSync(join(tmpdir(), 'rampart-log-privacy-'));
  const appFile = join(dir, 'app.log');
  const accessFile = join(dir, 'access.log');
  // No `events` option: the gateway's own LoggingSecurityEvents writes the security-event lines under test.
  const logger = createAppLogger({ level: 'debug', redact: [], destination: appFile, async: false });
  const accessLog = new AccessLog({ redact: [], destination: accessFile, async: false });
  const gateway = await Gateway.start(result.config, { logger, accessLog });
  running.push(gateway);
  const read = (file: string) =>
    existsSync(file)
      ? readFileSync(file, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((line) => JSON.parse(line) as Record<string, unknown>)
      : [];
  return { gateway, port: gateway.addresses().listeners[0]!.port, accessLines: () => read(accessFile), appLines: () => read(appFile) };
}

/** A raw request (fetch would normalise the dot segments this test needs the gateway to see). */
function send(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET' }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.end();
  });
}

async function settled(): Promise<void> {
  // The access line is written when the response closes; give the event loop a turn.
  await new Promise((resolve) => setTimeout(resolve, 30));
}

function securityLines(g: Running): Array<Record<string, unknown>> {
  return g.appLines().filter((l) => l.stream === 'security');
}

describe('client addresses in the gateway logs', () => {
  it('are a keyed hash by default, in the access log and in security-event lines, equal for one client', async () => {
    const g = await start({});
    expect(await send(g.port, '/orders/1')).toBe(200);
    expect(await send(g.port, '/orders/2')).toBe(200);
    // An encoded dot segment is refused (path confusion) and raises request.path-rejected.
    expect(await send(g.port, '/public/..%2Fadmin')).toBe(400);
    await settled();
    const access = g.accessLines();
    expect(access).toHaveLength(3);
    for (const line of access) expect(line.client).toMatch(HASHED);
    expect(new Set(access.map((l) => l.client)).size).toBe(1);
    const rejected = securityLines(g).find((l) => (l.event as { type?: string }).type === 'request.path-rejected');
    expect(rejected, JSON.stringify(g.appLines())).toBeDefined();
    expect((rejected!.event as { clientAddress?: string }).clientAddress).toBe(access[0]!.client);
    for (const line of [...access, ...securityLines(g)]) expect(JSON.stringify(line)).not.toContain('127.0.0.1');
  });

  it('truncate writes the /24 of an IPv4 client', async () => {
    const g = await start({ privacy: { addresses: 'truncate' } });
    expect(await send(g.port, '/x')).toBe(200);
    expect(await send(g.port, '/public/..%2Fadmin')).toBe(400);
    await settled();
    expect(g.accessLines().map((l) => l.client)).toEqual(['127.0.0.0/24', '127.0.0.0/24']);
    const rejected = securityLines(g).find((l) => (l.event as { type?: string }).type === 'request.path-rejected');
    expect((rejected!.event as { clientAddress?: string }).clientAddress).toBe('127.0.0.0/24');
  });

  it('keep is a weakened default: refused unless acknowledged, then in clear and reported by posture', () => {
    const base = { mode: 'development', listen: { host: '127.0.0.1', port: 0 }, routes: [{ id: 'r', match: { path: '/**' }, upstream: 'http://127.0.0.1:9', public: true }], privacy: { addresses: 'keep' } };
    const refused = loadConfigObject(base);
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.errors.join('\n')).toMatch(/privacy\.addresses: client addresses are written in clear.*client-addresses-in-clear/);
    const accepted = loadConfigObject({ ...base, acknowledge: [{ rule: 'client-addresses-in-clear', path: 'privacy.addresses', reason: 'fraud team needs raw addresses', expires: '2099-01-01' }] });
    expect(accepted.ok).toBe(true);
    if (!accepted.ok) return;
    const cell = evaluatePosture(accepted.config).routes[0]!.cells.find((c) => c.item === 16)!;
    expect(cell.status).toBe('weakened');
    expect(cell.reason).toMatch(/client addresses are written in clear.*fraud team/);
  });

  it('keep, acknowledged, writes the address in clear', async () => {
    const g = await start({ privacy: { addresses: 'keep' }, acknowledge: [{ rule: 'client-addresses-in-clear', path: 'privacy.addresses', reason: 'fraud team needs raw addresses', expires: '2099-01-01' }] });
    expect(await send(g.port, '/x')).toBe(200);
    await settled();
    expect(g.accessLines()[0]!.client).toBe('127.0.0.1');
  });

  it('with a master key the hash is stable across restarts; without one each process has its own key', async () => {
    const masterKey = randomBytes(32).toString('base64');
    const clientOf = async (extra: Record<string, unknown>) => {
      const g = await start(extra);
      expect(await send(g.port, '/x')).toBe(200);
      await settled();
      const client = g.accessLines()[0]!.client as string;
      await g.gateway.stop();
      running.splice(running.indexOf(g.gateway), 1);
      return client;
    };
    const first = await clientOf({ keyring: { masterKey } });
    const second = await clientOf({ keyring: { masterKey } });
    expect(first).toMatch(HASHED);
    expect(second).toBe(first);
    const other = await clientOf({ keyring: { masterKey: randomBytes(32).toString('base64') } });
    expect(other).toMatch(HASHED);
    expect(other).not.toBe(first);
    const ephemeralA = await clientOf({});
    const ephemeralB = await clientOf({});
    expect(ephemeralA).toMatch(HASHED);
    expect(ephemeralB).not.toBe(ephemeralA);
  });

  it('equals the events store value for the same client (one key for logs, audit and events)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rampart-log-privacy-events-'));
    const eventsStore = `sqlite:${join(dir, 'events.db')}`;
    const g = await start({ storage: `sqlite:${join(dir, 'rampart.db')}`, keyring: { masterKey: randomBytes(32).toString('base64') }, events: { store: eventsStore } });
    expect(await send(g.port, '/public/..%2Fadmin')).toBe(400);
    await settled();
    const logged = g.accessLines()[0]!.client as string;
    expect(logged).toMatch(HASHED);
    await g.gateway.stop();
    running.splice(running.indexOf(g.gateway), 1);
    const store = openEventsStore(eventsStore);
    try {
      const rows = store.query({ types: ['request.path-rejected'] });
      expect(rows).toHaveLength(1);
      expect(rows[0]!.client).toBe(logged);
    } finally {
      store.close();
    }
  });
});
