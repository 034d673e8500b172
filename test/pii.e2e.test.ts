/**
 * PII detection on responses end to end: a real gateway on port 0 in front of an upstream that answers with card
 * numbers, e-mail addresses and phone numbers. Mask mode rewrites the JSON the client gets; block mode answers a
 * generic 502; log mode passes the body and records an event; the values never reach the log files or events.
 */
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRecordingUpstream, startTestGateway, withoutCorrelationIds, type RecordingUpstream, type TestGateway } from './helpers.ts';

const CARD = '4111 1111 1111 1111';
const CARD_NUMBER = 5555555555554444;
const EMAIL = 'ann.smith@example.com';
const PHONE = '+1 415 555 2671';
const ACCOUNT = { id: 7, name: 'Ann', email: EMAIL, phone: PHONE, cards: [{ number: CARD, brand: 'visa' }, { number: CARD_NUMBER, brand: 'mc' }], note: 'VIP' };

describe('pii policy through the gateway', () => {
  let upstream: RecordingUpstream;
  let gw: TestGateway;

  beforeAll(async () => {
    upstream = await startRecordingUpstream((req, res) => {
      if (req.url!.startsWith('/text')) {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(`Your card ${CARD} is on file.`);
      } else if (req.url!.startsWith('/gzip')) {
        res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
        res.end(gzipSync(JSON.stringify(ACCOUNT)));
      } else if (req.url!.startsWith('/broken')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(`{"card":"${CARD}"`);
      } else if (req.url!.startsWith('/clean')) {
        res.writeHead(200, { 'content-type': 'application/json', etag: '"v1"' });
        res.end(JSON.stringify({ id: 1, items: [{ sku: 'A-1', qty: 2 }] }));
      } else {
        res.writeHead(200, { 'content-type': 'application/json', etag: '"v1"' });
        res.end(JSON.stringify(ACCOUNT));
      }
    });
    const route = (id: string, pii: Record<string, unknown>) => ({ id, match: { path: `/${id}/**` }, upstream: upstream.url, public: true, pii });
    gw = await startTestGateway({
      routes: [
        route('mask', { mode: 'mask' }),
        route('allow', { mode: 'mask', allow: ['email', 'cards[].brand'] }),
        route('block', { mode: 'block' }),
        route('log', { mode: 'log' }),
        { id: 'text', match: { path: '/text/**' }, upstream: upstream.url, public: true, pii: {} },
        { id: 'gzip', match: { path: '/gzip/**' }, upstream: upstream.url, public: true, pii: {} },
        { id: 'broken', match: { path: '/broken/**' }, upstream: upstream.url, public: true, pii: {} },
        { id: 'clean', match: { path: '/clean/**' }, upstream: upstream.url, public: true, pii: { mode: 'block' } },
      ],
    });
  });

  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
  });

  function logsText(): string {
    return readFileSync(gw.logFile, 'utf8') + readFileSync(gw.accessLogFile, 'utf8') + JSON.stringify(gw.events.events);
  }

  it('mask: card numbers, e-mail and phone are masked in the JSON the client gets, types kept', async () => {
    const res = await fetch(`${gw.url}/mask/accounts/7`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(res.headers.get('content-length')).toBe(String(Buffer.byteLength(text)));
    expect(res.headers.get('etag')).toBe('W/"v1"'); // the bytes changed: no longer a strong validator
    expect(JSON.parse(text)).toEqual({
      ...ACCOUNT,
      email: 'a***@example.com',
      phone: '[redacted:phone]',
      cards: [
        { number: '**** **** **** 1111', brand: 'visa' },
        { number: 4444, brand: 'mc' },
      ],
    });
    expect(text).not.toContain('4111 1111');
    const id = res.headers.get('x-request-id');
    expect(gw.events.events.find((e) => e.requestId === id)).toMatchObject({
      type: 'pii.detected',
      routeId: 'mask',
      details: {
        action: 'masked',
        findings: [
          { detector: 'email', location: '/email' },
          { detector: 'phone', location: '/phone' },
          { detector: 'card', location: '/cards/0/number' },
          { detector: 'card', location: '/cards/1/number' },
        ],
      },
    });
  });

  it('mask honours the allow-list', async () => {
    const body = (await (await fetch(`${gw.url}/allow/accounts/7`)).json()) as typeof ACCOUNT;
    expect(body.email).toBe(EMAIL);
    expect(body.cards[0]!.number).toBe('**** **** **** 1111');
  });

  it('mask works on compressed upstream answers', async () => {
    const res = await fetch(`${gw.url}/gzip/accounts/7`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as typeof ACCOUNT;
    expect(body.cards[0]!.number).toBe('**** **** **** 1111');
  });

  it('block: the client gets a generic 502 problem and nothing of the body', async () => {
    const res = await fetch(`${gw.url}/block/accounts/7`);
    expect(res.status).toBe(502);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    const text = await res.text();
    const id = res.headers.get('x-request-id');
    expect(JSON.parse(text)).toEqual({ type: 'urn:rampart:problem:upstream-bad-response', title: 'Upstream error', status: 502, code: 'RAMPART_ERR_UPSTREAM_BAD_RESPONSE', correlationId: id });
    expect(text).not.toMatch(/4111|ann|415/);
    expect(gw.appLog().find((l) => l.reqId === id && l.code === 'RAMPART_ERR_UPSTREAM_BAD_RESPONSE')?.detail).toBe('pii: email at /email: response refused');
  });

  it('log: the body passes unchanged, the event names detectors and locations, the log files hold no value', async () => {
    const res = await fetch(`${gw.url}/log/accounts/7`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(ACCOUNT);
    const id = res.headers.get('x-request-id');
    expect(gw.events.events.find((e) => e.requestId === id)).toMatchObject({ type: 'pii.detected', severity: 'medium', details: { action: 'logged' } });
    const logs = logsText();
    expect(logs).toContain('/log/accounts/7'); // the request was logged
    for (const value of [CARD, '4111111111111111', String(CARD_NUMBER), EMAIL, '415 555 2671', '4155552671']) expect(logs).not.toContain(value);
  });

  it('fails closed: a text body with PII cannot be masked, a JSON body that does not parse cannot be checked', async () => {
    const text = await fetch(`${gw.url}/text/letter`);
    expect(text.status).toBe(502);
    expect(withoutCorrelationIds(await text.text())).not.toContain('4111');
    const broken = await fetch(`${gw.url}/broken/x`);
    expect(broken.status).toBe(502);
    expect(withoutCorrelationIds(await broken.text())).not.toContain('4111');
  });

  it('clean answers pass unchanged (byte for byte, strong validator kept), and the gateway keeps serving', async () => {
    const res = await fetch(`${gw.url}/clean/orders`);
    expect(res.status).toBe(200);
    expect(res.headers.get('etag')).toBe('"v1"');
    expect(await res.text()).toBe(JSON.stringify({ id: 1, items: [{ sku: 'A-1', qty: 2 }] }));
    const again = await fetch(`${gw.url}/mask/accounts/8`);
    expect(again.status).toBe(200);
  });
});
