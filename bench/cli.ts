// CLI start-up cost: median CPU time (user + system) of `herald --help` and `herald campaign
// status ID` over N runs, from the TypeScript sources through tsx and from the build in dist/.
// `npm run bench -- --only cli [--runs N]` (the npm script builds dist/ first when stale).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createApp } from '../src/app.ts';
import { createCampaignSchema } from '../src/campaigns/model.ts';
import { createCampaign } from '../src/campaigns/repository.ts';
import { parseConfig } from '../src/config/index.ts';
import { seedFixtureArticle } from './store.ts';

const ROOT = resolve(import.meta.dirname, '..');

export interface CliTiming {
  mode: 'source (tsx)' | 'build (dist)';
  command: string;
  /** Median CPU ms (user + system) of the child process over the runs. */
  medianCpuMs: number;
  minCpuMs: number;
  maxCpuMs: number;
}

/** CPU seconds of this process's waited-for children so far (utime + stime, /proc/self/stat). */
function childrenCpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  // Fields after the parenthesised command name; cutime and cstime are fields 16 and 17.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[13]) + Number(fields[14]);
  return (ticks * 1000) / 100; // USER_HZ is 100 on Linux
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

/** A data dir holding the fixture article and one draft campaign; returns its id. */
async function seedDataDir(dataDir: string): Promise<number> {
  const app = await createApp(parseConfig({ HERALD_DATA_DIR: dataDir, LOG_LEVEL: 'warn' }));
  try {
    const article = await seedFixtureArticle(app.store.db);
    const { campaign } = await createCampaign(
      app.store.db,
      createCampaignSchema.parse({ articleIds: [article.id], topics: article.topics.slice(0, 1) }),
      new Date().toISOString(),
    );
    return campaign.id;
  } finally {
    await app.close();
  }
}

/** Runs every command `runs` times in each mode; throws when a run fails. */
export async function runCliBench(runs: number): Promise<CliTiming[]> {
  if (!existsSync(resolve(ROOT, 'dist/src/cli/main.js')))
    throw new Error('dist/ is missing: run `npm run build` (or `npm run bench`, which builds)');
  const dataDir = mkdtempSync(join(tmpdir(), 'herald-bench-cli-'));
  try {
    const campaignId = await seedDataDir(dataDir);
    const env = { ...process.env, HERALD_DATA_DIR: dataDir, LOG_LEVEL: 'warn' };
    const modes = [
      { mode: 'source (tsx)', entry: [resolve(ROOT, 'bin/run-ts.js'), 'src/cli/main.ts'] },
      { mode: 'build (dist)', entry: [resolve(ROOT, 'bin/herald.js')] },
    ] as const;
    const commands = [['--help'], ['campaign', 'status', String(campaignId), '--json']];
    const timings: CliTiming[] = [];
    for (const { mode, entry } of modes) {
      for (const args of commands) {
        const samples: number[] = [];
        for (let i = 0; i < runs; i++) {
          const before = childrenCpuMs();
          const run = spawnSync(process.execPath, [...entry, ...args], { cwd: ROOT, env });
          if (run.status !== 0)
            throw new Error(`herald ${args.join(' ')} (${mode}) failed: ${run.stderr}`);
          samples.push(childrenCpuMs() - before);
        }
        timings.push({
          mode,
          command: `herald ${args.join(' ')}`,
          medianCpuMs: median(samples),
          minCpuMs: Math.min(...samples),
          maxCpuMs: Math.max(...samples),
        });
      }
    }
    return timings;
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}
