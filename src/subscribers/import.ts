// CSV import and export of subscribers. Import streams the file (csv-parse), validates each row,
// and upserts in batches of BATCH rows per transaction; every rejected row gets one reason.
import { Readable } from 'node:stream';
import { type CsvError, type Options, parse } from 'csv-parse';
import { stringify } from 'csv-stringify';
import type { Kysely, Transaction } from 'kysely';
import { chunk, nowIso } from '../store/db.ts';
import type {
  Database,
  DigestFrequency,
  SubscriberStatus,
  SuppressionReason,
} from '../store/schema.ts';
import { emailHash, parseEmailParts } from './identity.ts';
import { guardCsvLines, MAX_LINE_CHARS } from './import-lines.ts';
import {
  canonicalTimeZone,
  digestFrequencies,
  type Subscriber,
  SubscriberInputError,
  topicIds,
  topicsOfSubscribers,
  toSubscriber,
  updateFromInput,
  type ValidSubscriberInput,
} from './repository.ts';

/** Rows written per transaction. */
const BATCH = 1_000;
/** Rows per multi-row INSERT (9 columns × 500 stays far below both dialects' limits). */
const INSERT_CHUNK = 500;

export const CSV_COLUMNS = ['email', 'name', 'topics', 'timezone', 'digest'] as const;

export interface RejectedRow {
  /** Line number in the file (the header is line 1). */
  line: number;
  email: string | null;
  reason: string;
}

/** Rejected rows kept in the report by default; the rest are counted (and streamed). */
export const KEEP_REJECTED = 1_000;

export interface ImportReport {
  imported: number;
  updated: number;
  /** The first rejected rows (at most `keepRejected`), in line order. */
  rejected: RejectedRow[];
  /** Every rejected row, kept or not. */
  rejectedCount: number;
  /** New pending subscribers (with `status: 'pending'`): each is owed a confirmation mail. */
  pending: Array<{ subscriberId: number; email: string; name: string | null }>;
}

export interface ImportOptions {
  /** 'active' (the editor vouches for consent) or 'pending' (double opt-in by mail). */
  status: 'active' | 'pending';
  now?: string;
  /** How many rejected rows the report keeps (default KEEP_REJECTED); the rest are counted. */
  keepRejected?: number;
  /** Called for every rejected row as it is found: a report of any length, streamed. */
  onRejected?: (row: RejectedRow) => void;
}

type CsvRecord = Record<string, string | undefined>;

/** A cell as it was before the export neutralised it as a formula (`'=…` → `=…`). */
function unescapeFormula(value: string | undefined): string | undefined {
  return value !== undefined && /^'[=+\-@\t\r]/.test(value) ? value.slice(1) : value;
}

/**
 * Turns one CSV record into a validated input; empty cells mean "not given". Checks the same
 * rules as validateSubscriberInput without building a zod object per row (100k rows).
 */
function rowToInput(
  record: CsvRecord,
  knownTopics: ReadonlySet<string>,
  status: 'active' | 'pending',
): ValidSubscriberInput {
  const cell = (key: string) => {
    const value = unescapeFormula(record[key]?.trim());
    return value === undefined || value === '' ? undefined : value;
  };
  const email = parseEmailParts(unescapeFormula(record.email ?? '') ?? '');
  if (!email) throw new SubscriberInputError('email', 'bad email: not a valid address');
  // Identity is the lower-cased key; the address as typed is kept for display and the To line.
  const valid: ValidSubscriberInput = { email: email.key, displayEmail: email.display, status };
  const name = cell('name');
  if (name !== undefined) {
    if (name.length > 200) throw new SubscriberInputError('name', 'bad name: longer than 200');
    valid.name = name;
  }
  const topics = cell('topics');
  if (topics !== undefined) {
    const list = [...new Set(topics.split(';').map((t) => t.trim()))].filter((t) => t !== '');
    const unknown = list.find((topic) => !knownTopics.has(topic));
    if (unknown !== undefined) {
      throw new SubscriberInputError('topics', `unknown topic: "${unknown}"`);
    }
    valid.topics = list;
  }
  const zone = cell('timezone');
  if (zone !== undefined) {
    const canonical = canonicalTimeZone(zone);
    if (!canonical)
      throw new SubscriberInputError('timezone', `bad time zone: "${zone}" is not IANA`);
    valid.timezone = canonical;
  }
  const digest = cell('digest');
  if (digest !== undefined) {
    if (!(digestFrequencies as readonly string[]).includes(digest)) {
      throw new SubscriberInputError(
        'digest',
        `bad digest: "${digest}" is not off, daily or weekly`,
      );
    }
    valid.digest = digest as DigestFrequency;
  }
  return valid;
}

