// The folder-level import graph of Herald's sources, and the cycles in it. A "folder" is the
// first directory under src/ (src/delivery/deliver.ts → `delivery`), a file directly under
// src/ is its own node (src/app.ts → `app.ts`), and everything under workers/ is `workers`.
// Every kind of import counts: static, type-only, re-exports and dynamic `import()`, because
// a type-only import still means one folder cannot be read or moved without the other.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { parseAst } from 'rolldown/parseAst';

export interface FileEdge {
  /** Importing file, relative to the root, with `/` separators. */
  from: string;
  /** Imported file, relative to the root. */
  to: string;
}

export interface FolderCycle {
  /** The folders of one strongly connected component, sorted. */
  folders: string[];
  /** The file-level imports between those folders that make the cycle. */
  edges: FileEdge[];
}

/** The folder a source file belongs to, or undefined for files outside the checked roots. */
export function folderOf(file: string): string | undefined {
  const parts = file.split('/');
  if (parts[0] === 'workers') return 'workers';
  if (parts[0] !== 'src' || parts.length < 2) return undefined;
  // src/app.ts is the node `app.ts`, src/delivery/… the node `delivery`.
  return parts[1];
}

function listTsFiles(root: string, dir: string): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) files.push(...listTsFiles(root, path));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) files.push(path);
  }
  return files;
}

// Nodes whose `source` names another module: static, type-only and re-exporting imports,
// dynamic `import()` and `import('…').Type` in type positions.
const IMPORTING_NODES = new Set([
  'ImportDeclaration',
  'ExportAllDeclaration',
  'ExportNamedDeclaration',
  'ImportExpression',
  'TSImportType',
]);

/** The module specifiers a parsed file imports, in any of the forms above. */
function importSpecifiers(node: unknown, found: string[] = []): string[] {
  if (Array.isArray(node)) {
    for (const child of node) importSpecifiers(child, found);
  } else if (node !== null && typeof node === 'object') {
    const record = node as Record<string, unknown>;
    const source = record.source as { type?: string; value?: unknown } | null | undefined;
    if (IMPORTING_NODES.has(record.type as string) && typeof source?.value === 'string') {
      found.push(source.value);
    }
    for (const [key, child] of Object.entries(record))
      if (key !== 'source') importSpecifiers(child, found);
  }
  return found;
}

/** Every relative import between the .ts files under `roots` (paths relative to `root`). */
export function collectImports(
  root: string,
  roots: readonly string[] = ['src', 'workers'],
): FileEdge[] {
  const edges: FileEdge[] = [];
  for (const dir of roots) {
    for (const file of listTsFiles(root, dir)) {
      const source = readFileSync(join(root, file), 'utf8');
      for (const fileName of importSpecifiers(parseAst(source, { lang: 'ts' }, file))) {
        if (!fileName.startsWith('.')) continue;
        const target = relative(root, resolve(root, dirname(file), fileName))
          .split(sep)
          .join('/');
        edges.push({ from: file, to: target });
      }
    }
  }
  return edges;
}

/** Folder-level cycles (strongly connected components of two or more folders). */
export function findFolderCycles(fileEdges: readonly FileEdge[]): FolderCycle[] {
  const graph = new Map<string, Set<string>>();
  const crossing: Array<FileEdge & { a: string; b: string }> = [];
  for (const edge of fileEdges) {
    const a = folderOf(edge.from);
    const b = folderOf(edge.to);
    if (a === undefined || b === undefined || a === b) continue;
    crossing.push({ ...edge, a, b });
    if (!graph.has(a)) graph.set(a, new Set());
    if (!graph.has(b)) graph.set(b, new Set());
    graph.get(a)?.add(b);
  }
  // Tarjan's algorithm, iterative enough for a graph of a few dozen folders.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  let next = 0;
  const visit = (node: string): void => {
    index.set(node, next);
    low.set(node, next);
    next++;
    stack.push(node);
    onStack.add(node);
    for (const target of graph.get(node) ?? []) {
      if (!index.has(target)) {
        visit(target);
        low.set(node, Math.min(low.get(node) as number, low.get(target) as number));
      } else if (onStack.has(target)) {
        low.set(node, Math.min(low.get(node) as number, index.get(target) as number));
      }
    }
    if (low.get(node) === index.get(node)) {
      const component: string[] = [];
      let member: string | undefined;
      do {
        member = stack.pop() as string;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1) components.push(component.sort());
    }
  };
  for (const node of [...graph.keys()].sort()) if (!index.has(node)) visit(node);
  return components.map((folders) => ({
    folders,
    edges: crossing
      .filter((edge) => folders.includes(edge.a) && folders.includes(edge.b))
      .map(({ from, to }) => ({ from, to }))
      .sort((x, y) => `${x.from} ${x.to}`.localeCompare(`${y.from} ${y.to}`)),
  }));
}

/** One readable paragraph per cycle: its folders, then each file-level import in it. */
export function describeCycles(cycles: readonly FolderCycle[]): string {
  return cycles
    .map(
      (cycle) =>
        `cycle between ${cycle.folders.join(', ')}:\n` +
        cycle.edges
          .map(
            (edge) =>
              `  ${folderOf(edge.from)} -> ${folderOf(edge.to)}: ${edge.from} -> ${edge.to}`,
          )
          .join('\n'),
    )
    .join('\n');
}
