// Prometheus metrics for ops: gauges computed at scrape time from the ledger and the queues,
// merged with the process's own registry (delivery histogram/counters, process metrics).

import type { Kysely } from 'kysely';
import { collectDefaultMetrics, Gauge, Registry, register } from 'prom-client';
// Registers the delivery histogram and counters in the default registry, so a scrape shows them
// before this process has sent anything (the mail transport that records them loads lazily).
import '../delivery/metrics.ts';
import { ALL_QUEUES, type Queues } from '../delivery/queues.ts';
import { ledgerCountsByKind, ledgerCountsOfRecentCampaigns } from '../ledger/reports.ts';
import { type Database, DELIVERY_STATUSES } from '../store/schema.ts';
import { JOB_STATES, queueStats } from './queues.ts';

/** Rows in these states are not finished yet. */
const OPEN_STATUSES = new Set<string>(['pending', 'sending']);

/** Campaigns finished longer ago than this drop out of the per-campaign gauges. */
const RECENT_MS = 24 * 60 * 60 * 1000;

let defaultsCollected = false;

/** Starts prom-client's process metrics in the default registry, once per process. */
export function ensureProcessMetrics(): void {
  if (defaultsCollected || register.getSingleMetric('process_cpu_user_seconds_total')) return;
  collectDefaultMetrics({ register });
  defaultsCollected = true;
}

/** Ledger counts per status of the campaigns in flight or finished in the last day. */
export function campaignProgress(
  db: Kysely<Database>,
  now: Date = new Date(),
): Promise<
  Array<{ campaignId: number; kind: string; campaignStatus: string; status: string; count: number }>
> {
  return ledgerCountsOfRecentCampaigns(db, new Date(now.getTime() - RECENT_MS).toISOString());
}

export interface OpsMetrics {
  /** The Prometheus text of the ops gauges plus the default registry. */
  text(): Promise<string>;
  contentType: string;
}

/**
 * Creates the ops gauges over one store and one set of queues, in a registry of their own
 * (so two apps in one process never share a collect callback), merged with the default one.
 */
export function createOpsMetrics(options: {
  db: Kysely<Database>;
  queues: Queues;
  onError?: (error: unknown, part: string) => void;
}): OpsMetrics {
  ensureProcessMetrics();
  const { db, queues } = options;
  const onError = options.onError ?? (() => {});
  const registry = new Registry();

  new Gauge({
    name: 'herald_queue_jobs',
    help: 'BullMQ jobs per queue and state, read at scrape time',
    labelNames: ['queue', 'state'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      await Promise.all(
        ALL_QUEUES.map(async (name) => {
          try {
            const stats = await queueStats(name, queues[name]);
            for (const state of JOB_STATES) this.set({ queue: name, state }, stats[state]);
          } catch (error) {
            onError(error, `queue ${name}`);
          }
        }),
      );
    },
  });

  new Gauge({
    name: 'herald_ledger_messages',
    help: 'Ledger rows by campaign kind and delivery status (sent, failed, bounced, suppressed, pending)',
    labelNames: ['kind', 'status'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      try {
        for (const row of await ledgerCountsByKind(db)) {
          this.set({ kind: row.kind, status: row.status }, row.count);
        }
      } catch (error) {
        onError(error, 'ledger');
      }
    },
  });

  // Both per-campaign gauges read one query per scrape: prom-client collects them in parallel.
  let inflight: ReturnType<typeof campaignProgress> | null = null;
  const progressRows = () => {
    inflight ??= campaignProgress(db).finally(() => {
      inflight = null;
    });
    return inflight;
  };

  new Gauge({
    name: 'herald_campaign_deliveries',
    help: 'Ledger rows per campaign and delivery status, for campaigns in flight or finished in the last day',
    labelNames: ['campaign_id', 'kind', 'status'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      try {
        for (const row of await progressRows()) {
          const labels = { campaign_id: String(row.campaignId), kind: row.kind };
          // Zero-filled statuses keep every series present while a campaign runs.
          for (const status of DELIVERY_STATUSES) this.inc({ ...labels, status }, 0);
          this.set({ ...labels, status: row.status }, row.count);
        }
      } catch (error) {
        onError(error, 'campaign deliveries');
      }
    },
  });

  new Gauge({
    name: 'herald_campaign_progress_ratio',
    help: "Share of a campaign's ledger rows no longer pending or sending (0..1), for campaigns in flight or finished in the last day",
    labelNames: ['campaign_id', 'kind'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      try {
        const totals = new Map<number, { kind: string; total: number; pending: number }>();
        for (const row of await progressRows()) {
          const entry = totals.get(row.campaignId) ?? { kind: row.kind, total: 0, pending: 0 };
          entry.total += row.count;
          if (OPEN_STATUSES.has(row.status)) entry.pending += row.count;
          totals.set(row.campaignId, entry);
        }
        for (const [campaignId, entry] of totals) {
          this.set(
            { campaign_id: String(campaignId), kind: entry.kind },
            entry.total === 0 ? 0 : (entry.total - entry.pending) / entry.total,
          );
        }
      } catch (error) {
        onError(error, 'campaign progress');
      }
    },
  });

  return {
    contentType: register.contentType,
    async text() {
      return Registry.merge([register, registry]).metrics();
    },
  };
}
