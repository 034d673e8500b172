/**
 * Path-confusion regression table, end to end (ARCHITECTURE.md "One request, one canonical path"): a protected
 * route `/admin/**` (reachable only from 10.0.0.0/8) and a public route `/public/**`, each with its own upstream.
 * Every case of the fixture table is sent raw over a socket. Whatever the gateway decides, the public upstream
 * must never receive a path that the protected route owns, and the protected upstream is never reached from here.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PATH_CONFUSION_CASES } from './fixtures/path-confusion-cases.ts';
import { rawRequest, startRecordingUpstream, startTestGateway, type RecordingUpstream, type TestGateway } from './helpers.ts';
import { canonicalizeRequestTarget } from '../src/gateway/canonical-path.ts';

describe('path confusion cannot route a protected path through a public route', () => {
  let publicUpstream: RecordingUpstream;
  let adminUpstream: RecordingUpstream;
  let gw: TestGateway;

  beforeAll(async () => {
    publicUpstream = await startRecordingUpstream();
    adminUpstream = await startRecordingUpstream();
    gw = await startTestGateway({
      routes: [
        { id: 'admin', match: { path: '/admin/**' }, upstream: adminUpstream.url, public: true, 'ip-restriction': { allow: ['10.0.0.0/8'] } },
        { id: 'public', match: { path: '/public/**' }, upstream: publicUpstream.url, public: true },
      ],
    });
  });

  afterAll(async () => {
    await gw?.close();
    await publicUpstream?.close();
    await adminUpstream?.close();
  });

  it.each(PATH_CONFUSION_CASES.map((c) => [c.id, c] as const))('%s', async (_id, testCase) => {
    const publicBefore = publicUpstream.seen.length;
    const res = await rawRequest(gw.port, `GET ${testCase.request} HTTP/1.1\r\nHost: gateway.test\r\nConnection: close\r\n\r\n`);
    expect(res.status, testCase.description).toBeGreaterThanOrEqual(200);
    if (testCase.expect.reject) {
      expect(res.status, `${testCase.advisory}: ${testCase.description}`).toBe(400);
    } else if (testCase.expect.canonical.startsWith('/admin')) {
      // Routed (by the canonical path) to the protected route, whose policy refuses this client.
      expect(res.status, `${testCase.advisory}: ${testCase.description}`).toBe(403);
    }
    for (const seen of publicUpstream.seen.slice(publicBefore)) {
      // The upstream may decode again: judge what it saw by canonicalising it the way the gateway would.
      const decoded = decodeURIComponent(seen.url.split('?')[0]!);
      expect(decoded.startsWith('/admin'), `public upstream saw ${seen.url}`).toBe(false);
      const again = canonicalizeRequestTarget(seen.url, { allowSemicolons: false, maxLength: 8192 });
      expect(again.ok && again.path.startsWith('/admin')).toBe(false);
      if (!testCase.expect.reject) {
        const expected = testCase.expect.query === undefined ? testCase.expect.canonical : `${testCase.expect.canonical}?${testCase.expect.query}`;
        expect(seen.url).toBe(expected);
      }
    }
    expect(adminUpstream.seen.length).toBe(0);
  });

  it('keeps serving after the whole table', async () => {
    const res = await fetch(`${gw.url}/public/ok`);
    expect(res.status).toBe(200);
  });
});
