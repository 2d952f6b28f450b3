// The per-campaign report: delivery from the ledger, reactions from the events, engagement
// from the engagement tables (live per-subscriber rows plus the totals retention folded away).
// Everything is derived on read; nothing keeps a second counter.
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { countLedger } from '../ledger/ledger.ts';
import type { Database, DeliveryStatus } from '../store/schema.ts';
import { type EngagementKind, engagementDb } from '../store/schema-engagement.ts';

const uniqueAndTotal = z.object({ unique: z.number().int(), total: z.number().int() });

export const campaignReportSchema = z.object({
  id: z.number().int(),
  subject: z.string(),
  status: z.string(),
  /** Ledger rows sent. */
  delivered: z.number().int(),
  bounced: z.object({ hard: z.number().int(), soft: z.number().int() }),
  complaints: z.number().int(),
  /** Subscribers who unsubscribed from everything through this campaign's links. */
  unsubscribes: z.number().int(),
  /** …and those who dropped one topic through them. */
  topicUnsubscribes: z.number().int(),
  clicks: uniqueAndTotal.extend({ rate: z.number() }),
  links: z.array(
    z.object({
      index: z.number().int(),
      url: z.string(),
      uniqueClicks: z.number().int(),
      clicks: z.number().int(),
      clickRate: z.number(),
    }),
  ),
  opens: z.object({
    human: uniqueAndTotal.extend({ rate: z.number() }),
    machine: uniqueAndTotal,
  }),
  /** Events per UTC hour (YYYY-MM-DDTHH:00Z), hours with none left out. */
  hourly: z.array(
    z.object({
      hour: z.string(),
      clicks: z.number().int(),
      opens: z.number().int(),
      machineOpens: z.number().int(),
    }),
  ),
});

export type CampaignReport = z.infer<typeof campaignReportSchema>;

/** A share of the delivered messages, to four decimals (0 when nothing was delivered). */
function rate(count: number, delivered: number): number {
  return delivered > 0 ? Math.round((count / delivered) * 10_000) / 10_000 : 0;
}

/** The campaign's report, or null when there is no such campaign. */
export async function campaignReport(
  db: Kysely<Database>,
  campaignId: number,
): Promise<CampaignReport | null> {
  const edb = engagementDb(db);
  const campaign = await db
    .selectFrom('campaigns')
    .select(['id', 'subject', 'status'])
    .where('id', '=', campaignId)
    .executeTakeFirst();
  if (!campaign) return null;

  const [ledger, events, live, totals, linkRows, liveLinks, hourly] = await Promise.all([
    countLedger(db, campaignId),
    db
      .selectFrom('events')
      .select('type')
      .select((eb) => eb.fn.count<number>('subscriber_id').distinct().as('n'))
      .where('campaign_id', '=', campaignId)
      .where('type', 'in', ['bounce.soft', 'complaint', 'unsubscribe', 'unsubscribe.topic'])
      .groupBy('type')
      .execute(),
    edb
      .selectFrom('engagement')
      .select('kind')
      .select((eb) => [
        eb.fn.countAll<number>().as('unique'),
        eb.fn.sum<number>('count').as('total'),
      ])
      .where('campaign_id', '=', campaignId)
      .groupBy('kind')
      .execute(),
    edb
      .selectFrom('engagement_totals')
      .select(['kind', 'link_index', 'subscribers', 'events'])
      .where('campaign_id', '=', campaignId)
      .execute(),
    edb
      .selectFrom('engagement_links')
      .select(['link_index', 'url'])
      .where('campaign_id', '=', campaignId)
      .orderBy('link_index')
      .execute(),
    edb
      .selectFrom('engagement_link_clicks')
      .select('link_index')
      .select((eb) => [
        eb.fn.countAll<number>().as('unique'),
        eb.fn.sum<number>('count').as('total'),
      ])
      .where('campaign_id', '=', campaignId)
      .groupBy('link_index')
      .execute(),
    edb
      .selectFrom('engagement_hourly')
      .select(['kind', 'hour', 'events'])
      .where('campaign_id', '=', campaignId)
      .orderBy('hour')
      .execute(),
  ]);

  const ledgerCount = (status: DeliveryStatus) => ledger[status];
  const eventCount = (type: string) => Number(events.find((row) => row.type === type)?.n ?? 0);
  const engaged = (kind: EngagementKind) => {
    const row = live.find((r) => r.kind === kind);
    const folded = totals.find((t) => t.kind === kind && Number(t.link_index) === -1);
    return {
      unique: Number(row?.unique ?? 0) + Number(folded?.subscribers ?? 0),
      total: Number(row?.total ?? 0) + Number(folded?.events ?? 0),
    };
  };
  const delivered = ledgerCount('sent');
  const clicks = engaged('click');
  const human = engaged('open');

  const hours = new Map<string, { clicks: number; opens: number; machineOpens: number }>();
  for (const row of hourly) {
    const bucket = hours.get(row.hour) ?? { clicks: 0, opens: 0, machineOpens: 0 };
    const n = Number(row.events);
    if (row.kind === 'click') bucket.clicks += n;
    else if (row.kind === 'open') bucket.opens += n;
    else bucket.machineOpens += n;
    hours.set(row.hour, bucket);
  }

  return {
    id: campaign.id,
    subject: campaign.subject,
    status: campaign.status,
    delivered,
    bounced: { hard: ledgerCount('bounced'), soft: eventCount('bounce.soft') },
    complaints: eventCount('complaint'),
    unsubscribes: eventCount('unsubscribe'),
    topicUnsubscribes: eventCount('unsubscribe.topic'),
    clicks: { ...clicks, rate: rate(clicks.unique, delivered) },
    links: linkRows.map((link) => {
      const row = liveLinks.find((r) => Number(r.link_index) === Number(link.link_index));
      const folded = totals.find(
        (t) => t.kind === 'click' && Number(t.link_index) === Number(link.link_index),
      );
      const uniqueClicks = Number(row?.unique ?? 0) + Number(folded?.subscribers ?? 0);
      return {
        index: Number(link.link_index),
        url: link.url,
        uniqueClicks,
        clicks: Number(row?.total ?? 0) + Number(folded?.events ?? 0),
        clickRate: rate(uniqueClicks, delivered),
      };
    }),
    opens: {
      human: { ...human, rate: rate(human.unique, delivered) },
      machine: engaged('machine-open'),
    },
    hourly: [...hours].map(([hour, counts]) => ({ hour: `${hour}:00Z`, ...counts })),
  };
}
