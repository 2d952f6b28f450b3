// Alert rules: "when a new article is tagged T with at least strength S, make an alert
// campaign, and either hold it M seconds (an editor may stop it meanwhile) or wait for an
// editor's approval". Rules are data; with none, nothing is sent automatically.
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { InputError, kindOfStatus } from '../errors/index.ts';
import { parseInterval } from '../feeds/repository.ts';
import { nowIso } from '../store/db.ts';
import type { Database } from '../store/schema.ts';
import { newsroomDb } from '../store/schema-newsroom.ts';
import { topicIdSchema, unknownTopicIds } from '../topics/catalogue.ts';

export class AlertRuleError extends InputError {
  constructor(
    field: string,
    message: string,
    /** The status it was raised with (its kind follows from it); kept for callers reading it. */
    readonly status: 400 | 404 = 400,
  ) {
    super(kindOfStatus(status), field, message);
    this.name = 'AlertRuleError';
  }
}

/** The shortest hold allowed (tests use seconds; a newsroom would use minutes). */
export const MIN_HOLD_SECONDS = 1;
export const MAX_HOLD_SECONDS = 24 * 3600;

export const alertRuleInputSchema = z
  .object({
    topic: topicIdSchema,
    minStrength: z.coerce.number().min(0, 'must be 0 or more').max(1_000_000).default(0),
    mode: z.enum(['approval', 'hold']),
    /** The hold window: "60s", "15m", or seconds. Required for mode hold. */
    hold: z.union([z.string(), z.number().int().positive()]).optional(),
  })
  .transform((input, ctx) => {
    let holdSeconds = 0;
    if (input.mode === 'hold') {
      const seconds =
        input.hold === undefined
          ? null
          : typeof input.hold === 'number'
            ? input.hold
            : parseInterval(input.hold);
      if (seconds === null || seconds < MIN_HOLD_SECONDS || seconds > MAX_HOLD_SECONDS) {
        ctx.addIssue({
          code: 'custom',
          path: ['hold'],
          message: 'a hold rule needs a hold window such as 60s or 15m (at most 24h)',
        });
        return z.NEVER;
      }
      holdSeconds = seconds;
    }
    return { topic: input.topic, minStrength: input.minStrength, mode: input.mode, holdSeconds };
  });
export type AlertRuleInput = z.input<typeof alertRuleInputSchema>;

export interface AlertRule {
  id: number;
  topic: string;
  minStrength: number;
  mode: 'approval' | 'hold';
  holdSeconds: number;
  enabled: boolean;
  createdAt: string;
}

type RuleRow = {
  id: number;
  topic_id: string;
  min_strength: number;
  mode: 'approval' | 'hold';
  hold_seconds: number;
  enabled: number;
  created_at: string;
};

function toRule(row: RuleRow): AlertRule {
  return {
    id: row.id,
    topic: row.topic_id,
    minStrength: Number(row.min_strength),
    mode: row.mode,
    holdSeconds: row.hold_seconds,
    enabled: row.enabled === 1,
    createdAt: row.created_at,
  };
}

export async function addAlertRule(
  db: Kysely<Database>,
  input: AlertRuleInput,
  now: string = nowIso(),
): Promise<AlertRule> {
  const parsed = alertRuleInputSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.join('.') || 'rule';
    throw new AlertRuleError(field, `${field}: ${issue.message}`);
  }
  const rule = parsed.data;
  if ((await unknownTopicIds(db, [rule.topic])).length > 0) {
    throw new AlertRuleError('topic', `topic: unknown topic "${rule.topic}"`);
  }
  const row = await newsroomDb(db)
    .insertInto('alert_rules')
    .values({
      topic_id: rule.topic,
      min_strength: rule.minStrength,
      mode: rule.mode,
      hold_seconds: rule.holdSeconds,
      enabled: 1,
      created_at: now,
      updated_at: now,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toRule(row);
}

export async function listAlertRules(db: Kysely<Database>): Promise<AlertRule[]> {
  const rows = await newsroomDb(db).selectFrom('alert_rules').selectAll().orderBy('id').execute();
  return rows.map(toRule);
}

export async function removeAlertRule(db: Kysely<Database>, id: number): Promise<void> {
  const result = await newsroomDb(db)
    .deleteFrom('alert_rules')
    .where('id', '=', id)
    .executeTakeFirst();
  if (Number(result.numDeletedRows) === 0) {
    throw new AlertRuleError('id', `no alert rule ${id}`, 404);
  }
}

/** The enabled rules an article satisfies (topic tagged with at least the rule's strength). */
export async function matchingRules(db: Kysely<Database>, articleId: number): Promise<AlertRule[]> {
  const rows = await newsroomDb(db)
    .selectFrom('alert_rules as r')
    .innerJoin('article_topics as t', 't.topic_id', 'r.topic_id')
    .selectAll('r')
    .where('t.article_id', '=', articleId)
    .where('r.enabled', '=', 1)
    .whereRef('t.score', '>=', 'r.min_strength')
    .orderBy('r.id')
    .execute();
  return rows.map(toRule);
}
