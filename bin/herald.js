#!/usr/bin/env node
// Entry point of the `herald` command: runs the JavaScript build in dist/ (made by `npm run
// build`, which `npm ci` runs as `prepare`), so no TypeScript is compiled at start. Without a
// build (a clone before its first install) it runs the sources through tsx instead.
import { existsSync } from 'node:fs';

const built = new URL('../dist/src/cli/main.js', import.meta.url);
if (existsSync(built)) {
  await import(built.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
