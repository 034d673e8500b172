/**
 * Global load shedding (issue 6 point 1: "beyond a configured number of in-flight requests the gateway answers 503
 * fast instead of queueing"): with `limits.maxInFlight: 2` and an upstream that holds every request until told to
 * answer, a third request is refused at once with the 503 problem, never reaches the upstream, is counted in
 * `rampart_rejected_requests_total{reason="overload"}`, and once the held requests finish the next one is served.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServerResponse } from 'node:http';
import { startRecordingUpstream, startTestGateway, type RecordingUpstream, type TestGateway } from './helpers.ts';

describe('load shedding', () => {
  let upstream: RecordingUpstream;
  let gw: TestGateway;
  const held: ServerResponse[] = [];

  beforeAll(async () => {
    upstream = await startRecordingUpstream((req, res) => {
      if (req.url?.startsWith('/hold')) held.push(res);
      else res.end('{"ok":true}');
    });
    gw = await startTestGateway({
      limits: { maxInFlight: 2 },
      admin: { host: '127.0.0.1', port: 0 },
      routes: [{ id: 'pub', match: { path: '/**' }, upstream: upstream.url, public: true }],
    });
  });

  afterAll(async () => {
    for (const res of held) res.end();
    await gw?.close();
    await upstream?.close();
  });

  const overloadCount = async (): Promise<number> => {
    const text = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith('rampart_rejected_requests_total{reason="overload"}'));
    return line === undefined ? 0 : Number(line.split(' ').at(-1));
  };

  it('answers 503 problem+json beyond maxInFlight without forwarding, and serves again once the load is gone', async () => {
    const before = await overloadCount();
    const first = fetch(`${gw.url}/hold/1`);
    const second = fetch(`${gw.url}/hold/2`);
    // Both held at the upstream: the gateway has two requests in flight.
    for (let i = 0; i < 200 && held.length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(held.length).toBe(2);

    const shed = await fetch(`${gw.url}/hold/3`);
    expect(shed.status).toBe(503);
    expect(shed.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const problem = (await shed.json()) as { code: string; status: number; detail?: string };
    expect(problem).toMatchObject({ code: 'RAMPART_ERR_OVERLOADED', status: 503 });
    // Generic outward: the internal reason stays in the log.
    expect(JSON.stringify(problem)).not.toContain('in flight');
    expect(upstream.seen.map((s) => s.url)).not.toContain('/hold/3');
    expect(await overloadCount()).toBe(before + 1);

    for (const res of held.splice(0)) res.end('{"held":true}');
    expect((await first).status).toBe(200);
    expect((await second).status).toBe(200);
    const after = await fetch(`${gw.url}/free`);
    expect(after.status).toBe(200);
    expect(await overloadCount()).toBe(before + 1);
  });
});
