// Imports flow one way between folders (docs/architecture.md, "Layers"): any folder-level
// cycle in src/ or workers/ fails here, printed with the file-level imports that make it.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { collectImports, describeCycles, findFolderCycles } from './helpers/import-graph.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

describe('folder imports', () => {
  const edges = collectImports(repoRoot);

  it('have no cycle in src/ and workers/', () => {
    // A sanity floor: the walk found the sources (an empty graph has no cycle either).
    expect(edges.length).toBeGreaterThan(300);
    expect(describeCycles(findFolderCycles(edges))).toBe('');
  });
});

describe('the cycle check', () => {
  const fixture = mkdtempSync(join(tmpdir(), 'herald-arch-'));
  afterAll(() => rmSync(fixture, { recursive: true, force: true }));
  const write = (path: string, text: string) => {
    mkdirSync(dirname(join(fixture, path)), { recursive: true });
    writeFileSync(join(fixture, path), text);
  };

  it('passes a tree whose imports flow one way', () => {
    write('src/low/a.ts', 'export const a = 1;\n');
    write('src/high/b.ts', "import { a } from '../low/a.ts';\nexport const b = a;\n");
    write('workers/w.ts', "import { b } from '../src/high/b.ts';\nexport const w = b;\n");
    expect(findFolderCycles(collectImports(fixture))).toEqual([]);
  });

  it('reports a cycle made by a type-only import, with its file-level edges', () => {
    write('src/low/c.ts', "import type { B } from '../high/types.ts';\nexport type C = B;\n");
    write('src/high/types.ts', 'export type B = number;\n');
    const cycles = findFolderCycles(collectImports(fixture));
    expect(cycles).toEqual([
      {
        folders: ['high', 'low'],
        edges: [
          { from: 'src/high/b.ts', to: 'src/low/a.ts' },
          { from: 'src/low/c.ts', to: 'src/high/types.ts' },
        ],
      },
    ]);
    expect(describeCycles(cycles)).toContain('low -> high: src/low/c.ts -> src/high/types.ts');
    rmSync(join(fixture, 'src/low/c.ts'));
  });

  it('reports a cycle made by a dynamic import through workers/ and a src/ root file', () => {
    write('src/root.ts', "export async function run() { return import('../workers/w.ts'); }\n");
    write('src/low/d.ts', "export { run } from '../root.ts';\n");
    const cycles = findFolderCycles(collectImports(fixture));
    expect(cycles.map((cycle) => cycle.folders)).toEqual([['high', 'low', 'root.ts', 'workers']]);
    expect(cycles[0]?.edges).toContainEqual({ from: 'src/root.ts', to: 'workers/w.ts' });
  });
});
