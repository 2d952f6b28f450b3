// Page-furniture rules (src/articles/furniture.yaml) and the clean-up steps built on them:
// dropping boilerplate, lifting photo lines into `image`, re-joining broken sentences, and
// taking a trailing agency tag as the article's `source`.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { ArticleBlock, ArticleImage } from './schema.ts';

/**
 * Rules only look at blocks this short: furniture, captions, credits and bylines are short,
 * and a bound on the text bounds the work of any rule (articles are untrusted input).
 */
export const RULE_MAX_CHARS = 600;

/** Agency tags are looked for in this many characters at the end of the last paragraph. */
const AGENCY_TAIL_CHARS = 300;

/** Whether a block is short enough for the furniture rules to look at it. */
const inReach = (block: string) => block.length <= RULE_MAX_CHARS;

const regexText = z.string().refine(
  (pattern) => {
    try {
      new RegExp(pattern, 'iu');
      return true;
    } catch {
      return false;
    }
  },
  { message: 'not a valid regular expression' },
);

const furnitureFileSchema = z.object({
  drop: z.array(regexText),
  photoCredit: regexText,
  photoCaption: regexText,
  photoDescription: regexText,
  byline: regexText,
  agencies: z.array(z.string().min(1)).min(1),
});

export interface FurnitureRules {
  drop: RegExp[];
  photoCredit: RegExp;
  photoCaption: RegExp;
  photoDescription: RegExp;
  byline: RegExp;
  agencies: string[];
}

let cached: FurnitureRules | undefined;

/** Loads and validates the furniture rule file once per process. */
export function furnitureRules(): FurnitureRules {
  if (cached) return cached;
  const file = new URL('./furniture.yaml', import.meta.url);
  const data = furnitureFileSchema.parse(parseYaml(readFileSync(file, 'utf8')));
  cached = {
    drop: data.drop.map((pattern) => new RegExp(pattern, 'iu')),
    photoCredit: new RegExp(data.photoCredit, 'iu'),
    photoCaption: new RegExp(data.photoCaption, 'iu'),
    photoDescription: new RegExp(data.photoDescription, 'iu'),
    byline: new RegExp(data.byline, 'u'),
    // Longest first, so "WP Bloomberg" wins over "Bloomberg".
    agencies: [...data.agencies].sort((a, b) => b.length - a.length),
  };
  return cached;
}

/** Collapses runs of whitespace (including non-breaking spaces) to one space and trims. */
export function squash(text: string): string {
  return text.replace(/[\s\u00a0]+/gu, ' ').trim();
}

/** Whether a block is page furniture to drop whole. */
export function isFurniture(block: string, rules = furnitureRules()): boolean {
  return inReach(block) && rules.drop.some((rule) => rule.test(block));
}

