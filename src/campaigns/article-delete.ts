// Deleting an article, which campaigns may still need: the rule behind `herald articles delete`
// and the console's delete button, in one place (it sits here, above articles, because it
// asks the campaigns which of them still have to render the article).
import type { Kysely } from 'kysely';
import { InputError } from '../errors/index.ts';
import type { CampaignStatus, Database } from '../store/schema.ts';
import { liveCampaignsUsingArticle } from './repository.ts';

/** Refused: the article is still needed by a campaign that may send (a conflict: exit 4, HTTP 409). */
export class ArticleInUseError extends InputError {
  constructor(
    articleId: number,
    readonly campaigns: ReadonlyArray<{ id: number; status: CampaignStatus }>,
  ) {
    super(
      'conflict',
      'id',
      `article ${articleId} is used by ${campaigns
        .map((c) => `campaign ${c.id} (${c.status})`)
        .join(
          ', ',
        )}: cancel ${campaigns.length === 1 ? 'it' : 'them'} first (herald campaign cancel ID)`,
    );
    this.name = 'ArticleInUseError';
  }
}

/**
 * Deletes an article (its topic tags go with it); returns false when there is none. Refuses
 * with ArticleInUseError while a draft, scheduled, sending or paused campaign uses it: such a
 * campaign still has to render it. Finished campaigns keep only its id.
 */
export async function deleteArticle(db: Kysely<Database>, id: number): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const live = await liveCampaignsUsingArticle(trx, id);
    if (live.length > 0) throw new ArticleInUseError(id, live);
    const result = await trx.deleteFrom('articles').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  });
}
