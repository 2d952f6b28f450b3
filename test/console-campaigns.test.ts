// The console's campaign pages through Fastify inject, on SQLite and PostgreSQL with real
// Redis queues, a real SMTP sink and real workers: list, create, edit, schedule (instant and
// local time), unschedule, send, pause, resume, cancel, preview, test send, live partials and
// the report. For each action: the happy path, bad input (a 4xx page naming the field, nothing
// stored changes), a role outside (403) and a post without the CSRF token (403).
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { campaignStatus, getCampaign } from '../src/campaigns/repository.ts';
import { buildServer } from '../src/http/server.ts';
import { type SignedIn, signIn } from './helpers/console.ts';
import { type RunningHerald, startHerald, testEnv, waitForCampaign } from './helpers/herald.ts';
import { seedFixtureArticle, seedSubscribers } from './helpers/seed.ts';
import { type SmtpSink, startSmtpSink } from './helpers/smtp-sink.ts';
import { DIALECTS, openTestStore, type TestStore } from './helpers/stores.ts';

const TOPIC = 'russia-china-relations';

describe.each(DIALECTS)('console campaign pages on %s', (dialect) => {
  let t: TestStore;
  let herald: RunningHerald;
  let server: FastifyInstance;
  let sink: SmtpSink;
  let articleId: number;
  let editor: SignedIn;
  let ops: SignedIn;

  beforeAll(async () => {
    sink = await startSmtpSink({
      rcptReply: (address) => (address.startsWith('refused') ? 550 : undefined),
    });
    t = await openTestStore(dialect);
    herald = await startHerald(testEnv(t.databaseUrl, { SMTP_URL: sink.url }), false);
    const db = herald.app.store.db;
    articleId = (await seedFixtureArticle(db)).id;
    await seedSubscribers(db, [
      { email: 'ana@example.net', name: 'Ana', topics: [TOPIC] },
      { email: 'bo@example.net', topics: [TOPIC, 'climate'], timezone: 'Asia/Tokyo' },
      { email: 'refused-cy@example.net', topics: [TOPIC], timezone: 'America/New_York' },
      { email: 'dee@example.net', topics: ['climate'] },
    ]);
    server = await buildServer(herald.app);
    editor = await signIn(server, 'editor');
    ops = await signIn(server, 'ops');
  }, 60_000);
  afterAll(async () => {
    await server?.close();
    await herald?.close();
    await t?.dispose();
    await sink?.close();
  });

  const post = (who: SignedIn | null, url: string, form: Record<string, unknown>, csrf = true) =>
    server.inject({
      method: 'POST',
      url,
      headers: who ? { cookie: who.cookie } : {},
      payload: { ...form, ...(csrf && who ? { _csrf: who.csrf } : {}) },
    });
  const get = (who: SignedIn, url: string) =>
    server.inject({ url, headers: { cookie: who.cookie } });

  async function createDraft(subject = 'Morning briefing'): Promise<number> {
    const response = await post(editor, '/console/campaigns', {
      articleIds: String(articleId),
      topics: TOPIC,
      subject,
    });
    expect(response.statusCode).toBe(303);
    const id = Number(/\/console\/campaigns\/(\d+)/.exec(response.headers.location ?? '')?.[1]);
    expect(id).toBeGreaterThan(0);
    return id;
  }

  async function campaignCount(): Promise<number> {
    const row = await herald.app.store.db
      .selectFrom('campaigns')
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  it('creates a campaign from the form: articles, topics, subject, preheader, template', async () => {
    const form = await get(editor, `/console/campaigns/new?articleIds=${articleId}`);
    expect(form.statusCode).toBe(200);
    expect(form.body).toContain(
      `id="article-${articleId}" name="articleIds" value="${articleId}" checked`,
    );
    expect(form.body).toContain('name="topics" value="climate"');

    const response = await post(editor, '/console/campaigns', {
      articleIds: [String(articleId)],
      topics: [TOPIC, 'climate'],
      subject: 'Lavrov in Beijing',
      preheader: 'What the visit means for the gas deal',
      template: 'digest',
    });
    expect(response.statusCode).toBe(303);
    const id = Number(response.headers.location?.split('/').pop()?.split('?')[0]);
    const stored = await getCampaign(herald.app.store.db, id);
    expect(stored).toMatchObject({
      subject: 'Lavrov in Beijing',
      preheader: 'What the visit means for the gas deal',
      audienceTopics: [TOPIC, 'climate'],
      template: 'digest',
      status: 'draft',
    });
    // The preheader is the message's hidden inbox preview line.
    const message = await get(editor, `/console/campaigns/${id}/preview/html?as=ana@example.net`);
    expect(message.body).toMatch(/class="preheader"[^>]*>What the visit means for the gas deal/);
    const page = await get(editor, response.headers.location!);
    expect(page.body).toContain('Campaign created as a draft');
    expect(page.body).toContain('4 subscribers will get it');
  });

  it('refuses a campaign without articles or with an unknown topic: 422 naming the field, nothing stored', async () => {
    const before = await campaignCount();
    const none = await post(editor, '/console/campaigns', { subject: 'Empty', topics: TOPIC });
    expect(none.statusCode).toBe(422);
    expect(none.body).toContain('name at least one article');
    expect(none.body).toContain('value="Empty"');
    const unknown = await post(editor, '/console/campaigns', {
      articleIds: String(articleId),
      topics: 'no-such-topic',
    });
    expect(unknown.statusCode).toBe(422);
    expect(unknown.body).toContain('unknown topic &quot;no-such-topic&quot;');
    const missing = await post(editor, '/console/campaigns', { articleIds: '999999' });
    expect(missing.statusCode).toBe(422);
    expect(missing.body).toContain('article 999999 does not exist');
    expect(await campaignCount()).toBe(before);
  });

  it('answers 403 to ops on every campaign page and action, and 403 to a post without CSRF', async () => {
    const id = await createDraft();
    for (const url of [
      '/console/campaigns',
      '/console/campaigns/new',
      `/console/campaigns/${id}`,
      `/console/campaigns/${id}/report`,
      `/console/campaigns/${id}/preview`,
    ]) {
      expect((await get(ops, url)).statusCode, url).toBe(403);
    }
    const before = await campaignCount();
    expect(
      (await post(ops, '/console/campaigns', { articleIds: String(articleId) })).statusCode,
    ).toBe(403);
    expect(
      (await post(editor, '/console/campaigns', { articleIds: String(articleId) }, false))
        .statusCode,
    ).toBe(403);
    expect(await campaignCount()).toBe(before);
    for (const action of ['send', 'cancel', 'edit', 'schedule-local', 'test']) {
      const url = `/console/campaigns/${id}/${action}`;
      const form = { subject: 'Changed', topics: TOPIC, localTime: '07:00', to: 'x@example.org' };
      expect((await post(ops, url, form)).statusCode, `ops ${action}`).toBe(403);
      expect((await post(editor, url, form, false)).statusCode, `no csrf ${action}`).toBe(403);
    }
    expect(await getCampaign(herald.app.store.db, id)).toMatchObject({
      status: 'draft',
      subject: 'Morning briefing',
    });
    // Not signed in: a page sends to the login page, a post is refused.
    const anonymous = await server.inject({ url: '/console/campaigns' });
    expect(anonymous.statusCode).toBe(303);
    expect(anonymous.headers.location).toBe('/console/login?next=%2Fconsole%2Fcampaigns');
    expect((await post(null, `/console/campaigns/${id}/send`, {})).statusCode).toBe(401);
  });

  it('lists campaigns with a status filter, counts and pagination', async () => {
    const id = await createDraft('Listed draft');
    const list = await get(editor, '/console/campaigns');
    expect(list.statusCode).toBe(200);
    expect(list.body).toContain(`href="/console/campaigns/${id}">Listed draft</a>`);
    expect(list.body).toContain('badge badge-draft');
    const sent = await get(editor, '/console/campaigns?status=sent');
    expect(sent.body).not.toContain('Listed draft');
    expect(sent.body).toContain('No campaigns match these filters');
    const bad = await get(editor, '/console/campaigns?status=bogus');
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toContain('status must be one of draft, scheduled');
    // A page of one: the next page link carries the cursor and the filter.
    const firstPage = await get(editor, '/console/campaigns?status=draft&limit=1');
    expect(firstPage.statusCode).toBe(200);
    const total = Number(/(\d+) campaigns · draft/.exec(firstPage.body)?.[1]);
    expect(total).toBeGreaterThan(1);
  });

  it('edits subject, preheader and topics while draft; refuses bad input and a started campaign', async () => {
    const db = herald.app.store.db;
    const id = await createDraft();
    const saved = await post(editor, `/console/campaigns/${id}/edit`, {
      subject: 'A new subject',
      preheader: 'A preheader',
      topics: ['climate'],
    });
    expect(saved.statusCode).toBe(303);
    expect(await getCampaign(db, id)).toMatchObject({
      subject: 'A new subject',
      preheader: 'A preheader',
      audienceTopics: ['climate'],
    });
    const empty = await post(editor, `/console/campaigns/${id}/edit`, {
      subject: '   ',
      preheader: 'kept?',
      topics: TOPIC,
    });
    expect(empty.statusCode).toBe(422);
    expect(empty.body).toContain('the subject must not be empty');
    expect(empty.body).toContain('value="kept?"');
    const noTopics = await post(editor, `/console/campaigns/${id}/edit`, { subject: 'S' });
    expect(noTopics.statusCode).toBe(422);
    expect(noTopics.body).toContain('choose at least one audience topic');
    const unknown = await post(editor, `/console/campaigns/${id}/edit`, {
      subject: 'S',
      topics: 'nope-topic',
    });
    expect(unknown.statusCode).toBe(422);
    expect(await getCampaign(db, id)).toMatchObject({
      subject: 'A new subject',
      audienceTopics: ['climate'],
    });
    await post(editor, `/console/campaigns/${id}/cancel`, {});
    const late = await post(editor, `/console/campaigns/${id}/edit`, {
      subject: 'Too late',
      topics: TOPIC,
    });
    expect(late.statusCode).toBe(409);
    expect(late.body).toContain('cannot edit campaign');
    expect((await getCampaign(db, id))?.subject).toBe('A new subject');
  });

  it('schedules at an instant in a chosen zone, reschedules, unschedules; refuses a past or bad time', async () => {
    const db = herald.app.store.db;
    const id = await createDraft();
    const year = new Date().getUTCFullYear() + 1;
    const scheduled = await post(editor, `/console/campaigns/${id}/schedule`, {
      at: `${year}-06-01T09:30`,
      timezone: 'Europe/Paris',
    });
    expect(scheduled.statusCode).toBe(303);
    // 09:30 in Paris in June is 07:30 UTC (CEST, +02:00).
    expect(await getCampaign(db, id)).toMatchObject({
      status: 'scheduled',
      scheduledAt: `${year}-06-01T07:30:00.000Z`,
    });
    const rescheduled = await post(editor, `/console/campaigns/${id}/schedule`, {
      at: `${year}-06-02T09:30`,
      timezone: 'UTC',
    });
    expect(rescheduled.statusCode).toBe(303);
    expect((await getCampaign(db, id))?.scheduledAt).toBe(`${year}-06-02T09:30:00.000Z`);

    const past = await post(editor, `/console/campaigns/${id}/schedule`, {
      at: '2020-01-01T09:00',
      timezone: 'UTC',
    });
    expect(past.statusCode).toBe(422);
    expect(past.body).toContain('is in the past');
    expect(past.body).toContain('value="2020-01-01T09:00"');
    const zone = await post(editor, `/console/campaigns/${id}/schedule`, {
      at: `${year}-06-01T09:30`,
      timezone: 'Mars/Olympus',
    });
    expect(zone.statusCode).toBe(422);
    expect(zone.body).toContain('choose a known time zone');
    const malformed = await post(editor, `/console/campaigns/${id}/schedule`, {
      at: 'tomorrow',
      timezone: 'UTC',
    });
    expect(malformed.statusCode).toBe(422);
    expect(malformed.body).toContain('give a date and time like');
    expect((await getCampaign(db, id))?.scheduledAt).toBe(`${year}-06-02T09:30:00.000Z`);

    const confirm = await get(editor, `/console/campaigns/${id}/confirm/unschedule`);
    expect(confirm.body).toContain('Take this campaign off the schedule?');
    expect((await post(editor, `/console/campaigns/${id}/unschedule`, {})).statusCode).toBe(303);
    expect(await getCampaign(db, id)).toMatchObject({ status: 'draft', scheduledAt: null });
  });

  it('schedules at a local time per subscriber zone; refuses a bad HH:MM', async () => {
    const db = herald.app.store.db;
    const id = await createDraft();
    const bad = await post(editor, `/console/campaigns/${id}/schedule-local`, {
      localTime: '25:00',
    });
    expect(bad.statusCode).toBe(422);
    expect(bad.body).toContain('give a 24-hour time HH:MM');
    expect((await getCampaign(db, id))?.status).toBe('draft');
    const ok = await post(editor, `/console/campaigns/${id}/schedule-local`, {
      localTime: '07:00',
    });
    expect(ok.statusCode).toBe(303);
    expect(await getCampaign(db, id)).toMatchObject({ status: 'scheduled', localTime: '07:00' });
    const page = await get(editor, `/console/campaigns/${id}`);
    expect(page.body).toContain('<strong>07:00</strong> in each subscriber’s own zone');
    const status = await campaignStatus(db, id);
    expect(status.zones?.map((z) => z.zone).sort()).toEqual([
      'America/New_York',
      'Asia/Tokyo',
      'UTC',
    ]);
  });

  it('sends now, pauses, resumes and cancels with a confirm step; refuses an action the status does not allow', async () => {
    const db = herald.app.store.db;
    const id = await createDraft();
    const refused = await post(editor, `/console/campaigns/${id}/pause`, {});
    expect(refused.statusCode).toBe(409);
    expect(refused.body).toContain('cannot pause campaign');
    expect((await getCampaign(db, id))?.status).toBe('draft');

    const confirm = await get(editor, `/console/campaigns/${id}/confirm/send`);
    expect(confirm.statusCode).toBe(200);
    expect(confirm.body).toContain('Send this campaign to its whole audience now?');
    expect(confirm.body).toContain(`action="/console/campaigns/${id}/send"`);
    // No workers run here: the campaign stays `sending` for pause and resume.
    expect((await post(editor, `/console/campaigns/${id}/send`, {})).statusCode).toBe(303);
    expect((await getCampaign(db, id))?.status).toBe('sending');
    const live = await get(editor, `/console/campaigns/${id}/progress`);
    expect(live.body).toContain('hx-trigger="every 2s"');
    expect((await post(editor, `/console/campaigns/${id}/pause`, {})).statusCode).toBe(303);
    expect((await getCampaign(db, id))?.status).toBe('paused');
    const paused = await get(editor, `/console/campaigns/${id}?done=pause`);
    expect(paused.body).toContain('Paused. Nothing more goes out until you resume.');
    expect(paused.body).toContain(`/console/campaigns/${id}/confirm/resume`);
    expect((await get(editor, `/console/campaigns/${id}/progress`)).body).not.toContain('every 2s');
    // A page drawn while it was sending polls with shown=sending: its block says what changed,
    // since the page's own actions (Pause…) no longer apply; a bad `shown` is ignored.
    const changed = await get(editor, `/console/campaigns/${id}/progress?shown=sending`);
    expect(changed.body).toContain('This campaign is now <strong>paused</strong>');
    expect(
      (await get(editor, `/console/campaigns/${id}/progress?shown=paused`)).body,
    ).not.toContain('This campaign is now');
    expect((await get(editor, `/console/campaigns/${id}/progress?shown=%00bogus`)).statusCode).toBe(
      200,
    );
    expect((await post(editor, `/console/campaigns/${id}/resume`, {})).statusCode).toBe(303);
    expect((await getCampaign(db, id))?.status).toBe('sending');
    const cancelConfirm = await get(editor, `/console/campaigns/${id}/confirm/cancel`);
    expect(cancelConfirm.body).toContain('Cancel this campaign for good?');
    expect((await post(editor, `/console/campaigns/${id}/cancel`, {})).statusCode).toBe(303);
    expect((await getCampaign(db, id))?.status).toBe('cancelled');
    const again = await get(editor, `/console/campaigns/${id}/confirm/resume`);
    expect(again.body).toContain('is not available now');
    expect((await get(editor, '/console/campaigns/999999')).statusCode).toBe(404);
    expect((await get(editor, '/console/campaigns/abc')).statusCode).toBe(404);
    expect((await get(editor, `/console/campaigns/${id}/confirm/explode`)).statusCode).toBe(404);
  });

  it('sends a test through the SMTP transport, not counted; refuses a bad or refused address', async () => {
    const db = herald.app.store.db;
    const id = await createDraft('Test me');
    const before = sink.messages.length;
    const sent = await post(editor, `/console/campaigns/${id}/test`, { to: 'desk@example.org' });
    expect(sent.statusCode).toBe(200);
    expect(sent.body).toContain('Test sent to desk@example.org');
    expect(sink.messages.length).toBe(before + 1);
    const message = sink.messages[sink.messages.length - 1]!;
    expect(message.to).toEqual(['desk@example.org']);
    const parsed = await sink.parse(message);
    expect(parsed.subject).toBe('[Test] Test me');
    expect(parsed.html).toContain('Lavrov');
    expect((await campaignStatus(db, id)).total).toBe(0);

    const bad = await post(editor, `/console/campaigns/${id}/test`, { to: 'not an address' });
    expect(bad.statusCode).toBe(422);
    expect(bad.body).toContain('must be an email address');
    expect(bad.body).toContain('value="not an address"');
    const refused = await post(editor, `/console/campaigns/${id}/test`, {
      to: 'refused-desk@example.org',
    });
    expect(refused.statusCode).toBe(422);
    expect(refused.body).toContain('the mail server refused the test (550');
    expect(sink.messages.length).toBe(before + 1);
  });

  it('previews as a subscriber in a sandboxed iframe with its own CSP, HTML and text', async () => {
    const id = await createDraft('Preview me');
    const page = await get(editor, `/console/campaigns/${id}/preview?width=375`);
    expect(page.statusCode).toBe(200);
    // Without a choice, the preview is as a member of the audience (the newest follower).
    expect(page.body).toContain('<option value="ana@example.net">');
    expect(page.body).toMatch(
      /<iframe class="preview-frame preview-375" sandbox="" src="\/console\/campaigns\/\d+\/preview\/html\?as=[a-z-]+%40example.net"/,
    );
    const html = await get(editor, `/console/campaigns/${id}/preview/html?as=bo@example.net`);
    expect(html.statusCode).toBe(200);
    expect(html.headers['content-security-policy']).toMatch(/default-src 'none'.*sandbox/);
    expect(html.body).toContain('Preview me');
    const text = await get(editor, `/console/campaigns/${id}/preview?tab=text&as=bo@example.net`);
    expect(text.body).toContain('<pre class="preview-text"');
    expect(text.body).toContain('Lavrov');
    const nobody = await get(editor, `/console/campaigns/${id}/preview?as=nobody@example.net`);
    expect(nobody.statusCode).toBe(404);
    expect(nobody.body).toContain('no subscriber with the address nobody@example.net');
    expect(
      (await get(editor, `/console/campaigns/${id}/preview/html?as=nobody@example.net`)).statusCode,
    ).toBe(404);
  });

  it('answers the live partials: audience size, length advice', async () => {
    const audience = await get(
      editor,
      `/console/campaigns/audience?topics=${TOPIC}&topics=climate`,
    );
    expect(audience.body).toContain('4 subscribers will get it');
    const one = await get(editor, '/console/campaigns/audience?topics=climate');
    expect(one.body).toContain('2 subscribers will get it');
    const bad = await get(editor, '/console/campaigns/audience?topics=Not%20A%20Topic');
    expect(bad.statusCode).toBe(200);
    expect(bad.body).toContain('topic ids are lower-case words');
    const long = await get(editor, `/console/campaigns/lengths?subject=${'x'.repeat(72)}`);
    expect(long.body).toContain('72 characters: inboxes often cut subjects after about 60');
    const short = await get(editor, '/console/campaigns/lengths?preheader=Short');
    expect(short.body).toContain('5 of about 90 characters');
    expect(short.body).toContain('id="preheader-advice"');
  });

  it('answers malformed input on every campaign route with a 4xx page, never a 5xx, changing nothing', async () => {
    const db = herald.app.store.db;
    const id = await createDraft('Fuzzed');
    const snapshot = async () =>
      JSON.stringify(await db.selectFrom('campaigns').selectAll().orderBy('id').execute());
    const before = await snapshot();
    const ids = [String(id), '0', '-1', '99999999999', '1e3', 'abc', '%00', '1.5'];
    const values: unknown[] = [
      '',
      ' ',
      'x'.repeat(5_000),
      ['a', 'b'],
      '2026-13-45T99:99',
      '<script>alert(1)</script>',
      '../../etc/passwd',
      '\u0000',
      '25:61',
      'Mars/Olympus',
    ];
    const fields = ['subject', 'preheader', 'topics', 'at', 'timezone', 'localTime', 'to'];
    const failures: string[] = [];
    let sent = 0;
    const record = (label: string, status: number) => {
      sent += 1;
      if (status >= 500) failures.push(`${label}: ${status}`);
    };
    for (const target of ids) {
      for (const path of [
        '',
        '/progress',
        '/preview',
        '/preview/html',
        '/report',
        '/confirm/send',
      ]) {
        for (const query of ['', '?as=%ZZ', `?tab=x&width=9&as=${'a'.repeat(300)}`, '?done=x']) {
          const url = `/console/campaigns/${target}${path}${query}`;
          record(`GET ${url}`, (await get(editor, url)).statusCode);
        }
      }
      // Only the first id is a real campaign: only there may an action change it.
      if (target === String(id)) continue;
      for (const action of ['edit', 'schedule', 'schedule-local', 'test', 'send', 'cancel']) {
        const url = `/console/campaigns/${target}/${action}`;
        record(
          `POST ${url}`,
          (await post(editor, url, { subject: 'x', topics: TOPIC })).statusCode,
        );
      }
    }
    for (const action of ['edit', 'schedule', 'schedule-local', 'test']) {
      for (const field of fields) {
        for (const value of values) {
          const url = `/console/campaigns/${id}/${action}`;
          const response = await post(editor, url, { [field]: value });
          record(`POST ${url} ${field}=${String(value).slice(0, 20)}`, response.statusCode);
          if (response.statusCode < 400) failures.push(`POST ${url} ${field}: accepted`);
        }
      }
    }
    for (const query of [
      'status=x',
      'cursor=zzz',
      'limit=1000',
      `q=${'q'.repeat(300)}`,
      'status=draft&status=sent',
    ]) {
      record(`GET list ${query}`, (await get(editor, `/console/campaigns?${query}`)).statusCode);
    }
    for (const query of [
      `topics=${'A'.repeat(300)}`,
      `subject=${'x'.repeat(2_000)}`,
      'q=%ZZ',
      'articleIds=abc&articleIds=-5',
    ]) {
      for (const url of [
        '/console/campaigns/audience',
        '/console/campaigns/lengths',
        '/console/campaigns/new/articles',
        '/console/campaigns/new',
      ]) {
        record(`GET ${url}?${query}`, (await get(editor, `${url}?${query}`)).statusCode);
      }
    }
    for (const form of [
      {},
      { articleIds: 'x' },
      { articleIds: ['1', '1e9'] },
      { template: 'nope', articleIds: String(articleId) },
      { subject: 'x'.repeat(300), articleIds: String(articleId) },
    ]) {
      const response = await post(editor, '/console/campaigns', form);
      record('POST /console/campaigns', response.statusCode);
      if (response.statusCode < 400)
        failures.push(`POST /console/campaigns ${JSON.stringify(form).slice(0, 40)}: accepted`);
    }
    // Everything valid but a NUL in the words (PostgreSQL refuses NUL in text).
    for (const field of ['subject', 'preheader']) {
      const edit = await post(editor, `/console/campaigns/${id}/edit`, {
        subject: 'Fine',
        topics: TOPIC,
        [field]: 'bad\u0000text',
      });
      expect(edit.statusCode, field).toBe(422);
      expect(edit.body).toContain(`the ${field} must not contain control characters`);
      const create = await post(editor, '/console/campaigns', {
        articleIds: String(articleId),
        [field]: 'bad\u0000text',
      });
      expect(create.statusCode, field).toBe(422);
    }
    const oversized = await server.inject({
      method: 'POST',
      url: `/console/campaigns/${id}/edit`,
      headers: { cookie: editor.cookie, 'x-csrf-token': editor.csrf },
      payload: { subject: 'x'.repeat(70_000), topics: TOPIC },
    });
    record('POST edit 70 kB', oversized.statusCode);
    expect(oversized.statusCode).toBe(413);
    expect(sent).toBeGreaterThan(300);
    expect(failures).toEqual([]);
    expect(await snapshot()).toBe(before);
  }, 180_000);

  it('reports a sent campaign: counts equal campaign status, bounce reasons grouped, a chart', async () => {
    const db = herald.app.store.db;
    const id = await createDraft('Report me');
    await herald.stopWorkers();
    const { startWorkers } = await import('../workers/index.ts');
    const workers = await startWorkers(herald.app);
    try {
      expect((await post(editor, `/console/campaigns/${id}/send`, {})).statusCode).toBe(303);
      await waitForCampaign(herald.app, id, (report) => report.status === 'sent', 60_000);
    } finally {
      for (const worker of [...workers].reverse()) await worker.stop();
    }
    const status = await campaignStatus(db, id);
    expect(status).toMatchObject({ total: 3, sent: 2, bounced: 1 });
    const report = await get(editor, `/console/campaigns/${id}/report`);
    expect(report.statusCode).toBe(200);
    for (const key of ['total', 'sent', 'pending', 'failed', 'bounced', 'suppressed'] as const) {
      expect(report.body, key).toContain(`data-count="${key}">${status[key]}<`);
    }
    expect(report.body).toContain('<svg class="bar-chart"');
    expect(report.body).not.toContain('refused-cy@example.net');
    expect(report.body).toMatch(/550 refused by the test sink<\/td><td class="num">1</);
  }, 90_000);
});
