// The compiled CLI: the build in dist/ (brought up to date by test/global-setup.ts) is what
// `bin/herald.js` runs, it holds every module and asset the sources have, and it answers like
// the sources do.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parsedCatalogue } from '../src/topics/catalogue.ts';

const ROOT = resolve(import.meta.dirname, '..');
const FIXTURE = new URL('./fixtures/articles/lavrov-china.txt', import.meta.url).pathname;

/** Every file under a folder of the repository, relative to the repository. */
function filesUnder(folder: string): string[] {
  const full = join(ROOT, folder);
  return readdirSync(full).flatMap((name) =>
    statSync(join(full, name)).isDirectory()
      ? filesUnder(join(folder, name))
      : [relative(ROOT, join(full, name))],
  );
}

/** CPU ms (user + system) of this process's finished children so far (Linux /proc). */
function childrenCpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[13]) + Number(fields[14])) * 1000) / 100;
}

/** Runs a node entry with arguments; returns its output, its exit code and its CPU ms. */
function runNode(entry: string[], args: string[], env: Record<string, string> = {}) {
  const before = childrenCpuMs();
  const run = spawnSync(process.execPath, [...entry, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, LOG_LEVEL: 'silent', ...env },
  });
  return {
    stdout: run.stdout,
    stderr: run.stderr,
    status: run.status,
    cpuMs: childrenCpuMs() - before,
  };
}

const BUILT = ['bin/herald.js'];
const SOURCES = ['bin/run-ts.js', 'src/cli/main.ts'];

describe('the build in dist/', () => {
  it('has a .js module for every .ts source and every asset read next to a module', () => {
    const sources = [...filesUnder('src'), ...filesUnder('workers')];
    const missing = sources
      .filter((file) => !file.endsWith('.md'))
      .map((file) => join('dist', file.replace(/\.ts$/, '.js')))
      .filter((file) => !existsSync(join(ROOT, file)));
    expect(missing).toEqual([]);
    for (const template of filesUnder('templates'))
      expect(existsSync(join(ROOT, 'dist', template)), template).toBe(true);
  });

  it('holds the topic catalogue parsed from the YAML beside it, with the hash of that YAML', () => {
    const yaml = readFileSync(join(ROOT, 'dist/src/topics/catalogue.yaml'), 'utf8');
    const saved = JSON.parse(
      readFileSync(join(ROOT, 'dist/src/topics/catalogue.parsed.json'), 'utf8'),
    );
    // What every store open of the build reads instead of parsing the YAML (catalogueFromFile).
    expect(saved).toEqual(parsedCatalogue(yaml));
    expect(saved.topics.map((topic: { id: string }) => topic.id)).toContain(
      'russia-china-relations',
    );
  });

  it('imports .js files only (relative .ts specifiers rewritten)', () => {
    const built = filesUnder('dist').filter((file) => file.endsWith('.js'));
    expect(built.length).toBeGreaterThan(50);
    const offenders = built.filter((file) =>
      /(?:from\s*|import\s*\(\s*)['"]\.{1,2}\/[^'"]*\.ts['"]/.test(
        readFileSync(join(ROOT, file), 'utf8'),
      ),
    );
    expect(offenders).toEqual([]);
  });
});

describe('herald from the build', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'herald-cli-build-'));
  // render signs the links it shows, as a real send would: it needs a secret.
  const env = {
    HERALD_DATA_DIR: dataDir,
    DATABASE_URL: '',
    HERALD_SECRET: 'cli-build-test-secret-0123456789abcdef',
  };
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('prints the package version for --version and -V', () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    for (const flag of ['--version', '-V']) {
      const run = runNode(BUILT, [flag]);
      expect(run.status).toBe(0);
      expect(run.stdout).toBe(`${version}\n`);
    }
  });

  it('prints the same --help as the sources, for a fraction of their CPU', () => {
    const fromSources = runNode(SOURCES, ['--help']);
    const fromBuild = runNode(BUILT, ['--help']);
    expect(fromSources.status).toBe(0);
    expect(fromBuild.status).toBe(0);
    expect(fromBuild.stdout).toBe(fromSources.stdout);
    expect(fromBuild.stdout).toContain('campaign');
    // tsx compiles every command family at start; the build loads none for --help.
    expect(fromBuild.cpuMs).toBeLessThan(fromSources.cpuMs / 3);
  });

  it('reads its assets from dist/: furniture and catalogue YAML, MJML templates', () => {
    const entry = ['dist/src/cli/main.js'];
    const ingest = runNode(entry, ['ingest', FIXTURE, '--json'], env);
    expect(ingest.stderr).toBe('');
    expect(ingest.status).toBe(0);
    const [article] = [JSON.parse(ingest.stdout)].flat();
    expect(article.topics).toContain('russia-china-relations');
    expect(article.paragraphs.join('\n')).not.toContain('Sign up now');
    const topics = runNode(entry, ['topics', '--json'], env);
    expect(topics.status).toBe(0);
    expect(JSON.stringify(JSON.parse(topics.stdout))).toContain('russia-china-relations');
    const add = runNode(
      entry,
      ['subscribers', 'add', 'eve@example.com', '--topics', 'russia-china-relations'],
      env,
    );
    expect(add.status).toBe(0);
    const render = runNode(
      entry,
      ['render', '--article', String(article.id), '--to', 'eve@example.com'],
      env,
    );
    expect(render.status).toBe(0);
    expect(render.stdout).toContain('Content-Type: multipart/alternative');
  });

  it('loads neither pg, BullMQ, ioredis nor MJML for read-only commands on SQLite', () => {
    const ingest = runNode(BUILT, ['ingest', FIXTURE, '--json'], env);
    expect(ingest.status).toBe(0);
    const [article] = [JSON.parse(ingest.stdout)].flat();
    const created = runNode(
      BUILT,
      ['campaign', 'create', '--article', String(article.id), '--json'],
      env,
    );
    expect(created.status).toBe(0);
    const campaignId = String(JSON.parse(created.stdout).id);
    const readOnly = [
      ['campaign', 'status', campaignId, '--json'],
      ['campaign', 'list', '--json'],
      ['articles', 'list', '--json'],
      ['topics', '--json'],
      ['subscribers', 'find', 'eve', '--json'],
    ];
    for (const args of readOnly) {
      const trace = join(dataDir, 'packages.txt');
      rmSync(trace, { force: true });
      const run = runNode(['--import', './test/helpers/package-trace.mjs', ...BUILT], args, {
        ...env,
        HERALD_TEST_PACKAGE_TRACE: trace,
      });
      expect(run.stderr, args.join(' ')).toBe('');
      expect(run.status, args.join(' ')).toBe(0);
      const loaded = new Set(readFileSync(trace, 'utf8').split('\n').filter(Boolean));
      // What the command does need (kysely is ESM, better-sqlite3 CommonJS): the trace sees both.
      expect(loaded.has('kysely') && loaded.has('better-sqlite3'), args.join(' ')).toBe(true);
      const unneeded = ['pg', 'bullmq', 'ioredis', 'mjml'].filter((name) => loaded.has(name));
      expect(unneeded, args.join(' ')).toEqual([]);
    }
    const status = runNode(BUILT, ['campaign', 'status', campaignId, '--json'], env);
    expect(JSON.parse(status.stdout)).toMatchObject({ id: Number(campaignId), status: 'draft' });
  });

  it('exits 1 with the help for an unknown command, as before', () => {
    const run = runNode(BUILT, ['nope']);
    expect(run.status).toBe(1);
    expect(run.stderr).toContain("error: unknown command 'nope'");
  });
});