function reasonOf(error: unknown): string {
  // The messages start with the reason ("bad email: …", "unknown topic: …").
  if (error instanceof SubscriberInputError) return error.message.replace(/^[a-z]+: /, '');
  return error instanceof Error ? error.message : String(error);
}

interface PendingRow {
  line: number;
  valid: ValidSubscriberInput;
  hash: string;
}

/** Writes one batch of validated rows in a transaction; updates `report`. */
async function writeBatch(
  trx: Transaction<Database>,
  rows: PendingRow[],
  options: ImportOptions & { now: string },
  report: ImportReport,
  reject: (row: RejectedRow) => void,
): Promise<void> {
  const now = options.now;
  const suppressed = new Map<string, SuppressionReason>();
  for (const part of chunk(
    rows.map((r) => r.hash),
    INSERT_CHUNK,
  )) {
    const found = await trx
      .selectFrom('suppressions')
      .select(['email_hash', 'reason'])
      .where('email_hash', 'in', part)
      .execute();
    for (const row of found) suppressed.set(row.email_hash, row.reason);
  }
  const accepted: PendingRow[] = [];
  for (const row of rows) {
    const reason = suppressed.get(row.hash);
    if (reason) {
      reject({ line: row.line, email: row.valid.email, reason: `suppressed: ${reason}` });
    } else accepted.push(row);
  }
  if (accepted.length === 0) return;

  const existing = new Map<string, { id: number; status: SubscriberStatus }>();
  for (const part of chunk(
    accepted.map((r) => r.valid.email),
    INSERT_CHUNK,
  )) {
    const found = await trx
      .selectFrom('subscribers')
      .select(['id', 'email', 'status'])
      .where('email', 'in', part)
      .execute();
    for (const row of found) existing.set(row.email, { id: row.id, status: row.status });
  }

  const fresh = accepted.filter((r) => !existing.has(r.valid.email));
  const ids = new Map<string, number>();
  for (const part of chunk(fresh, INSERT_CHUNK)) {
    const inserted = await trx
      .insertInto('subscribers')
      .values(
        part.map(({ valid }) => ({
          email: valid.email,
          email_display: valid.displayEmail ?? null,
          name: valid.name ?? null,
          status: options.status,
          digest: valid.digest ?? 'off',
          send_hour: 7,
          timezone: valid.timezone ?? 'UTC',
          created_at: now,
          confirmed_at: options.status === 'active' ? now : null,
          updated_at: now,
        })),
      )
      .returning(['id', 'email'])
      .execute();
    for (const row of inserted) ids.set(row.email, row.id);
  }
  for (const { valid } of fresh) {
    if (options.status === 'pending') {
      report.pending.push({
        subscriberId: ids.get(valid.email)!,
        // The confirmation goes to the address as typed.
        email: valid.displayEmail ?? valid.email,
        name: valid.name ?? null,
      });
    }
  }
  report.imported += fresh.length;

  const replaced: number[] = [];
  for (const { valid } of accepted) {
    const found = existing.get(valid.email);
    if (!found) continue;
    await trx
      .updateTable('subscribers')
      .set((eb) => ({
        ...updateFromInput(valid, options.status, found.status, now),
        // The first casing seen stays the shown one; a row stored without one (imported before
        // the typed form was kept) takes this one.
        email_display: eb.fn.coalesce('email_display', eb.val(valid.displayEmail ?? null)),
      }))
      .where('id', '=', found.id)
      .execute();
    ids.set(valid.email, found.id);
    if (valid.topics !== undefined) replaced.push(found.id);
    report.updated += 1;
  }
  for (const part of chunk(replaced, INSERT_CHUNK)) {
    await trx.deleteFrom('subscriptions').where('subscriber_id', 'in', part).execute();
  }
  const follows = accepted.flatMap(({ valid }) =>
    (valid.topics ?? []).map((topic) => ({
      subscriber_id: ids.get(valid.email)!,
      topic_id: topic,
      created_at: now,
    })),
  );
  for (const part of chunk(follows, INSERT_CHUNK * 2)) {
    await trx
      .insertInto('subscriptions')
      .values(part)
      .onConflict((oc) => oc.columns(['subscriber_id', 'topic_id']).doNothing())
      .execute();
  }
}

