// `node --import ./test/helpers/package-trace.mjs …`: appends the name of every npm package the
// process loads (one per line) to the file in HERALD_TEST_PACKAGE_TRACE, so a test can check what
// a command loads. ES modules are seen by a resolve hook (on Node's loader thread, hence a file),
// CommonJS ones (also those loaded with require) by the require cache at exit.
import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';

const PACKAGE = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//;
const out = process.env.HERALD_TEST_PACKAGE_TRACE;

if (out) {
  register('./package-trace-hooks.mjs', import.meta.url);
  const requireCache = createRequire(import.meta.url).cache;
  process.on('exit', () => {
    const names = Object.keys(requireCache).flatMap((file) => PACKAGE.exec(file)?.[1] ?? []);
    appendFileSync(out, names.map((name) => `${name}\n`).join(''));
  });
}
