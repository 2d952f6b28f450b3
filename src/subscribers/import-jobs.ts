// CSV imports started from the console: the upload is saved to a temporary file, then the
// existing import (import-with-confirmations.ts) runs as an in-process task while the page
// polls its progress. The job's state lives in Redis (a hash and a list of rejected rows,
// 24 h TTL), so any console process can show it and the rejected rows can be downloaded.
//
// If the process that runs a job stops (restart, crash), the task stops with it: its heartbeat
// goes stale and the job reads as `interrupted`. The batches written until then stay (each
// batch of 1,000 rows is one transaction) and re-uploading the same file is safe: the import
// is an upsert by address, so rows already in are updated, not duplicated.
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { stringify } from 'csv-stringify';
import type { Redis } from 'ioredis';
import type { RejectedRow } from './import.ts';
import {
  type ImportWithConfirmationsDeps,
  importWithConfirmations,
} from './import-with-confirmations.ts';

/** Largest upload the console accepts (about 500,000 rows of a typical export). */
export const MAX_IMPORT_BYTES = 50 * 1024 * 1024;
/** Rejected rows kept for the download; beyond that they are counted only. */
export const MAX_STORED_REJECTED = 100_000;
/** How long a job's state stays readable. */
const JOB_TTL_SECONDS = 24 * 3600;
/** How often a running job writes its progress (and heartbeat). */
const FLUSH_MS = 300;
/** A running job whose heartbeat is older than this has lost its process. */
export const STALE_AFTER_MS = 30_000;

export type ImportJobStatus = 'running' | 'done' | 'failed' | 'interrupted';

/** What the progress page shows of a job. */
export interface ImportJob {
  id: string;
  status: ImportJobStatus;
  fileName: string;
  pending: boolean;
  totalBytes: number;
  readBytes: number;
  /** 0-100. */
  percent: number;
  imported: number;
  updated: number;
  rejectedCount: number;
  /** Rejected rows kept for the download (≤ MAX_STORED_REJECTED). */
  rejectedStored: number;
  confirmationsSent: number;
  confirmationsFailed: number;
  /** Why a failed job failed (a message for the editor: no internals). */
  error: string | null;
  startedAt: string;
  finishedAt: string | null;
}

/** Job ids are UUIDs: anything else names no job (and never reaches Redis as a key). */
export function isImportJobId(id: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id);
}

// One hash tag per job: both keys live on one cluster slot.
const jobKey = (prefix: string, id: string) => `${prefix}:console-import:{${id}}`;
const rejectedKey = (prefix: string, id: string) => `${prefix}:console-import:{${id}}:rejected`;

export interface ImportJobDeps extends ImportWithConfirmationsDeps {
  redis: Redis;
  /** The Redis key prefix (QUEUE_PREFIX). */
  prefix: string;
  now?: () => Date;
}

/**
 * Starts importing the CSV at `path` (a temporary file this job owns and deletes when it ends)
 * and returns the job id at once; the import runs in this process. `done` settles when it
 * ends (tests await it; the console does not).
 */
