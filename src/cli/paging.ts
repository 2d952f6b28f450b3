// Paged lists on the command line: `--limit N` and `--cursor C` give `{items, next}`, no paging
// option gives the whole list as one JSON array (the DESIGN contract for round-2 lists).
import type { Command } from 'commander';
import { z } from 'zod';
import { printJson, UserError } from './context.ts';

/** Largest page one call may ask for. */
export const MAX_PAGE = 1000;

/** A page request: at most `limit` rows after the row whose id is `after`. */
export interface PageRequest {
  limit: number;
  after: number | null;
}

/** One page and the cursor of the next, null when this page is the last. */
export interface Page<T> {
  items: T[];
  next: string | null;
}

const pageOptionsSchema = z.object({
  limit: z.coerce
    .number({ message: '--limit must be a whole number' })
    .int('--limit must be a whole number')
    .min(1, '--limit must be at least 1')
    .max(MAX_PAGE, `--limit must be at most ${MAX_PAGE}`)
    .optional(),
  cursor: z
    .string()
    .regex(/^[1-9][0-9]{0,9}$/, '--cursor must be the `next` value a previous page printed')
    .optional(),
});

/** Adds --limit, --cursor and --json to a list command. */
export function pagedListOptions(command: Command): Command {
  return command
    .option('--limit <n>', `page size (1-${MAX_PAGE}); prints {items, next}`)
    .option('--cursor <next>', 'continue after a page: the `next` it printed')
    .option('--json', 'print JSON');
}

/**
 * Reads the paging options: `paged` says whether the caller asked for a page (then at most
 * `limit` rows), otherwise the whole list is read page by page.
 */
export function readPageOptions(raw: { limit?: string; cursor?: string }): {
  paged: boolean;
  request: PageRequest;
} {
  const parsed = pageOptionsSchema.safeParse({ limit: raw.limit, cursor: raw.cursor });
  if (!parsed.success) throw new UserError(parsed.error.issues[0]!.message);
  const { limit, cursor } = parsed.data;
  const paged = limit !== undefined || cursor !== undefined;
  return {
    paged,
    request: { limit: limit ?? (paged ? 50 : MAX_PAGE), after: cursor ? Number(cursor) : null },
  };
}

/** Builds a page from rows read with one extra row beyond `limit` (it says a next page exists). */
export function toPage<T>(rows: T[], limit: number, idOf: (row: T) => number): Page<T> {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return { items, next: rows.length > limit && last ? String(idOf(last)) : null };
}

/**
 * Runs a list command: one page when asked (`{items, next}` as JSON), otherwise every page
 * (a JSON array); without --json, one line per item and, when paged, how to go on.
 */
export async function printList<T>(
  raw: { limit?: string; cursor?: string; json?: boolean },
  read: (request: PageRequest) => Promise<Page<T>>,
  line: (item: T) => string,
): Promise<void> {
  const { paged, request } = readPageOptions(raw);
  let page = await read(request);
  if (paged) {
    if (raw.json) printJson(page);
    else {
      for (const item of page.items) process.stdout.write(`${line(item)}\n`);
      if (page.next) process.stdout.write(`(more: --cursor ${page.next})\n`);
    }
    return;
  }
  const all = [...page.items];
  while (page.next) {
    page = await read({ limit: request.limit, after: Number(page.next) });
    all.push(...page.items);
  }
  if (raw.json) printJson(all);
  else if (all.length === 0) process.stdout.write('(none)\n');
  else for (const item of all) process.stdout.write(`${line(item)}\n`);
}
