// `herald ingest`, `herald topics` and `herald articles …`: articles in, topics checked.
import type { Command } from 'commander';
import { z } from 'zod';
import { ArticleInputError } from '../../articles/errors.ts';
import { ArticleParseLimitError } from '../../articles/parse-pool.ts';
import { getArticle, saveArticle, setArticleTopics } from '../../articles/repository.ts';
import type { Article, StoredArticle } from '../../articles/schema.ts';
import { loadCatalogue } from '../../topics/catalogue.ts';
import { printJson, UserError, withApp } from '../context.ts';
import { deleteArticle, listArticles } from '../lists.ts';
import { pagedListOptions, printList, toPage } from '../paging.ts';

const idArgument = z.coerce.number().int().positive();

/** Reads and parses one file; a problem becomes a UserError naming the file. */
async function readArticle(file: string): Promise<Article> {
  // The parsers (HTML, Markdown) load only for ingest: `articles list` and `topics` start faster.
  const { readArticleFile } = await import('../../articles/ingest.ts');
  try {
    return await readArticleFile(file);
  } catch (error) {
    if (error instanceof ArticleInputError || error instanceof ArticleParseLimitError)
      throw new UserError(`${file}: ${error.message}`);
    const code = (error as { code?: string }).code;
    if (code === 'ENOENT') throw new UserError(`${file}: no such file`);
    if (code === 'EISDIR') throw new UserError(`${file}: is a directory, not an article file`);
    throw error;
  }
}

/** One line per article for people: id, title and topics. */
function describe(article: StoredArticle, created?: boolean): string {
  const state = created === undefined ? '' : created ? 'stored' : 'updated';
  const topics = article.topics.length > 0 ? article.topics.join(', ') : 'no topics';
  return `${state ? `${state} ` : ''}article ${article.id}: ${article.title} [${topics}]\n`;
}

export function register(program: Command): void {
  program
    .command('ingest')
    .description('parse and store articles (plain text, Markdown with front matter, JSON, HTML)')
    .argument('<file...>', 'article files')
    .option('--json', 'print the stored article (an array when several files are given)')
    .action(async (files: string[], options: { json?: boolean }) => {
      // Parse every file first: one bad file stores nothing.
      const articles: Article[] = [];
      for (const file of files) articles.push(await readArticle(file));
      // Alerts queue their sends (BullMQ): loaded only when articles are stored.
      const { articleAlerter } = await import('../../alerts/create.ts');
      await withApp(async (app) => {
        const catalogue = await loadCatalogue(app.store.db);
        const alertFor = articleAlerter(app);
        const results: Array<StoredArticle & { created: boolean }> = [];
        for (const article of articles) {
          try {
            const saved = await saveArticle(app.store.db, article, catalogue);
            app.logger.info(
              { articleId: saved.article.id, created: saved.created, topics: saved.article.topics },
              'articles.ingest.stored',
            );
            // A new article may trip an alert rule, as a feed item does (issue 16).
            const alert = saved.created ? await alertFor(saved.article) : null;
            results.push({ ...saved.article, created: saved.created, ...(alert ? { alert } : {}) });
          } catch (error) {
            if (error instanceof ArticleInputError) {
              app.logger.warn({ field: error.field }, 'articles.ingest.failed');
              throw new UserError(`${files[results.length]}: ${error.message}`);
            }
            throw error;
          }
        }
        if (options.json) printJson(results.length === 1 ? results[0] : results);
        else for (const result of results) process.stdout.write(describe(result, result.created));
      });
    });

  program
    .command('topics')
    .description('the topic catalogue with its matching rules')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      await withApp(async (app) => {
        const catalogue = await loadCatalogue(app.store.db);
        if (options.json) {
          printJson(catalogue);
          return;
        }
        for (const topic of catalogue) {
          const rule = topic.rules.all
            .map(
              (r) =>
                `${r.concept} ≥ ${r.min} (${r.terms.slice(0, 4).join(', ')}${r.terms.length > 4 ? '…' : ''})`,
            )
            .join(' AND ');
          const balance =
            topic.rules.balance !== undefined ? `, balance ≥ ${topic.rules.balance}` : '';
          process.stdout.write(`${topic.id}  ${topic.name}\n    ${rule}${balance}\n`);
        }
      });
    });

  const articles = program.command('articles').description('stored articles');
  pagedListOptions(
    articles
      .command('list')
      .description('articles, newest first: a JSON array, or {items, next} with --limit/--cursor'),
  ).action(async (options: { limit?: string; cursor?: string; json?: boolean }) => {
    await withApp((app) =>
      printList(
        options,
        async (page) => toPage(await listArticles(app.store.db, page), page.limit, (a) => a.id),
        (a) => `${a.id}  ${a.title} [${a.topics.length > 0 ? a.topics.join(', ') : 'no topics'}]`,
      ),
    );
  });
  articles
    .command('delete <id>')
    .description(
      'delete an article; refused (exit 4) while a draft, scheduled, sending or paused campaign uses it',
    )
    .option('--json', 'print JSON')
    .action(async (rawId: string, options: { json?: boolean }) => {
      const id = idArgument.safeParse(rawId);
      if (!id.success) throw new UserError('article id must be a positive whole number');
      await withApp(async (app) => {
        if (!(await deleteArticle(app.store.db, id.data)))
          throw new UserError(`no article ${id.data}`);
        if (options.json) printJson({ id: id.data, deleted: true });
        else process.stdout.write(`deleted article ${id.data}\n`);
      });
    });
  articles
    .command('show <id>')
    .description('one stored article')
    .option('--json', 'print JSON')
    .action(async (rawId: string, options: { json?: boolean }) => {
      const id = idArgument.safeParse(rawId);
      if (!id.success) throw new UserError('article id must be a positive whole number');
      await withApp(async (app) => {
        const article = await getArticle(app.store.db, id.data);
        if (!article) throw new UserError(`no article ${id.data}`);
        if (options.json) printJson(article);
        else process.stdout.write(`${describe(article)}\n${article.paragraphs.join('\n\n')}\n`);
      });
    });
  articles
    .command('topics <id>')
    .description("override an article's topics (an editor's choice, kept on re-ingest)")
    .requiredOption('--set <topics>', 'topic ids separated by ;')
    .option('--json', 'print JSON')
    .action(async (rawId: string, options: { set: string; json?: boolean }) => {
      const id = idArgument.safeParse(rawId);
      if (!id.success) throw new UserError('article id must be a positive whole number');
      const topicIds = options.set
        .split(/[;,]/)
        .map((t) => t.trim())
        .filter(Boolean);
      await withApp(async (app) => {
        let article: StoredArticle | null;
        try {
          article = await setArticleTopics(app.store.db, id.data, topicIds);
        } catch (error) {
          if (error instanceof ArticleInputError) throw new UserError(error.message);
          throw error;
        }
        if (!article) throw new UserError(`no article ${id.data}`);
        app.logger.info(
          { articleId: id.data, topics: article.topics },
          'articles.topics.overridden',
        );
        if (options.json) printJson(article);
        else process.stdout.write(describe(article));
      });
    });
}
