import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PROBLEM_CONTENT_TYPE } from '../../errors/catalogue.ts';
import { RecordingSecurityEvents } from '../../observe/events.ts';
import { createCspReportHandler, MAX_REPORTS_PER_BODY } from './csp-report.ts';

const MAX_BYTES = 4096;
const CSP2 = 'application/csp-report';
const REPORTS = 'application/reports+json';

const events = new RecordingSecurityEvents();
let server: Server;
let port: number;

beforeAll(async () => {
  const handler = createCspReportHandler({ maxBytes: MAX_BYTES, events, logger: pino({ level: 'silent' }) });
  server = createServer((req, res) => handler(req, res, { requestId: 'req-7', clientAddress: req.socket.remoteAddress ?? '' }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
});

beforeEach(() => {
  events.events.length = 0;
});

interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** Sends `body` (chunked when `declareLength` is false) and collects the answer. */
function send(method: string, contentType: string | undefined, body?: string | Buffer, declareLength = true): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (contentType !== undefined) headers['content-type'] = contentType;
    if (body !== undefined && declareLength) headers['content-length'] = String(Buffer.byteLength(body));
    const req = request({ host: '127.0.0.1', port, method, path: '/.rampart/csp-report', headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    // The server may close while a refused body is still being written; the answer already arrived by then.
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE' && error.code !== 'ECONNRESET') reject(error);
    });
    if (body !== undefined) req.write(body);
    req.end();
  });
}

const TOKEN = 'eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.sig';

function csp2Report(fields: Record<string, unknown>): string {
  return JSON.stringify({ 'csp-report': fields });
}

function violation(body: Record<string, unknown>): Record<string, unknown> {
  return { type: 'csp-violation', age: 10, url: `https://app.example.com/?token=${TOKEN}`, user_agent: 'test', body };
}

describe('CSP report endpoint: accepted reports', () => {
  it('turns a CSP2 report into one event with only reduced, whitelisted fields', async () => {
    const answer = await send(
      'POST',
      `${CSP2}; charset=utf-8`,
      csp2Report({
        'document-uri': `https://user:pw@app.example.com/oauth/callback?code=${TOKEN}#access_token=${TOKEN}`,
        referrer: `https://idp.example.com/?session=${TOKEN}`,
        'violated-directive': "script-src-elem 'self'",
        'effective-directive': 'script-src-elem',
        'original-policy': "script-src 'self'; report-uri /r",
        'blocked-uri': `https://evil.example:8443/steal.js?cookie=${TOKEN}`,
        'script-sample': `alert("${TOKEN}")`,
        disposition: 'enforce',
        'status-code': 200,
      }),
    );
    expect(answer.status).toBe(204);
    expect(answer.body).toBe('');
    expect(events.events).toEqual([
      {
        type: 'csp.violation',
        severity: 'low',
        requestId: 'req-7',
        clientAddress: '127.0.0.1',
        details: {
          format: 'csp2',
          documentUri: 'https://app.example.com/oauth/callback',
          violatedDirective: 'script-src-elem',
          effectiveDirective: 'script-src-elem',
          blockedUri: 'https://evil.example:8443',
          disposition: 'enforce',
          statusCode: 200,
        },
      },
    ]);
    expect(JSON.stringify(events.events)).not.toContain(TOKEN);
  });

  it('reduces blocked keywords and data: URLs to their name', async () => {
    await send('POST', CSP2, csp2Report({ 'blocked-uri': 'inline', 'violated-directive': 'script-src' }));
    await send('POST', CSP2, csp2Report({ 'blocked-uri': `data:text/html,<script>${TOKEN}</script>` }));
    expect(events.events.map((event) => event.details?.blockedUri)).toEqual(['inline', 'data']);
  });

  it('takes the csp-violation entries of a Reporting API batch and ignores other report types', async () => {
    const batch = [
      violation({ documentURL: `https://app.example.com/a?t=${TOKEN}`, effectiveDirective: 'img-src', blockedURL: 'https://cdn.test/x.png', disposition: 'report', statusCode: 0 }),
      { type: 'deprecation', body: { id: 'x', message: TOKEN } },
      violation({ documentURL: 'https://app.example.com/b', effectiveDirective: 'connect-src', blockedURL: 'wss://ws.test/live' }),
    ];
    const answer = await send('POST', REPORTS, JSON.stringify(batch));
    expect(answer.status).toBe(204);
    expect(events.events.map((event) => event.details)).toEqual([
      { format: 'reporting-api', documentUri: 'https://app.example.com/a', effectiveDirective: 'img-src', blockedUri: 'https://cdn.test', disposition: 'report', statusCode: 0 },
      { format: 'reporting-api', documentUri: 'https://app.example.com/b', effectiveDirective: 'connect-src', blockedUri: 'wss://ws.test' },
    ]);
    expect(JSON.stringify(events.events)).not.toContain(TOKEN);
  });

  it(`emits at most ${MAX_REPORTS_PER_BODY} events per body`, async () => {
    const batch = Array.from({ length: 30 }, () => ({ type: 'csp-violation', body: { effectiveDirective: 'img-src' } }));
    const answer = await send('POST', REPORTS, JSON.stringify(batch));
    expect(answer.status).toBe(204);
    expect(events.events).toHaveLength(MAX_REPORTS_PER_BODY);
  });
});

interface HostileRow {
  readonly name: string;
  readonly method?: string;
  readonly contentType?: string;
  readonly body?: string | Buffer;
  readonly chunked?: boolean;
  readonly status: number;
  readonly code?: string;
  /** Events expected for this body (default 0). */
  readonly events?: number;
}

