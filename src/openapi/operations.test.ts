import { describe, expect, it } from 'vitest';
import { OperationIndex } from './operations.ts';
import type { LoadIssue } from './model.ts';

function index(entries: Array<[string, string]>): { index: OperationIndex<string>; issues: LoadIssue[] } {
  const issues: LoadIssue[] = [];
  const idx = new OperationIndex<string>();
  for (const [method, path] of entries) idx.add(method, path, `${method} ${path}`, `/paths/${path}`, issues);
  return { index: idx, issues };
}

describe('OperationIndex', () => {
  const { index: idx, issues } = index([
    ['GET', '/pets'],
    ['POST', '/pets'],
    ['GET', '/pets/{petId}'],
    ['GET', '/pets/mine'],
    ['GET', '/pets/{petId}/photos/{photoId}'],
    ['GET', '/pets/mine/photos/latest'],
    ['GET', '/files/{name}.{ext}'],
    ['GET', '/files/{name}'],
    ['GET', '/files/report.{ext}'],
    ['GET', '/a/{x}/c'],
    ['GET', '/a/b/d'],
    ['GET', '/trailing/'],
  ]);

  it('has no issues for distinct templates', () => expect(issues).toEqual([]));

  it.each([
    ['GET', '/pets', 'GET /pets', {}],
    ['POST', '/pets', 'POST /pets', {}],
    ['GET', '/pets/mine', 'GET /pets/mine', {}],
    ['GET', '/pets/7', 'GET /pets/{petId}', { petId: '7' }],
    ['GET', '/pets/a%20b', 'GET /pets/{petId}', { petId: 'a%20b' }],
    ['GET', '/pets/mine/photos/latest', 'GET /pets/mine/photos/latest', {}],
    // Backtracking: the literal `mine` branch has no photos/{photoId}, so the template branch answers.
    ['GET', '/pets/mine/photos/3', 'GET /pets/{petId}/photos/{photoId}', { petId: 'mine', photoId: '3' }],
    ['GET', '/files/report.pdf', 'GET /files/report.{ext}', { ext: 'pdf' }],
    ['GET', '/files/notes.txt', 'GET /files/{name}.{ext}', { name: 'notes', ext: 'txt' }],
    ['GET', '/files/archive.tar.gz', 'GET /files/{name}.{ext}', { name: 'archive', ext: 'tar.gz' }],
    ['GET', '/files/README', 'GET /files/{name}', { name: 'README' }],
    ['GET', '/a/b/c', 'GET /a/{x}/c', { x: 'b' }],
    ['GET', '/a/b/d', 'GET /a/b/d', {}],
    ['GET', '/trailing/', 'GET /trailing/', {}],
    ['HEAD', '/pets/7', 'GET /pets/{petId}', { petId: '7' }],
  ])('%s %s → %s', (method, path, expected, params) => {
    const match = idx.match(method, path);
    expect(match.kind).toBe('found');
    if (match.kind !== 'found') return;
    expect(match.candidates).toHaveLength(1);
    expect(match.candidates[0]!.value).toBe(expected);
    expect(Object.fromEntries(match.candidates[0]!.params)).toEqual(params);
  });

  it.each(['/nothing', '/pets/', '/pets//photos/1', '/trailing', '/', 'pets', '/a/b'])('%s is not found', (path) => {
    expect(idx.match('GET', path).kind).toBe('not-found');
  });

  it('a path declared for other methods is 405 with Allow (HEAD with GET)', () => {
    expect(idx.match('DELETE', '/pets')).toEqual({ kind: 'method-not-allowed', allow: ['GET', 'HEAD', 'POST'] });
    expect(idx.match('POST', '/pets/3')).toEqual({ kind: 'method-not-allowed', allow: ['GET', 'HEAD'] });
  });

  it('templates differing only in parameter names are one path: a warning, both kept as candidates in order', () => {
    const { index: dup, issues: found } = index([
      ['GET', '/boards/{idBoard}/cards/{idCard}'],
      ['GET', '/boards/{idBoard}/cards/{filter}'],
    ]);
    expect(found).toEqual([expect.objectContaining({ severity: 'warning', message: expect.stringContaining('is the same path as GET /boards/{idBoard}/cards/{idCard}') })]);
    const match = dup.match('GET', '/boards/1/cards/open');
    expect(match.kind === 'found' && match.candidates.map((c) => [c.value, Object.fromEntries(c.params)])).toEqual([
      ['GET /boards/{idBoard}/cards/{idCard}', { idBoard: '1', idCard: 'open' }],
      ['GET /boards/{idBoard}/cards/{filter}', { idBoard: '1', filter: 'open' }],
    ]);
  });
});