// A sentence ends with . ! ? or … optionally followed by closing quotes or brackets.
const sentenceEnd = /[.!?…][”"’')\]»]*$/u;

/** Whether a block ends a sentence (otherwise the page broke it and the next block continues it). */
export function endsSentence(block: string): boolean {
  return sentenceEnd.test(block);
}

/** Re-joins blocks that the page broke mid-sentence into whole paragraphs. */
export function rejoinBlocks(blocks: readonly string[]): string[] {
  const paragraphs: string[] = [];
  let pending: string[] = [];
  for (const block of blocks) {
    pending.push(block);
    // The joined text ends where this block ends: test the block, not the growing join
    // (which made many unfinished blocks quadratic).
    if (endsSentence(block.slice(-20))) {
      paragraphs.push(pending.join(' '));
      pending = [];
    }
  }
  if (pending.length > 0) paragraphs.push(pending.join(' '));
  return paragraphs;
}

/** The photo credit of a credit line ("PHOTO: AFP" → "AFP"), or null. */
export function photoCreditOf(block: string, rules = furnitureRules()): string | null {
  if (!inReach(block)) return null;
  const credit = rules.photoCredit.exec(block)?.groups?.credit;
  return credit ? squash(credit) : null;
}

/** Splits a caption with its credit on the same line, or null when the block is not one. */
export function photoCaptionOf(
  block: string,
  rules = furnitureRules(),
): { caption: string; credit: string } | null {
  if (!inReach(block)) return null;
  const groups = rules.photoCaption.exec(block)?.groups;
  if (!groups?.caption || !groups.credit) return null;
  return { caption: squash(groups.caption), credit: squash(groups.credit) };
}

/** Splits a photo description into its text and credit, or null when the block is not one. */
export function photoDescriptionOf(
  block: string,
  rules = furnitureRules(),
): { text: string; credit: string } | null {
  if (!inReach(block)) return null;
  const groups = rules.photoDescription.exec(block)?.groups;
  if (!groups?.credit) return null;
  return { text: squash(groups.text ?? ''), credit: squash(groups.credit) };
}

/** The name in a byline block ("By Jane Doe" → "Jane Doe"), or null. */
export function bylineOf(block: string, rules = furnitureRules()): string | null {
  if (!inReach(block)) return null;
  const name = rules.byline.exec(block)?.groups?.name;
  return name ? squash(name) : null;
}

/**
 * Takes a trailing agency tag off the last paragraph: returns the paragraphs without it and the
 * agency, or the paragraphs unchanged and no source.
 */
export function takeAgencyTag(
  paragraphs: readonly string[],
  rules = furnitureRules(),
): { paragraphs: string[]; source?: string } {
  const result = [...paragraphs];
  const last = result.at(-1);
  if (last === undefined) return { paragraphs: result };
  const found = agencyTagOf(last, rules);
  if (!found) return { paragraphs: result };
  if (found.rest) result[result.length - 1] = found.rest;
  else result.pop();
  return { paragraphs: result, source: found.agency };
}

/**
 * The agency tag ending a paragraph: the agency and the paragraph without it ('' when the tag
 * stood alone), or null. Only the paragraph's tail is searched, so the work is bounded.
 */
export function agencyTagOf(
  paragraph: string,
  rules = furnitureRules(),
): { agency: string; rest: string } | null {
  const head = paragraph.slice(0, -AGENCY_TAIL_CHARS);
  const tail = paragraph.slice(-AGENCY_TAIL_CHARS);
  for (const agency of rules.agencies) {
    // Alone on the last line, possibly dressed as "- AFP" or "(Reuters)".
    const alone = new RegExp(`^[-–—(\\s]*${escapeRegExp(agency)}[)\\s]*$`, 'u');
    if (alone.test(paragraph.length <= AGENCY_TAIL_CHARS ? paragraph : '')) {
      return { agency, rest: '' };
    }
    // After the last sentence of the paragraph.
    const trailing = new RegExp(
      `^(.*[.!?…][”"’')\\]]*)\\s+[-–—(]?\\s*${escapeRegExp(agency)}\\)?$`,
      'u',
    );
    const match = trailing.exec(tail);
    if (match?.[1]) return { agency, rest: head + match[1] };
  }
  return null;
}

/** Escapes a literal string for use inside a regular expression. */
export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A cleaned article body: its blocks plus what was lifted out of them. */
export interface CleanBody {
  blocks: ArticleBlock[];
  image?: ArticleImage;
  source?: string;
  byline?: string;
}

/** Re-joins each run of consecutive paragraph blocks that the page broke mid-sentence. */
function rejoinParagraphBlocks(blocks: readonly ArticleBlock[]): ArticleBlock[] {
  const out: ArticleBlock[] = [];
  let run: string[] = [];
  const flush = () => {
    for (const text of rejoinBlocks(run)) out.push({ type: 'paragraph', text });
    run = [];
  };
  for (const block of blocks) {
    if (block.type === 'paragraph') run.push(block.text);
    else {
      flush();
      out.push(block);
    }
  }
  flush();
  return out;
}

/**
 * Cleans scraped blocks (a string is one paragraph) into an article body: furniture dropped
 * (whole paragraphs and headings, single list items), photo lines lifted into `image`, a
 * byline at the top into `byline`, broken sentences re-joined, a trailing agency tag taken off.
 */
export function cleanBlocks(
  rawBlocks: ReadonlyArray<string | ArticleBlock>,
  rules = furnitureRules(),
): CleanBody {
  const kept: ArticleBlock[] = [];
  const image: ArticleImage = {};
  let byline: string | undefined;
  let textSeen = false;
  for (const raw of rawBlocks) {
    const block: ArticleBlock =
      typeof raw === 'string' ? { type: 'paragraph', text: squash(raw) } : raw;
    if (block.type === 'heading') {
      if (!isFurniture(block.text, rules)) kept.push(block);
      continue;
    }
    if (block.type === 'list') {
      const items = block.items.filter((item) => !isFurniture(item, rules));
      if (items.length > 0) kept.push({ ...block, items });
      continue;
    }
    if (block.type !== 'paragraph') {
      kept.push(block);
      continue;
    }
    const text = block.text;
    if (text.length === 0 || isFurniture(text, rules)) continue;
    const credit = photoCreditOf(text, rules);
    if (credit !== null) {
      // "PHOTO: AFP" credits the photo whose caption is the block just before it.
      const previous = kept.at(-1);
      if (previous?.type === 'paragraph') {
        kept.pop();
        if (!image.caption) image.caption = previous.text;
      }
      image.credit ??= credit;
      continue;
    }
    const captioned = photoCaptionOf(text, rules);
    if (captioned) {
      image.caption ??= captioned.caption;
      image.credit ??= captioned.credit;
      continue;
    }
    const description = photoDescriptionOf(text, rules);
    if (description) {
      if (description.text && !image.alt) image.alt = description.text;
      // The named photographer is the fuller credit; it wins over a bare agency line.
      image.credit = description.credit;
      continue;
    }
    if (!textSeen && byline === undefined) {
      const name = bylineOf(text, rules);
      if (name) {
        byline = name;
        continue;
      }
    }
    textSeen = true;
    kept.push({ type: 'paragraph', text });
  }
  const blocks = rejoinParagraphBlocks(kept);
  let source: string | undefined;
  const last = blocks.at(-1);
  if (last?.type === 'paragraph') {
    const found = agencyTagOf(last.text, rules);
    if (found) {
      source = found.agency;
      if (found.rest) blocks[blocks.length - 1] = { type: 'paragraph', text: found.rest };
      else blocks.pop();
    }
  }
  return {
    blocks,
    ...(Object.keys(image).length > 0 ? { image } : {}),
    ...(source ? { source } : {}),
    ...(byline ? { byline } : {}),
  };
}
