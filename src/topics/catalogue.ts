// The topic catalogue: kept as data in catalogue.yaml, validated with zod, stored in `topics`.
// The store seeds it on open (src/store/db.ts), so this module must not import the store's
// opener (the two would import each other).
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { Database } from '../store/schema.ts';

const terms = z.array(z.string().trim().min(1)).min(1, 'a concept needs at least one term');

/** One concept a topic needs, resolved to its terms, and the strength it must reach. */
export const requirementSchema = z.object({
  concept: z.string().min(1),
  terms,
  min: z.number().positive(),
});

/** A topic's matching rules as stored (concepts resolved to their terms). */
export const topicRulesSchema = z.object({
  all: z.array(requirementSchema).min(1, 'a topic rule needs at least one concept'),
  balance: z.number().min(0).max(1).optional(),
});

export const topicIdSchema = z
  .string()
  .regex(/^[a-z0-9]+(-[a-z0-9]+)*$/, 'a topic id is lower-case words joined by hyphens');

export const topicSchema = z.object({
  id: topicIdSchema,
  name: z.string().trim().min(1),
  description: z.string().default(''),
  rules: topicRulesSchema,
});

export type TopicRequirement = z.infer<typeof requirementSchema>;
export type TopicRules = z.infer<typeof topicRulesSchema>;
export type Topic = z.infer<typeof topicSchema>;
/** The topics the matcher runs over. */
export type Catalogue = readonly Topic[];

const fileRequirementSchema = z
  .object({
    concept: z.string().min(1).optional(),
    terms: terms.optional(),
    min: z.number().positive().default(1),
  })
  .refine((r) => r.concept !== undefined || r.terms !== undefined, {
    message: 'a requirement names a concept or lists its own terms',
  });

const catalogueFileSchema = z
  .object({
    concepts: z.record(z.string(), terms).default({}),
    topics: z
      .array(
        z.object({
          id: topicIdSchema,
          name: z.string().trim().min(1),
          description: z.string().default(''),
          rules: z.object({
            all: z.array(fileRequirementSchema).min(1),
            balance: z.number().min(0).max(1).optional(),
          }),
        }),
      )
      .min(1),
  })
  .superRefine((file, ctx) => {
    const seen = new Set<string>();
    file.topics.forEach((topic, index) => {
      if (seen.has(topic.id)) {
        ctx.addIssue({
          code: 'custom',
          path: ['topics', index, 'id'],
          message: `duplicate topic id ${topic.id}`,
        });
      }
      seen.add(topic.id);
      topic.rules.all.forEach((requirement, r) => {
        if (requirement.terms === undefined && !(requirement.concept! in file.concepts)) {
          ctx.addIssue({
            code: 'custom',
            path: ['topics', index, 'rules', 'all', r, 'concept'],
            message: `unknown concept ${requirement.concept}`,
          });
        }
      });
    });
  });

export const DEFAULT_CATALOGUE_FILE = new URL('./catalogue.yaml', import.meta.url);

/** Parses catalogue YAML (or JSON) text into topics with their concepts resolved to terms. */
export function parseCatalogueText(text: string): Topic[] {
  // Loaded on first use: every process opening the store reads the catalogue, and from the
  // build it comes parsed already (PARSED_CATALOGUE_FILE), so the YAML parser is rarely needed.
  const { parse: parseYaml } = createRequire(import.meta.url)('yaml') as typeof import('yaml');
  const file = catalogueFileSchema.parse(parseYaml(text));
  return file.topics.map((topic) => ({
    id: topic.id,
    name: topic.name,
    description: topic.description,
    rules: {
      all: topic.rules.all.map((requirement) => ({
        concept: requirement.concept ?? requirement.terms!.join('|'),
        terms: requirement.terms ?? file.concepts[requirement.concept!]!,
        min: requirement.min,
      })),
      ...(topic.rules.balance !== undefined ? { balance: topic.rules.balance } : {}),
    },
  }));
}

/**
 * The catalogue parsed at build time (bin/build.js writes it next to the built module), with
 * the sha256 of the YAML text it was parsed from. Every store open reads the catalogue, and
 * parsing and validating the YAML cost about a fifth of a CLI call's start-up.
 */
export const PARSED_CATALOGUE_FILE = new URL('./catalogue.parsed.json', import.meta.url);

export interface ParsedCatalogue {
  /** sha256 (hex) of the YAML text the topics were parsed from. */
  sourceSha256: string;
  topics: Topic[];
}

/** The saved form of a catalogue's YAML text (bin/build.js writes it as JSON). */
export function parsedCatalogue(text: string): ParsedCatalogue {
  return { sourceSha256: sha256(text), topics: parseCatalogueText(text) };
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

let fileCache: Topic[] | undefined;

/**
 * The catalogue as written in catalogue.yaml (read once per process): the build's parsed copy
 * when it was made from the same text, else the YAML parsed now (the sources, or a catalogue
 * edited in dist/ after the build).
 */
export function catalogueFromFile(): Topic[] {
  if (fileCache) return fileCache;
  const text = readFileSync(DEFAULT_CATALOGUE_FILE, 'utf8');
  if (existsSync(PARSED_CATALOGUE_FILE)) {
    const saved = JSON.parse(readFileSync(PARSED_CATALOGUE_FILE, 'utf8')) as ParsedCatalogue;
    if (saved.sourceSha256 === sha256(text)) fileCache = saved.topics;
  }
  fileCache ??= parseCatalogueText(text);
  return fileCache;
}

/**
 * Adds to the `topics` table every topic of the catalogue file it does not hold yet (all of
 * them on an empty store); rows already there, possibly edited, are left alone.
 */
export async function ensureCatalogue(
  db: Kysely<Database>,
  topics: readonly Topic[] = catalogueFromFile(),
): Promise<void> {
  const present = new Set((await db.selectFrom('topics').select('id').execute()).map((r) => r.id));
  const missing = topics.filter((topic) => !present.has(topic.id));
  if (missing.length === 0) return;
  const now = new Date().toISOString();
  await db
    .insertInto('topics')
    .values(
      missing.map((topic) => ({
        id: topic.id,
        name: topic.name,
        description: topic.description,
        rules: JSON.stringify(topic.rules),
        created_at: now,
        updated_at: now,
      })),
    )
    // Two processes may seed at once: the second one's rows are already there.
    .onConflict((oc) => oc.column('id').doNothing())
    .execute();
}

/** The topics in the store (seeded from the catalogue file first), ordered by id. */
export async function loadCatalogue(db: Kysely<Database>): Promise<Topic[]> {
  await ensureCatalogue(db);
  const rows = await db.selectFrom('topics').selectAll().orderBy('id').execute();
  return rows.map((row) =>
    topicSchema.parse({
      id: row.id,
      name: row.name,
      description: row.description,
      rules: JSON.parse(row.rules),
    }),
  );
}

/** Display names by topic id for the ids given (unknown ids are left out). */
export async function topicNames(
  db: Kysely<Database>,
  ids: readonly string[],
): Promise<Record<string, string>> {
  if (ids.length === 0) return {};
  await ensureCatalogue(db);
  const rows = await db
    .selectFrom('topics')
    .select(['id', 'name'])
    .where('id', 'in', [...new Set(ids)])
    .execute();
  return Object.fromEntries(rows.map((row) => [row.id, row.name]));
}

/** The ids among `ids` that are not in the catalogue, in the order given. */
export async function unknownTopicIds(
  db: Kysely<Database>,
  ids: readonly string[],
): Promise<string[]> {
  const known = await topicNames(db, ids);
  return [...new Set(ids)].filter((id) => !(id in known));
}