/**
 * Imports subscribers from CSV (columns email,name,topics,timezone,digest; topics split by
 * `;`), upserting by normalised email. Good rows are written; each bad row is reported with
 * one reason (bad email, unknown topic, bad time zone, bad digest, suppressed, a bad quote, a
 * line too long, …). Memory stays bounded whatever the file: one line at a time, the first
 * `keepRejected` rejected rows kept, every one counted and passed to `onRejected`.
 */
export async function importSubscribersCsv(
  db: Kysely<Database>,
  source: Readable | string | Buffer,
  options: ImportOptions,
): Promise<ImportReport> {
  const now = options.now ?? nowIso();
  const knownTopics = await topicIds(db);
  const report: ImportReport = {
    imported: 0,
    updated: 0,
    rejected: [],
    rejectedCount: 0,
    pending: [],
  };
  const keep = options.keepRejected ?? KEEP_REJECTED;
  const reject = (row: RejectedRow) => {
    report.rejectedCount += 1;
    if (report.rejected.length < keep) report.rejected.push(row);
    options.onRejected?.(row);
  };
  const input =
    typeof source === 'string' || Buffer.isBuffer(source) ? Readable.from([source]) : source;
  // csv-parse reports a record with a bad quote once per field it touches: report it once.
  let lastBadLine = 0;
  const guard = guardCsvLines(({ line, reason }) => reject({ line, email: null, reason }));
  input.on('error', (error) => guard.destroy(error));
  // Arrays, not objects, and the line number from on_record: the cheap way through 100k rows.
  // Each record comes as [line number, ...cells]: the line rides in the first cell.
  const parser = input.pipe(guard).pipe(
    parse({
      bom: true,
      skip_empty_lines: true,
      relax_column_count: true,
      // The guard keeps lines shorter; this only backs it up (and then fails the import).
      max_record_size: MAX_LINE_CHARS * 2,
      // A bad quote rejects its line and the import goes on.
      skip_records_with_error: true,
      on_skip: (error: CsvError | undefined) => {
        if (!error || error.code === 'CSV_MAX_RECORD_SIZE') throw error;
        const line = Number((error as CsvError & { lines?: number }).lines ?? 0);
        if (line === lastBadLine) return;
        lastBadLine = line;
        reject({ line, email: null, reason: `bad CSV: ${error.message.slice(0, 200)}` });
      },
      on_record: (record: string[], context) => [String(context.lines), ...record],
    } satisfies Options),
  );
  guard.on('error', (error) => parser.destroy(error));
  let batch: PendingRow[] = [];
  let inBatch = new Set<string>();
  const flush = async () => {
    if (batch.length === 0) return;
    const rows = batch;
    batch = [];
    inBatch = new Set();
    await db
      .transaction()
      .execute((trx) => writeBatch(trx, rows, { ...options, now }, report, reject));
  };
  let columns: string[] | null = null;
  for await (const [lineText, ...cells] of parser as AsyncIterable<string[]>) {
    const line = Number(lineText);
    if (columns === null) {
      columns = cells.map((h) => h.trim().toLowerCase());
      if (!columns.includes('email')) {
        parser.destroy();
        throw new SubscriberInputError('csv', 'the header must name an "email" column');
      }
      continue;
    }
    const record: CsvRecord = {};
    for (let i = 0; i < columns.length; i++) record[columns[i]!] = cells[i];
    let valid: ValidSubscriberInput;
    try {
      valid = rowToInput(record, knownTopics, options.status);
    } catch (error) {
      reject({ line, email: record.email?.trim() || null, reason: reasonOf(error) });
      continue;
    }
    // The same address twice in one batch: write the earlier one first, so the later wins.
    if (inBatch.has(valid.email)) await flush();
    batch.push({ line, valid, hash: emailHash(valid.email) });
    inBatch.add(valid.email);
    if (batch.length >= BATCH) await flush();
  }
  await flush();
  // The guard runs ahead of the parser: put the kept rows back in file order.
  report.rejected.sort((a, b) => a.line - b.line);
  return report;
}