const nestedArrays = '['.repeat(2000) + ']'.repeat(2000);
const nestedObjects = '{"a":'.repeat(600) + '1' + '}'.repeat(600);

const HOSTILE: HostileRow[] = [
  { name: 'GET', method: 'GET', status: 405, code: 'RAMPART_ERR_METHOD_NOT_ALLOWED' },
  { name: 'PUT with a valid report', method: 'PUT', contentType: CSP2, body: csp2Report({}), status: 405, code: 'RAMPART_ERR_METHOD_NOT_ALLOWED' },
  { name: 'no content type', body: csp2Report({}), status: 415, code: 'RAMPART_ERR_UNSUPPORTED_MEDIA_TYPE' },
  { name: 'text/plain', contentType: 'text/plain', body: csp2Report({}), status: 415, code: 'RAMPART_ERR_UNSUPPORTED_MEDIA_TYPE' },
  { name: 'application/json', contentType: 'application/json', body: csp2Report({}), status: 415, code: 'RAMPART_ERR_UNSUPPORTED_MEDIA_TYPE' },
  { name: 'look-alike media type', contentType: 'application/csp-report-evil', body: csp2Report({}), status: 415, code: 'RAMPART_ERR_UNSUPPORTED_MEDIA_TYPE' },
  { name: 'declared length above the limit', contentType: CSP2, body: 'x'.repeat(MAX_BYTES + 1), status: 413, code: 'RAMPART_ERR_BODY_TOO_LARGE' },
  { name: 'chunked body above the limit', contentType: REPORTS, body: 'x'.repeat(64 * 1024), chunked: true, status: 413, code: 'RAMPART_ERR_BODY_TOO_LARGE' },
  { name: 'invalid JSON', contentType: CSP2, body: '{"csp-report": {', status: 400, code: 'RAMPART_ERR_MALFORMED_REQUEST' },
  { name: 'invalid UTF-8', contentType: CSP2, body: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), status: 400, code: 'RAMPART_ERR_MALFORMED_REQUEST' },
  { name: 'empty body', contentType: CSP2, body: '', status: 400, code: 'RAMPART_ERR_MALFORMED_REQUEST' },
  { name: 'CSP2 body that is an array', contentType: CSP2, body: '[]', status: 400, code: 'RAMPART_ERR_MALFORMED_REQUEST' },
  { name: 'CSP2 report that is a string', contentType: CSP2, body: '{"csp-report":"x"}', status: 400, code: 'RAMPART_ERR_MALFORMED_REQUEST' },
  { name: 'csp-report hidden under __proto__', contentType: CSP2, body: '{"__proto__":{"csp-report":{"document-uri":"https://a.test/"}}}', status: 400, code: 'RAMPART_ERR_MALFORMED_REQUEST' },
  { name: 'Reporting API body that is an object', contentType: REPORTS, body: csp2Report({}), status: 400, code: 'RAMPART_ERR_MALFORMED_REQUEST' },
  { name: 'null', contentType: REPORTS, body: 'null', status: 400, code: 'RAMPART_ERR_MALFORMED_REQUEST' },
  { name: 'deeply nested arrays', contentType: REPORTS, body: nestedArrays, status: 204 },
  { name: 'deeply nested objects inside a report', contentType: CSP2, body: `{"csp-report":${nestedObjects}}`, status: 204, events: 1 },
  { name: 'Reporting API entries of the wrong shape', contentType: REPORTS, body: '[1,"x",null,{"type":"csp-violation"},{"type":"csp-violation","body":[]}]', status: 204 },
  { name: 'fields of the wrong types', contentType: CSP2, body: csp2Report({ 'document-uri': 7, 'blocked-uri': ['x'], 'status-code': 'x', disposition: 'evil' }), status: 204, events: 1 },
];

describe('CSP report endpoint: hostile input', () => {
  it.each(HOSTILE)('$name → $status', async (row) => {
    const answer = await send(row.method ?? 'POST', row.contentType, row.body, !row.chunked);
    expect(answer.status).toBe(row.status);
    if (row.code !== undefined) {
      expect(answer.headers['content-type']).toBe(PROBLEM_CONTENT_TYPE);
      expect(JSON.parse(answer.body)).toMatchObject({ code: row.code, status: row.status, correlationId: 'req-7' });
    }
    if (row.status === 405) expect(answer.headers.allow).toBe('POST');
    expect(events.events).toHaveLength(row.events ?? 0);
    for (const event of events.events) expect(Object.keys(event.details ?? {})).toEqual(['format']);
  });

  it('ignores prototype-pollution keys and never copies them into the event', async () => {
    const body =
      '{"csp-report":{"__proto__":{"polluted":"yes","document-uri":"https://evil.test/"},' +
      '"constructor":{"prototype":{"polluted":"yes"}},"document-uri":"https://app.example.com/p?x=1",' +
      '"toString":"x","hasOwnProperty":"x"}}';
    const answer = await send('POST', CSP2, body);
    expect(answer.status).toBe(204);
    expect(events.events.map((event) => event.details)).toEqual([{ format: 'csp2', documentUri: 'https://app.example.com/p' }]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
  });

  it('still serves requests after the hostile table', async () => {
    const answer = await send('POST', CSP2, csp2Report({ 'effective-directive': 'style-src' }));
    expect(answer.status).toBe(204);
    expect(events.events).toHaveLength(1);
  });
});
