// The console's subscriber and digest pages through Fastify inject, on SQLite and PostgreSQL with
// real Redis: list search and filters, the filtered export (formula-guarded CSV, JSON), the edit
// form (happy path, bad input changes nothing, consent rules, CSRF, roles), the background CSV
// import with its progress and rejected-rows download, and the digests page with its preview.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../src/app.ts';
import { saveArticle } from '../src/articles/repository.ts';
import { articleSchema } from '../src/articles/schema.ts';
import type { Database } from '../src/store/schema.ts';
import { applyBounce } from '../src/subscribers/events.ts';
import { readImportJob } from '../src/subscribers/import-jobs.ts';
import {
  findSubscriberByEmail,
  getSubscriber,
  upsertSubscriber,
} from '../src/subscribers/repository.ts';
import { addSuppression, suppressionOf } from '../src/subscribers/suppressions.ts';
import { canonicalZone } from '../src/subscribers/zones.ts';
import { type SignedIn, signIn } from './helpers/console.ts';
import { openTestServer } from './helpers/herald.ts';
import { DIALECTS, uniqueName } from './helpers/stores.ts';

/** A multipart/form-data body with fields (in order) and one file. */
function multipartBody(
  fields: Array<[string, string]>,
  file: { name: string; content: string } | null,
): { payload: Buffer; contentType: string } {
  const boundary = `----herald${Math.random().toString(16).slice(2)}`;
  const parts: string[] = [];
  for (const [name, value] of fields) {
    parts.push(
      `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`,
    );
  }
  if (file) {
    parts.push(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${file.name}"\r\nContent-Type: text/csv\r\n\r\n${file.content}\r\n`,
    );
  }
  parts.push(`--${boundary}--\r\n`);
  return {
    payload: Buffer.from(parts.join('')),
    contentType: `multipart/form-data; boundary=${boundary}`,
  };
}

async function addArticle(db: Kysely<Database>, title: string, topics: string[], at: string) {
  await saveArticle(
    db,
    articleSchema.parse({ title, paragraphs: [`${title}: the story.`], topics, publishedAt: at }),
  );
}

const IMPORT_CSV = [
  'email,name,topics,timezone,digest',
  'new.one@example.org,New One,climate,Europe/Berlin,daily',
  'not-an-address,Bad Email,,,',
  'zone@example.org,Bad Zone,,Mars/Olympus,',
  'topic@example.org,Bad Topic,no-such-topic,,',
  'digest@example.org,Bad Digest,,,hourly',
  'suppressed@example.org,Suppressed,,,',
  'ana@example.org,Ana Updated,,,',
].join('\n');

