// Subscriber store functions and bounce/complaint/unsubscribe state, on both SQL dialects.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyBounce, eraseSubscriber, unsubscribe } from '../src/subscribers/events.ts';
import { emailHash } from '../src/subscribers/identity.ts';
import {
  findSubscriberByEmail,
  getSubscriber,
  SubscriberInputError,
  updatePreferences,
  upsertSubscriber,
} from '../src/subscribers/repository.ts';
import {
  addSuppression,
  isSuppressed,
  removeSuppression,
  suppressionOf,
} from '../src/subscribers/suppressions.ts';
import { insertCampaign, insertTopics } from './helpers/rows.ts';
import { DIALECTS, openTestStore, type TestStore } from './helpers/stores.ts';

const NOW = '2026-01-10T08:00:00.000Z';

describe.each(DIALECTS)('subscribers on %s', (dialect) => {
  let ts: TestStore;
  beforeAll(async () => {
    ts = await openTestStore(dialect);
    await insertTopics(ts.store.db, ['russia-china', 'economy', 'sport']);
  });
  afterAll(async () => {
    await ts?.dispose();
  });

  it('upserts by normalised email, validates zone and topics', async () => {
    const db = ts.store.db;
    const first = await upsertSubscriber(
      db,
      {
        email: '  Ann@Example.COM ',
        name: 'Ann',
        topics: ['russia-china', 'economy'],
        timezone: 'europe/paris',
        digest: 'daily',
      },
      NOW,
    );
    expect(first.created).toBe(true);
    const again = await upsertSubscriber(db, { email: 'Ann@example.com', topics: ['sport'] }, NOW);
    expect(again).toEqual({ id: first.id, created: false });
    const stored = await getSubscriber(db, first.id);
    expect(stored).toMatchObject({
      email: 'Ann@example.com',
      name: 'Ann',
      status: 'active',
      topics: ['sport'],
      timezone: 'Europe/Paris',
      digest: 'daily',
      confirmedAt: NOW,
    });
    // Identity is case-insensitive in the whole address (test/identity.test.ts has the rest).
    expect((await findSubscriberByEmail(db, 'ann@EXAMPLE.com'))?.id).toBe(first.id);
    expect((await findSubscriberByEmail(db, 'Ann@EXAMPLE.com'))?.id).toBe(first.id);

    await expect(upsertSubscriber(db, { email: 'not-an-address' })).rejects.toThrow(/email/);
    await expect(
      upsertSubscriber(db, { email: 'b@example.com', timezone: 'Mars/Olympus' }),
    ).rejects.toBeInstanceOf(SubscriberInputError);
    await expect(
      upsertSubscriber(db, { email: 'b@example.com', topics: ['nope'] }),
    ).rejects.toThrow(/unknown topic/);
    expect(await findSubscriberByEmail(db, 'b@example.com')).toBeNull();

    await updatePreferences(db, first.id, { topics: ['economy'], sendHour: 18 }, NOW);
    expect(await getSubscriber(db, first.id)).toMatchObject({ topics: ['economy'], sendHour: 18 });
  });

  it('pending stays pending until active is asked; active never goes back to pending', async () => {
    const db = ts.store.db;
    const { id } = await upsertSubscriber(db, { email: 'p@example.com', status: 'pending' }, NOW);
    expect((await getSubscriber(db, id))?.status).toBe('pending');
    await upsertSubscriber(db, { email: 'p@example.com', status: 'active' }, NOW);
    expect((await getSubscriber(db, id))?.status).toBe('active');
    await upsertSubscriber(db, { email: 'p@example.com', status: 'pending' }, NOW);
    expect((await getSubscriber(db, id))?.status).toBe('active');
  });

  it('hard bounce: bounced, suppressed, ledger row bounced, one event even when replayed', async () => {
    const db = ts.store.db;
    const { id } = await upsertSubscriber(db, { email: 'hard@example.com', topics: ['sport'] });
    const campaign = {
      id: await insertCampaign(db, { audience_topics: '["sport"]', status: 'sending' }),
    };
    await db
      .insertInto('deliveries')
      .values({ campaign_id: campaign.id, subscriber_id: id, status: 'sent', updated_at: NOW })
      .execute();
    for (let i = 0; i < 2; i++) {
      await applyBounce(db, {
        subscriberId: id,
        campaignId: campaign.id,
        kind: 'hard',
        reply: '5.1.1 user unknown',
      });
    }
    expect((await getSubscriber(db, id))?.status).toBe('bounced');
    expect(await suppressionOf(db, 'hard@example.com')).toBe('hard-bounce');
    const ledger = await db
      .selectFrom('deliveries')
      .selectAll()
      .where('subscriber_id', '=', id)
      .executeTakeFirstOrThrow();
    expect(ledger).toMatchObject({ status: 'bounced', last_reply: '5.1.1 user unknown' });
    const events = await db
      .selectFrom('events')
      .selectAll()
      .where('subscriber_id', '=', id)
      .execute();
    expect(events.map((e) => e.type)).toEqual(['bounce.hard']);
  });

  it('soft bounces suppress only after the limit within the window', async () => {
    const db = ts.store.db;
    const { id } = await upsertSubscriber(db, { email: 'soft@example.com' });
    const campaignIds: number[] = [];
    for (let i = 0; i < 3; i++) {
      campaignIds.push(await insertCampaign(db, { subject: `s${i}`, status: 'sent' }));
    }
    const soft = (campaignId: number, now: string) =>
      applyBounce(db, { subscriberId: id, campaignId, kind: 'soft', reply: '4.2.2 full', now });
    // An old soft bounce falls outside the 30-day window.
    expect(await soft(campaignIds[0]!, '2025-10-01T00:00:00.000Z')).toBe('soft');
    expect(await soft(campaignIds[1]!, NOW)).toBe('soft');
    expect(await soft(campaignIds[1]!, NOW)).toBe('soft'); // replay counts once
    expect(await isSuppressed(db, 'soft@example.com')).toBe(false);
    expect(
      await applyBounce(db, {
        subscriberId: id,
        campaignId: campaignIds[2]!,
        kind: 'soft',
        reply: '4.2.2 full',
        now: NOW,
        softBounceLimit: 2,
      }),
    ).toBe('soft-suppressed');
    expect(await suppressionOf(db, 'soft@example.com')).toBe('hard-bounce');
    expect((await getSubscriber(db, id))?.status).toBe('bounced');
  });

  it('complaint, unsubscribe (topic and all), suppressions add/remove, erase', async () => {
    const db = ts.store.db;
    const c = await upsertSubscriber(db, { email: 'c@example.com' });
    await applyBounce(db, { subscriberId: c.id, kind: 'complaint', reply: 'abuse' });
    expect((await getSubscriber(db, c.id))?.status).toBe('complained');
    expect(await suppressionOf(db, 'c@example.com')).toBe('complaint');

    const u = await upsertSubscriber(db, { email: 'u@example.com', topics: ['sport', 'economy'] });
    await unsubscribe(db, u.id, { topicId: 'sport' });
    expect(await getSubscriber(db, u.id)).toMatchObject({ status: 'active', topics: ['economy'] });
    await unsubscribe(db, u.id, {});
    await unsubscribe(db, u.id, {});
    expect((await getSubscriber(db, u.id))?.status).toBe('unsubscribed');
    expect(await suppressionOf(db, 'u@example.com')).toBe('unsubscribe');

    expect(await addSuppression(db, 'm@example.com', 'manual', 'asked by phone')).toEqual({
      added: true,
    });
    expect(await addSuppression(db, 'm@example.com', 'manual')).toEqual({ added: false });
    expect(await removeSuppression(db, 'm@example.com')).toEqual({
      removed: true,
      reason: 'manual',
    });
    expect(await isSuppressed(db, 'm@example.com')).toBe(false);

    const e = await upsertSubscriber(db, { email: 'Erase.Me@example.com', topics: ['sport'] });
    expect(await eraseSubscriber(db, e.id)).toBe(true);
    expect(await getSubscriber(db, e.id)).toBeNull();
    const row = await db
      .selectFrom('suppressions')
      .selectAll()
      .where('email_hash', '=', emailHash('erase.me@example.com'))
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({ reason: 'erased', email: null });
  });
});
