import { describe, expect, it } from 'vitest';
import { BodyError } from '../gateway/body.ts';
import { parseMultipart } from './multipart.ts';

const LIMITS = { maxParts: 4, maxPartSize: 100 };
const TYPE = 'multipart/form-data; boundary=xyz';

function body(parts: string[]): Buffer {
  return Buffer.from(parts.map((p) => `--xyz\r\n${p}\r\n`).join('') + '--xyz--\r\n');
}

describe('parseMultipart', () => {
  it('returns fields with their text and files without their content, repeated names grouped', async () => {
    const parts = await parseMultipart(
      body([
        'Content-Disposition: form-data; name="a"\r\n\r\none',
        'Content-Disposition: form-data; name="a"\r\n\r\ntwo',
        'Content-Disposition: form-data; name="meta"\r\nContent-Type: application/json\r\n\r\n{"x":1}',
        'Content-Disposition: form-data; name="f"; filename="f.bin"\r\nContent-Type: application/octet-stream\r\n\r\n\x00\x01\x02',
      ]),
      TYPE,
      LIMITS,
    );
    expect(Object.fromEntries(parts)).toEqual({
      a: [{ file: false, value: 'one', mediaType: 'text/plain' }, { file: false, value: 'two', mediaType: 'text/plain' }],
      meta: [{ file: false, value: '{"x":1}', mediaType: 'application/json' }],
      f: [{ file: true, value: '', mediaType: 'application/octet-stream' }],
    });
  });

  it('marks text parts whose bytes are not UTF-8, whatever charset they name; files and valid text are not marked', async () => {
    const bad = Buffer.from([0x61, 0x80, 0xc3, 0x28, 0x62]);
    const part = (head: string, value: Buffer | string) => Buffer.concat([Buffer.from(`--xyz\r\n${head}\r\n\r\n`), Buffer.from(value), Buffer.from('\r\n')]);
    const bytes = Buffer.concat([
      part('Content-Disposition: form-data; name="plain"', bad),
      part('Content-Disposition: form-data; name="declared"\r\nContent-Type: text/plain; charset=utf-8', bad),
      part('Content-Disposition: form-data; name="latin"\r\nContent-Type: text/plain; charset=iso-8859-1', bad),
      part('Content-Disposition: form-data; name="ok"', 'Grüße 🎉'),
      part('Content-Disposition: form-data; name="f"; filename="f.bin"', bad),
      part('Content-Disposition: form-data; name="raw"\r\nContent-Type: application/octet-stream', bad),
      Buffer.from('--xyz--\r\n'),
    ]);
    const parts = await parseMultipart(bytes, TYPE, { maxParts: 10, maxPartSize: 100 });
    const marked = (name: string) => parts.get(name)?.[0]?.invalidUtf8 === true;
    expect(['plain', 'declared', 'latin'].map(marked)).toEqual([true, true, true]);
    // The value is what busboy used to validate: U+FFFD in place of the bytes (never accepted: see the validator).
    expect(parts.get('plain')?.[0]?.value).toBe('a\ufffd\ufffd(b');
    expect(parts.get('ok')).toEqual([{ file: false, value: 'Grüße 🎉', mediaType: 'text/plain' }]);
    expect(parts.get('f')).toEqual([{ file: true, value: '', mediaType: 'text/plain' }]);
    expect(parts.get('raw')).toEqual([{ file: true, value: '', mediaType: 'application/octet-stream' }]);
  });

  it.each([
    ['no boundary', 'multipart/form-data', body(['Content-Disposition: form-data; name="a"\r\n\r\n1']), 'RAMPART_ERR_BAD_REQUEST'],
    ['not multipart', 'text/plain', body(['x']), 'RAMPART_ERR_BAD_REQUEST'],
    ['unterminated', TYPE, Buffer.from('--xyz\r\nContent-Disposition: form-data; name="a"\r\n\r\n1'), 'RAMPART_ERR_BAD_REQUEST'],
    ['too many parts', TYPE, body(Array.from({ length: 6 }, (_, i) => `Content-Disposition: form-data; name="p${i}"\r\n\r\nv`)), 'RAMPART_ERR_BODY_TOO_LARGE'],
    ['a field too large', TYPE, body([`Content-Disposition: form-data; name="a"\r\n\r\n${'x'.repeat(101)}`]), 'RAMPART_ERR_BODY_TOO_LARGE'],
    ['a file too large', TYPE, body([`Content-Disposition: form-data; name="a"; filename="a"\r\n\r\n${'x'.repeat(101)}`]), 'RAMPART_ERR_BODY_TOO_LARGE'],
    // The name comes after busboy's header limit: busboy would skip the part the upstream may read.
    ['a part whose name is beyond the header limit', TYPE, body([`${Array.from({ length: 40 }, (_, i) => `X-H${i}: v`).join('\r\n')}\r\nContent-Disposition: form-data; name="a"\r\n\r\nv`]), 'RAMPART_ERR_BAD_REQUEST'],
    ['a part without a name', TYPE, body(['Content-Disposition: form-data; name="a"\r\n\r\n1', 'Content-Type: text/plain\r\n\r\nsmuggled']), 'RAMPART_ERR_BAD_REQUEST'],
    ['a part that is not form-data', TYPE, body(['Content-Disposition: attachment; name="a"\r\n\r\n1']), 'RAMPART_ERR_BAD_REQUEST'],
  ])('refuses %s', async (_name, type, bytes, code) => {
    await expect(parseMultipart(bytes, type, LIMITS)).rejects.toSatisfy((e: unknown) => e instanceof BodyError && e.code === code);
  });
});
