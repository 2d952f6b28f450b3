// Migration 0009: engagement (click and open tracking, docs/engagement.md). Compact by design:
// one row per subscriber × campaign × kind (first, last, count), one per subscriber × link,
// per-campaign totals that outlive the per-subscriber rows (retention), hourly event counts.
import type { Kysely, Migration } from 'kysely';
import type { StoreDialect } from './db.ts';

type Db = Kysely<unknown>;

export function engagementMigrations(_dialect: StoreDialect): Record<string, Migration> {
  return {
    '0009_engagement': {
      async up(db: Db) {
        // Per-campaign override of TRACK_CLICKS: null follows the setting, 0 off, 1 on.
        await db.schema.alterTable('campaigns').addColumn('track_clicks', 'integer').execute();
        // Open tracking needs the subscriber's consent (ePrivacy art. 5(3)): off until given.
        await db.schema
          .alterTable('subscribers')
          .addColumn('open_tracking_consent', 'integer', (c) => c.notNull().defaultTo(0))
          .execute();
        await db.schema
          .alterTable('subscribers')
          .addColumn('open_tracking_consent_at', 'text')
          .execute();

        // The tracked links of a campaign, as compiled: the redirect reads the URL here, never
        // from the token (no open redirect).
        await db.schema
          .createTable('engagement_links')
          .addColumn('campaign_id', 'integer', (c) => c.notNull())
          .addColumn('link_index', 'integer', (c) => c.notNull())
          .addColumn('url', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('engagement_links_pk', ['campaign_id', 'link_index'])
          .execute();
        await db.schema
          .createTable('engagement')
          .addColumn('campaign_id', 'integer', (c) => c.notNull())
          .addColumn('subscriber_id', 'integer', (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('first_at', 'text', (c) => c.notNull())
          .addColumn('last_at', 'text', (c) => c.notNull())
          .addColumn('count', 'integer', (c) => c.notNull())
          .addPrimaryKeyConstraint('engagement_pk', ['campaign_id', 'subscriber_id', 'kind'])
          .execute();
        await db.schema
          .createIndex('engagement_subscriber')
          .on('engagement')
          .column('subscriber_id')
          .execute();
        await db.schema
          .createIndex('engagement_last_at')
          .on('engagement')
          .column('last_at')
          .execute();
        await db.schema
          .createTable('engagement_link_clicks')
          .addColumn('campaign_id', 'integer', (c) => c.notNull())
          .addColumn('link_index', 'integer', (c) => c.notNull())
          .addColumn('subscriber_id', 'integer', (c) => c.notNull())
          .addColumn('first_at', 'text', (c) => c.notNull())
          .addColumn('last_at', 'text', (c) => c.notNull())
          .addColumn('count', 'integer', (c) => c.notNull())
          .addPrimaryKeyConstraint('engagement_link_clicks_pk', [
            'campaign_id',
            'link_index',
            'subscriber_id',
          ])
          .execute();
        await db.schema
          .createIndex('engagement_link_clicks_subscriber')
          .on('engagement_link_clicks')
          .column('subscriber_id')
          .execute();
        await db.schema
          .createIndex('engagement_link_clicks_last_at')
          .on('engagement_link_clicks')
          .column('last_at')
          .execute();
        // What retention folded away: subscribers and events per campaign, kind and link
        // (link_index -1: the campaign as a whole).
        await db.schema
          .createTable('engagement_totals')
          .addColumn('campaign_id', 'integer', (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('link_index', 'integer', (c) => c.notNull())
          .addColumn('subscribers', 'integer', (c) => c.notNull())
          .addColumn('events', 'integer', (c) => c.notNull())
          .addPrimaryKeyConstraint('engagement_totals_pk', ['campaign_id', 'kind', 'link_index'])
          .execute();
        // Events per campaign, kind and hour (YYYY-MM-DDTHH, UTC): no subscriber in it, kept.
        await db.schema
          .createTable('engagement_hourly')
          .addColumn('campaign_id', 'integer', (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('hour', 'text', (c) => c.notNull())
          .addColumn('events', 'integer', (c) => c.notNull())
          .addPrimaryKeyConstraint('engagement_hourly_pk', ['campaign_id', 'kind', 'hour'])
          .execute();
      },
    },
  };
}
