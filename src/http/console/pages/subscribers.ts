// Console: subscribers (editor). The list (search, filters, keyset pages) over listSubscribers,
// the filtered export (CSV/JSON, streamed), one subscriber's page (edit + history), and CSV
// import as a background job (src/subscribers/import-jobs.ts) with a polled progress bar and
// the rejected rows as a CSV download.
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import multipart from '@fastify/multipart';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { App } from '../../../app.ts';
import { requireSecret } from '../../../config/index.ts';
import { subscriberCampaignHistory } from '../../../ledger/reports.ts';
import { editSubscriber, type SubscriberEditValues } from '../../../subscribers/console-edit.ts';
import { BOUNCE_EVENT_TYPES, subscriberEvents } from '../../../subscribers/events.ts';
import {
  isImportJobId,
  MAX_IMPORT_BYTES,
  readImportJob,
  rejectedRowsCsv,
  startImportJob,
} from '../../../subscribers/import-jobs.ts';
import {
  exportSubscriberList,
  listSubscribers,
  subscriberListQuerySchema,
} from '../../../subscribers/list.ts';
import {
  digestFrequencies,
  getSubscriber,
  type Subscriber,
  subscriberStatuses,
} from '../../../subscribers/repository.ts';
import { suppressionOf } from '../../../subscribers/suppressions.ts';
import { canonicalZone, publicZones } from '../../../subscribers/zones.ts';
import { loadCatalogue } from '../../../topics/catalogue.ts';
import { requireConsole } from '../guard.ts';
import { renderConsolePage } from '../render.ts';

const idParams = z.object({ id: z.coerce.number().int().positive().max(2_147_483_647) });
const jobParams = z.object({ jobId: z.string().max(64) });
const exportQuery = subscriberListQuerySchema.extend({
  format: z.enum(['csv', 'json'], { message: 'format must be csv or json' }).default('csv'),
});
/** History rows shown per part of a subscriber's page. */
const HISTORY_ROWS = 50;

/** The first message per field of a zod error. */
function fieldErrors(error: z.ZodError): Record<string, string> {
  const errors: Record<string, string> = {};
  for (const issue of error.issues) errors[String(issue.path[0] ?? 'form')] ??= issue.message;
  return errors;
}

/** The list's filter as query text (for export links and page links), without the cursor. */
function filterQuery(values: Record<string, string>): string {
  const params = new URLSearchParams();
  for (const key of ['q', 'status', 'topic'] as const) {
    if (values[key]) params.set(key, values[key]);
  }
  return params.toString();
}

/** The query without empty fields: the filter form sends `status=` for "Any status". */
function withoutEmpty(query: unknown): Record<string, unknown> {
  const raw = (query && typeof query === 'object' ? query : {}) as Record<string, unknown>;
  return Object.fromEntries(Object.entries(raw).filter(([, value]) => value !== ''));
}

function rawFilter(query: unknown): Record<string, string> {
  const raw = (query && typeof query === 'object' ? query : {}) as Record<string, unknown>;
  const out: Record<string, string> = {};
  for (const key of ['q', 'status', 'topic', 'cursor']) {
    const value = raw[key];
    if (typeof value === 'string') out[key] = value.slice(0, 300);
  }
  return out;
}

