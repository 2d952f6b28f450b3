// CSV import stays bounded whatever the file: rejected rows are counted (only the first ones
// kept, all of them streamed), an over-long line or field is rejected by itself, and one bad
// quote rejects its own line instead of aborting the import or swallowing the lines after it.
// Memory is measured as retained heap after a forced collection (a cap and a ratio), never time.
import { Readable } from 'node:stream';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ImportOptions,
  type ImportReport,
  importSubscribersCsv,
  KEEP_REJECTED,
  type RejectedRow,
} from '../src/subscribers/import.ts';
import { guardCsvLines } from '../src/subscribers/import-lines.ts';
import { findSubscriberByEmail } from '../src/subscribers/repository.ts';
import { insertTopics } from './helpers/rows.ts';
import { DIALECTS, openTestStore, type TestStore } from './helpers/stores.ts';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const MB = 1024 * 1024;

/** Heap plus Buffer memory now, after a full collection. */
function retained(): number {
  gc();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

/** A CSV of `count` rows with a bad address each, generated in pieces (never whole in memory). */
function badRows(count: number): Readable {
  return Readable.from(
    (function* () {
      yield 'email,name,topics,timezone,digest\n';
      for (let i = 0; i < count; i += 1_000) {
        let piece = '';
        for (let j = i; j < Math.min(count, i + 1_000); j++) {
          piece += `not-an-address-${j},Reader ${j},economy,UTC,off\n`;
        }
        yield piece;
      }
    })(),
  );
}

describe.each(DIALECTS)('CSV import bounds (%s)', (dialect) => {
  let t: TestStore;
  beforeAll(async () => {
    t = await openTestStore(dialect);
    await insertTopics(t.store.db, ['economy']);
  });
  afterAll(async () => {
    await t?.dispose();
  });

  it('a bad quote rejects its own line, with its number, and the import goes on', async () => {
    const csv = [
      'email,name,topics,timezone,digest',
      'first@example.org,First,economy,UTC,off',
      'boss@example.org,"Ann "The Boss" Smith",economy,UTC,off',
      'open@example.org,"Never closed,economy,UTC,off',
      'quote@example.org,Ann "Q" Smith,economy,UTC,off',
      'after@example.org,After,economy,UTC,off',
      '"last@example.org",Last,economy,UTC,off',
    ].join('\r\n');
    const streamed: RejectedRow[] = [];
    const report = await importSubscribersCsv(t.store.db, csv, {
      status: 'active',
      onRejected: (row) => streamed.push(row),
    });
    expect(report).toMatchObject({ imported: 3, rejectedCount: 3 });
    expect(report.rejected.map((row) => row.line)).toEqual([3, 4, 5]);
    expect(report.rejected[1]?.reason).toBe('unclosed quote');
    expect(report.rejected[0]?.reason).toMatch(/^bad CSV: .*[Qq]uote/);
    expect(streamed.map((row) => row.line).sort()).toEqual([3, 4, 5]);
    for (const email of ['first@example.org', 'after@example.org', 'last@example.org']) {
      expect(await findSubscriberByEmail(t.store.db, email)).not.toBeNull();
    }
  });

  it('an over-long line is rejected alone; the rows around it are imported', async () => {
    const csv = `email,name\nbefore@example.org,B\nhuge@example.org,"${'x'.repeat(200_000)}"\nbehind@example.org,A\n`;
    const report = await importSubscribersCsv(t.store.db, csv, { status: 'active' });
    expect(report).toMatchObject({ imported: 2, rejectedCount: 1 });
    expect(report.rejected).toEqual([
      { line: 3, email: null, reason: expect.stringMatching(/^line longer than \d+ characters$/) },
    ]);
    expect(await findSubscriberByEmail(t.store.db, 'huge@example.org')).toBeNull();
  });
});

describe('CSV import memory', () => {
  let t: TestStore;
  beforeAll(async () => {
    t = await openTestStore('sqlite');
    await insertTopics(t.store.db, ['economy']);
  });
  afterAll(async () => {
    await t?.dispose();
  });

  /** Imports `rows` bad rows; returns the report and the heap it keeps alive. */
  async function importBad(rows: number, options: Partial<ImportOptions> = {}) {
    let streamed = 0;
    const before = retained();
    const report: ImportReport = await importSubscribersCsv(t.store.db, badRows(rows), {
      status: 'active',
      onRejected: () => {
        streamed += 1;
      },
      ...options,
    });
    const kept = retained() - before;
    return { report, kept, streamed };
  }

  it('keeps the first rejected rows and counts the rest: the report stays small', async () => {
    const small = await importBad(10_000);
    const rows = 100_000;
    const large = await importBad(rows);
    expect(large.report.rejectedCount).toBe(rows);
    expect(large.streamed).toBe(rows);
    expect(large.report.rejected).toHaveLength(KEEP_REJECTED);
    expect(large.report.rejected[0]?.line).toBe(2);
    console.log(
      `rejected-row report kept alive: ${(small.kept / MB).toFixed(2)} MB for 10,000 bad rows, ${(large.kept / MB).toFixed(2)} MB for ${rows}`,
    );
    // Ten times the bad rows, not ten times the memory (keeping them all held ~17 MB here).
    expect(large.kept).toBeLessThan(8 * MB);
    expect(large.kept).toBeLessThan(2 * Math.max(small.kept, MB));
  }, 120_000);

  it('one 96 MB field never sits in memory', async () => {
    const fieldChunks = 1_536; // × 64 KiB = 96 MiB
    const piece = 'x'.repeat(64 * 1024);
    let peak = 0;
    const baseline = retained();
    const source = Readable.from(
      (function* () {
        yield 'email,name\nbefore@example.org,B\nhuge@example.org,"';
        for (let i = 0; i < fieldChunks; i++) {
          // Sample what is kept alive, not the garbage between collections.
          if (i % 128 === 0) peak = Math.max(peak, retained() - baseline);
          yield piece;
        }
        yield '"\nafter@example.org,A\n';
      })(),
    );
    const report = await importSubscribersCsv(t.store.db, source, { status: 'active' });
    peak = Math.max(peak, retained() - baseline);
    console.log(`96 MB field: peak retained ${(peak / MB).toFixed(1)} MB`);
    expect(report).toMatchObject({ imported: 2, rejectedCount: 1 });
    expect(peak).toBeLessThan(16 * MB);
  }, 120_000);
});

describe('guardCsvLines', () => {
  it('keeps line numbers and line ends, and rejects lines split across chunks', async () => {
    const rejected: number[] = [];
    const guard = guardCsvLines(({ line }) => rejected.push(line), 10);
    const out: string[] = [];
    guard.on('data', (chunk: Buffer) => out.push(chunk.toString()));
    const done = new Promise((resolve) => guard.on('end', resolve));
    for (const part of ['a,b\r\n0123', '456789abc\r\n"x,y\r\nc,', 'd\r\né,"q"']) guard.write(part);
    guard.end();
    await done;
    expect(out.join('')).toBe('a,b\r\n\r\n\r\nc,d\r\né,"q"\n');
    expect(rejected).toEqual([2, 3]);
  });
});
