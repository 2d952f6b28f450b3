// Plain text as scraped from a news page: title on the first line, blocks separated by blank lines.

import type { ArticleDraft } from './draft.ts';
import { cleanBlocks } from './furniture.ts';
import { paragraphsOf } from './schema.ts';

/** Parses scraped plain text into an article draft (validated later by parseArticle). */
export function parseText(text: string): ArticleDraft {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  const titleIndex = lines.findIndex((line) => line.trim().length > 0);
  const title = titleIndex >= 0 ? (lines[titleIndex] ?? '').trim() : '';
  const rest = lines.slice(titleIndex + 1).join('\n');
  // A block is a run of non-blank lines; lines inside one block belong to one paragraph.
  const blocks = rest.split(/\n\s*\n/).map((block) => block.replace(/\n/g, ' '));
  const body = cleanBlocks(blocks);
  return { title, ...body, paragraphs: paragraphsOf(body.blocks) };
}