export async function startImportJob(
  deps: ImportJobDeps,
  upload: { path: string; fileName: string; sizeBytes: number; pending: boolean },
): Promise<{ id: string; done: Promise<void> }> {
  const id = randomUUID();
  const now = deps.now ?? (() => new Date());
  const key = jobKey(deps.prefix, id);
  const listKey = rejectedKey(deps.prefix, id);
  const state = {
    readBytes: 0,
    imported: 0,
    updated: 0,
    rejectedCount: 0,
    rejectedStored: 0,
  };
  let unsaved: RejectedRow[] = [];
  await deps.redis
    .multi()
    .hset(key, {
      status: 'running',
      fileName: upload.fileName.slice(0, 200),
      pending: upload.pending ? '1' : '0',
      totalBytes: String(upload.sizeBytes),
      readBytes: '0',
      imported: '0',
      updated: '0',
      rejectedCount: '0',
      rejectedStored: '0',
      confirmationsSent: '0',
      confirmationsFailed: '0',
      startedAt: now().toISOString(),
      heartbeat: String(now().getTime()),
    })
    .expire(key, JOB_TTL_SECONDS)
    .exec();

  const flush = async (extra: Record<string, string> = {}) => {
    const rows = unsaved;
    unsaved = [];
    const multi = deps.redis.multi();
    if (rows.length > 0) {
      multi.rpush(listKey, ...rows.map((row) => JSON.stringify(row)));
      multi.expire(listKey, JOB_TTL_SECONDS);
    }
    multi.hset(key, {
      readBytes: String(state.readBytes),
      rejectedCount: String(state.rejectedCount),
      rejectedStored: String(state.rejectedStored),
      heartbeat: String(now().getTime()),
      ...extra,
    });
    await multi.exec();
  };

  const run = async () => {
    const file = createReadStream(upload.path);
    // Counts bytes as the importer pulls them (a 'data' listener would start the flow early).
    const source = file.pipe(
      new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          state.readBytes += chunk.length;
          callback(null, chunk);
        },
      }),
    );
    file.on('error', (error) => source.destroy(error));
    let flushing: Promise<void> = Promise.resolve();
    const timer = setInterval(() => {
      flushing = flushing.then(() => flush()).catch(() => undefined);
    }, FLUSH_MS);
    try {
      const result = await importWithConfirmations(deps, source, {
        pending: upload.pending,
        keepRejected: 0,
        onRejected: (row) => {
          state.rejectedCount += 1;
          if (state.rejectedStored < MAX_STORED_REJECTED) {
            state.rejectedStored += 1;
            unsaved.push(row);
          }
        },
      });
      const { report } = result;
      clearInterval(timer);
      await flushing;
      await flush({
        readBytes: String(upload.sizeBytes),
        imported: String(report.imported),
        updated: String(report.updated),
      });
      const confirmations = await result.confirmations;
      await flush({
        status: 'done',
        confirmationsSent: String(confirmations.sent),
        confirmationsFailed: String(confirmations.failed),
        finishedAt: now().toISOString(),
      });
    } catch (error) {
      clearInterval(timer);
      await flushing;
      // Input errors (a header without "email") are the editor's to fix; anything else is ours.
      const message =
        error instanceof Error && error.name === 'SubscriberInputError'
          ? error.message.replace(/^csv: /, '')
          : 'the import stopped on an internal error (see the server log)';
      deps.log.error({ err: error, jobId: id }, 'subscribers.import.failed');
      await flush({ status: 'failed', error: message, finishedAt: now().toISOString() }).catch(
        () => undefined,
      );
    } finally {
      file.destroy();
      source.destroy();
      await rm(upload.path, { force: true }).catch(() => undefined);
    }
  };
  const done = run().catch((error: unknown) => {
    deps.log.error({ err: error, jobId: id }, 'subscribers.import.failed');
  });
  return { id, done };
}

const num = (value: string | undefined) => {
  const n = Number(value ?? 0);
  return Number.isFinite(n) ? n : 0;
};

/** A job's state, or null when there is no such job (or it expired). */
export async function readImportJob(
  redis: Redis,
  prefix: string,
  id: string,
  now: Date = new Date(),
): Promise<ImportJob | null> {
  if (!isImportJobId(id)) return null;
  const hash = await redis.hgetall(jobKey(prefix, id));
  if (!hash.status) return null;
  let status = hash.status as ImportJobStatus;
  if (status === 'running' && now.getTime() - num(hash.heartbeat) > STALE_AFTER_MS) {
    status = 'interrupted';
  }
  const totalBytes = num(hash.totalBytes);
  const readBytes = Math.min(num(hash.readBytes), totalBytes);
  return {
    id,
    status,
    fileName: hash.fileName ?? '',
    pending: hash.pending === '1',
    totalBytes,
    readBytes,
    percent:
      status === 'done'
        ? 100
        : totalBytes === 0
          ? 0
          : Math.min(99, Math.floor((readBytes / totalBytes) * 100)),
    imported: num(hash.imported),
    updated: num(hash.updated),
    rejectedCount: num(hash.rejectedCount),
    rejectedStored: num(hash.rejectedStored),
    confirmationsSent: num(hash.confirmationsSent),
    confirmationsFailed: num(hash.confirmationsFailed),
    error: hash.error ?? null,
    startedAt: hash.startedAt ?? '',
    finishedAt: hash.finishedAt ?? null,
  };
}

/**
 * The job's rejected rows as CSV (line, email, reason), in line order, streamed a slice of the
 * list at a time; cells that a spreadsheet would run as a formula are prefixed with '.
 */
export function rejectedRowsCsv(redis: Redis, prefix: string, id: string): Readable {
  const key = rejectedKey(prefix, id);
  const rows = Readable.from(
    (async function* () {
      // The import reports some rows (bad lines) ahead of others: sort by line. The list is
      // capped at MAX_STORED_REJECTED short rows, so reading it whole stays small.
      const all: RejectedRow[] = [];
      const SLICE = 5_000;
      for (let start = 0; ; start += SLICE) {
        const part = await redis.lrange(key, start, start + SLICE - 1);
        for (const text of part) all.push(JSON.parse(text) as RejectedRow);
        if (part.length < SLICE) break;
      }
      all.sort((a, b) => a.line - b.line);
      for (const row of all) yield { line: row.line, email: row.email ?? '', reason: row.reason };
    })(),
  );
  return rows.pipe(
    stringify({ header: true, escape_formulas: true, columns: ['line', 'email', 'reason'] }),
  );
}
