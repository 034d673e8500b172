#!/usr/bin/env node
// Entry point for `rampart`. Runs the compiled build in dist/ when it was built from the sources now in src/
// (scripts/build.mjs, run by `npm install` and `npm test`), otherwise the TypeScript sources through tsx's loader,
// so that `npx rampart ...` works straight after `npm install` and right after an edit, never from a stale build.
// RAMPART_FROM_SOURCE=1 always runs the sources.
import { fileURLToPath } from 'node:url';
import { buildIsCurrent } from './build-state.js';
import { tuneV8ForGateway } from './v8-flags.js';

// A gateway process tunes V8 before the rest of Rampart is loaded (v8-flags.js says why and what).
if (process.argv[2] === 'gateway') tuneV8ForGateway();

let entry;
if (process.env.RAMPART_FROM_SOURCE !== '1' && buildIsCurrent(fileURLToPath(new URL('../', import.meta.url)))) {
  entry = await import('../dist/cli/main.js');
} else {
  const { register } = await import('tsx/esm/api');
  register();
  entry = await import('../src/cli/main.ts');
}
await entry.main(process.argv);
