/**
 * bin/rampart.js runs dist/ only while it is a complete build of the files now under src/ (bin/build-state.js),
 * and the sources through tsx otherwise: a stale build must never run. Driven on a scratch copy of bin/ whose src/
 * and dist/ entry points say which of them ran.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { sourceState } from '../bin/build-state.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'rampart-bin-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

cpSync(join(ROOT, 'bin'), join(dir, 'bin'), { recursive: true });
symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');

const mainSource = (which: string) => `export async function main(argv) { console.log(${JSON.stringify(which)} + ' ' + argv.slice(2).join(' ')); }\n`;
const past = new Date(Date.now() - 3_600_000);

/** A src/ of two files and a matching dist/ with its BUILD.json, all dated an hour ago. */
function freshBuild(): void {
  rmSync(join(dir, 'src'), { recursive: true, force: true });
  rmSync(join(dir, 'dist'), { recursive: true, force: true });
  mkdirSync(join(dir, 'src', 'cli'), { recursive: true });
  mkdirSync(join(dir, 'dist', 'cli'), { recursive: true });
  // Typed, so that only tsx (not plain Node) can run it.
  writeFileSync(join(dir, 'src', 'cli', 'main.ts'), mainSource('src').replace('(argv)', '(argv: string[]): Promise<void>'));
  writeFileSync(join(dir, 'src', 'data.txt'), 'data\n');
  for (const file of ['src/cli/main.ts', 'src/data.txt']) utimesSync(join(dir, file), past, past);
  writeFileSync(join(dir, 'dist', 'cli', 'main.js'), mainSource('dist'));
  writeFileSync(join(dir, 'dist', 'BUILD.json'), JSON.stringify({ source: sourceState(join(dir, 'src')) }));
}

function ran(env: Record<string, string> = {}): string {
  return execFileSync(process.execPath, [join(dir, 'bin', 'rampart.js'), 'scan', '--spec', 'x.yaml'], {
    cwd: dir,
    env: { ...process.env, RAMPART_FROM_SOURCE: '', ...env },
    encoding: 'utf8',
  }).trim();
}

describe('bin/rampart.js chooses dist/ or src/', () => {
  beforeEach(freshBuild);

  it('runs dist/ when it was built from the sources now in src/, passing the arguments through', () => {
    expect(ran()).toBe('dist scan --spec x.yaml');
  });

  const stale: Array<[string, () => void]> = [
    ['a source edited after the build', () => writeFileSync(join(dir, 'src', 'data.txt'), 'edited\n')],
    ['a source added, even with an old date', () => {
      writeFileSync(join(dir, 'src', 'added.ts'), 'export {};\n');
      utimesSync(join(dir, 'src', 'added.ts'), past, past);
    }],
    ['a source removed', () => unlinkSync(join(dir, 'src', 'data.txt'))],
    ['a source replaced by one of the same size dated before the build (cp -p of an older copy)', () => {
      writeFileSync(join(dir, 'src', 'data.txt'), 'DATA\n');
      const older = new Date(past.getTime() - 60_000);
      utimesSync(join(dir, 'src', 'data.txt'), older, older);
    }],
    ['a source renamed, keeping its date', () => {
      renameSync(join(dir, 'src', 'data.txt'), join(dir, 'src', 'renamed.txt'));
    }],
    ['a BUILD.json of an older build without a fingerprint', () => {
      const { fingerprint: _fingerprint, ...legacy } = sourceState(join(dir, 'src'));
      writeFileSync(join(dir, 'dist', 'BUILD.json'), JSON.stringify({ source: legacy }));
    }],
    ['no BUILD.json (a build that stopped half-way)', () => unlinkSync(join(dir, 'dist', 'BUILD.json'))],
    ['a BUILD.json that is not JSON', () => writeFileSync(join(dir, 'dist', 'BUILD.json'), '{"source": ')],
    ['a BUILD.json of another shape', () => writeFileSync(join(dir, 'dist', 'BUILD.json'), '{"source": null}')],
  ];
  for (const [what, change] of stale) {
    it(`runs src/ through tsx with ${what}`, () => {
      change();
      expect(ran()).toBe('src scan --spec x.yaml');
    });
  }

  it('runs src/ when RAMPART_FROM_SOURCE=1, however current dist/ is', () => {
    expect(ran({ RAMPART_FROM_SOURCE: '1' })).toBe('src scan --spec x.yaml');
  });
});

describe('sourceState', () => {
  it('counts every file below the folder and finds the newest modification time', () => {
    freshBuild();
    const before = sourceState(join(dir, 'src'));
    expect(before.files).toBe(2);
    expect(before.newestMs).toBeCloseTo(past.getTime(), -3);
    writeFileSync(join(dir, 'src', 'cli', 'other.ts'), 'export {};\n');
    const after = sourceState(join(dir, 'src'));
    expect(after.files).toBe(3);
    expect(after.newestMs).toBeGreaterThan(before.newestMs);
    expect(after.fingerprint).not.toBe(before.fingerprint);
    // Nothing changed: the same state again (the walk's order does not matter).
    expect(sourceState(join(dir, 'src'))).toEqual(after);
  });
});
