// Whether dist/ was built from the sources now in src/: bin/rampart.js runs dist/ only then, scripts/build.mjs has
// nothing to do then, and the benchmarks report which of the two ran. dist/BUILD.json records the number of files
// under src/ and the newest modification time among them when the build started; a file added, removed or edited
// after the build changes one or the other, and bin/rampart.js then runs the sources through tsx instead (slower to
// start, never stale). Walking src/ costs a few milliseconds.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** @param {string} dir @returns {{ files: number, newestMs: number }} */
export function sourceState(dir) {
  let files = 0;
  let newestMs = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    files++;
    const { mtimeMs } = statSync(join(entry.parentPath ?? entry.path, entry.name));
    if (mtimeMs > newestMs) newestMs = mtimeMs;
  }
  return { files, newestMs };
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
    return source.files === now.files && now.newestMs <= source.newestMs;
  } catch {
    return false;
  }
}
