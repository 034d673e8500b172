/**
 * `writeJsonFile` streams a report to a file; the bytes must be those of `JSON.stringify(value, null, 2) + '\n'`
 * (what `render` prints), for any value and any streaming depth, and for the real JSON and SARIF reports.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildReport } from '../../../test/fixtures/scan/report-fixture.ts';
import { writeJsonFile } from './json-file.ts';
import { render, writeReports } from './index.ts';

const dir = mkdtempSync(join(tmpdir(), 'rampart-json-file-'));

function written(value: unknown, depth: number): string {
  const file = join(dir, `v${depth}.json`);
  writeJsonFile(file, value, depth);
  return readFileSync(file, 'utf8');
}

describe('writeJsonFile', () => {
  const values: Array<[string, unknown]> = [
    ['nested objects and arrays', { a: [1, { b: [2, [3, []]], c: {} }], d: 'x', e: [], f: {} }],
    ['members JSON.stringify leaves out, and array holes it writes as null', { u: undefined, f: () => 1, s: Symbol('s'), keep: 1, list: [undefined, () => 1, Symbol('t'), 2] }],
    ['toJSON, dates, non-finite numbers', { when: new Date(0), custom: { toJSON: () => ({ replaced: true }) }, gone: { toJSON: () => undefined }, n: [NaN, Infinity, -0] }],
    ['strings with newlines, quotes and unicode', { 'key "q"\n': 'line\nbreak "q" \\ \u2028 ünï 🙂', list: ['a\nb', { 'x\ny': 'z' }] }],
    ['integer-like keys (ordered first, as JSON.stringify orders them)', { b: 1, 2: 'two', a: [{ 10: 1, 1: 2 }], 1: 'one' }],
    ['an array at the top', [{ a: 1 }, [], {}, 'x', null]],
    ['empty containers at the top', {}],
    ['a scalar at the top', 'just text'],
  ];
  it.each(values)('writes the same bytes as JSON.stringify: %s', (_name, value) => {
    for (const depth of [0, 1, 2, 3, 6]) expect(written(value, depth), `depth ${depth}`).toBe(JSON.stringify(value, null, 2) + '\n');
  });

  it('refuses a value JSON.stringify cannot write', () => {
    expect(() => writeJsonFile(join(dir, 'none.json'), undefined, 2)).toThrow(TypeError);
  });

  it('writes the JSON and SARIF reports exactly as render prints them', async () => {
    const { report } = await buildReport();
    const out = join(dir, 'reports');
    writeReports(report, { formats: ['json', 'sarif'], outDir: out }, () => {});
    expect(readFileSync(join(out, 'rampart-scan.json'), 'utf8')).toBe(render(report, 'json'));
    expect(readFileSync(join(out, 'rampart-scan.sarif'), 'utf8')).toBe(render(report, 'sarif'));
    // Large enough that the writer flushed several times.
    expect(render(report, 'sarif').length).toBeGreaterThan(10_000);
  });
});