/** Reads every subscriber (with topics) in id order, a page at a time. */
export async function* allSubscribers(
  db: Kysely<Database>,
  pageSize = 1_000,
): AsyncGenerator<Subscriber> {
  let afterId = 0;
  for (;;) {
    const rows = await db
      .selectFrom('subscribers')
      .selectAll()
      .where('id', '>', afterId)
      .orderBy('id')
      .limit(pageSize)
      .execute();
    if (rows.length === 0) return;
    const topics = await topicsOfSubscribers(
      db,
      rows.map((r) => r.id),
    );
    for (const row of rows) yield toSubscriber(row, topics.get(row.id) ?? []);
    afterId = rows[rows.length - 1]!.id;
  }
}

/** Every subscriber as CSV (the import columns first, then status and times), streamed. */
export function exportSubscribersCsv(db: Kysely<Database>): Readable {
  const records = Readable.from(
    (async function* () {
      for await (const s of allSubscribers(db)) {
        yield {
          email: s.email,
          name: s.name ?? '',
          topics: s.topics.join(';'),
          timezone: s.timezone,
          digest: s.digest,
          status: s.status,
          send_hour: s.sendHour,
          created_at: s.createdAt,
          confirmed_at: s.confirmedAt ?? '',
        };
      }
    })(),
  );
  return records.pipe(
    stringify({
      header: true,
      // A cell starting with = + - @, tab or CR is a formula to a spreadsheet (a name such as
      // `=cmd|' /C calc'!A0` runs a command): prefix it with ' so it stays text.
      escape_formulas: true,
      columns: [...CSV_COLUMNS, 'status', 'send_hour', 'created_at', 'confirmed_at'],
    }),
  );
}

/** Every subscriber as one JSON array, streamed. */
export function exportSubscribersJson(db: Kysely<Database>): Readable {
  return Readable.from(
    (async function* () {
      let first = true;
      yield '[';
      for await (const s of allSubscribers(db)) {
        yield `${first ? '\n' : ',\n'}${JSON.stringify(s)}`;
        first = false;
      }
      yield first ? ']\n' : '\n]\n';
    })(),
  );
}

export const exportFormats = ['csv', 'json'] as const;
export type ExportFormat = (typeof exportFormats)[number];

/** Every subscriber as a stream in `format`, with the media type and file name to offer it as. */
export function subscriberExport(
  db: Kysely<Database>,
  format: ExportFormat,
): { stream: Readable; mediaType: string; filename: string } {
  return format === 'csv'
    ? {
        stream: exportSubscribersCsv(db),
        mediaType: 'text/csv; charset=utf-8',
        filename: 'subscribers.csv',
      }
    : {
        stream: exportSubscribersJson(db),
        mediaType: 'application/json; charset=utf-8',
        filename: 'subscribers.json',
      };
}
