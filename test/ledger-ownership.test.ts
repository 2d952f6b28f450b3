// The ledger module is the only place with SQL on `deliveries`: a statement anywhere else in
// src/ fails this test (migrations excepted: they create the table). Reads files only.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '../src');

/** Where SQL on the table may live. */
const ALLOWED = [/^ledger\//, /^store\/migrations/];

/**
 * The table named in a Kysely call or column reference (`'deliveries'`, `'deliveries as d'`,
 * `'deliveries.status'`) or in raw SQL (`from deliveries`, `insert into deliveries`, …). The
 * queue of the same name (`queues.deliveries`, `deliveries: 'deliveries'`) is not SQL.
 */
const TABLE_SQL = [
  /\(\s*['"`]deliveries(?:\s+as\s+\w+)?['"`]/,
  /['"`]deliveries\.\w+/,
  /\b(?:from|into|update|join)\s+deliveries\b/i,
];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return /\.(ts|mts|js)$/.test(entry.name) ? [path] : [];
  });
}

/** `file:line: text` for each line outside the allowed files that touches the table. */
function deliveriesSqlOutsideLedger(files: ReadonlyArray<{ path: string; text: string }>) {
  return files.flatMap(({ path, text }) =>
    ALLOWED.some((allowed) => allowed.test(path))
      ? []
      : text
          .split('\n')
          .flatMap((line, index) =>
            TABLE_SQL.some((pattern) => pattern.test(line))
              ? [`${path}:${index + 1}: ${line.trim()}`]
              : [],
          ),
  );
}

describe('the deliveries ledger has one owner', () => {
  it('no file in src/ outside src/ledger/ and the migrations has SQL on deliveries', () => {
    const files = sourceFiles(SRC).map((file) => ({
      path: relative(SRC, file).split('\\').join('/'),
      text: readFileSync(file, 'utf8'),
    }));
    expect(files.some((file) => file.path.startsWith('ledger/'))).toBe(true);
    expect(deliveriesSqlOutsideLedger(files)).toEqual([]);
  });

  it('the check finds each form of such SQL, and leaves the queue of the same name alone', () => {
    const found = deliveriesSqlOutsideLedger([
      { path: 'delivery/a.ts', text: "await db.selectFrom('deliveries').selectAll()" },
      { path: 'delivery/b.ts', text: ".selectFrom('deliveries as d')" },
      { path: 'ops/c.ts', text: ".select(['deliveries.status as status'])" },
      { path: 'digests/d.ts', text: 'insert into deliveries (campaign_id) select 1' },
      { path: 'e.ts', text: '  update deliveries set status = 1' },
      { path: 'ledger/claims.ts', text: ".updateTable('deliveries')" },
      { path: 'store/migrations.ts', text: ".createTable('deliveries')" },
      { path: 'delivery/queues.ts', text: "  deliveries: 'deliveries',\nqueues.deliveries.add()" },
    ]);
    expect(found.map((line) => line.split(':')[0])).toEqual([
      'delivery/a.ts',
      'delivery/b.ts',
      'ops/c.ts',
      'digests/d.ts',
      'e.ts',
    ]);
  });
});
