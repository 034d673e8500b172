/**
 * Every public document of the shared corpus (../shared/specs, listed in its MANIFEST.tsv) loads and compiles
 * (issue 5 item 1: "Real public documents must load"). Loading goes through `loadOpenApiSync`, the path the config
 * check takes; compiling builds every operation's validators. The documents are read in place, never copied here.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadOpenApiSync } from '../src/openapi/load.ts';
import { CompiledContract } from '../src/openapi/validator.ts';

const SPECS = process.env.RAMPART_SPECS_DIR ?? fileURLToPath(new URL('../../shared/specs/', import.meta.url));
const MANIFEST = `${SPECS.replace(/\/?$/, '/')}MANIFEST.tsv`;

interface Entry {
  readonly file: string;
  readonly version: string;
}

function manifest(): Entry[] {
  const [header, ...rows] = readFileSync(MANIFEST, 'utf8').split('\n').filter(Boolean);
  const columns = header!.split('\t');
  const fileAt = columns.indexOf('file');
  const versionAt = columns.indexOf('openapi_version');
  return rows.map((row) => {
    const cells = row.split('\t');
    return { file: cells[fileAt]!, version: cells[versionAt]! };
  });
}

if (!existsSync(MANIFEST)) {
  console.warn(`\n*** contract corpus: ${MANIFEST} is missing; the corpus test is SKIPPED (set RAMPART_SPECS_DIR or provide ../shared/specs) ***\n`);
  describe('contract corpus', () => {
    it.skip(`every document in ${SPECS} loads (folder missing)`, () => undefined);
  });
} else {
  const entries = manifest();
  describe(`contract corpus: ${entries.length} public documents in ${SPECS}`, () => {
    it('lists at least one document', () => expect(entries.length).toBeGreaterThan(0));
    it.each(entries.map((e) => [e.file, e] as const))('%s loads and compiles', (_file, entry) => {
      const result = loadOpenApiSync(SPECS.replace(/\/?$/, '/') + entry.file);
      if (!result.ok) throw new Error(`${entry.file} does not load:\n${result.errors.map((e) => e.text).join('\n')}`);
      // Versions as the manifest says: 2.0, 3.0.x → 3.0, 3.1.x → 3.1.
      expect(result.api.model.version).toBe(entry.version === '2.0' ? '2.0' : entry.version.slice(0, 3));
      const compiled = CompiledContract.compile(result.api, { rejectUndeclaredBody: true, rejectUndeclaredQuery: true });
      if (!compiled.ok) throw new Error(`${entry.file} does not compile:\n${compiled.errors.map((e) => e.text).join('\n')}`);
      expect(compiled.contract.operations.length).toBe(result.api.model.operations.length);
      // Every operation is reachable through the index by its own template.
      for (const op of compiled.contract.operations) {
        const sample = op.model.path.replace(/\{[^}]+\}/g, 'x1');
        const match = compiled.contract.index.match(op.model.method, sample);
        expect(match.kind, `${op.model.method} ${op.model.path}`).toBe('found');
      }
    }, 60_000);
  });
}
