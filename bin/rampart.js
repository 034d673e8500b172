#!/usr/bin/env node
// Entry point for `rampart`. Runs the compiled build in dist/ when it was built from the sources now in src/
// (scripts/build.mjs, run by `npm install` and `npm test`), otherwise the TypeScript sources through tsx's loader,
// so that `npx rampart ...` works straight after `npm install` and right after an edit, never from a stale build.
// RAMPART_FROM_SOURCE=1 always runs the sources.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { sourceState } from './build-state.js';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));
const BUILD = new URL('../dist/BUILD.json', import.meta.url);

/** True when dist/ holds a complete build of exactly the files now under src/. */
function buildIsCurrent() {
  if (process.env.RAMPART_FROM_SOURCE === '1' || !existsSync(BUILD)) return false;
  try {
    const { source } = JSON.parse(readFileSync(BUILD, 'utf8'));
    const now = sourceState(SRC);
    return source.files === now.files && now.newestMs <= source.newestMs;
  } catch {
    return false;
  }
}

let entry;
if (buildIsCurrent()) {
  entry = await import('../dist/cli/main.js');
} else {
  const { register } = await import('tsx/esm/api');
  register();
  entry = await import('../src/cli/main.ts');
}
await entry.main(process.argv);
