// The `herald` command line: one module per command family under ./commands.
import { Command } from 'commander';
import * as articles from './commands/articles.ts';
import * as campaigns from './commands/campaigns.ts';
import * as demo from './commands/demo.ts';
import * as digests from './commands/digests.ts';
import * as keys from './commands/keys.ts';
import * as queues from './commands/queues.ts';
import * as render from './commands/render.ts';
import * as start from './commands/start.ts';
import * as subscribers from './commands/subscribers.ts';
import { reportFatal } from './context.ts';

const program = new Command()
  .name('herald')
  .description('Herald: newsletters from articles, fanned out by BullMQ workers on Redis')
  .showHelpAfterError()
  .exitOverride();

for (const family of [start, keys, articles, queues, campaigns, subscribers, render, digests, demo])
  family.register(program);

try {
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
