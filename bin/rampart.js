#!/usr/bin/env node
// Entry point for `rampart`. Runs the TypeScript sources through tsx's loader so that
// `npx rampart ...` works straight after `npm install`, with no separate build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
await main(process.argv);
