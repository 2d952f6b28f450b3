// `herald queues …` from the command line: one JSON document per --json command, clean
// errors for unknown queues, and the changes visible to the next command.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../src/app.ts';
import { parseConfig } from '../src/config/index.ts';
import { openQueues, type Queues } from '../src/delivery/queues.ts';
import { DIALECTS, openTestStore, type TestStore, uniqueName } from './helpers/stores.ts';

const run = promisify(execFile);

describe.each(DIALECTS)('herald queues (%s)', (dialect) => {
  let t: TestStore;
  let app: App;
  let queues: Queues;
  const prefix = uniqueName('opscli');
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    t = await openTestStore(dialect);
    env = {
      ...process.env,
      DATABASE_URL: t.databaseUrl,
      QUEUE_PREFIX: prefix,
      LOG_LEVEL: 'silent',
    };
    app = await createApp(
      parseConfig({ DATABASE_URL: t.databaseUrl, QUEUE_PREFIX: prefix, LOG_LEVEL: 'silent' }),
    );
    queues = openQueues(app);
    await queues.deliveries.addBulk([
      { name: 'batch', data: { campaignId: 1 } },
      { name: 'batch', data: { campaignId: 1 } },
      { name: 'batch', data: { campaignId: 2 }, opts: { delay: 60_000 } },
    ]);
  });
  afterAll(async () => {
    await Promise.all(Object.values(queues).map((q) => q.obliterate({ force: true })));
    await app.close();
    await t.dispose();
  });

  const herald = async (...args: string[]) => {
    const { stdout } = await run('node', ['bin/herald.js', ...args], { env });
    return stdout;
  };

  it('lists, pauses, resumes and drains with one JSON document each', async () => {
    const listed = JSON.parse(await herald('queues', '--json')) as {
      queues: Array<Record<string, unknown>>;
    };
    expect(listed.queues.map((q) => q.name)).toEqual([
      'campaigns',
      'deliveries',
      'reconcile',
      'digests',
      'feeds',
    ]);
    expect(listed.queues[1]).toMatchObject({ waiting: 2, delayed: 1, paused: 0, isPaused: false });

    expect(JSON.parse(await herald('queues', 'pause', 'deliveries', '--json'))).toMatchObject({
      name: 'deliveries',
      isPaused: true,
      paused: 2,
      waiting: 0,
    });
    expect(await queues.deliveries.isPaused()).toBe(true);
    expect(JSON.parse(await herald('queues', 'resume', 'deliveries', '--json'))).toMatchObject({
      isPaused: false,
      waiting: 2,
    });
    expect(JSON.parse(await herald('queues', 'drain', 'deliveries', '--json'))).toEqual({
      name: 'deliveries',
      removed: 2,
    });
    expect(
      JSON.parse(await herald('queues', 'retry', 'deliveries', '--campaign', '1', '--json')),
    ).toEqual({
      name: 'deliveries',
      campaignId: 1,
      retried: 0,
    });
    const after = JSON.parse(await herald('queues', '--json')) as {
      queues: Array<Record<string, unknown>>;
    };
    expect(after.queues[1]).toMatchObject({ waiting: 0, delayed: 1 });
    expect(await herald('queues')).toMatch(
      /^queue\s+waiting\s+active\s+delayed\s+completed\s+failed\s+paused/,
    );
    // Seven CLI starts (tsx compiles on each): a generous budget for a loaded machine.
  }, 300_000);

  it('names the queues when given an unknown one, with exit code 2', async () => {
    const failure = await run('node', ['bin/herald.js', 'queues', 'pause', 'nope'], { env }).catch(
      (error: { code: number; stderr: string; stdout: string }) => error,
    );
    expect(failure).toMatchObject({ code: 2, stdout: '' });
    expect((failure as { stderr: string }).stderr).toBe(
      'herald: unknown queue "nope"; queues are campaigns, deliveries, reconcile, digests, feeds\n',
    );
  }, 120_000);
});
