#!/usr/bin/env node
// Entry point of the `herald` command: runs the JavaScript build in dist/ (made by `npm run
// build`, which `npm ci` runs as `prepare`), so no TypeScript is compiled at start. Without a
// build (a clone before its first install) it runs the sources through tsx instead.
import { existsSync } from 'node:fs';
import v8 from 'node:v8';

// V8 sizes the young generation for throughput: semi-spaces grow to 16 MB (about 30 MB more
// resident memory) as soon as a burst of allocation survives. Herald's processes allocate in
// small bursts (a page of the ledger, an HTTP reply) and keep little, so `herald start` keeps
// its young generation at V8's starting size (measured idle: 165 → 137 MB RSS). A running
// heap cannot be re-sized (--max-semi-space-size is read when it is made), but V8 reads the
// growth factor at each resize; set before anything loads. The delivery processes and the
// MJML compiler get --max-semi-space-size=2 when they are forked.
v8.setFlagsFromString('--semi-space-growth-factor=1');

const built = new URL('../dist/src/cli/main.js', import.meta.url);
if (existsSync(built)) {
  await import(built.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
