// The `herald` command line: one module per command family under ./commands. Only the family
// of the command being run is loaded (a family pulls in MJML, BullMQ, parsers…: seconds of
// start-up), none for `--version` or, from the build, `--help` (the build saves that text), all
// of them for an unknown command.
import { existsSync, readFileSync } from 'node:fs';
import { Command } from 'commander';

interface Family {
  register(program: Command): void;
}

const FAMILIES: Record<string, () => Promise<Family>> = {
  start: () => import('./commands/start.ts'),
  keys: () => import('./commands/keys.ts'),
  users: () => import('./commands/users.ts'),
  articles: () => import('./commands/articles.ts'),
  queues: () => import('./commands/queues.ts'),
  campaigns: () => import('./commands/campaigns.ts'),
  subscribers: () => import('./commands/subscribers.ts'),
  render: () => import('./commands/render.ts'),
  digests: () => import('./commands/digests.ts'),
  demo: () => import('./commands/demo.ts'),
  feeds: () => import('./commands/feeds.ts'),
  alerts: () => import('./commands/alerts.ts'),
};

/** Which family defines each top-level command. */
const COMMAND_FAMILY: Record<string, keyof typeof FAMILIES> = {
  start: 'start',
  serve: 'start',
  worker: 'start',
  keys: 'keys',
  users: 'users',
  ingest: 'articles',
  topics: 'articles',
  articles: 'articles',
  queues: 'queues',
  campaign: 'campaigns',
  subscribers: 'subscribers',
  suppressions: 'subscribers',
  bounces: 'subscribers',
  render: 'render',
  digests: 'digests',
  demo: 'demo',
  feeds: 'feeds',
  alerts: 'alerts',
};

/**
 * The version in Herald's package.json, found by walking up from this module: the sources
 * (src/cli) and the build (dist/src/cli) sit at different depths below it.
 */
function packageVersion(): string {
  for (let dir = new URL('./', import.meta.url); ; dir = new URL('../', dir)) {
    const file = new URL('package.json', dir);
    if (existsSync(file)) {
      const manifest = JSON.parse(readFileSync(file, 'utf8')) as {
        name?: unknown;
        version?: unknown;
      };
      if (manifest.name === 'herald' && typeof manifest.version === 'string')
        return manifest.version;
    }
    if (dir.pathname === '/') return 'unknown';
  }
}

/** `herald --help` as printed with every family loaded, saved by bin/build.js next to main.js. */
const HELP_SNAPSHOT = new URL('./main.help.txt', import.meta.url);

/** The families to load for these arguments; null when the saved help text answers them. */
function familiesFor(args: readonly string[]): Array<() => Promise<Family>> | null {
  const family = COMMAND_FAMILY[args[0] ?? ''];
  if (family) return [FAMILIES[family]!];
  const alone = args.length === 1 ? args[0] : undefined;
  if (alone === '--version' || alone === '-V') return [];
  if ((alone === '--help' || alone === '-h' || alone === 'help') && existsSync(HELP_SNAPSHOT))
    return null;
  return Object.values(FAMILIES);
}

const program = new Command()
  .name('herald')
  .description('Herald: newsletters from articles, fanned out by BullMQ workers on Redis')
  .version(packageVersion(), '-V, --version', 'print the version')
  .showHelpAfterError()
  .exitOverride();

try {
  const loaders = familiesFor(process.argv.slice(2));
  if (loaders === null) {
    process.stdout.write(readFileSync(HELP_SNAPSHOT, 'utf8'));
  } else {
    for (const load of loaders) (await load()).register(program);
    await program.parseAsync(process.argv);
  }
} catch (error) {
  // commander signals --help and --version through exitOverride with exit code 0.
  const code = (error as { code?: string; exitCode?: number }).exitCode;
  if (typeof (error as { code?: string }).code === 'string' && code !== undefined) {
    process.exitCode = code;
  } else {
    // Loaded here: it opens the app's whole import graph, which `--version` does not need.
    const { reportFatal } = await import('./context.ts');
    process.exitCode = reportFatal(error);
  }
}
