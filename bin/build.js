#!/usr/bin/env node
// `npm run build` (and `prepare`, so `npm ci` builds): compiles src/ and workers/ to dist/ with
// tsc -p tsconfig.build.json, and copies what the code reads next to itself at run time
// (src/**/*.yaml, the console's views and assets under src/http/console, the demo article,
// templates/), and saves the text of `herald --help`. Options:
//   --no-check   emit without type-checking (typecheck is its own CI step; tests use this)
//   --if-stale   do nothing when dist/ was built from exactly these inputs (content hash)
// The new build is made beside dist/ and swapped in, so a `herald` started meanwhile never
// sees half a build (at worst no dist/, and bin/herald.js then runs the sources).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DIST = join(ROOT, 'dist');
const STAMP = '.build-hash';
/** Inputs whose content decides the build; the folders are walked whole. */
const INPUTS = [
  'src',
  'workers',
  'templates',
  'tsconfig.json',
  'tsconfig.build.json',
  'package.json',
  'bin/build.js',
  // The versions of the packages bundled into dist/node_modules (see VENDORED below).
  'node_modules/kysely/package.json',
  'node_modules/zod/package.json',
  'node_modules/fastify-type-provider-zod/package.json',
];

const args = new Set(process.argv.slice(2));
for (const arg of args) {
  if (arg !== '--no-check' && arg !== '--if-stale') {
    process.stderr.write(`build: unknown option ${arg} (known: --no-check, --if-stale)\n`);
    process.exit(2);
  }
}

/** Every file under `path` (or `path` itself), relative to the root, sorted for a stable hash. */
function files(path) {
  const full = join(ROOT, path);
  if (!existsSync(full)) return [];
  if (!statSync(full).isDirectory()) return [path];
  return readdirSync(full)
    .sort()
    .flatMap((name) => files(join(path, name)));
}

/** sha256 over the names and contents of every input (a few ms for the whole tree). */
function inputHash() {
  const hash = createHash('sha256');
  for (const input of INPUTS) {
    for (const file of files(input)) {
      hash.update(`${file}\0`);
      hash.update(readFileSync(join(ROOT, file)));
      hash.update('\0');
    }
  }
  return hash.digest('hex');
}

const hash = inputHash();
if (args.has('--if-stale') && existsSync(join(DIST, STAMP))) {
  if (readFileSync(join(DIST, STAMP), 'utf8') === hash) process.exit(0);
}

const staging = join(ROOT, `dist.tmp-${process.pid}`);
rmSync(staging, { recursive: true, force: true });
// typescript's exports do not list bin/tsc: find it from its package.json.
const tsc = join(
  dirname(createRequire(import.meta.url).resolve('typescript/package.json')),
  'bin',
  'tsc',
);
try {
  execFileSync(
    process.execPath,
    [
      tsc,
      '-p',
      join(ROOT, 'tsconfig.build.json'),
      '--outDir',
      staging,
      ...(args.has('--no-check') ? ['--noCheck'] : []),
    ],
    { cwd: ROOT, stdio: 'inherit' },
  );
} catch {
  rmSync(staging, { recursive: true, force: true });
  process.stderr.write('build: tsc failed (see above); dist/ left as it was\n');
  process.exit(1);
}
// Non-TypeScript files under src/ are read next to their module (import.meta.url), templates/
// from ../../templates of src/templates: keep both relations inside dist/.
for (const file of files('src')) {
  if (!file.endsWith('.ts') && !file.endsWith('.md')) cpSync(join(ROOT, file), join(staging, file));
}
cpSync(join(ROOT, 'templates'), join(staging, 'templates'), { recursive: true });
// The topic catalogue parsed and validated once here: every store open reads it, and the YAML
// parse and checks cost a CLI call about a fifth of its start-up (used only while its hash
// matches the YAML beside it, see catalogueFromFile).
try {
  const catalogue = join(staging, 'src/topics/catalogue.js');
  const { parsedCatalogue } = await import(pathToFileURL(catalogue).href);
  const text = readFileSync(join(staging, 'src/topics/catalogue.yaml'), 'utf8');
  writeFileSync(
    join(staging, 'src/topics/catalogue.parsed.json'),
    JSON.stringify(parsedCatalogue(text)),
  );
} catch (error) {
  rmSync(staging, { recursive: true, force: true });
  process.stderr.write(`build: the topic catalogue does not parse: ${error}\n`);
  process.exit(1);
}
// Kysely's and zod's ES builds are some 260 and 95 modules: loading them one by one cost every
// CLI call about 0.3 s of CPU, half of a `campaign status`. Each is bundled into a few modules
// under dist/node_modules, which Node finds from dist/ before the root node_modules. One copy of
// each must stay: nothing in node_modules imports kysely, and the one package importing zod
// (fastify-type-provider-zod, through zod/v4/core) is bundled there too, so it finds this zod.
// Without rolldown (a production-only install) dist/ uses node_modules as it is.
const VENDORED = [
  { name: 'kysely', entries: { index: 'kysely' } },
  { name: 'zod', entries: { index: 'zod', 'v4/core': 'zod/v4/core' } },
  { name: 'fastify-type-provider-zod', entries: { index: 'fastify-type-provider-zod' } },
];
try {
  const { build } = await import('rolldown');
  for (const { name, entries } of VENDORED) {
    const vendor = join(staging, 'node_modules', name);
    await build({
      input: entries,
      cwd: ROOT,
      platform: 'node',
      logLevel: 'warn',
      // Only the package's own code: another package it imports is resolved as usual.
      external: (id, importer) =>
        importer !== undefined &&
        !id.startsWith('.') &&
        !id.startsWith('/') &&
        !id.startsWith(name),
      output: { dir: vendor, format: 'esm' },
    });
    const manifest = JSON.parse(
      readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8'),
    );
    const exports = Object.fromEntries(
      Object.keys(entries).map((entry) => [
        entry === 'index' ? '.' : `./${entry}`,
        `./${entry}.js`,
      ]),
    );
    writeFileSync(
      join(vendor, 'package.json'),
      `${JSON.stringify({ name, version: manifest.version, type: 'module', exports }, null, 2)}\n`,
    );
  }
} catch (error) {
  if (error?.code !== 'ERR_MODULE_NOT_FOUND') {
    rmSync(staging, { recursive: true, force: true });
    process.stderr.write(
      `build: bundling ${VENDORED.map((v) => v.name).join(', ')} failed: ${error}\n`,
    );
    process.exit(1);
  }
}
// `herald --help` would load every command family (seconds of CPU) to print a text fixed by
// the code: print it once now, with everything loaded, for main.js to serve as it is.
try {
  const help = execFileSync(process.execPath, [join(staging, 'src/cli/main.js'), '--help'], {
    cwd: ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  writeFileSync(join(staging, 'src/cli/main.help.txt'), help);
} catch {
  rmSync(staging, { recursive: true, force: true });
  process.stderr.write(
    'build: the built `herald --help` failed (see above); dist/ left as it was\n',
  );
  process.exit(1);
}
writeFileSync(join(staging, STAMP), hash);

const old = join(ROOT, `dist.old-${process.pid}`);
if (existsSync(DIST)) renameSync(DIST, old);
renameSync(staging, DIST);
rmSync(old, { recursive: true, force: true });
