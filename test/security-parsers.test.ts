// Security of the article parsers (issue 11): front matter can never run code (fault 1), and
// no article body can stall the event loop (fault 3): linear rules and parsers, size and
// nesting limits, and parsing in a worker thread that is killed at its time limit.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../src/app.ts';
import { furnitureRules, RULE_MAX_CHARS } from '../src/articles/furniture.ts';
import { readArticleFile } from '../src/articles/ingest.ts';
import { ArticleInputError, MAX_FORMAT_BYTES, parseArticle } from '../src/articles/parse.ts';
import {
  ARTICLE_PARSE_QUEUE_LIMIT,
  ArticleParseLimitError,
  ArticleParsePool,
  setArticleParseTimeLimit,
} from '../src/articles/parse-pool.ts';
import { parseConfig } from '../src/config/index.ts';
import { buildServer } from '../src/http/server.ts';
import { createApiKey } from '../src/keys/index.ts';
import { DIALECTS, openTestStore, type TestStore, uniqueName } from './helpers/stores.ts';

const repoRoot = resolve(import.meta.dirname, '..');
const workDir = mkdtempSync(join(tmpdir(), 'herald-sec-parsers-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

/** The reported payload: gray-matter's js engine evaluated this and wrote the marker file. */
function codePayload(marker: string, language = 'js'): string {
  return [
    `---${language}`,
    `{ title: (function () { require('child_process').execSync('touch ${marker}'); return 'pwned'; })() }`,
    '---',
    '',
    'Body text of the article.',
    '',
  ].join('\n');
}

/** Runs `fn` and returns the error it rejects with (fails the test otherwise). */
async function rejection(fn: () => Promise<unknown>): Promise<Error> {
  try {
    await fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

describe('front matter is YAML data only (issue 11, fault 1)', () => {
  it('`herald ingest`-level reading refuses ---js, ---javascript, ---coffee and runs nothing', async () => {
    for (const language of ['js', 'javascript', 'coffee', 'JS', 'toml']) {
      const marker = join(workDir, `pwned-${language}`);
      const file = join(workDir, `evil-${language}.md`);
      writeFileSync(file, codePayload(marker, language));
      const error = await rejection(() => readArticleFile(file));
      expect(error).toBeInstanceOf(ArticleInputError);
      expect((error as ArticleInputError).field).toBe('front matter');
      expect(error.message).toContain(`"${language}"`);
      expect(existsSync(marker)).toBe(false);
    }
  });

  it('the same payload without a file name or content type is still Markdown, still refused', () => {
    const marker = join(workDir, 'pwned-detected');
    expect(() => parseArticle({ body: codePayload(marker) })).toThrow(/front matter language "js"/);
    expect(existsSync(marker)).toBe(false);
  });

  it('YAML tags that build code or objects are refused; __proto__ stays inert data', () => {
    const tagged = ['---', "title: !!js/function 'function () { return 1 }'", '---', 'Body.'].join(
      '\n',
    );
    const error = (() => {
      try {
        parseArticle({ body: tagged, filename: 'a.md' });
      } catch (e) {
        return e as ArticleInputError;
      }
      throw new Error('expected an error');
    })();
    expect(error.field).toBe('front matter');
    expect(error.message).toMatch(/tag/i);
    const proto = parseArticle({
      body: '---\ntitle: T\n__proto__:\n  polluted: true\n---\n\nBody.\n',
      filename: 'a.md',
    });
    expect(proto.title).toBe('T');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // An alias bomb ("billion laughs") is refused, not expanded.
    const bomb = [
      '---',
      'a: &a [x, x, x, x, x, x, x, x, x]',
      'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]',
      'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]',
      'd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]',
      'title: T',
      '---',
      'Body.',
    ].join('\n');
    expect(() => parseArticle({ body: bomb, filename: 'a.md' })).toThrow(/front matter/);
  });

  it('`herald ingest` (the CLI) exits non-zero with one line naming the marker', async () => {
    const marker = join(workDir, 'pwned-cli');
    const file = join(workDir, 'evil-cli.md');
    writeFileSync(file, codePayload(marker));
    const child = spawn('node', ['bin/herald.js', 'ingest', file], {
      cwd: repoRoot,
      env: {
        ...process.env,
        DATABASE_URL: `sqlite:${join(workDir, 'cli.sqlite')}`,
        LOG_LEVEL: 'silent',
        QUEUE_PREFIX: uniqueName('secp'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const code = await new Promise<number | null>((done) => child.on('close', done));
    expect(code).not.toBe(0);
    expect(stderr).toContain('front matter language "js" is not accepted');
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(existsSync(marker)).toBe(false);
  }, 60_000);
});

describe.each(DIALECTS)('POST /api/articles with hostile bodies (%s)', (dialect) => {
  let t: TestStore;
  let app: App;
  let server: FastifyInstance;
  let key: string;

  beforeAll(async () => {
    t = await openTestStore(dialect);
    app = await createApp(
      parseConfig({
        DATABASE_URL: t.databaseUrl,
        HERALD_DATA_DIR: workDir,
        QUEUE_PREFIX: uniqueName('secp'),
        LOG_LEVEL: 'silent',
      }),
    );
    server = await buildServer(app);
    await server.ready();
    key = (await createApiKey(app.store.db, 'editor')).key;
  });
  afterAll(async () => {
    await server?.close();
    await app?.close();
    await t?.dispose();
  });

  const articleCount = async () =>
    Number(
      (
        await app.store.db
          .selectFrom('articles')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );

  const post = (payload: string, contentType: string) =>
    server.inject({
      method: 'POST',
      url: '/api/articles',
      headers: { authorization: `Bearer ${key}`, 'content-type': contentType },
      payload,
    });

  it('text/markdown with ---js: 400 naming the marker, nothing run, nothing stored', async () => {
    const marker = join(workDir, `pwned-http-${dialect}`);
    const before = await articleCount();
    const response = await post(codePayload(marker), 'text/markdown');
    expect(response.statusCode).toBe(400);
    const body = response.json() as { error: string; details: Array<{ field: string }> };
    expect(body.error).toContain('front matter language "js" is not accepted');
    expect(body.details[0]?.field).toBe('front matter');
    expect(existsSync(marker)).toBe(false);
    expect(await articleCount()).toBe(before);
  });

  it('a parse over the time limit answers 422 naming the limit, and the next parse works', async () => {
    const restore = setArticleParseTimeLimit(150);
    try {
      const response = await post(slowHtml(), 'text/html');
      expect(response.statusCode).toBe(422);
      expect(response.json().error).toMatch(/took longer than 0\.15 s \(the time limit\)/);
    } finally {
      restore();
    }
    const ok = await post('Quick title\n\nA short body that parses at once.', 'text/plain');
    expect(ok.statusCode).toBe(201);
  }, 60_000);

  it('HTML nested 2,000 deep: 400 naming the nesting limit', async () => {
    const response = await post(`<html><body>${'<div>'.repeat(2000)}x`, 'text/html');
    expect(response.statusCode).toBe(400);
    expect(response.json().error).toMatch(/nests elements more than 128 deep \(the limit\)/);
  });
});

/** HTML that is valid and within the limits but slow for Readability (seconds of work). */
function slowHtml(): string {
  const chunk = `${'<div>'.repeat(60)}<p>Some text of a paragraph, long enough to count for something.</p>${'</div>'.repeat(60)}`;
  return `<html><head><title>Slow</title></head><body>${chunk.repeat(180)}</body></html>`;
}

/** The least time of `rounds` runs of `fn`, in ms. */
function leastTime(fn: () => void, rounds = 3): number {
  let least = Number.POSITIVE_INFINITY;
  for (let round = 0; round < rounds; round++) {
    const start = performance.now();
    fn();
    least = Math.min(least, performance.now() - start);
  }
  return least;
}

/** `pump` repeated to `length` characters, then a character that makes a match fail late. */
const pumped = (pump: string, length: number) =>
  `${pump.repeat(Math.ceil(length / pump.length)).slice(0, length)}#`;

/**
 * How much faster than the input the work grows: the time for one input `factor` times larger
 * over the time for `factor` runs of the input (the same number of characters). About 1 when
 * the work is linear, about `factor` when it is quadratic.
 */
function growth(run: (size: number) => void, size: number, factor = 8): number {
  run(size); // warm up the JIT
  const small = leastTime(() => {
    for (let i = 0; i < factor; i++) run(size);
  }, 2);
  const large = leastTime(() => run(size * factor), 2);
  // Below 10 ms for the largest input nothing stalls, and timer noise would rule the ratio.
  return large / Math.max(small, 10);
}

describe('bounded parsing (issue 11, fault 3)', () => {
  // Adversarial material for the rules: their own literals repeated, runs of what their
  // repeats consume, and near-misses that fail at the very end.
  const PUMPS = [
    '(photo by ',
    '(photo: a',
    'photo: ',
    'a. photo: ',
    'a. Photo: b',
    'By Aa ',
    'By Aa and Bb, C',
    'By AAA ',
    ' ',
    'a',
    '.',
    '(',
    '. (',
    'sign up ',
    'get our ',
    'share | ',
    'Published ',
    'download the ',
    'join the ',
    'copyright ',
    'AFP ',
    'A. ',
    '’',
  ];

  it('every furniture rule stays linear on adversarial blocks up to the length rules see', () => {
    const rules = furnitureRules();
    const named: Array<[string, RegExp]> = [
      ...rules.drop.map((rule, i): [string, RegExp] => [`drop[${i}] ${rule.source}`, rule]),
      ['photoCredit', rules.photoCredit],
      ['photoCaption', rules.photoCaption],
      ['photoDescription', rules.photoDescription],
      ['byline', rules.byline],
    ];
    const small = RULE_MAX_CHARS / 8;
    const slow: string[] = [];
    for (const [name, rule] of named) {
      // Same number of characters at both sizes: linear work takes the same time.
      const inputs = (length: number) => PUMPS.map((pump) => pumped(pump, length));
      const smallInputs = inputs(small);
      const largeInputs = inputs(RULE_MAX_CHARS);
      const runAll = (texts: string[], times: number) => () => {
        for (let i = 0; i < times; i++) for (const text of texts) rule.test(text);
      };
      runAll(largeInputs, 20)();
      const smallTime = leastTime(runAll(smallInputs, 800));
      const largeTime = leastTime(runAll(largeInputs, 100));
      const ratio = largeTime / Math.max(smallTime, 0.05);
      if (ratio > 3) slow.push(`${name}: ${ratio.toFixed(1)}× the work per character`);
    }
    expect(slow).toEqual([]);
  });

  it('each parser stays linear on the reported inputs and their relatives', () => {
    // Each format at 1/16 of its size limit and at nearly half of it.
    const base = { 'text/markdown': 14_000, 'text/plain': 28_000, 'text/html': 20_000 };
    const cases: Array<[string, (size: number) => string, keyof typeof base]> = [
      ['markdown ![', (n) => `# T\n\n${pumped('![', n)}`, 'text/markdown'],
      ['markdown **a', (n) => `# T\n\n${pumped('**a', n)}`, 'text/markdown'],
      ['markdown [a](', (n) => `# T\n\n${pumped('[a](', n)}`, 'text/markdown'],
      ['markdown *a_', (n) => `# T\n\n${pumped('*a_', n)}`, 'text/markdown'],
      ['markdown <a', (n) => `# T\n\n${pumped('<a', n)}`, 'text/markdown'],
      ['markdown nested lists', (n) => `# T\n\n${pumped('  - a\n', n)}`, 'text/markdown'],
      ['text (photo by', (n) => `T\n\n${pumped('(photo by ', n)}`, 'text/plain'],
      ['text unfinished blocks', (n) => `T\n\n${pumped('word word\n\n', n)}`, 'text/plain'],
      ['text photo: lines', (n) => `T\n\n${pumped('a. photo: b\n\n', n)}`, 'text/plain'],
      ['text bylines', (n) => `T\n\n${pumped('By Aa Bb\n', n)}`, 'text/plain'],
      ['html <p>', (n) => `<title>T</title>${pumped('<p>a b. ', n)}`, 'text/html'],
      ['html <a>', (n) => `<title>T</title><p>${pumped('<a href=x>a', n)}`, 'text/html'],
    ];
    const slow: string[] = [];
    for (const [name, make, contentType] of cases) {
      const run = (size: number) => {
        try {
          parseArticle({ body: make(size), contentType });
        } catch (error) {
          if (!(error instanceof ArticleInputError)) throw error;
        }
      };
      // Linear work gives about 1, quadratic about 8; 5 leaves room for a busy machine, and a
      // case over it is measured once more (a garbage collection can land in one run).
      let factor = growth(run, base[contentType]);
      if (factor > 5) factor = Math.min(factor, growth(run, base[contentType]));
      if (factor > 5) slow.push(`${name}: ${factor.toFixed(1)}× the work per character`);
    }
    expect(slow).toEqual([]);
  }, 120_000);

  it('156 kB of `![` and of `(photo by ` parse (no stall) and the old 2 MB cap is per format now', () => {
    const images = parseArticle({
      body: `# T\n\n${'!['.repeat(78_000)}`,
      contentType: 'text/markdown',
    });
    expect(images.title).toBe('T');
    const credits = parseArticle({
      body: `T\n\n${'(photo by '.repeat(15_600)}`,
      contentType: 'text/plain',
    });
    expect(credits.paragraphs).toHaveLength(1);
    const tooBig = `# T\n\n${'a'.repeat(MAX_FORMAT_BYTES.markdown)}`;
    expect(() => parseArticle({ body: tooBig, contentType: 'text/markdown' })).toThrow(
      /the markdown article is 257 kB; the limit for markdown is 256 kB/,
    );
  });

  it('the worker pool kills a parse over its time limit and starts a fresh worker for the next', async () => {
    const pool = new ArticleParsePool();
    try {
      // Started and loaded first: the limit counts parsing only, not the worker's start-up.
      await pool.parse({ body: 'Warm\n\nUp.', contentType: 'text/plain' });
      const started = performance.now();
      const error = await rejection(() =>
        pool.parse({ body: slowHtml(), contentType: 'text/html' }, { timeLimitMs: 100 }),
      );
      expect(error).toBeInstanceOf(ArticleParseLimitError);
      expect((error as ArticleParseLimitError).limit).toBe('time');
      // Stopped at the limit, not after the whole parse (which takes seconds): a ratio to the
      // parse's own duration, measured below in this process.
      const stoppedAfter = performance.now() - started;
      const whole = leastTime(
        () => parseArticle({ body: slowHtml(), contentType: 'text/html' }),
        1,
      );
      expect(stoppedAfter).toBeLessThan(whole + 100);
      const next = await pool.parse({ body: 'Title\n\nBody one.', contentType: 'text/plain' });
      expect(next.paragraphs).toEqual(['Body one.']);
      // Input errors come back as the same ArticleInputError, naming the field.
      const bad = await rejection(() => pool.parse({ body: '{"title":', filename: 'a.json' }));
      expect(bad).toBeInstanceOf(ArticleInputError);
      expect((bad as ArticleInputError).field).toBe('body');
    } finally {
      await pool.close();
    }
  }, 120_000);

  it('a 1.2 MB page (the one that hung the server 8 minutes) parses off the loop, which keeps ticking', async () => {
    const para =
      '<p>Some text of a paragraph, long enough to count for something. And more words here.</p>\n';
    const page = `<html><head><title>Big page</title></head><body><article><h1>Big page</h1>${para.repeat(Math.floor(1_200_000 / para.length))}</article></body></html>`;
    const pool = new ArticleParsePool();
    try {
      await pool.parse({ body: 'Warm\n\nUp.', contentType: 'text/plain' });
      let last = performance.now();
      let longestGap = 0;
      const ticker = setInterval(() => {
        const now = performance.now();
        longestGap = Math.max(longestGap, now - last);
        last = now;
      }, 20);
      const outcome = await pool.parse({ body: page, contentType: 'text/html' }).then(
        (article) => article.paragraphs.length,
        (error: unknown) => error,
      );
      clearInterval(ticker);
      // Parsed in full, or stopped at the time limit: either way within the limit, never a hang.
      if (typeof outcome === 'number') expect(outcome).toBeGreaterThan(10_000);
      else expect(outcome).toBeInstanceOf(ArticleParseLimitError);
      expect(longestGap).toBeLessThan(1000);
    } finally {
      await pool.close();
    }
  }, 120_000);

  it('parses beyond the waiting limit are refused at once (429 in the API), the others still parse', async () => {
    const pool = new ArticleParsePool();
    try {
      const outcomes = await Promise.all(
        Array.from({ length: ARTICLE_PARSE_QUEUE_LIMIT + 5 }, (_, i) =>
          pool.parse({ body: `Title ${i}\n\nBody ${i}.`, contentType: 'text/plain' }).then(
            () => 'parsed',
            (error: unknown) =>
              error instanceof ArticleParseLimitError ? error.limit : String(error),
          ),
        ),
      );
      expect(outcomes.filter((o) => o === 'parsed')).toHaveLength(ARTICLE_PARSE_QUEUE_LIMIT);
      expect(outcomes.filter((o) => o === 'queue')).toHaveLength(5);
    } finally {
      await pool.close();
    }
  }, 120_000);
});
