// What bin/rampart.js and scripts/build.mjs compare to tell whether dist/ was built from the sources now in src/:
// the number of files under src/ and the newest modification time among them. A file added, removed or edited
// after the build changes one or the other, and bin/rampart.js then runs the sources through tsx instead
// (slower to start, never stale). Walking src/ costs a few milliseconds.
import { readdirSync, statSync } from 'node:fs';
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
