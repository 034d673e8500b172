import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createPrivacy } from '../audit/privacy.ts';
import { MAX_DETAILS_BYTES, alertDetails, alertJson, alertSlack, type AlertContent } from './payload.ts';

const key = randomBytes(32);
const keep = createPrivacy({ addresses: 'keep', key });
const content = (over: Partial<AlertContent> = {}): AlertContent => ({
  id: '4b7c2a8e-0000-4000-8000-000000000001',
  type: 'anomaly.brute-force',
  severity: 'high',
  routeId: 'auth-login',
  principal: 'user:0123456789abcdef',
  clientAddress: '203.0.113.9',
  count: 4,
  firstSeen: Date.UTC(2026, 0, 5, 14),
  lastSeen: Date.UTC(2026, 0, 5, 14, 16),
  sampleRequestIds: ['r1', 'r2'],
  suppressed: 177,
  details: { detector: 'bruteForce', count: 51, threshold: 10, sampleRequestIds: ['r1', 'r2'] },
  overflow: false,
  ...over,
});

describe('alertDetails', () => {
  it('masks secrets, pseudonymises people, applies the address privacy to address members, keeps the rest', () => {
    const truncate = createPrivacy({ addresses: 'truncate', key });
    const out = alertDetails(
      {
        reason: 'wrong-password',
        user: '0123456789abcdef',
        username: 'alice',
        password: 'hunter2',
        clientSecret: 's',
        refresh_token: 't',
        Authorization: 'Bearer x',
        otp: '123456',
        note: 'Bearer abc.def',
        credentialId: 'key-billing',
        address: '198.51.100.23',
        nested: { ip: '198.51.100.24', token: 'x', fine: 1 },
      },
      truncate,
    );
    expect(out).toMatchObject({
      reason: 'wrong-password',
      user: '0123456789abcdef',
      password: '[redacted]',
      clientSecret: '[redacted]',
      refresh_token: '[redacted]',
      Authorization: '[redacted]',
      otp: '[redacted]',
      note: '[redacted]',
      credentialId: 'key-billing',
      address: '198.51.100.0/24',
      nested: { ip: '198.51.100.0/24', token: '[redacted]', fine: 1 },
    });
    expect(out.username).toMatch(/^p:[0-9a-f]{32}$/);
    expect(JSON.stringify(out)).not.toContain('alice');
    expect(JSON.stringify(out)).not.toContain('hunter2');
  });

  it(`replaces details larger than ${MAX_DETAILS_BYTES} bytes by a note`, () => {
    const out = alertDetails(Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`k${i}`, 'x'.repeat(500)])), keep);
    expect(Object.keys(out)).toEqual(['_omitted']);
    expect(JSON.stringify(out).length).toBeLessThan(200);
  });

  it('never copies prototype keys and survives cycles', () => {
    const cyclic: Record<string, unknown> = { ok: 1 };
    cyclic.self = cyclic;
    expect(() => alertDetails(cyclic, keep)).not.toThrow();
    const out = alertDetails(JSON.parse('{"__proto__": {"polluted": 1}, "constructor": {"x": 1}, "ok": 1}'), keep);
    expect(out).toEqual({ ok: 1 });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('alertJson', () => {
  it('is the version-1 alert document', () => {
    expect(alertJson(content(), keep)).toEqual({
      version: 1,
      source: 'rampart',
      id: '4b7c2a8e-0000-4000-8000-000000000001',
      type: 'anomaly.brute-force',
      severity: 'high',
      routeId: 'auth-login',
      principal: 'user:0123456789abcdef',
      clientAddress: '203.0.113.9',
      count: 4,
      suppressed: 177,
      firstSeen: '2026-01-05T14:00:00.000Z',
      lastSeen: '2026-01-05T14:16:00.000Z',
      sampleRequestIds: ['r1', 'r2'],
      details: { detector: 'bruteForce', count: 51, threshold: 10, sampleRequestIds: ['r1', 'r2'] },
    });
  });

  it('applies the address privacy to the client address, the same value the audit chain stores', () => {
    const hash = createPrivacy({ addresses: 'hash', key });
    const body = alertJson(content(), hash);
    expect(JSON.stringify(body)).not.toContain('203.0.113.9');
    expect(body.clientAddress).toBe(hash.address('203.0.113.9'));
    expect(alertJson(content(), createPrivacy({ addresses: 'truncate', key })).clientAddress).toBe('203.0.113.0/24');
  });

  it('pseudonymises a principal that is an e-mail address', () => {
    const body = alertJson(content({ principal: 'alice@example.com' }), keep);
    expect(body.principal).toMatch(/^p:[0-9a-f]{32}$/);
  });
});

describe('alertSlack', () => {
  it('is {text, blocks} with a header, fields and context', () => {
    const slack = alertSlack(content(), keep) as { text: string; blocks: Array<{ type: string }> };
    expect(slack.text).toBe('[HIGH] anomaly.brute-force: 4 events (+177 folded) (principal `user:0123456789abcdef`, address `203.0.113.9`, route `auth-login`)');
    expect(slack.blocks.map((b) => b.type)).toEqual(['header', 'section', 'section', 'context']);
  });

  it('escapes mrkdwn control characters from event data (no @channel injection, no links)', () => {
    const slack = JSON.stringify(alertSlack(content({ principal: '<!channel> & <https://evil.example|click>', details: { reason: '<@U123>' } }), keep));
    expect(slack).not.toContain('<!channel>');
    expect(slack).not.toContain('<https://evil');
    expect(slack).not.toContain('<@U123>');
    expect(slack).toContain('&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;');
  });

  type Slack = { text: string; blocks: Array<{ type: string; text?: { text: string }; fields?: Array<{ text: string }>; elements?: Array<{ text: string }> }> };
  const FENCE = '```';
  const BREAKOUT = 'x```*FALSE ALARM* see https://status.evil.example/ack ```';

  /** The mrkdwn texts of a Slack payload, the details block apart. */
  function mrkdwn(slack: Slack): { details: string | undefined; inline: string[] } {
    const section = slack.blocks.find((b) => b.type === 'section' && b.text !== undefined);
    const inline = [slack.text, ...slack.blocks.flatMap((b) => [...(b.fields ?? []).map((f) => f.text), ...(b.elements ?? []).map((e) => e.text)])];
    return { details: section?.text?.text, inline };
  }

  /** Outside code spans: what is left once every `…` span (no backtick inside) is removed. */
  const outsideCode = (text: string) => text.replace(/`[^`\n]*`/g, '');

  // [what, a detail value]: the details block keeps exactly one opening and one closing fence.
  it.each([
    ['the audit example', BREAKOUT],
    ['a closing fence and a new block', '```\n*bold* _it_ ~s~ <https://evil.example|click>\n```'],
    ['backticks of every length', '` `` ```` `````'],
    ['a backtick at the end', 'x`'],
    ['backticks with entities', '&`<`>```'],
  ])('keeps %s inside the details block', (_what, value) => {
    const slack = alertSlack(content({ details: { reason: value, [value]: 1 } }), keep) as Slack;
    const { details } = mrkdwn(slack);
    expect(details).toBeDefined();
    expect(details!.startsWith(FENCE)).toBe(true);
    expect(details!.endsWith(FENCE)).toBe(true);
    expect(details!.split(FENCE)).toHaveLength(3);
    // No backtick inside at all: neither a fence nor an inline code span can start or end there.
    expect(details!.slice(3, -3)).not.toContain('`');
    expect(details).toContain('\u02cb');
    expect(details).not.toMatch(/[<>]/);
  });

  it('shows the audit example readably, in the block', () => {
    const { details } = mrkdwn(alertSlack(content({ details: { reason: BREAKOUT } }), keep) as Slack);
    expect(details).toContain('x\u02cb\u02cb\u02cb*FALSE ALARM* see https://status.evil.example/ack \u02cb\u02cb\u02cb');
  });

  // [what, a principal, a route id, a request id]: untrusted text outside the block is a code span it cannot leave.
  it.each([
    ['emphasis and strikethrough', '*FALSE ALARM* _all_ ~clear~', 'r*b*', 'req_*x*_'],
    ['backticks', 'a`*b*`c', '```', '`'],
    ['a link', '<https://evil.example|click here>', '<!channel>', '<@U123>'],
    ['line breaks', 'x\n> quoted\n*bold*', 'r\r\n*b*', 'i\u2028*j*'],
  ])('puts %s of the principal, route and request ids in code spans', (_what, principal, routeId, requestId) => {
    const slack = alertSlack(content({ principal, routeId, sampleRequestIds: [requestId, 'r2'] }), keep) as Slack;
    for (const text of mrkdwn(slack).inline) {
      const rest = outsideCode(text);
      // Our own markup (*Route*) aside, nothing formatting is left outside the code spans.
      expect(rest.replace(/^\*(Severity|Events|First seen|Last seen|Route|Principal|Client address)\*\n/, '')).not.toMatch(/[*_~`<>]/);
      expect(text).not.toMatch(/[<>]/);
    }
    const [summary, ...fields] = mrkdwn(slack).inline;
    expect(summary).toContain('principal `');
    expect(fields.join('\n')).toContain('*Principal*\n`');
  });

  it('keeps a details section of many entities within 3,000 characters, never cutting an entity', () => {
    const slack = alertSlack(content({ details: { a: '<'.repeat(1000), b: '&'.repeat(1000), c: '>'.repeat(1000) } }), keep) as Slack;
    const { details } = mrkdwn(slack);
    expect(details!.length).toBeLessThanOrEqual(3000);
    expect(details!.endsWith(`…${FENCE}`)).toBe(true);
    expect(details!.slice(3, -4).replace(/&(amp|lt|gt);/g, '')).not.toMatch(/[&<>]/);
  });

  it('stays within Slack limits with huge details', () => {
    const details = Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`k${i}`, 'x'.repeat(300)]));
    const slack = alertSlack(content({ details }), keep) as { blocks: Array<{ type: string; text?: { text: string } }> };
    const section = slack.blocks[2]!;
    expect(section.text!.text.length).toBeLessThanOrEqual(3000);
  });
});
