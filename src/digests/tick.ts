// One digest tick: find the subscribers whose digest is due at an instant, give each the
// articles of their topics since their previous digest, and queue them on the normal delivery
// path (ledger rows + batch jobs), one digest campaign per distinct content.
//
// Set-based: due subscribers are counted per class (followed topics, since) in SQL, pages of
// them are written into the ledger by one INSERT … SELECT each; no subscriber row is carried
// through Node (due.ts reads, ledger/inserts.ts writes).
//
// Crash safety: one transaction writes the tick's campaigns (`sending`, already prepared), marks
// its subscribers' last_digest_at (only where it is still before their period's start: a second
// tick, process or re-run of the same tick cannot take them again) and writes their ledger rows.
// Batch jobs are added after the commit; if the process dies in between, the reconciler finds
// the prepared campaigns' unsent batches and re-creates them. A tick that dies before its
// commit leaves its subscribers due: the next tick of their send hour takes them.
//
// Held-back alerts (src/alerts/held.ts): a due subscriber's digest also carries the articles of
// their `alert_held` rows, and the same transaction deletes those rows. A subscriber whose
// digest is `off` but who has held alerts is due at their daily send hour as if daily, and gets
// a digest of those articles only.
import { type Kysely, sql } from 'kysely';
import { clearHeldAlerts, heldAlertsFor } from '../alerts/held.ts';
import { listArticlesForTopics } from '../articles/repository.ts';
import type { StoredArticle } from '../articles/schema.ts';
import type { Config } from '../config/index.ts';
import { enqueueBatches } from '../delivery/jobs.ts';
import type { Queues } from '../delivery/queues.ts';
import { takeDigestPage, takeDigestRecipients } from '../ledger/inserts.ts';
import type { Logger } from '../log/index.ts';
import { chunk } from '../store/db.ts';
import type { Database } from '../store/schema.ts';
import { classMembers, type DuePage, dueClasses, dueCombos, duePageEnd, heldDue } from './due.ts';
import type { DigestFrequency } from './period.ts';
import {
  DIGEST_MAX_ARTICLES,
  type DigestCandidate,
  type DigestContent,
  type DigestGroup,
  digestContent,
  digestSubject,
  groupDigests,
  withHeldArticles,
} from './plan.ts';

export interface DigestDeps {
  db: Kysely<Database>;
  config: Config;
  logger: Logger;
  queues: Pick<Queues, 'deliveries'>;
  /** The wall clock for bookkeeping times (the tick's own instant is passed in). */
  now: () => Date;
}

export interface DigestTickResult {
  at: string;
  /** Subscribers whose digest was due and not yet given this period. */
  due: number;
  /** Digests queued (ledger rows written) by this tick. */
  queued: number;
  /** Due subscribers with nothing new since their previous digest: no email. */
  nothingNew: number;
  /** The digest campaigns this tick created, one per distinct content. */
  campaigns: number[];
  /** A dry run only: the digests the tick would queue, and to whom; nothing was written. */
  plan?: DigestPlanEntry[];
}

/** One digest a dry-run tick would queue: its content and its recipients. */
export interface DigestPlanEntry {
  subject: string;
  frequency: DigestFrequency;
  topics: string[];
  articles: Array<{ id: number; title: string }>;
  recipients: Array<{ id: number; email: string }>;
}

// Due subscribers per page: each page is a few statements whatever its classes, so 5,000 keeps
// a 100,000-subscriber tick near a hundred statements (round trips dominate on PostgreSQL).
const PAGE = 5_000;

/** A page of set-based members and the content each of its classes gets. */
interface PlannedPage {
  page: DuePage;
  classes: Array<{ topicsKey: string; since: string; contentKey: string }>;
}

/** What a tick found (phase one: reads only), and what it will write. */
interface TickPlan {
  due: number;
  nothingNew: number;
  /** Each distinct content, in the order found: one digest campaign each. */
  contents: Map<string, DigestContent>;
  pages: PlannedPage[];
  /** Subscribers with held-back alerts: digests of their own content, taken by id. */
  held: DigestGroup[];
}

/**
 * Runs one tick as if the clock read `at`; returns what it found and queued. With `dryRun`
 * it writes and queues nothing and returns the plan instead (who would get which digest).
 */
export async function runDigestTick(
  deps: DigestDeps,
  at: Date,
  options: { dryRun?: boolean } = {},
): Promise<DigestTickResult> {
  const plan = await planTick(deps.db, at);
  const result: DigestTickResult = {
    at: at.toISOString(),
    due: plan.due,
    queued: 0,
    nothingNew: plan.nothingNew,
    campaigns: [],
  };
  if (options.dryRun) {
    result.plan = await dryRunEntries(deps.db, plan);
    return result;
  }
  for (const written of await writeTick(deps, plan, at)) {
    const batchCount = Math.ceil(written.recipients / deps.config.BATCH_SIZE);
    const batchNos = Array.from({ length: batchCount }, (_, index) => index + 1);
    await enqueueBatches(deps.queues.deliveries, deps.config, written.campaignId, batchNos);
    result.campaigns.push(written.campaignId);
    result.queued += written.recipients;
  }
  deps.logger.info(
    {
      at: result.at,
      due: result.due,
      queued: result.queued,
      nothing_new: result.nothingNew,
      campaigns: result.campaigns.length,
    },
    'digests.tick.done',
  );
  return result;
}

