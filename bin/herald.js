#!/usr/bin/env node
// Entry point of the `herald` command: runs the JavaScript build in dist/ (made by `npm run
// build`, which `npm ci` runs as `prepare`), so no TypeScript is compiled at start. Without a
// build (a clone before its first install) it runs the sources through tsx instead.
import { existsSync } from 'node:fs';
import v8 from 'node:v8';

// V8 sizes its heap for throughput: the young generation's semi-spaces grow to 16 MB (about
// 30 MB more resident memory) as soon as a burst of allocation survives, and the old
// generation grows to up to four times what is live before it is collected. Herald's
// processes run for days, allocate in small bursts (a page of the ledger, an HTTP reply) and
// keep little, so they keep the young generation at V8's starting size (idle `herald
// start`: 165 → 137 MB RSS) and collect the old one at one and a half times what is live.
// A running heap cannot be re-sized (--max-semi-space-size is read when it is made), but V8
// reads these two at each resize; they are set before anything loads. The delivery
// processes are forked with the same (workers/index.ts).
v8.setFlagsFromString('--semi-space-growth-factor=1');
v8.setFlagsFromString('--heap-growing-percent=50');

const built = new URL('../dist/src/cli/main.js', import.meta.url);
if (existsSync(built)) {
  await import(built.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
