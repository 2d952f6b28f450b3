// Builds dist/ before any test runs when the sources changed since the last build: tests that
// spawn `bin/herald.js` then run exactly the code under test, never a stale build.
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';

export default function buildOnce(): void {
  execFileSync(
    process.execPath,
    [resolve(import.meta.dirname, '../bin/build.js'), '--if-stale', '--no-check'],
    { stdio: 'inherit' },
  );
}
