// The `herald` command line: one module per command family under ./commands. Only the family
// of the command being run is loaded (a family pulls in MJML, BullMQ, parsers…: seconds of
// start-up), all of them for `--help` or an unknown command.
import { Command } from 'commander';
import { reportFatal } from './context.ts';

interface Family {
  register(program: Command): void;
}

const FAMILIES: Record<string, () => Promise<Family>> = {
  start: () => import('./commands/start.ts'),
  keys: () => import('./commands/keys.ts'),
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

const program = new Command()
  .name('herald')
  .description('Herald: newsletters from articles, fanned out by BullMQ workers on Redis')
  .showHelpAfterError()
  .exitOverride();

try {
  const family = COMMAND_FAMILY[process.argv[2] ?? ''];
  const loaders = family ? [FAMILIES[family]!] : Object.values(FAMILIES);
  for (const load of loaders) (await load()).register(program);
  await program.parseAsync(process.argv);
} catch (error) {
  // commander signals --help and --version through exitOverride with exit code 0.
  const code = (error as { code?: string; exitCode?: number }).exitCode;
  if (typeof (error as { code?: string }).code === 'string' && code !== undefined) {
    process.exitCode = code;
  } else {
    process.exitCode = reportFatal(error);
  }
}