/**
 * Phase one, reads only: the due subscribers of every due combination, page by page, as
 * classes (counted in SQL, never carried through Node) with each class's content; subscribers
 * with held-back alerts are read one by one (their digest carries their own alerts).
 */
async function planTick(db: Kysely<Database>, at: Date): Promise<TickPlan> {
  const plan: TickPlan = { due: 0, nothingNew: 0, contents: new Map(), pages: [], held: [] };
  // Classes with the same topics and the same previous digest read the same articles.
  const articleCache = new Map<string, Promise<StoredArticle[]>>();
  const articlesFor = (topics: string[], since: string) => {
    const key = JSON.stringify([topics, since]);
    let found = articleCache.get(key);
    if (!found) {
      found = listArticlesForTopics(db, {
        topicIds: topics,
        since,
        until: at.toISOString(),
        limit: DIGEST_MAX_ARTICLES,
      });
      articleCache.set(key, found);
    }
    return found;
  };
  const heldArticleCache = new Map<number, Promise<StoredArticle | null>>();
  const heldCandidates: DigestCandidate[] = [];

  for (const combo of await dueCombos(db, at)) {
    // Digest-off subscribers are due only for their held alerts: none is set-based.
    for (let afterId = 0; !combo.heldOnly; ) {
      const lastId = await duePageEnd(db, combo, afterId, PAGE);
      if (lastId === null) break;
      const page: DuePage = { combo, afterId, lastId };
      const planned: PlannedPage = { page, classes: [] };
      for (const found of await dueClasses(db, page)) {
        plan.due += found.members;
        const articles =
          found.topics.length > 0 ? await articlesFor(found.topics, found.since) : [];
        const content = digestContent({
          frequency: combo.digest,
          topics: found.topics,
          articles,
          heldOnly: false,
        });
        if (!content) {
          plan.nothingNew += found.members;
          continue;
        }
        if (!plan.contents.has(content.key)) plan.contents.set(content.key, content);
        planned.classes.push({
          topicsKey: found.topicsKey,
          since: found.since,
          contentKey: content.key,
        });
      }
      if (planned.classes.length > 0) plan.pages.push(planned);
      afterId = lastId;
    }

    for (let afterId = 0; ; ) {
      const rows = await heldDue(db, combo, afterId, PAGE);
      if (rows.length === 0) break;
      afterId = rows[rows.length - 1]!.id;
      const ids = rows.map((row) => row.id);
      const follows = await db
        .selectFrom('subscriptions')
        .select(['subscriber_id', 'topic_id'])
        .where('subscriber_id', 'in', ids)
        .orderBy('topic_id')
        .execute();
      const topicsOf = new Map<number, string[]>();
      for (const follow of follows)
        topicsOf.set(follow.subscriber_id, [
          ...(topicsOf.get(follow.subscriber_id) ?? []),
          follow.topic_id,
        ]);
      const held = await heldAlertsFor(db, ids, heldArticleCache);
      for (const row of rows) {
        plan.due += 1;
        const topics = topicsOf.get(row.id) ?? [];
        const since = row.last_digest_at ?? combo.period.previousStart.toISOString();
        const heldHere = held.get(row.id);
        const topical =
          topics.length > 0 && !combo.heldOnly ? await articlesFor(topics, since) : [];
        const articles = withHeldArticles(heldHere?.articles ?? [], topical);
        if (articles.length === 0) {
          plan.nothingNew += 1;
          continue;
        }
        heldCandidates.push({
          subscriberId: row.id,
          frequency: combo.digest,
          topics,
          articles,
          periodStart: combo.period.start,
          heldCampaignIds: heldHere?.campaignIds ?? [],
          heldOnly: combo.heldOnly,
        });
      }
    }
  }
  plan.held = groupDigests(heldCandidates);
  for (const group of plan.held)
    if (!plan.contents.has(group.key)) plan.contents.set(group.key, group);
  return plan;
}

