// Page-furniture rules (src/articles/furniture.yaml) and the clean-up steps built on them:
// dropping boilerplate, lifting photo lines into `image`, re-joining broken sentences, and
// taking a trailing agency tag as the article's `source`.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { ArticleImage } from './schema.ts';

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
  return rules.drop.some((rule) => rule.test(block));
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
  let pending = '';
  for (const block of blocks) {
    pending = pending ? `${pending} ${block}` : block;
    if (endsSentence(pending)) {
      paragraphs.push(pending);
      pending = '';
    }
  }
  if (pending) paragraphs.push(pending);
  return paragraphs;
}

/** The photo credit of a credit line ("PHOTO: AFP" → "AFP"), or null. */
export function photoCreditOf(block: string, rules = furnitureRules()): string | null {
  const credit = rules.photoCredit.exec(block)?.groups?.credit;
  return credit ? squash(credit) : null;
}

/** Splits a caption with its credit on the same line, or null when the block is not one. */
export function photoCaptionOf(
  block: string,
  rules = furnitureRules(),
): { caption: string; credit: string } | null {
  const groups = rules.photoCaption.exec(block)?.groups;
  if (!groups?.caption || !groups.credit) return null;
  return { caption: squash(groups.caption), credit: squash(groups.credit) };
}

/** Splits a photo description into its text and credit, or null when the block is not one. */
export function photoDescriptionOf(
  block: string,
  rules = furnitureRules(),
): { text: string; credit: string } | null {
  const groups = rules.photoDescription.exec(block)?.groups;
  if (!groups?.credit) return null;
  return { text: squash(groups.text ?? ''), credit: squash(groups.credit) };
}

/** The name in a byline block ("By Jane Doe" → "Jane Doe"), or null. */
export function bylineOf(block: string, rules = furnitureRules()): string | null {
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
  for (const agency of rules.agencies) {
    // Alone on the last line, possibly dressed as "- AFP" or "(Reuters)".
    const alone = new RegExp(`^[-–—(\\s]*${escapeRegExp(agency)}[)\\s]*$`, 'u');
    if (alone.test(last)) {
      result.pop();
      return { paragraphs: result, source: agency };
    }
    // After the last sentence of the paragraph.
    const trailing = new RegExp(
      `^(.*[.!?…][”"’')\\]]*)\\s+[-–—(]?\\s*${escapeRegExp(agency)}\\)?$`,
      'u',
    );
    const match = trailing.exec(last);
    if (match?.[1]) {
      result[result.length - 1] = match[1];
      return { paragraphs: result, source: agency };
    }
  }
  return { paragraphs: result };
}

/** Escapes a literal string for use inside a regular expression. */
export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A cleaned article body: paragraphs plus what was lifted out of them. */
export interface CleanBody {
  paragraphs: string[];
  image?: ArticleImage;
  source?: string;
  byline?: string;
}

/**
 * Cleans scraped blocks (one per blank-line-separated chunk) into an article body: furniture
 * dropped, photo lines lifted into `image`, broken sentences re-joined, agency tag taken off.
 */
export function cleanBlocks(rawBlocks: readonly string[], rules = furnitureRules()): CleanBody {
  const blocks = rawBlocks.map(squash).filter((block) => block.length > 0);
  const kept: string[] = [];
  const image: ArticleImage = {};
  let byline: string | undefined;
  for (const block of blocks) {
    if (isFurniture(block, rules)) continue;
    const credit = photoCreditOf(block, rules);
    if (credit !== null) {
      // "PHOTO: AFP" credits the photo whose caption is the block just before it.
      const caption = kept.pop();
      if (caption !== undefined && !image.caption) image.caption = caption;
      image.credit ??= credit;
      continue;
    }
    const captioned = photoCaptionOf(block, rules);
    if (captioned) {
      image.caption ??= captioned.caption;
      image.credit ??= captioned.credit;
      continue;
    }
    const description = photoDescriptionOf(block, rules);
    if (description) {
      if (description.text && !image.alt) image.alt = description.text;
      // The named photographer is the fuller credit; it wins over a bare agency line.
      image.credit = description.credit;
      continue;
    }
    if (kept.length === 0 && byline === undefined) {
      const name = bylineOf(block, rules);
      if (name) {
        byline = name;
        continue;
      }
    }
    kept.push(block);
  }
  const { paragraphs, source } = takeAgencyTag(rejoinBlocks(kept), rules);
  return {
    paragraphs,
    ...(Object.keys(image).length > 0 ? { image } : {}),
    ...(source ? { source } : {}),
    ...(byline ? { byline } : {}),
  };
}
