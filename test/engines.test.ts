// `npm ci` warns EBADENGINE when a locked package does not run on the installing Node (issue
// 12): the lowest Node our `engines` field allows must satisfy every locked package, and the
// README must name that version.
import { readFileSync } from 'node:fs';
import semver from 'semver';
import { describe, expect, it } from 'vitest';

interface LockFile {
  packages: Record<string, { version?: string; engines?: { node?: string } | string[] }>;
}

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { engines: { node: string } };
const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as LockFile;

/** The first version of each line the engines field allows (`^20.19.0 || >=22` → 20.19.0, 22.0.0). */
function lowestOfEachLine(range: string): semver.SemVer[] {
  return new semver.Range(range).set.map(
    (comparators) => semver.minVersion(comparators.map((c) => c.value).join(' '))!,
  );
}

describe('supported Node versions', () => {
  it('every locked package accepts the lowest Node of each line that package.json engines allows', () => {
    const lowest = lowestOfEachLine(pkg.engines.node);
    expect(lowest.length).toBeGreaterThan(0);
    const refused = Object.entries(lock.packages).flatMap(([path, entry]) => {
      const range = !Array.isArray(entry.engines) ? entry.engines?.node : undefined;
      if (path === '' || range === undefined) return [];
      return lowest
        .filter((node) => !semver.satisfies(node, range))
        .map((node) => `${path}@${entry.version} refuses Node ${node.version}`);
    });
    expect(refused).toEqual([]);
  });

  it('the README names those versions', () => {
    const readme = readFileSync('README.md', 'utf8');
    const needs = /^Needs (Node\.js [^\n]*)$/m.exec(readme)?.[1] ?? '';
    for (const node of lowestOfEachLine(pkg.engines.node)) {
      expect(needs).toContain(node.patch === 0 ? `${node.major}.${node.minor}` : node.version);
    }
  });
});
