// Round-2 list commands and the quieter CLI: the list queries on both dialects (paging, filters,
// LIKE wildcards taken literally), then the commands themselves on SQLite: one JSON document on
// stdout and nothing on stderr, `{items, next}` paging, an article delete refused while a
// campaign needs it, `digests run --dry-run` writing nothing, `campaign preview` without --to.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.ts';
import { saveArticle } from '../src/articles/repository.ts';
import { articleSchema } from '../src/articles/schema.ts';
import { createCampaignSchema } from '../src/campaigns/model.ts';
import { createCampaign, listCampaigns } from '../src/campaigns/repository.ts';
import { deleteArticle, listApiKeys, listArticles } from '../src/cli/lists.ts';
import { toPage } from '../src/cli/paging.ts';
import { parseConfig } from '../src/config/index.ts';
import { createApiKey } from '../src/keys/index.ts';
import { findSubscribers, upsertSubscriber } from '../src/subscribers/repository.ts';
import { createTestTarget, DIALECTS, uniqueName } from './helpers/stores.ts';

const run = promisify(execFile);

/** A store with two articles, three campaigns, subscribers and keys. */
async function seeded(dialect: (typeof DIALECTS)[number]) {
  const target = await createTestTarget(dialect);
  const dataDir = mkdtempSync(join(tmpdir(), 'herald-cli-lists-'));
  const app = await createApp(
    parseConfig({
      DATABASE_URL: target.databaseUrl,
      QUEUE_PREFIX: uniqueName('clilists'),
      HERALD_DATA_DIR: dataDir,
      LOG_LEVEL: 'silent',
    }),
  );
  const db = app.store.db;
  const save = async (title: string, topics: string[]) =>
    (await saveArticle(db, articleSchema.parse({ title, paragraphs: [`About ${title}.`], topics })))
      .article.id;
  const economy = await save('Markets rally', ['economy']);
  const china = await save('Beijing talks', ['china']);
  await upsertSubscriber(db, {
    email: 'Priya.Petrov@example.net',
    name: 'Priya',
    topics: ['economy', 'china'],
    digest: 'daily',
  });
  await upsertSubscriber(db, { email: 'under_score@example.net', topics: ['china'] });
  await upsertSubscriber(db, { email: 'underXscore@example.net', topics: ['economy'] });
  const campaignIds: number[] = [];
  for (const articleId of [economy, china, economy]) {
    const { campaign } = await createCampaign(
      db,
      createCampaignSchema.parse({ articleIds: [articleId] }),
      new Date().toISOString(),
    );
    campaignIds.push(campaign.id);
  }
  const keys = [await createApiKey(db, 'editor', 'desk'), await createApiKey(db, 'ops')];
  return { app, target, dataDir, economy, china, campaignIds, keys };
}

describe.each(DIALECTS)('list queries (%s)', (dialect) => {
  let s: Awaited<ReturnType<typeof seeded>>;
  beforeAll(async () => {
    s = await seeded(dialect);
  });
  afterAll(async () => {
    await s?.app.close();
    await s?.target.dispose();
  });

  it('pages campaigns and articles newest first, keys in id order', async () => {
    const db = s.app.store.db;
    const first = toPage(await listCampaigns(db, {}, { limit: 2, after: null }), 2, (c) => c.id);
    expect(first.items.map((c) => c.id)).toEqual([s.campaignIds[2], s.campaignIds[1]]);
    expect(first.next).toBe(String(s.campaignIds[1]));
    const second = toPage(
      await listCampaigns(db, {}, { limit: 2, after: Number(first.next) }),
      2,
      (c) => c.id,
    );
    expect(second).toEqual({
      items: [expect.objectContaining({ id: s.campaignIds[0] })],
      next: null,
    });
    expect(await listCampaigns(db, { status: 'sent' }, { limit: 10, after: null })).toEqual([]);
    expect((await listArticles(db, { limit: 10, after: null })).map((a) => a.title)).toEqual([
      'Beijing talks',
      'Markets rally',
    ]);
    const keys = await listApiKeys(db, { limit: 10, after: null });
    expect(keys.map((k) => [k.role, k.label])).toEqual([
      ['editor', 'desk'],
      ['ops', null],
    ]);
    expect(JSON.stringify(keys)).not.toMatch(/hk_|key_hash/);
  });

  it('finds subscribers by address or name in any case, by status and topic; _ is literal', async () => {
    const db = s.app.store.db;
    const page = { limit: 10, after: null };
    const emails = async (filter: Parameters<typeof findSubscribers>[1]) =>
      (await findSubscribers(db, filter, page)).map((sub) => sub.email);
    expect(await emails({ text: 'PRIYA.petrov' })).toEqual(['Priya.Petrov@example.net']);
    expect(await emails({ text: 'priya' })).toEqual(['Priya.Petrov@example.net']);
    expect(await emails({ text: 'under_score' })).toEqual(['under_score@example.net']);
    expect(await emails({ text: '%' })).toEqual([]);
    expect(await emails({ topic: 'china' })).toEqual([
      'Priya.Petrov@example.net',
      'under_score@example.net',
    ]);
    expect(await emails({ status: 'unsubscribed' })).toEqual([]);
  });

  it('refuses to delete an article a live campaign uses; deletes it once they are done', async () => {
    const db = s.app.store.db;
    await expect(deleteArticle(db, s.china)).rejects.toThrow(
      new RegExp(`article ${s.china} is used by campaign ${s.campaignIds[1]} \\(draft\\)`),
    );
    await db
      .updateTable('campaigns')
      .set({ status: 'sent' })
      .where('id', '=', s.campaignIds[1]!)
      .execute();
    expect(await deleteArticle(db, s.china)).toBe(true);
    expect(await deleteArticle(db, s.china)).toBe(false);
  });
});

