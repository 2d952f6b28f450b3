// Migration 0014 (PostgreSQL only): counts the console and the API lists show on every page,
// kept by the database itself so that a page reads a handful of rows instead of counting
// hundreds of thousands (a campaign's ledger counts by status; each topic's active followers).
//
// Counting live is O(rows): at 100,000 subscribers, three campaigns in flight hold 270,000
// ledger rows and a dashboard poll spent ~90 ms counting them; the topic list spent ~100 ms on
// 200,000 follows. SQLite counts in-process in a fraction of that (measured in
// `npm run bench -- --only console`), so it keeps counting live and needs nothing here.
//
// How: statement-level triggers with transition tables append signed deltas (one row per
// campaign and status, or per topic, per statement), and readers sum them. Appending never
// updates a shared counter row, so concurrent delivery processes neither wait on one another
// nor deadlock; readers fold a key's deltas into one row when they pile up
// (src/store/counts.ts). The triggers run in the writing transaction: a count is exactly what
// a live count would say in the same snapshot.
import { type Kysely, type Migration, sql } from 'kysely';
import type { DatabaseTarget } from '../config/index.ts';

type Db = Kysely<unknown>;

export function countsMigrations(dialect: DatabaseTarget['dialect']): Record<string, Migration> {
  return {
    '0014_store_counts': {
      async up(db: Db) {
        if (dialect !== 'postgres') return;
        await sql`create table delivery_count_deltas (
          campaign_id integer not null,
          status text not null,
          delta bigint not null
        )`.execute(db);
        await sql`create index delivery_count_deltas_campaign
          on delivery_count_deltas (campaign_id, status) include (delta)`.execute(db);
        await sql`create table topic_follower_deltas (
          topic_id text not null,
          delta bigint not null
        )`.execute(db);
        await sql`create index topic_follower_deltas_topic
          on topic_follower_deltas (topic_id) include (delta)`.execute(db);

        // `set search_path from current`: the functions find the store's own tables whatever
        // schema the writing session names first.
        await sql`create function herald_delivery_counts() returns trigger
          language plpgsql set search_path from current as $fn$
          begin
            if tg_op = 'INSERT' then
              insert into delivery_count_deltas (campaign_id, status, delta)
                select campaign_id, status, count(*) from herald_new_rows
                group by campaign_id, status;
            elsif tg_op = 'DELETE' then
              -- No foreign key to campaigns: a campaign's deletion cascades to its rows, whose
              -- deltas bring its counts to zero, and the next fold drops them.
              insert into delivery_count_deltas (campaign_id, status, delta)
                select campaign_id, status, -count(*) from herald_old_rows
                group by campaign_id, status;
            else
              insert into delivery_count_deltas (campaign_id, status, delta)
                select campaign_id, status, sum(d) from (
                  select campaign_id, status, 1 as d from herald_new_rows
                  union all
                  select campaign_id, status, -1 as d from herald_old_rows
                ) moved
                group by campaign_id, status
                having sum(d) <> 0;
            end if;
            return null;
          end
        $fn$`.execute(db);
        await sql`create trigger deliveries_counts_insert after insert on deliveries
          referencing new table as herald_new_rows
          for each statement execute function herald_delivery_counts()`.execute(db);
        await sql`create trigger deliveries_counts_update after update on deliveries
          referencing old table as herald_old_rows new table as herald_new_rows
          for each statement execute function herald_delivery_counts()`.execute(db);
        await sql`create trigger deliveries_counts_delete after delete on deliveries
          referencing old table as herald_old_rows
          for each statement execute function herald_delivery_counts()`.execute(db);

        // Followers: a follow counts while its subscriber is active. Follows added or removed
        // count through the subscriber's status at that moment; a subscriber entering or
        // leaving `active` moves each of their topics.
        await sql`create function herald_follow_counts() returns trigger
          language plpgsql set search_path from current as $fn$
          begin
            if tg_op = 'INSERT' then
              insert into topic_follower_deltas (topic_id, delta)
                select n.topic_id, count(*) from herald_new_rows n
                join subscribers s on s.id = n.subscriber_id and s.status = 'active'
                group by n.topic_id;
            elsif tg_op = 'DELETE' then
              -- A deleted subscriber's follows go by cascade after the subscriber row: its
              -- own trigger (below) counted them while they were still there.
              insert into topic_follower_deltas (topic_id, delta)
                select o.topic_id, -count(*) from herald_old_rows o
                join subscribers s on s.id = o.subscriber_id and s.status = 'active'
                group by o.topic_id;
            else
              insert into topic_follower_deltas (topic_id, delta)
                select topic_id, sum(d) from (
                  select n.topic_id, 1 as d from herald_new_rows n
                  join subscribers s on s.id = n.subscriber_id and s.status = 'active'
                  union all
                  select o.topic_id, -1 as d from herald_old_rows o
                  join subscribers s on s.id = o.subscriber_id and s.status = 'active'
                ) moved
                group by topic_id
                having sum(d) <> 0;
            end if;
            return null;
          end
        $fn$`.execute(db);
        await sql`create trigger subscriptions_counts_insert after insert on subscriptions
          referencing new table as herald_new_rows
          for each statement execute function herald_follow_counts()`.execute(db);
        await sql`create trigger subscriptions_counts_update after update on subscriptions
          referencing old table as herald_old_rows new table as herald_new_rows
          for each statement execute function herald_follow_counts()`.execute(db);
        await sql`create trigger subscriptions_counts_delete after delete on subscriptions
          referencing old table as herald_old_rows
          for each statement execute function herald_follow_counts()`.execute(db);

        await sql`create function herald_subscriber_status_counts() returns trigger
          language plpgsql set search_path from current as $fn$
          begin
            insert into topic_follower_deltas (topic_id, delta)
              select f.topic_id, sum(case when n.status = 'active' then 1 else -1 end)
              from herald_old_rows o
              join herald_new_rows n on n.id = o.id
              join subscriptions f on f.subscriber_id = n.id
              where (o.status = 'active') <> (n.status = 'active')
              group by f.topic_id
              having sum(case when n.status = 'active' then 1 else -1 end) <> 0;
            return null;
          end
        $fn$`.execute(db);
        await sql`create trigger subscribers_counts_status after update on subscribers
          referencing old table as herald_old_rows new table as herald_new_rows
          for each statement execute function herald_subscriber_status_counts()`.execute(db);
        // Row-level and BEFORE: the subscriber's follows are still there to be counted out.
        await sql`create function herald_subscriber_delete_counts() returns trigger
          language plpgsql set search_path from current as $fn$
          begin
            if old.status = 'active' then
              insert into topic_follower_deltas (topic_id, delta)
                select topic_id, -1 from subscriptions where subscriber_id = old.id;
            end if;
            return old;
          end
        $fn$`.execute(db);
        await sql`create trigger subscribers_counts_delete before delete on subscribers
          for each row execute function herald_subscriber_delete_counts()`.execute(db);

        // What is stored already, counted once.
        await sql`insert into delivery_count_deltas (campaign_id, status, delta)
          select campaign_id, status, count(*) from deliveries group by campaign_id, status`.execute(
          db,
        );
        await sql`insert into topic_follower_deltas (topic_id, delta)
          select f.topic_id, count(*) from subscriptions f
          join subscribers s on s.id = f.subscriber_id and s.status = 'active'
          group by f.topic_id`.execute(db);
      },
    },
    // The status trigger joined its two transition tables, which have no statistics: PostgreSQL
    // planned a nested loop, 5,000 × 5,000 comparisons for a digest tick's page of
    // last_digest_at updates (~0.2 s a page, 3 s of a 100,000-subscriber tick). The same deltas
    // without that join: +1 per new active row, -1 per old one, summed per subscriber (a hash
    // aggregate); only subscribers whose sum is not 0 changed, and only their follows are read.
    '0016_status_counts_without_join': {
      async up(db: Db) {
        if (dialect !== 'postgres') return;
        await sql`create or replace function herald_subscriber_status_counts() returns trigger
          language plpgsql set search_path from current as $fn$
          begin
            insert into topic_follower_deltas (topic_id, delta)
              select f.topic_id, sum(moved.d)
              from (
                select id, sum(d) as d from (
                  select id, 1 as d from herald_new_rows where status = 'active'
                  union all
                  select id, -1 as d from herald_old_rows where status = 'active'
                ) rows group by id having sum(d) <> 0
              ) moved
              join subscriptions f on f.subscriber_id = moved.id
              group by f.topic_id
              having sum(moved.d) <> 0;
            return null;
          end
        $fn$`.execute(db);
      },
    },
  };
}
