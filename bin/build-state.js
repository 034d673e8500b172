// Whether dist/ was built from the sources now in src/: bin/rampart.js runs dist/ only then, scripts/build.mjs has
// nothing to do then, and the benchmarks report which of the two ran. dist/BUILD.json records, from when the build
// started, the number of files under src/, the newest modification time among them, and a fingerprint of every
// file's path, size and modification time. A file added, removed, renamed or edited after the build changes the
// fingerprint, even when the edit leaves an older date (`cp -p`, `git stash pop` of an older copy, `touch -d`) or
// keeps the file count: bin/rampart.js then runs the sources through tsx instead (slower to start, never stale).
// Walking src/ costs a few milliseconds.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

/** @param {string} dir @returns {{ files: number, newestMs: number, fingerprint: string }} */
export function sourceState(dir) {
  /** @type {string[]} */
  const lines = [];
  let newestMs = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const file = join(entry.parentPath ?? entry.path, entry.name);
    const { mtimeMs, size } = statSync(file);
    if (mtimeMs > newestMs) newestMs = mtimeMs;
    // NUL cannot occur in a path: one line per file, unambiguous.
    lines.push(`${relative(dir, file)}\0${size}\0${mtimeMs}`);
  }
  lines.sort();
  const fingerprint = createHash('sha256').update(lines.join('\n')).digest('base64url');
  return { files: lines.length, newestMs, fingerprint };
}

/**
 * True when `root`/dist holds a complete build (its BUILD.json, written last) of exactly the files now under
 * `root`/src. A missing, unreadable or malformed BUILD.json is no build.
 * @param {string} root @returns {boolean}
 */
export function buildIsCurrent(root) {
  try {
    const { source } = JSON.parse(readFileSync(join(root, 'dist', 'BUILD.json'), 'utf8'));
    const now = sourceState(join(root, 'src'));
    return typeof source.fingerprint === 'string' && source.fingerprint === now.fingerprint && source.files === now.files;
  } catch {
    return false;
  }
}
