// A new article that satisfies alert rules becomes one alert campaign (one per article, however
// many rules match; the alert_campaigns primary key decides between processes). Its audience
// is the followers of the matched rules' topics. Approval wins over hold when both match (the
// editor keeps control); among holds the longest wins. A hold schedules the campaign for the
// end of the hold (`campaign cancel` or `unschedule` stops it meanwhile); approval leaves a
// draft for `campaign send`.
import type { App } from '../app.ts';
import type { StoredArticle } from '../articles/schema.ts';
import { createCampaign, getCampaign } from '../campaigns/repository.ts';
import { type ControlDeps, scheduleCampaign } from '../delivery/control.ts';
import type { Logger } from '../log/index.ts';
import { newsroomDb } from '../store/schema-newsroom.ts';
import { type AlertRule, matchingRules } from './rules.ts';

export interface AlertDeps extends ControlDeps {
  logger: Logger;
}

export interface AlertOutcome {
  campaignId: number;
  mode: 'approval' | 'hold';
  sendAt: string | null;
  created: boolean;
}

function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return (
    code === '23505' ||
    code === 'SQLITE_CONSTRAINT_PRIMARYKEY' ||
    code === 'SQLITE_CONSTRAINT_UNIQUE'
  );
}

function decide(rules: readonly AlertRule[]): AlertRule {
  const approval = rules.find((rule) => rule.mode === 'approval');
  if (approval) return approval;
  return [...rules].sort((a, b) => b.holdSeconds - a.holdSeconds)[0]!;
}

/** Makes (or finds) the article's alert campaign; null when no rule matches. Idempotent. */
export async function alertForArticle(
  deps: AlertDeps,
  article: Pick<StoredArticle, 'id' | 'title'>,
): Promise<AlertOutcome | null> {
  const db = newsroomDb(deps.db);
  const existing = await db
    .selectFrom('alert_campaigns')
    .selectAll()
    .where('article_id', '=', article.id)
    .executeTakeFirst();
  if (existing) {
    if (existing.placed_at === null) {
      await placeHold(deps, article.id, existing.campaign_id, existing.mode, existing.send_at);
    }
    return {
      campaignId: existing.campaign_id,
      mode: existing.mode,
      sendAt: existing.send_at,
      created: false,
    };
  }
  const rules = await matchingRules(deps.db, article.id);
  if (rules.length === 0) return null;
  const rule = decide(rules);
  const now = deps.now();
  const sendAt =
    rule.mode === 'hold' ? new Date(now.getTime() + rule.holdSeconds * 1000).toISOString() : null;
  let campaignId: number;
  try {
    campaignId = await deps.db.transaction().execute(async (trx) => {
      const { campaign } = await createCampaign(
        trx,
        {
          articleIds: [article.id],
          topics: [...new Set(rules.map((r) => r.topic))],
          subject: article.title,
          template: 'alert',
        },
        now.toISOString(),
      );
      await newsroomDb(trx)
        .insertInto('alert_campaigns')
        .values({
          article_id: article.id,
          campaign_id: campaign.id,
          rule_id: rule.id,
          mode: rule.mode,
          send_at: sendAt,
          created_at: now.toISOString(),
        })
        .execute();
      return campaign.id;
    });
  } catch (error) {
    // Another process made this article's alert first: theirs is the one.
    if (isUniqueViolation(error)) return alertForArticle(deps, article);
    throw error;
  }
  deps.logger.info(
    {
      article_id: article.id,
      campaign_id: campaignId,
      rule_id: rule.id,
      mode: rule.mode,
      send_at: sendAt,
    },
    'alerts.created',
  );
  await placeHold(deps, article.id, campaignId, rule.mode, sendAt);
  return { campaignId, mode: rule.mode, sendAt, created: true };
}

/**
 * Schedules a held alert once (a crash between creating and scheduling leaves it unplaced; the
 * next poll of the item finishes the job). A campaign an editor already moved is left alone.
 */
async function placeHold(
  deps: AlertDeps,
  articleId: number,
  campaignId: number,
  mode: 'approval' | 'hold',
  sendAt: string | null,
): Promise<void> {
  if (mode !== 'hold' || !sendAt) return;
  const campaign = await getCampaign(deps.db, campaignId);
  const now = deps.now();
  if (campaign?.status === 'draft') {
    const at = Math.max(Date.parse(sendAt), now.getTime() + 1_000);
    await scheduleCampaign(deps, campaignId, new Date(at));
  }
  await newsroomDb(deps.db)
    .updateTable('alert_campaigns')
    .set({ placed_at: now.toISOString() })
    .where('article_id', '=', articleId)
    .execute();
}

/**
 * For the ingest paths (API, CLI): makes the alert of a newly stored article, opening the
 * queues on the first alert only (most ingests trip no rule). Never throws: the article is
 * stored either way, so a failure is logged (`alerts.create.failed`) and answers null.
 */
export function articleAlerter(
  app: App,
): (article: Pick<StoredArticle, 'id' | 'title'>) => Promise<AlertOutcome | null> {
  return async (article) => {
    try {
      // app.queues() opens the app's queues on first use only.
      return await alertForArticle(
        {
          db: app.store.db,
          config: app.config,
          queues: await app.queues(),
          now: () => new Date(),
          logger: app.logger,
        },
        article,
      );
    } catch (error) {
      app.logger.error(
        { articleId: article.id, err: error instanceof Error ? error.message : String(error) },
        'alerts.create.failed',
      );
      return null;
    }
  };
}