/** A dry run's plan: each digest and its recipients (read here: a dry run may carry rows). */
async function dryRunEntries(db: Kysely<Database>, plan: TickPlan): Promise<DigestPlanEntry[]> {
  const recipients = new Map<string, Array<{ id: number; email: string }>>();
  const add = (key: string, recipient: { id: number; email: string }) =>
    recipients.set(key, [...(recipients.get(key) ?? []), recipient]);
  for (const { page, classes } of plan.pages) {
    const contentOf = new Map(classes.map((c) => [`${c.topicsKey}|${c.since}`, c.contentKey]));
    const rows = await db
      .selectFrom(classMembers(db, page).as('m'))
      .innerJoin('subscribers as e', 'e.id', 'm.id')
      .select(['m.id', 'm.topics_key', 'm.since', 'e.email', 'e.email_display'])
      .orderBy('m.id')
      .execute();
    for (const row of rows) {
      const key = contentOf.get(`${row.topics_key}|${row.since}`);
      if (key) add(key, { id: row.id, email: row.email_display ?? row.email });
    }
  }
  const heldIds = plan.held.flatMap((group) => group.members.map((m) => m.subscriberId));
  const emails = new Map<number, string>();
  for (const part of chunk(heldIds, PAGE)) {
    const rows = await db
      .selectFrom('subscribers')
      .select(['id', 'email', 'email_display'])
      .where('id', 'in', part)
      .execute();
    for (const row of rows) emails.set(row.id, row.email_display ?? row.email);
  }
  for (const group of plan.held)
    for (const m of group.members)
      add(group.key, { id: m.subscriberId, email: emails.get(m.subscriberId) ?? '' });
  return [...plan.contents.values()]
    .filter((content) => recipients.has(content.key))
    .map((content) => ({
      subject: digestSubject(content.frequency, content.articles.length, content.heldOnly),
      frequency: content.frequency,
      topics: content.topics,
      articles: content.articles.map((article) => ({ id: article.id, title: article.title })),
      recipients: recipients.get(content.key) ?? [],
    }));
}

/**
 * Phase two, in one transaction: creates one digest campaign per content (`sending`, already
 * prepared), takes each page's still-due members into their campaigns with one set-based
 * statement per page, then the subscribers with held alerts by id (clearing the held rows
 * their digest carries). A campaign left without recipients (another tick took them first)
 * is deleted. Returns the campaigns written and their recipient counts.
 */
async function writeTick(
  deps: DigestDeps,
  plan: TickPlan,
  at: Date,
): Promise<Array<{ campaignId: number; recipients: number }>> {
  if (plan.contents.size === 0) return [];
  const now = deps.now().toISOString();
  const batchSize = deps.config.BATCH_SIZE;
  return deps.db.transaction().execute(async (trx) => {
    // The campaigns first: on SQLite this write takes the store's write lock, so no other tick
    // can take these subscribers between a page's ledger insert and its update.
    const campaignOf = new Map<string, number>();
    const given = new Map<number, number>();
    for (const content of plan.contents.values()) {
      const campaign = await trx
        .insertInto('campaigns')
        .values({
          kind: 'digest',
          subject: digestSubject(content.frequency, content.articles.length, content.heldOnly),
          template: 'digest',
          article_ids: JSON.stringify(content.articles.map((article) => article.id)),
          audience_topics: JSON.stringify(content.topics),
          status: 'sending',
          created_at: now,
          updated_at: now,
          started_at: now,
          prepared_at: now,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      campaignOf.set(content.key, campaign.id);
      given.set(campaign.id, 0);
    }

    for (const { page, classes } of plan.pages) {
      // Each class's campaign and its rows so far, as a derived table joined to the members.
      const map = sql.join(
        classes.map((c) => {
          const campaignId = campaignOf.get(c.contentKey)!;
          return sql`select cast(${c.topicsKey} as text) as topics_key, cast(${c.since} as text) as since, cast(${campaignId} as integer) as campaign_id, cast(${given.get(campaignId)!} as integer) as given`;
        }),
        sql` union all `,
      );
      const members = sql<{ id: number; campaign_id: number; given: number }>`
        select cm.id, m.campaign_id, m.given from (${classMembers(trx, page)}) cm
        join (${map}) m on m.topics_key = cm.topics_key and m.since = cm.since`;
      const taken = await takeDigestPage(trx, {
        members,
        campaignIds: [...new Set(classes.map((c) => campaignOf.get(c.contentKey)!))],
        afterId: page.afterId,
        lastId: page.lastId,
        periodStart: page.combo.period.start.toISOString(),
        at: at.toISOString(),
        now,
        batchSize,
      });
      for (const [campaignId, count] of taken)
        given.set(campaignId, given.get(campaignId)! + count);
    }

    for (const group of plan.held) {
      const campaignId = campaignOf.get(group.key)!;
      const byStart = new Map<string, number[]>();
      for (const member of group.members) {
        const start = member.periodStart.toISOString();
        byStart.set(start, [...(byStart.get(start) ?? []), member.subscriberId]);
      }
      for (const [start, ids] of byStart) {
        for (const part of chunk(
          ids.sort((a, b) => a - b),
          PAGE,
        )) {
          given.set(
            campaignId,
            given.get(campaignId)! +
              (await takeDigestRecipients(trx, {
                campaignId,
                ids: part,
                periodStart: start,
                at: at.toISOString(),
                now,
                alreadyGiven: given.get(campaignId)!,
                batchSize,
              })),
          );
        }
      }
      await clearHeldAlerts(trx, campaignId, group.members);
    }

    const empty = [...given].filter(([, count]) => count === 0).map(([id]) => id);
    for (const part of chunk(empty, 500))
      await trx.deleteFrom('campaigns').where('id', 'in', part).execute();
    return [...given]
      .filter(([, count]) => count > 0)
      .map(([campaignId, recipients]) => ({ campaignId, recipients }));
  });
}
