/**
 * writeHead never ends the process: a header Node refuses (a value with CR, LF, NUL or beyond Latin-1, a name that
 * is not a token) is dropped, the answer goes out with the rest, and the names (never the values) are reported. It
 * once threw inside undici's callbacks, which ended the gateway on the first call to a route whose deprecation link
 * held a non-ASCII character.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setRefusedHeadersReporter, writeHead } from './respond.ts';

let server: Server;
let base: string;
let reported: Array<{ names: readonly string[]; requestId: string }> = [];
/** The header list each request path writes (gateway headers first, then the extra ones). */
const ROWS: Record<string, { base: string[]; extra: string[] }> = {
  '/non-latin1': { base: ['content-type', 'text/plain'], extra: ['link', '<https://例え.jp/>; rel="deprecation"'] },
  '/crlf': { base: ['content-type', 'text/plain', 'x-upstream', 'a\r\nSet-Cookie: s=1'], extra: [] },
  '/nul': { base: ['content-type', 'text/plain'], extra: ['x-a', 'a\u0000b'] },
  '/bad-name': { base: ['content-type', 'text/plain', 'x a', '1', 'x-ok', '2'], extra: [] },
  '/fine': { base: ['content-type', 'text/plain', 'x-latin1', 'caf\u00e9'], extra: ['x-extra', '1'] },
};

beforeAll(async () => {
  setRefusedHeadersReporter((names, requestId) => reported.push({ names, requestId }));
  server = createServer((req, res) => {
    const row = ROWS[req.url ?? ''];
    if (row === undefined) {
      res.writeHead(404).end();
      return;
    }
    writeHead(res, 200, [...row.base], row.extra, 'req-1');
    res.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('writeHead with headers Node refuses', () => {
  it.each([
    ['/non-latin1', ['link']],
    ['/crlf', ['x-upstream']],
    ['/nul', ['x-a']],
    ['/bad-name', ['x a']],
  ] as const)('%s: answered without the refused header, which is reported by name', async (path, names) => {
    reported = [];
    const res = await fetch(base + path);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('ok');
    expect(res.headers.get('content-type')).toBe('text/plain');
    expect(res.headers.get('x-request-id')).toBe('req-1');
    expect(res.headers.get('set-cookie')).toBeNull();
    for (const name of names) if (!name.includes(' ')) expect(res.headers.get(name)).toBeNull();
    if (path === '/bad-name') expect(res.headers.get('x-ok')).toBe('2');
    expect(reported).toEqual([{ names, requestId: 'req-1' }]);
    // Names only: no value reaches the report.
    expect(JSON.stringify(reported)).not.toMatch(/例え|Set-Cookie|\\u0000/);
  });

  it('writes a valid head unchanged and reports nothing', async () => {
    reported = [];
    const res = await fetch(`${base}/fine`);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-extra')).toBe('1');
    expect(res.headers.get('x-latin1')).toBe('caf\u00e9');
    expect(reported).toEqual([]);
  });
});
