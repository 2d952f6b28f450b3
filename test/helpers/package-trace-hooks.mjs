// Resolve hook of package-trace.mjs: records the package of every module resolved from node_modules.
import { appendFileSync } from 'node:fs';

const PACKAGE = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//;

export async function resolve(specifier, context, nextResolve) {
  const resolved = await nextResolve(specifier, context);
  const name = PACKAGE.exec(resolved.url)?.[1];
  if (name) appendFileSync(process.env.HERALD_TEST_PACKAGE_TRACE, `${name}\n`);
  return resolved;
}