describe('the list commands (sqlite)', () => {
  let s: Awaited<ReturnType<typeof seeded>>;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    s = await seeded('sqlite');
    env = {
      ...process.env,
      DATABASE_URL: s.target.databaseUrl,
      QUEUE_PREFIX: uniqueName('clilists'),
      HERALD_DATA_DIR: s.dataDir,
      // A preview signs the links it shows, as a real send would.
      HERALD_SECRET: 'cli-lists-test-secret-0123456789abcdef',
    };
    delete env.LOG_LEVEL;
  });
  afterAll(async () => {
    await s?.app.close();
    await s?.target.dispose();
  });

  const herald = async (...args: string[]) => {
    try {
      const { stdout, stderr } = await run('node', ['bin/herald.js', ...args], { env });
      return { stdout, stderr, code: 0 };
    } catch (error) {
      const failed = error as { stdout: string; stderr: string; code: number };
      return { stdout: failed.stdout, stderr: failed.stderr, code: failed.code };
    }
  };

  it('prints one JSON array, or {items, next} when paged, and no log line', async () => {
    const all = await herald('campaign', 'list', '--json');
    expect(all.stderr).toBe('');
    expect((JSON.parse(all.stdout) as Array<{ id: number }>).map((c) => c.id)).toEqual(
      [...s.campaignIds].reverse(),
    );
    const paged = await herald(
      'campaign',
      'list',
      '--limit',
      '2',
      '--cursor',
      String(s.campaignIds[2]),
      '--json',
    );
    expect(JSON.parse(paged.stdout)).toEqual({
      items: [
        expect.objectContaining({ id: s.campaignIds[1], status: 'draft' }),
        expect.objectContaining({ id: s.campaignIds[0] }),
      ],
      next: null,
    });
    const found = await herald('subscribers', 'find', 'PRIYA', '--limit', '5', '--json');
    expect(JSON.parse(found.stdout)).toEqual({
      items: [expect.objectContaining({ email: 'Priya.Petrov@example.net', status: 'active' })],
      next: null,
    });
    const bad = await herald('keys', 'list', '--limit', '0');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('herald: --limit must be at least 1\n');
  }, 120_000);

  it('a one-shot command logs nothing unless LOG_LEVEL is set, and logs when it is set to info', async () => {
    const email = `log-level-${Date.now()}@example.net`;
    const quiet = await herald('suppressions', 'add', email, '--json');
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).toBe('');
    const saved = env;
    env = { ...saved, LOG_LEVEL: 'info' };
    try {
      const loud = await herald('suppressions', 'add', `x${email}`, '--json');
      expect(loud.code).toBe(0);
      expect(JSON.parse(loud.stdout)).toMatchObject({ added: true });
      const lines = loud.stderr
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { msg: string });
      expect(lines.map((line) => line.msg)).toContain('suppressions.added');
      expect(loud.stderr).not.toContain(email);
    } finally {
      env = saved;
    }
  }, 60_000);

  it('subscribers import --pending without HERALD_SECRET stops with one line and stores nothing', async () => {
    const csv = join(s.dataDir, 'pending.csv');
    writeFileSync(csv, 'email,name\nNo.Secret@example.net,Nobody\n');
    const saved = env;
    env = { ...saved };
    delete env.HERALD_SECRET;
    try {
      const refused = await herald('subscribers', 'import', csv, '--pending', '--json');
      expect(refused.code).toBe(2);
      expect(refused.stdout).toBe('');
      expect(refused.stderr).toMatch(/^herald: Invalid HERALD_SECRET: is required[^\n]*\n$/);
    } finally {
      env = saved;
    }
    const found = await findSubscribers(
      s.app.store.db,
      { text: 'no.secret' },
      { limit: 5, after: null },
    );
    expect(found).toEqual([]);
  }, 60_000);

  it('refuses an article delete with one line and exit 4 while a scheduled campaign uses it', async () => {
    await s.app.store.db
      .updateTable('campaigns')
      .set({ status: 'scheduled', scheduled_at: '2030-01-01T00:00:00.000Z' })
      .where('id', '=', s.campaignIds[0]!)
      .execute();
    const refused = await herald('articles', 'delete', String(s.economy));
    expect(refused.code).toBe(4);
    expect(refused.stderr).toMatch(
      new RegExp(
        `^herald: article ${s.economy} is used by campaign ${s.campaignIds[0]} \\(scheduled\\), campaign ${s.campaignIds[2]} \\(draft\\): cancel them first[^\\n]*\\n$`,
      ),
    );
    const articles = JSON.parse((await herald('articles', 'list', '--json')).stdout) as Array<{
      id: number;
    }>;
    expect(articles.map((a) => a.id)).toContain(s.economy);
  }, 60_000);

  it('digests run --dry-run says who would get what and writes nothing', async () => {
    // The next 07:05 UTC: its daily period (the day before 07:00) holds the articles just saved,
    // whatever the hour the suite runs.
    const next = new Date();
    next.setUTCHours(7, 0, 0, 0);
    if (next.getTime() <= Date.now()) next.setUTCDate(next.getUTCDate() + 1);
    next.setUTCMinutes(5);
    const dry = await herald('digests', 'run', '--dry-run', '--at', next.toISOString(), '--json');
    expect(dry.stderr).toBe('');
    const result = JSON.parse(dry.stdout) as {
      dryRun: boolean;
      queued: number;
      plan: Array<{ recipients: Array<{ email: string }>; articles: Array<{ title: string }> }>;
    };
    expect(result).toMatchObject({ dryRun: true, queued: 0 });
    expect(result.plan).toHaveLength(1);
    expect(result.plan[0]!.recipients.map((r) => r.email)).toEqual(['Priya.Petrov@example.net']);
    expect(result.plan[0]!.articles.map((a) => a.title)).toContain('Markets rally');
    const digests = await s.app.store.db
      .selectFrom('campaigns')
      .select('id')
      .where('kind', '=', 'digest')
      .execute();
    expect(digests).toEqual([]);
    const marked = await s.app.store.db
      .selectFrom('subscribers')
      .select('id')
      .where('last_digest_at', 'is not', null)
      .execute();
    expect(marked).toEqual([]);
    const help = await herald('digests', 'run', '--help');
    expect(help.stdout.replace(/\s+/g, ' ')).toMatch(/QUEUES REAL MAIL to every subscriber/);
  }, 60_000);

  it('campaign preview without --to summarises a sample subscriber’s message and writes the HTML', async () => {
    const eml = join(s.dataDir, 'preview.eml');
    const preview = await herald('campaign', 'preview', String(s.campaignIds[2]), '--eml', eml);
    expect(preview.stderr).toBe('');
    expect(preview.stdout).toMatch(/as subscriber \d+ <Priya\.Petrov@example\.net> \(a sample/);
    expect(preview.stdout).toMatch(/subject: Markets rally/);
    const htmlPath = /html: (.+)$/m.exec(preview.stdout)?.[1];
    expect(htmlPath && existsSync(htmlPath)).toBe(true);
    expect(readFileSync(htmlPath!, 'utf8')).toMatch(/<html[\s\S]*Markets rally/);
    expect(readFileSync(eml, 'utf8')).toMatch(/^Subject: Markets rally/m);
  }, 60_000);
});