describe.each(DIALECTS)('console people pages (%s)', (dialect) => {
  let app: App;
  let server: FastifyInstance;
  let close: () => Promise<void>;
  let editor: SignedIn;
  let ops: SignedIn;
  let dataDir: string;
  let ids: Record<string, number>;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'herald-people-'));
    ({ app, server, close } = await openTestServer(dialect, {
      QUEUE_PREFIX: uniqueName('people'),
      HERALD_SECRET: 'people-test-secret-0123456789abcdef0123',
      HERALD_DATA_DIR: dataDir,
    }));
    const db = app.store.db;
    ids = {};
    for (const person of [
      {
        email: 'ana@example.org',
        name: 'Ana Lima',
        topics: ['climate'],
        timezone: 'Europe/Lisbon',
        digest: 'daily' as const,
      },
      {
        email: 'Bo@Example.org',
        name: 'Bo Berg',
        topics: ['technology'],
        timezone: 'Asia/Kolkata',
        digest: 'weekly' as const,
      },
      { email: 'formula@example.org', name: '=HYPERLINK("http://x")', topics: ['climate'] },
      { email: 'left@example.org', name: 'Left Already', topics: [] },
    ]) {
      ids[person.email.toLowerCase()] = (await upsertSubscriber(db, person)).id;
    }
    await upsertSubscriber(db, { email: 'pending@example.org', status: 'pending' });
    await addSuppression(db, 'suppressed@example.org', 'manual');
    editor = await signIn(server, 'editor');
    ops = await signIn(server, 'ops');
  }, 60_000);
  afterAll(async () => {
    await close?.();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const get = (url: string, who: SignedIn = editor) =>
    server.inject({ url, headers: { cookie: who.cookie } });
  const postForm = (url: string, form: Record<string, string | string[]>, who: SignedIn = editor) =>
    server.inject({
      method: 'POST',
      url,
      headers: { cookie: who.cookie, 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams(
        Object.entries(form).flatMap(
          ([k, v]): Array<[string, string]> =>
            Array.isArray(v) ? v.map((x): [string, string] => [k, x]) : [[k, v]],
        ),
      ).toString(),
    });

  it('lists, searches and filters subscribers; ops get 403; a bad filter is a 400 naming it', async () => {
    const all = await get('/console/subscribers');
    expect(all.statusCode).toBe(200);
    expect(all.body).toContain('ana@example.org');
    expect(all.body).toContain('Bo@example.org');
    expect(all.body).toMatch(/<strong>5<\/strong> subscribers match/);

    const byPrefix = await get('/console/subscribers?q=BO%40');
    expect(byPrefix.body).toContain('Bo@example.org');
    expect(byPrefix.body).not.toContain('ana@example.org');
    // The filter form sends empty fields for "any": they filter nothing.
    const byName = await get('/console/subscribers?q=lima&status=&topic=');
    expect(byName.body).toContain('ana@example.org');
    expect(byName.body).toMatch(/<strong>1<\/strong> subscriber matches/);
    const byTopic = await get('/console/subscribers?topic=technology');
    expect(byTopic.body).toContain('Bo@example.org');
    expect(byTopic.body).not.toContain('ana@example.org');
    const pending = await get('/console/subscribers?status=pending');
    expect(pending.body).toContain('pending@example.org');
    expect(pending.body).not.toContain('ana@example.org');

    const bad = await get('/console/subscribers?status=sleeping');
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toContain('status must be one of');
    expect(bad.body).toContain('aria-invalid="true"');

    const paged = await get('/console/subscribers?limit=2');
    const next = /href="([^"]*cursor=[^"]+)"/.exec(paged.body)?.[1];
    expect(next).toBeDefined();
    const second = await get(next!.replaceAll('&amp;', '&'));
    expect(second.statusCode).toBe(200);
    expect(second.body).toContain('First page');

    expect((await get('/console/subscribers', ops)).statusCode).toBe(403);
    expect((await get('/console/subscribers/export', ops)).statusCode).toBe(403);
    expect((await get(`/console/subscribers/${ids['ana@example.org']}`, ops)).statusCode).toBe(403);
  });

  it('exports the current filter as CSV (formulas neutralised) and JSON', async () => {
    const csv = await get('/console/subscribers/export?topic=climate&format=csv');
    expect(csv.statusCode).toBe(200);
    expect(csv.headers['content-type']).toContain('text/csv');
    expect(csv.headers['content-disposition']).toContain('subscribers.csv');
    const lines = csv.body.trim().split('\n');
    expect(lines[0]).toBe('email,name,topics,timezone,digest,status,created_at');
    expect(lines).toHaveLength(3);
    expect(csv.body).not.toContain('Bo@example.org');
    // The name starting with = is prefixed with ' so a spreadsheet keeps it as text.
    expect(csv.body).toContain(`"'=HYPERLINK(""http://x"")"`);

    const json = await get('/console/subscribers/export?q=bo&format=json');
    const rows = JSON.parse(json.body) as Array<{ email: string; topics: string[] }>;
    expect(rows.map((r) => r.email)).toEqual(['Bo@example.org']);
    expect(rows[0]!.topics).toEqual(['technology']);

    const bad = await get('/console/subscribers/export?format=xlsx');
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toContain('format must be csv or json');
  });

  it('edits name, topics, digest and zone; bad input is a 422 next to the field and changes nothing', async () => {
    const id = ids['ana@example.org']!;
    const page = await get(`/console/subscribers/${id}`);
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('value="Ana Lima"');

    const bad = await postForm(`/console/subscribers/${id}`, {
      _csrf: editor.csrf,
      name: 'Ana Changed',
      topics: ['climate', 'technology'],
      digest: 'hourly',
      timezone: 'Mars/Olympus',
      status: 'active',
    });
    expect(bad.statusCode).toBe(422);
    expect(bad.body).toContain('Nothing was saved');
    expect(bad.body).toContain('is not an IANA time zone');
    expect(bad.body).toContain('choose off, daily or weekly');
    // The user's own values come back.
    expect(bad.body).toContain('value="Ana Changed"');
    expect(bad.body).toContain('value="Mars/Olympus"');
    const unchanged = await getSubscriber(app.store.db, id);
    expect(unchanged).toMatchObject({
      name: 'Ana Lima',
      topics: ['climate'],
      digest: 'daily',
      timezone: 'Europe/Lisbon',
    });

    const noCsrf = await postForm(`/console/subscribers/${id}`, {
      name: 'Forged',
      digest: 'off',
      timezone: 'UTC',
      status: 'unsubscribed',
    });
    expect(noCsrf.statusCode).toBe(403);
    const opsPost = await postForm(
      `/console/subscribers/${id}`,
      { _csrf: ops.csrf, name: 'Ops', digest: 'off', timezone: 'UTC', status: 'active' },
      ops,
    );
    expect(opsPost.statusCode).toBe(403);
    expect(await getSubscriber(app.store.db, id)).toMatchObject({
      name: 'Ana Lima',
      status: 'active',
    });

    const good = await postForm(`/console/subscribers/${id}`, {
      _csrf: editor.csrf,
      name: 'Ana Changed',
      topics: ['climate', 'technology'],
      digest: 'weekly',
      timezone: 'asia/calcutta',
      status: 'active',
    });
    expect(good.statusCode).toBe(303);
    expect(good.headers.location).toBe(`/console/subscribers/${id}?saved=1`);
    const saved = await getSubscriber(app.store.db, id);
    expect(saved).toMatchObject({
      name: 'Ana Changed',
      topics: ['climate', 'technology'],
      digest: 'weekly',
      status: 'active',
    });
    // A zone typed in any case is stored as Intl names it (Node 20's ICU: the old alias).
    expect(canonicalZone(saved!.timezone)).toBe('Asia/Kolkata');
    expect((await get(`/console/subscribers/${id}?saved=1`)).body).toContain('Changes saved.');
  });

  it('unsubscribes through the event (suppression added) and never reactivates an unsubscribed or suppressed address', async () => {
    const id = ids['left@example.org']!;
    const base = { _csrf: editor.csrf, name: 'Left Already', digest: 'off', timezone: 'UTC' };
    const out = await postForm(`/console/subscribers/${id}`, { ...base, status: 'unsubscribed' });
    expect(out.statusCode).toBe(303);
    expect((await getSubscriber(app.store.db, id))!.status).toBe('unsubscribed');
    expect(await suppressionOf(app.store.db, 'left@example.org')).toBe('unsubscribe');

    const back = await postForm(`/console/subscribers/${id}`, { ...base, status: 'active' });
    expect(back.statusCode).toBe(422);
    expect(back.body).toContain('only they can subscribe again');
    expect((await getSubscriber(app.store.db, id))!.status).toBe('unsubscribed');

    // A pending address on the suppression list stays pending.
    const pending = await findSubscriberByEmail(app.store.db, 'pending@example.org');
    await addSuppression(app.store.db, 'pending@example.org', 'manual');
    const activate = await postForm(`/console/subscribers/${pending!.id}`, {
      ...base,
      name: '',
      status: 'active',
    });
    expect(activate.statusCode).toBe(422);
    expect(activate.body).toContain('on the suppression list');
    expect((await getSubscriber(app.store.db, pending!.id))!.status).toBe('pending');

    const missing = await get('/console/subscribers/999999');
    expect(missing.statusCode).toBe(404);
    expect(missing.body).toContain('Subscriber not found');
  });

  it('shows a subscriber’s bounces and events in their history', async () => {
    const id = ids['bo@example.org']!;
    await applyBounce(app.store.db, {
      subscriberId: id,
      campaignId: null,
      kind: 'soft',
      reply: '452 4.2.2 mailbox full',
    });
    const page = await get(`/console/subscribers/${id}`);
    expect(page.body).toContain('bounce.soft');
    expect(page.body).toContain('452 4.2.2 mailbox full');
    expect(page.body).toContain('No campaign has included this subscriber yet.');
  });

  it('imports a CSV in the background: progress, counts, and every bad row with its reason to download', async () => {
    const noCsrf = multipartBody([], { name: 'people.csv', content: IMPORT_CSV });
    const refused = await server.inject({
      method: 'POST',
      url: '/console/subscribers/import',
      headers: { cookie: editor.cookie, 'content-type': noCsrf.contentType },
      payload: noCsrf.payload,
    });
    expect(refused.statusCode).toBe(403);
    expect(await findSubscriberByEmail(app.store.db, 'new.one@example.org')).toBeNull();

    const asOps = await server.inject({
      method: 'POST',
      url: '/console/subscribers/import',
      headers: { cookie: ops.cookie, 'x-csrf-token': ops.csrf, 'content-type': noCsrf.contentType },
      payload: noCsrf.payload,
    });
    expect(asOps.statusCode).toBe(403);

    const empty = multipartBody([['pending', 'on']], null);
    const noFile = await server.inject({
      method: 'POST',
      url: '/console/subscribers/import',
      headers: {
        cookie: editor.cookie,
        'x-csrf-token': editor.csrf,
        'content-type': empty.contentType,
      },
      payload: empty.payload,
    });
    expect(noFile.statusCode).toBe(422);
    expect(noFile.body).toContain('choose a CSV file to import');
    // The checkbox keeps the user's choice.
    expect(noFile.body).toMatch(/id="pending" name="pending" value="on" checked/);

    const upload = multipartBody([], { name: 'people.csv', content: IMPORT_CSV });
    const started = await server.inject({
      method: 'POST',
      url: '/console/subscribers/import',
      headers: {
        cookie: editor.cookie,
        'x-csrf-token': editor.csrf,
        'content-type': upload.contentType,
        'hx-request': 'true',
      },
      payload: upload.payload,
    });
    expect(started.statusCode).toBe(204);
    const jobUrl = started.headers['hx-redirect'] as string;
    expect(jobUrl).toMatch(/^\/console\/subscribers\/import\/[0-9a-f-]{36}$/);
    const jobId = jobUrl.split('/').at(-1)!;

    // Wait for the job to end (the page polls the same state).
    let job = await readImportJob(app.redis(), app.config.QUEUE_PREFIX, jobId);
    for (let i = 0; i < 200 && job?.status === 'running'; i += 1) {
      await new Promise((r) => setTimeout(r, 50));
      job = await readImportJob(app.redis(), app.config.QUEUE_PREFIX, jobId);
    }
    expect(job).toMatchObject({
      status: 'done',
      imported: 1,
      updated: 1,
      rejectedCount: 5,
      percent: 100,
    });

    const page = await get(jobUrl);
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('Import finished');
    expect(page.body).toContain('rejected.csv');
    // Finished: the progress card no longer polls.
    expect(page.body).not.toContain('hx-trigger="every 2s"');
    const progress = await get(`${jobUrl}/progress`);
    expect(progress.body).toContain('value="100"');

    const rejected = await get(`${jobUrl}/rejected.csv`);
    expect(rejected.statusCode).toBe(200);
    expect(rejected.headers['content-disposition']).toContain('attachment');
    expect(rejected.body.trim().split('\n')).toEqual([
      'line,email,reason',
      '3,not-an-address,bad email: not a valid address',
      '4,zone@example.org,"bad time zone: ""Mars/Olympus"" is not IANA"',
      '5,topic@example.org,"unknown topic: ""no-such-topic"""',
      '6,digest@example.org,"bad digest: ""hourly"" is not off, daily or weekly"',
      '7,suppressed@example.org,suppressed: manual',
    ]);
    expect(await findSubscriberByEmail(app.store.db, 'new.one@example.org')).toMatchObject({
      name: 'New One',
      status: 'active',
      digest: 'daily',
      timezone: 'Europe/Berlin',
    });
    expect(await findSubscriberByEmail(app.store.db, 'suppressed@example.org')).toBeNull();

    expect((await get('/console/subscribers/import/not-a-job')).statusCode).toBe(404);
    expect((await get(`${jobUrl}/rejected.csv`, ops)).statusCode).toBe(403);
  });

  it('shows each zone’s next digests with counts, and previews a digest in a sandboxed frame with its own CSP', async () => {
    const page = await get('/console/digests?zone=America/New_York');
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('Asia/Kolkata');
    expect(page.body).toContain('New_York');
    // Bo (Kolkata, weekly) and new.one (Berlin, daily) have digests; the zone rows say when.
    expect(page.body).toMatch(/Europe\/Berlin[\s\S]*?daily 07:00 · 1/);
    // Ana (moved to Kolkata, weekly) and Bo share a schedule; the old zone name is shown current.
    expect(page.body).toMatch(/Asia\/Kolkata[\s\S]*?weekly Mon 07:00 · 2/);
    expect(page.body).not.toContain('Asia/Calcutta</th>');

    const badZone = await get('/console/digests?zone=Nowhere/Land');
    expect(badZone.statusCode).toBe(400);
    expect(badZone.body).toContain('is not an IANA time zone');

    const badEmail = await get('/console/digests?email=nobody&at=2026-12-02T07:00');
    expect(badEmail.statusCode).toBe(400);
    expect(badEmail.body).toContain('is not a valid address');
    const unknown = await get('/console/digests?email=ghost@example.org&at=2026-12-02T07:00');
    expect(unknown.statusCode).toBe(404);
    expect(unknown.body).toContain('no subscriber has this address');
    const nothing = await get('/console/digests?email=bo@example.org&at=2000-01-03T07:00');
    expect(nothing.statusCode).toBe(422);
    expect(nothing.body).toContain('nothing new');

    await addArticle(app.store.db, 'Chip makers expand', ['technology'], '2026-12-01T09:00:00Z');
    const shown = await get('/console/digests?zone=UTC&email=bo@example.org&at=2026-12-02T07:00');
    expect(shown.statusCode).toBe(200);
    const src = /<iframe[^>]*sandbox=""[^>]*src="([^"]+)"/.exec(shown.body)?.[1];
    expect(src).toBeDefined();
    const frame = await get(src!.replaceAll('&amp;', '&'));
    expect(frame.statusCode).toBe(200);
    expect(frame.headers['content-security-policy']).toMatch(/default-src 'none'.*sandbox/);
    expect(frame.body).toContain('Chip makers expand');
    const text = await get(
      '/console/digests?zone=UTC&email=bo@example.org&at=2026-12-02T07:00&view=text',
    );
    expect(text.body).toContain('<pre class="preview-text"');
    expect(text.body).toContain('Chip makers expand');

    expect((await get('/console/digests', ops)).statusCode).toBe(403);
    expect((await get(src!.replaceAll('&amp;', '&'), ops)).statusCode).toBe(403);
  });
});
