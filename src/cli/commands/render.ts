// `herald render --article ID --to EMAIL`: the message one subscriber would get for an article.
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { z } from 'zod';
import { PreviewError, previewArticle } from '../../delivery/article-preview.ts';
import { printJson, UserError, withApp } from '../context.ts';

const optionsSchema = z.object({
  article: z.coerce.number().int().positive('must be a positive article id'),
  to: z.string().min(3, 'must be an email address'),
  eml: z.string().min(1).optional(),
  html: z.string().min(1).optional(),
});

export function register(program: Command): void {
  program
    .command('render')
    .description('render an article as the alert a subscriber would receive (raw MIME and/or HTML)')
    .requiredOption('--article <id>', 'stored article id')
    .requiredOption('--to <email>', 'subscriber address to personalise for')
    .option('--eml <file>', 'write the raw message (.eml) here')
    .option('--html <file>', 'write the HTML part here')
    .action(async (raw: Record<string, string | undefined>) => {
      const parsed = optionsSchema.safeParse(raw);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        throw new UserError(`--${String(issue.path[0])} ${issue.message}`);
      }
      const options = parsed.data;
      await withApp(async (app) => {
        let preview: Awaited<ReturnType<typeof previewArticle>>;
        try {
          preview = await previewArticle(app.store.db, app.config, options.article, options.to);
        } catch (error) {
          if (error instanceof PreviewError)
            throw new UserError(`--${error.field}: ${error.message}`);
          throw error;
        }
        app.logger.info(
          { articleId: options.article, subscriberId: preview.subscriberId },
          'templates.render.done',
        );
        if (options.eml) await writeFile(options.eml, preview.message.raw);
        if (options.html) await writeFile(options.html, preview.html);
        if (!options.eml && !options.html) {
          process.stdout.write(preview.message.raw);
          return;
        }
        printJson({
          messageId: preview.message.messageId,
          envelope: preview.message.envelope,
          bytes: preview.message.raw.length,
          eml: options.eml ?? null,
          html: options.html ?? null,
        });
      });
    });
}
