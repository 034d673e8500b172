/**
 * AuditDocument.ownerOf and relativeName read owners off the pointer text when they can; they must answer exactly
 * what the token-by-token definitions answer, for every pointer, escaped or not, well-formed or not.
 */
import { describe, expect, it } from 'vitest';
import { joinPointer, splitPointer } from '../../openapi/pointer.ts';
import { AuditDocument, HTTP_METHODS, ownerOfTokens } from './document.ts';

const TOKENS = ['paths', 'webhooks', 'components', 'definitions', 'parameters', 'responses', 'schemas', 'get', 'post', 'trace', '/pets/{id}', '~', '~1', 'a~b', 'properties', 'items', '0', '12', '', 'x-y', 'content', 'application/json', 'allOf'];
const RAW_TOKENS = ['~2', '~', '~~1', '~01', 'pa~0ths', 'get~', '~10'];

function pointers(): string[] {
  const out = new Set<string>(['', '/', '//', 'paths/a', 'x', '/paths', '/paths/', '/components/schemas', '/components/schemas/']);
  let seed = 7;
  const next = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  for (let i = 0; i < 5000; i++) {
    const length = Math.floor(next() * 6);
    let pointer = '';
    for (let j = 0; j < length; j++) {
      // Mostly pointers as joinPointer writes them, some with escapes no writer produces.
      pointer = next() < 0.85 ? joinPointer(pointer, TOKENS[Math.floor(next() * TOKENS.length)]!) : `${pointer}/${RAW_TOKENS[Math.floor(next() * RAW_TOKENS.length)]}`;
    }
    out.add(pointer);
  }
  return [...out];
}

describe('AuditDocument pointer helpers', () => {
  const ownerOf = (pointer: string) => AuditDocument.prototype.ownerOf.call(undefined as never, pointer);
  const relativeName = (pointer: string, owner: string) => AuditDocument.prototype.relativeName.call(undefined as never, pointer, owner);

  it('ownerOf answers what the token definition answers', () => {
    for (const pointer of pointers()) expect([pointer, ownerOf(pointer)]).toEqual([pointer, ownerOfTokens(splitPointer(pointer))]);
    expect(ownerOf('/paths/~1pets/get/responses/200')).toBe('/paths/~1pets/get');
    expect(HTTP_METHODS.has('get')).toBe(true);
  });

  it('relativeName of a pointer under its owner is that of its remaining tokens', () => {
    const all = pointers();
    for (const pointer of all.slice(0, 2000)) {
      for (const owner of [ownerOf(pointer), ownerOfTokens(splitPointer(pointer)), '', '/paths', all[pointer.length % all.length]!]) {
        const tokens = splitPointer(pointer).slice(splitPointer(owner).length);
        const reference = relativeName(joinPointer('', ...tokens), '');
        expect([pointer, owner, relativeName(pointer, owner)]).toEqual([pointer, owner, reference]);
      }
    }
  });
});
