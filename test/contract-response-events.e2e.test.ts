/**
 * `contract.response-undeclared` through a real gateway: the upstream that leaks an undeclared property leaks it on
 * every answer, and every answer is minimised, but the log and the audit chain get one event per operation, status
 * and severity per cool-down (src/policies/contract/index.ts `RESPONSE_EVENT_COOLDOWN_MS`), not one per response.
 * The repeats are counted (`details.suppressed` on the next event: src/policies/contract/response-events.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { startRecordingUpstream, startTestGateway, type RecordingUpstream, type TestGateway } from './helpers.ts';

const SPEC = fileURLToPath(new URL('./fixtures/contract/conformance-3.1.yaml', import.meta.url));
const SECRET = 'hunter2-super-secret';

let upstream: RecordingUpstream;
let gw: TestGateway;

beforeAll(async () => {
  upstream = await startRecordingUpstream((req, res) => {
    // /users/<id>: a user with an undeclared password; /users/<id>?status=<n>: the same under another status.
    const url = new URL(req.url!, 'http://x');
    const status = Number(url.searchParams.get('status') ?? 200);
    const body = JSON.stringify({ id: Number(url.pathname.split('/').pop()), email: 'bob@example.com', displayName: 'Bob', passwordHash: SECRET });
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  gw = await startTestGateway({
    routes: [
      {
        id: 'users',
        match: { path: '/users/**' },
        upstream: upstream.url,
        public: true,
        // The status parameter only steers the test upstream: declared nowhere, so accepted by acknowledgement.
        contract: { openapi: SPEC, undeclared: { query: 'allow' } },
      },
    ],
    acknowledge: [{ rule: 'contract-undeclared-query', path: 'routes[0].contract.undeclared.query', reason: 'test upstream control', expires: '2099-01-01' }],
  });
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

const undeclaredEvents = () => gw.events.events.filter((e) => e.type === 'contract.response-undeclared');

describe('contract: undeclared-response events', () => {
  it('minimises every answer but reports a leaking operation once per cool-down', async () => {
    const before = undeclaredEvents().length;
    for (let i = 1; i <= 6; i++) {
      const res = await fetch(`${gw.url}/users/${i}`);
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(text).not.toContain(SECRET);
      expect(JSON.parse(text)).toEqual({ id: i, email: 'bob@example.com', displayName: 'Bob' });
    }
    const events = undeclaredEvents().slice(before);
    expect(events).toHaveLength(1);
    expect(events[0]!.details).toEqual({ operation: 'getUser', status: 200, undeclared: ['/passwordHash'], removed: 1, mode: 'remove' });
    // Never the removed value, in the event or anywhere in the log.
    expect(JSON.stringify(gw.appLog())).not.toContain(SECRET);
  });

  it('a status of its own is a signal of its own', async () => {
    const before = undeclaredEvents().length;
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${gw.url}/users/9?status=203`);
      // 203 is not declared: the `default`-less operation answers it as undeclared (no schema: everything removed).
      expect(await res.text()).not.toContain(SECRET);
    }
    const events = undeclaredEvents().slice(before);
    expect(events.map((e) => e.details?.status)).toEqual([203]);
  });
});