export const subscriberPages: FastifyPluginAsync<{ app: App }> = async (fastify, { app }) => {
  const db = app.store.db;
  const log = app.logger.child({ component: 'console.subscribers' });
  const editor = { onRequest: requireConsole('editor') };
  // Multipart only in this plugin's scope (the import upload); one file, a few fields.
  await fastify.register(multipart, {
    limits: { fileSize: MAX_IMPORT_BYTES, files: 1, fields: 4, fieldSize: 1024, parts: 6 },
  });

  const topicOptions = async () =>
    (await loadCatalogue(db)).map((topic) => ({ id: topic.id, name: topic.name }));

  fastify.get('/console/subscribers', editor, async (request, reply) => {
    const values = rawFilter(request.query);
    const parsed = subscriberListQuerySchema.safeParse(withoutEmpty(request.query));
    const topics = await topicOptions();
    const common = {
      title: 'Subscribers',
      active: 'subscribers',
      values,
      topics,
      statuses: subscriberStatuses,
    };
    if (!parsed.success) {
      reply.status(400);
      return renderConsolePage(request, reply, 'subscribers-list', {
        ...common,
        errors: fieldErrors(parsed.error),
        page: null,
        filter: '',
      });
    }
    const listed = await listSubscribers(db, parsed.data);
    // Zones by their current IANA names (ICU keeps some under old ones: Asia/Calcutta).
    const page = {
      ...listed,
      items: listed.items.map((item) => ({ ...item, timezone: canonicalZone(item.timezone) })),
    };
    const filter = filterQuery(values);
    return renderConsolePage(request, reply, 'subscribers-list', {
      ...common,
      errors: {},
      page,
      filter,
      nextHref: page.next
        ? `/console/subscribers?${filter ? `${filter}&` : ''}cursor=${encodeURIComponent(page.next)}`
        : null,
      firstHref: values.cursor ? `/console/subscribers${filter ? `?${filter}` : ''}` : null,
    });
  });

  fastify.get('/console/subscribers/export', editor, async (request, reply) => {
    const parsed = exportQuery.safeParse(withoutEmpty(request.query));
    if (!parsed.success) {
      const errors = fieldErrors(parsed.error);
      reply.status(400);
      return renderConsolePage(request, reply, 'subscribers-list', {
        title: 'Subscribers',
        active: 'subscribers',
        values: rawFilter(request.query),
        topics: await topicOptions(),
        statuses: subscriberStatuses,
        errors,
        page: null,
        filter: '',
      });
    }
    const { format, ...filter } = parsed.data;
    const { stream, mediaType, filename } = exportSubscriberList(db, filter, format);
    log.info(
      {
        userId: request.consoleUser!.id,
        format,
        filtered: Boolean(filter.q || filter.status || filter.topic),
      },
      'subscribers.export',
    );
    return reply
      .header('content-type', mediaType)
      .header('content-disposition', `attachment; filename="${filename}"`)
      .header('cache-control', 'no-store')
      .send(stream);
  });

  // ---- Import ----

  const renderImportForm = (
    request: FastifyRequest,
    reply: FastifyReply,
    errors: Record<string, string>,
    pending: boolean,
  ) =>
    renderConsolePage(request, reply, 'subscribers-import', {
      title: 'Import subscribers',
      active: 'subscribers',
      errors,
      pending,
      maxMegabytes: MAX_IMPORT_BYTES / 1024 / 1024,
      secretSet: app.config.HERALD_SECRET !== '',
    });

  fastify.get('/console/subscribers/import', editor, async (request, reply) =>
    renderImportForm(request, reply, {}, false),
  );

  fastify.post(
    '/console/subscribers/import',
    { ...editor, bodyLimit: MAX_IMPORT_BYTES + 64 * 1024 },
    async (request, reply) => {
      if (!request.isMultipart()) {
        reply.status(415);
        return renderImportForm(
          request,
          reply,
          { file: 'send the file as a form upload (multipart/form-data)' },
          false,
        );
      }
      const dir = await mkdtemp(join(tmpdir(), 'herald-import-'));
      const path = join(dir, 'upload.csv');
      let pending = false;
      let fileName = '';
      let truncated = false;
      let sawFile = false;
      try {
        // The checkbox comes before the file in the form, so its field is read first.
        for await (const part of request.parts()) {
          if (part.type === 'field') {
            if (part.fieldname === 'pending') pending = part.value === 'on' || part.value === '1';
            continue;
          }
          if (part.fieldname !== 'file' || sawFile) {
            part.file.resume();
            continue;
          }
          sawFile = true;
          fileName = part.filename ?? '';
          await pipeline(part.file, createWriteStream(path));
          truncated = part.file.truncated;
        }
      } catch (error) {
        await rm(dir, { recursive: true, force: true });
        // Limits other than the file size (too many parts) and malformed bodies are the
        // sender's; nothing was imported.
        log.info({ err: error }, 'subscribers.import.upload_refused');
        reply.status(400);
        return renderImportForm(
          request,
          reply,
          { file: 'the upload could not be read: send one CSV file' },
          pending,
        );
      }
      const errors: Record<string, string> = {};
      const size = sawFile ? (await stat(path)).size : 0;
      if (!sawFile || fileName === '') errors.file = 'choose a CSV file to import';
      else if (truncated)
        errors.file = `the file is larger than ${MAX_IMPORT_BYTES / 1024 / 1024} MB: split it and import the parts`;
      else if (size === 0) errors.file = 'the file is empty';
      if (pending) {
        try {
          requireSecret(app.config);
        } catch {
          errors.pending =
            'confirmation mails need HERALD_SECRET set on the server: import them as active, or set the secret first';
        }
      }
      if (Object.keys(errors).length > 0) {
        await rm(dir, { recursive: true, force: true });
        reply.status(422);
        return renderImportForm(request, reply, errors, pending);
      }
      const job = await startImportJob(
        {
          db,
          config: app.config,
          log,
          transport: () => app.transport(),
          redis: app.redis(),
          prefix: app.config.QUEUE_PREFIX,
        },
        { path, fileName, sizeBytes: size, pending },
      );
      // The job deletes the file; the folder goes after it.
      void job.done.finally(() => rm(dir, { recursive: true, force: true }).catch(() => undefined));
      log.info(
        { userId: request.consoleUser!.id, jobId: job.id, pending, bytes: size },
        'subscribers.import.started',
      );
      const target = `/console/subscribers/import/${job.id}`;
      // htmx would follow a 303 inside its XHR and lose the header: tell it to navigate.
      if (request.headers['hx-request']) {
        return reply.status(204).header('hx-redirect', target).send();
      }
      return reply.redirect(target, 303);
    },
  );

  const loadJob = async (request: FastifyRequest) => {
    const { jobId } = jobParams.parse(request.params);
    return isImportJobId(jobId) ? readImportJob(app.redis(), app.config.QUEUE_PREFIX, jobId) : null;
  };

  const jobNotFound = (request: FastifyRequest, reply: FastifyReply) => {
    reply.status(404);
    return renderConsolePage(request, reply, 'subscribers-missing', {
      title: 'Import not found',
      active: 'subscribers',
      message: 'No import with this id: it may have finished more than a day ago.',
    });
  };

  fastify.get('/console/subscribers/import/:jobId', editor, async (request, reply) => {
    const job = await loadJob(request);
    if (!job) return jobNotFound(request, reply);
    return renderConsolePage(request, reply, 'subscribers-import-job', {
      title: 'Import subscribers',
      active: 'subscribers',
      job,
    });
  });

  // The progress card alone, for htmx polling (it stops polling once the job has ended).
  fastify.get('/console/subscribers/import/:jobId/progress', editor, async (request, reply) => {
    const job = await loadJob(request);
    if (!job) return reply.status(404).type('text/plain; charset=utf-8').send('No such import.');
    const html = await reply.consoleViewAsync('subscribers-import-progress.eta', { job });
    return reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(html);
  });

  fastify.get('/console/subscribers/import/:jobId/rejected.csv', editor, async (request, reply) => {
    const job = await loadJob(request);
    if (!job) return jobNotFound(request, reply);
    return reply
      .header('content-type', 'text/csv; charset=utf-8')
      .header(
        'content-disposition',
        `attachment; filename="rejected-rows-${job.id.slice(0, 8)}.csv"`,
      )
      .header('cache-control', 'no-store')
      .send(rejectedRowsCsv(app.redis(), app.config.QUEUE_PREFIX, job.id));
  });

  // ---- One subscriber ----

  const renderSubscriber = async (
    request: FastifyRequest,
    reply: FastifyReply,
    subscriber: Subscriber,
    form: { values: SubscriberEditValues; errors: Record<string, string> } | null,
    notice: string | null,
  ) => {
    const [history, events, suppression, topics] = await Promise.all([
      subscriberCampaignHistory(db, subscriber.id, HISTORY_ROWS),
      subscriberEvents(db, subscriber.id, HISTORY_ROWS * 2),
      suppressionOf(db, subscriber.email),
      topicOptions(),
    ]);
    const bounceTypes: readonly string[] = BOUNCE_EVENT_TYPES;
    return renderConsolePage(request, reply, 'subscribers-detail', {
      title: subscriber.name ? `${subscriber.name}` : subscriber.email,
      active: 'subscribers',
      subscriber,
      values: form?.values ?? {
        name: subscriber.name ?? '',
        topics: subscriber.topics,
        digest: subscriber.digest,
        timezone: canonicalZone(subscriber.timezone),
        status: subscriber.status,
      },
      errors: form?.errors ?? {},
      notice,
      topics,
      digests: digestFrequencies,
      zones: publicZones(),
      suppression,
      history,
      bounces: events.filter((e) => bounceTypes.includes(e.type)).slice(0, HISTORY_ROWS),
      events: events.filter((e) => !bounceTypes.includes(e.type)).slice(0, HISTORY_ROWS),
    });
  };

  const subscriberNotFound = (request: FastifyRequest, reply: FastifyReply) => {
    reply.status(404);
    return renderConsolePage(request, reply, 'subscribers-missing', {
      title: 'Subscriber not found',
      active: 'subscribers',
      message: 'No subscriber with this id: they may have been erased.',
    });
  };

  fastify.get('/console/subscribers/:id', editor, async (request, reply) => {
    const params = idParams.safeParse(request.params);
    if (!params.success) return subscriberNotFound(request, reply);
    const subscriber = await getSubscriber(db, params.data.id);
    if (!subscriber) return subscriberNotFound(request, reply);
    const saved = (request.query as Record<string, unknown> | undefined)?.saved === '1';
    return renderSubscriber(request, reply, subscriber, null, saved ? 'Changes saved.' : null);
  });

  fastify.post('/console/subscribers/:id', editor, async (request, reply) => {
    const params = idParams.safeParse(request.params);
    if (!params.success) return subscriberNotFound(request, reply);
    const result = await editSubscriber(db, params.data.id, request.body);
    if (result.outcome === 'not-found') return subscriberNotFound(request, reply);
    if (result.outcome === 'invalid') {
      const subscriber = await getSubscriber(db, params.data.id);
      if (!subscriber) return subscriberNotFound(request, reply);
      reply.status(422);
      return renderSubscriber(request, reply, subscriber, result, null);
    }
    log.info(
      { userId: request.consoleUser!.id, subscriberId: params.data.id, changes: result.changes },
      'subscribers.edited',
    );
    return reply.redirect(`/console/subscribers/${params.data.id}?saved=1`, 303);
  });
};
