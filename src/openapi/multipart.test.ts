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
