// What the console's dashboard shows, as plain functions over the store, Redis and the queues:
// campaigns sending now with their progress (counts from the ledger, as `herald campaign
// status` reports them; rate from the workers' per-minute attempt counters), what is scheduled
// next (each zone's instant for a local-time send), queue health and recent bounces.
import type { App } from '../app.ts';
import { type CampaignListItem, listCampaigns } from '../campaigns/list.ts';
import { campaignStatus, type ZoneSend } from '../campaigns/repository.ts';
import { recentAttemptRate } from '../delivery/progress.ts';
import type { Queues } from '../delivery/queues.ts';
import type { CampaignLedgerCounts } from '../ledger/reports.ts';
import { type BounceEventItem, recentBounceEvents } from '../subscribers/events.ts';
import { allQueueStats, type QueueStats } from './queues.ts';

/** A campaign in flight with what its progress bar and figures show. */
export interface SendingCampaign {
  id: number;
  subject: string;
  status: 'sending' | 'paused';
  startedAt: string | null;
  counts: CampaignLedgerCounts;
  /** Rows with an outcome (sent, failed, bounced, suppressed). */
  done: number;
  /** Whole percent of rows with an outcome (0 when the campaign has no rows yet). */
  percent: number;
  /** Recent attempts per minute across workers (0: none in the last minutes). */
  perMinute: number;
  /** Seconds until the pending rows are sent at that rate; null when not sending or no rate. */
  secondsLeft: number | null;
}

/** A scheduled campaign and when it goes out (each zone's instant for a local-time send). */
export interface ScheduledCampaign {
  id: number;
  subject: string;
  scheduledAt: string | null;
  localTime: string | null;
  zones: ZoneSend[];
}

export interface QueueHealth {
  queues: QueueStats[];
  /** One line per queue that needs a look (failed jobs, paused). */
  warnings: string[];
}

/** Campaigns shown in each dashboard part, at most. */
const SHOWN = 10;

/** Campaigns sending or paused mid-send, with progress, rate and time left. */
export async function sendingNow(app: App, now: Date): Promise<SendingCampaign[]> {
  const [sending, paused] = await Promise.all([
    listCampaigns(app.store.db, { status: 'sending', limit: SHOWN }),
    listCampaigns(app.store.db, { status: 'paused', limit: SHOWN }),
  ]);
  const campaigns = [...sending.items, ...paused.items].slice(0, SHOWN);
  return Promise.all(campaigns.map((campaign) => progressOf(app, campaign, now)));
}

async function progressOf(
  app: App,
  campaign: CampaignListItem,
  now: Date,
): Promise<SendingCampaign> {
  const { counts } = campaign;
  const done = counts.sent + counts.failed + counts.bounced + counts.suppressed;
  const rate =
    campaign.status === 'sending'
      ? await recentAttemptRate(
          app.redis(),
          app.config.QUEUE_PREFIX,
          campaign.id,
          now,
          campaign.startedAt,
        )
      : { attempts: 0, perSecond: 0 };
  return {
    id: campaign.id,
    subject: campaign.subject,
    status: campaign.status === 'paused' ? 'paused' : 'sending',
    startedAt: campaign.startedAt,
    counts,
    done,
    percent: counts.total > 0 ? Math.floor((100 * done) / counts.total) : 0,
    perMinute: Math.round(rate.perSecond * 60),
    secondsLeft:
      rate.perSecond > 0 && counts.pending > 0 ? Math.ceil(counts.pending / rate.perSecond) : null,
  };
}

/** The next scheduled campaigns, soonest first, with each zone's instant for local-time sends. */
export async function scheduledNext(app: App, limit = 5): Promise<ScheduledCampaign[]> {
  // The list is newest-created first; scheduled campaigns are few, so read a full page of them
  // and order by their send instant here.
  const page = await listCampaigns(app.store.db, { status: 'scheduled', limit: 100 });
  const soonest = page.items
    .slice()
    .sort((a, b) => (a.scheduledAt ?? '').localeCompare(b.scheduledAt ?? '') || a.id - b.id)
    .slice(0, limit);
  return Promise.all(
    soonest.map(async (campaign) => ({
      id: campaign.id,
      subject: campaign.subject,
      scheduledAt: campaign.scheduledAt,
      localTime: campaign.localTime,
      zones: campaign.localTime
        ? ((await campaignStatus(app.store.db, campaign.id)).zones ?? [])
        : [],
    })),
  );
}

/** Every queue's counts and a warning for each with failed jobs or paused. */
export async function queueHealth(queues: Queues): Promise<QueueHealth> {
  const stats = await allQueueStats(queues);
  const warnings: string[] = [];
  for (const queue of stats) {
    if (queue.isPaused) warnings.push(`${queue.name} is paused: its jobs wait until it is resumed`);
    if (queue.failed > 0) {
      warnings.push(`${queue.name} has ${queue.failed} failed job${queue.failed === 1 ? '' : 's'}`);
    }
  }
  return { queues: stats, warnings };
}

/** The newest bounces and complaints. */
export function recentBounces(app: App, limit = 8): Promise<BounceEventItem[]> {
  return recentBounceEvents(app.store.db, limit);
}
