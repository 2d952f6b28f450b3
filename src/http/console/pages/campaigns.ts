// Console campaign pages (issue 14), for editors and admins: the list, "New campaign", one
// campaign (edit, preview, test send, send/schedule/unschedule, pause/resume/cancel with a
// confirm step, live progress) and its report. Thin wiring: the lists, the control actions,
// the preview, the test send and the report are the same functions the JSON API and the CLI
// call (src/campaigns, src/delivery, src/ledger/reports.ts, src/engagement/report.ts).
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { App } from '../../../app.ts';
import { articleListQuerySchema, listArticles } from '../../../articles/list.ts';
import { countAudience } from '../../../campaigns/audience.ts';
import {
  EDITABLE_STATUSES,
  editCampaign,
  editCampaignSchema,
  lengthAdvice,
  PREHEADER_SOFT_LIMIT,
  SUBJECT_SOFT_LIMIT,
} from '../../../campaigns/edit.ts';
import {
  campaignListQuerySchema,
  campaignStatuses,
  listCampaigns,
} from '../../../campaigns/list.ts';
import {
  type Campaign,
  createCampaignSchema,
  storeId,
  templateChoices,
  topicList,
  transitions,
} from '../../../campaigns/model.ts';
import { formatDuration, groupReasons, paceOf, sendBars } from '../../../campaigns/pace.ts';
import {
  type CampaignStatusReport,
  campaignStatus,
  createCampaign,
  getCampaign,
  loadArticles,
} from '../../../campaigns/repository.ts';
import { isKnownZone, resolveAt } from '../../../campaigns/schedule.ts';
import {
  type ControlDeps,
  cancelCampaign,
  pauseCampaign,
  resumeCampaign,
  scheduleCampaign,
  scheduleCampaignAtLocalTime,
  sendCampaign,
  unscheduleCampaign,
} from '../../../delivery/control.ts';
import { previewCampaign } from '../../../delivery/preview.ts';
import { forgetCampaignRenderer } from '../../../delivery/renderer.ts';
import { sendCampaignTest, testSendSchema } from '../../../delivery/test-send.ts';
import { campaignReport } from '../../../engagement/report.ts';
import { InputError } from '../../../errors/index.ts';
import { sentPerMinute, unsentReplies } from '../../../ledger/reports.ts';
import { MailSendError } from '../../../mail/transport.ts';
import type { CampaignStatus } from '../../../store/schema.ts';
import { listSubscribers, subscriberListQuerySchema } from '../../../subscribers/list.ts';
import { listTopics } from '../../../topics/list.ts';
import { requireConsole } from '../guard.ts';
import { renderConsolePage } from '../render.ts';

type FieldErrors = Record<string, string>;

/** The actions that take a confirm step, with what the confirm page says and its button. */
const CONFIRMED_ACTIONS = {
  send: {
    title: 'Send now',
    question: 'Send this campaign to its whole audience now?',
    detail: 'Sending starts at once. You can pause it while it sends.',
    button: 'Send now',
    danger: false,
    done: 'Sending started.',
  },
  pause: {
    title: 'Pause sending',
    question: 'Pause this campaign?',
    detail: 'New messages stop within a second. Resume continues where it stopped.',
    button: 'Pause',
    danger: false,
    done: 'Paused. Nothing more goes out until you resume.',
  },
  resume: {
    title: 'Resume sending',
    question: 'Resume this campaign?',
    detail: 'The messages not yet sent go out again at the configured rate.',
    button: 'Resume',
    danger: false,
    done: 'Resumed.',
  },
  cancel: {
    title: 'Cancel campaign',
    question: 'Cancel this campaign for good?',
    detail: 'Messages not yet sent will never go out. This cannot be undone.',
    button: 'Cancel campaign',
    danger: true,
    done: 'Cancelled.',
  },
  unschedule: {
    title: 'Unschedule',
    question: 'Take this campaign off the schedule?',
    detail: 'It goes back to draft; nothing is sent until you send or schedule it again.',
    button: 'Unschedule',
    danger: false,
    done: 'Unscheduled: the campaign is a draft again.',
  },
} as const;
type ConfirmedAction = keyof typeof CONFIRMED_ACTIONS;
const confirmedActionSchema = z.enum(
  Object.keys(CONFIRMED_ACTIONS) as [ConfirmedAction, ...ConfirmedAction[]],
  { message: 'unknown action' },
);

const idParams = z.object({ id: storeId('campaign') });
const actionParams = idParams.extend({ action: confirmedActionSchema });
const doneQuery = z.object({ done: z.string().max(40).optional() });
/** The progress poll names the status its page was drawn with (a changed one is flagged). */
const progressQuery = z.object({ shown: z.enum(campaignStatuses).optional() });

/** Every zone the runtime knows, for the schedule form's zone picker. */
const TIME_ZONES: readonly string[] = (() => {
  const zones = Intl.supportedValuesOf('timeZone');
  return zones.includes('UTC') ? zones : ['UTC', ...zones];
})();

const scheduleAtBody = z.object({
  at: z
    .string('give a date and time')
    .trim()
    .min(1, 'give a date and time')
    .max(40, 'the date and time is at most 40 characters')
    .regex(
      /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/,
      'give a date and time like 2026-12-01T07:00',
    ),
  timezone: z
    .string('choose a time zone')
    .max(64, 'a time zone name is at most 64 characters')
    .refine(isKnownZone, 'choose a known time zone, e.g. Europe/Paris'),
});
const scheduleLocalBody = z.object({
  localTime: z
    .string('give a time HH:MM')
    .trim()
    .max(5, 'give a 24-hour time HH:MM, e.g. 07:00')
    .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'give a 24-hour time HH:MM, e.g. 07:00'),
});

/** A form body as an object of strings and string arrays (anything else: empty). */
function formOf(body: unknown): Record<string, unknown> {
  return body && typeof body === 'object' && !Buffer.isBuffer(body)
    ? (body as Record<string, unknown>)
    : {};
}

/** A repeated form field (one value arrives as a string) as a list of strings. */
function listField(value: unknown): string[] {
  if (typeof value === 'string') return value === '' ? [] : [value];
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  return [];
}

/**
 * The topic ids of a re-rendered form that look like topic ids (the form may come back with
 * anything): shown ticked and counted for the audience; the rest are dropped, since the
 * validation message names them.
 */
function plausibleTopics(value: unknown): string[] {
  return listField(value)
    .filter((topic) => topic.length <= 64 && /^[a-z0-9][a-z0-9-]*$/.test(topic))
    .slice(0, 100);
}

function textField(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/** zod issues as one message per field (the first), keyed by the top-level field name. */
function fieldErrors(error: z.ZodError): FieldErrors {
  const errors: FieldErrors = {};
  for (const issue of error.issues) {
    const field = String(issue.path[0] ?? 'form');
    errors[field] ??= issue.message;
  }
  return errors;
}

const whenFormat = new Intl.DateTimeFormat('en-GB', {
  dateStyle: 'medium',
  timeStyle: 'short',
  timeZone: 'UTC',
});

/** Helpers the views call. */
const fmt = {
  /** "2 Dec 2026, 07:00 UTC", or "—". */
  when(iso: string | null | undefined): string {
    if (!iso) return '—';
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? iso : `${whenFormat.format(date)} UTC`;
  },
  number(n: number): string {
    return n.toLocaleString('en-GB');
  },
  duration: formatDuration,
  rate(perMinute: number | null): string {
    if (perMinute === null) return '—';
    return `${perMinute >= 10 ? Math.round(perMinute).toLocaleString('en-GB') : perMinute.toFixed(1)}/min`;
  },
  percent(share: number): string {
    return `${(share * 100).toFixed(1)}%`;
  },
};

/** Which actions the campaign's status allows now. */
function allowedActions(campaign: Campaign) {
  const is = (states: readonly string[]) => states.includes(campaign.status);
  const editorCampaign = campaign.kind === 'campaign';
  return {
    edit: editorCampaign && is(EDITABLE_STATUSES),
    send: is(transitions.send),
    schedule: is(transitions.schedule),
    unschedule: campaign.status === 'scheduled',
    pause: campaign.status === 'sending',
    resume: is(transitions.resume),
    cancel: is(transitions.cancel),
  };
}

export const campaignPages: FastifyPluginAsync<{ app: App }> = async (fastify, { app }) => {
  const db = app.store.db;
  const deps: ControlDeps = {
    db,
    config: app.config,
    queues: await app.queues(),
    now: () => new Date(),
  };
  const editor = { onRequest: requireConsole('editor') };

  /** Renders a partial view (no layout) as an HTML fragment for htmx. */
  async function sendPartial(reply: FastifyReply, view: string, data: object) {
    const html = await reply.consoleViewAsync(`${view}.eta`, { fmt, ...data });
    return reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(html);
  }

  async function notFound(request: FastifyRequest, reply: FastifyReply, id: number) {
    reply.status(404);
    return renderConsolePage(request, reply, 'campaigns-missing', {
      title: 'Campaign not found',
      active: 'campaigns',
      message: `There is no campaign ${id}. It may have been removed, or the link is wrong.`,
    });
  }

  /** The progress partial's data: ledger counts as `campaign status` shows them, and pace. */
  async function progressData(campaign: Campaign, shownStatus: CampaignStatus = campaign.status) {
    const counts = await campaignStatus(db, campaign.id);
    return {
      campaign,
      counts,
      // The page around this block still offers the actions of the status it was drawn with.
      shownStatus,
      statusChanged: shownStatus !== campaign.status,
      pace: paceOf(counts, campaign.startedAt, campaign.finishedAt, deps.now()),
      live: campaign.status === 'sending',
    };
  }

  async function audienceText(topics: readonly string[]): Promise<string> {
    if (topics.length === 0) return '';
    const size = await countAudience(db, topics);
    return `${fmt.number(size)} ${size === 1 ? 'subscriber' : 'subscribers'} will get it`;
  }

  /** Topic checkboxes: every topic with its followers, ticked when chosen. */
  async function topicChoices(chosen: readonly string[]) {
    const { items } = await listTopics(db);
    return items.map((topic) => ({
      id: topic.id,
      name: topic.name,
      followers: topic.followers,
      checked: chosen.includes(topic.id),
    }));
  }

  /** Articles to pick from: the chosen ones first (ticked), then the newest matching `q`. */
  async function articleChoices(q: string, chosenIds: readonly number[]) {
    const chosen = chosenIds.length > 0 ? await loadArticles(db, chosenIds).catch(() => []) : [];
    const query = q.trim().slice(0, 200);
    const recent = await listArticles(
      db,
      articleListQuerySchema.parse({ limit: 12, ...(query ? { q: query } : {}) }),
    );
    const chosenSet = new Set(chosen.map((article) => article.id));
    return [
      ...chosen.map((article) => ({
        id: article.id,
        title: article.title,
        topics: article.topics,
        at: article.publishedAt ?? null,
        checked: true,
      })),
      ...recent.items
        .filter((article) => !chosenSet.has(article.id))
        .map((article) => ({
          id: article.id,
          title: article.title,
          topics: article.topics,
          at: article.publishedAt ?? article.createdAt,
          checked: false,
        })),
    ];
  }

  /** Parses article ids from a form or query; bad ones are dropped (validation says why). */
  function articleIdsOf(value: unknown): number[] {
    return listField(value)
      .map(Number)
      .filter((n) => Number.isInteger(n) && n > 0 && n < 2_147_483_648);
  }

  async function renderNewForm(
    request: FastifyRequest,
    reply: FastifyReply,
    values: Record<string, unknown>,
    errors: FieldErrors = {},
  ) {
    const subject = textField(values.subject);
    const preheader = textField(values.preheader);
    const topics = plausibleTopics(values.topics);
    const q = textField(values.q);
    return renderConsolePage(request, reply, 'campaigns-new', {
      title: 'New campaign',
      active: 'campaigns',
      fmt,
      values: {
        subject,
        preheader,
        q,
        template: textField(values.template) || templateChoices[0],
      },
      articles: await articleChoices(q, articleIdsOf(values.articleIds)),
      topics: await topicChoices(topics),
      audience: await audienceText(topics),
      advice: lengthAdvice(subject, preheader),
      templates: templateChoices,
      limits: { subject: SUBJECT_SOFT_LIMIT, preheader: PREHEADER_SOFT_LIMIT },
      errors,
    });
  }

  interface DetailExtras {
    status?: number;
    notice?: string;
    error?: string;
    errors?: FieldErrors;
    values?: Record<string, string | string[]>;
  }

  async function renderDetail(
    request: FastifyRequest,
    reply: FastifyReply,
    id: number,
    extras: DetailExtras = {},
  ) {
    const campaign = await getCampaign(db, id);
    if (!campaign) return notFound(request, reply, id);
    const progress = await progressData(campaign);
    const progressHtml = await reply.consoleViewAsync('campaigns-progress.eta', {
      fmt,
      ...progress,
    });
    const values = extras.values ?? {};
    const chosenTopics =
      values.topics !== undefined ? plausibleTopics(values.topics) : campaign.audienceTopics;
    const subject = values.subject !== undefined ? textField(values.subject) : campaign.subject;
    const preheader =
      values.preheader !== undefined ? textField(values.preheader) : (campaign.preheader ?? '');
    const articles = await loadArticles(db, campaign.articleIds).catch(() => []);
    if (extras.status) reply.status(extras.status);
    return renderConsolePage(request, reply, 'campaigns-detail', {
      title: campaign.subject,
      active: 'campaigns',
      fmt,
      campaign,
      counts: progress.counts,
      progressHtml,
      articles: articles.map((article) => ({ id: article.id, title: article.title })),
      actions: allowedActions(campaign),
      topics: await topicChoices(chosenTopics),
      audience: await audienceText(chosenTopics),
      edit: { subject, preheader },
      advice: lengthAdvice(subject, preheader),
      limits: { subject: SUBJECT_SOFT_LIMIT, preheader: PREHEADER_SOFT_LIMIT },
      schedule: {
        at: textField(values.at),
        timezone: textField(values.timezone) || 'UTC',
        localTime: textField(values.localTime) || campaign.localTime || '',
      },
      testTo: textField(values.to) || request.consoleUser?.email || '',
      zones: TIME_ZONES,
      notice: extras.notice ?? null,
      error: extras.error ?? null,
      errors: extras.errors ?? {},
    });
  }

  /** Runs an action; a refused one (409, 404, bad input) re-renders the page with why. */
  async function runAction(
    request: FastifyRequest,
    reply: FastifyReply,
    id: number,
    action: () => Promise<unknown>,
    done: string,
    formErrors?: (error: InputError) => DetailExtras | undefined,
  ) {
    try {
      await action();
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      const specific = formErrors?.(error);
      if (specific) return renderDetail(request, reply, id, specific);
      const status = error.kind === 'not_found' ? 404 : error.kind === 'conflict' ? 409 : 422;
      return renderDetail(request, reply, id, { status, error: error.message });
    }
    return reply.redirect(`/console/campaigns/${id}?done=${encodeURIComponent(done)}`, 303);
  }

  // ---- The list ----
  fastify.get('/console/campaigns', editor, async (request, reply) => {
    const raw = formOf(request.query);
    const query = campaignListQuerySchema.safeParse({
      status: textField(raw.status) || undefined,
      q: textField(raw.q) || undefined,
      cursor: textField(raw.cursor) || undefined,
      limit: textField(raw.limit) || undefined,
      kind: 'campaign',
    });
    const errors = query.success ? {} : fieldErrors(query.error);
    if (!query.success) reply.status(400);
    const page = await listCampaigns(
      db,
      query.success ? query.data : campaignListQuerySchema.parse({ kind: 'campaign' }),
    );
    const filters = query.success
      ? { status: query.data.status ?? '', q: query.data.q ?? '' }
      : { status: '', q: '' };
    const nextParams = new URLSearchParams();
    if (query.success && raw.limit !== undefined) nextParams.set('limit', String(query.data.limit));
    if (filters.status) nextParams.set('status', filters.status);
    if (filters.q) nextParams.set('q', filters.q);
    const firstHref = `/console/campaigns${nextParams.size > 0 ? `?${nextParams}` : ''}`;
    if (page.next) nextParams.set('cursor', page.next);
    return renderConsolePage(request, reply, 'campaigns-list', {
      title: 'Campaigns',
      active: 'campaigns',
      fmt,
      items: page.items.map((item) => ({
        ...item,
        percent:
          item.counts.total > 0
            ? Math.floor(((item.counts.total - item.counts.pending) / item.counts.total) * 100)
            : 0,
      })),
      total: page.total ?? page.items.length,
      statuses: campaignStatuses,
      filters,
      paged: Boolean(query.success && query.data.cursor),
      firstHref,
      nextHref: page.next ? `/console/campaigns?${nextParams}` : null,
      errors,
    });
  });

  // ---- New campaign ----
  fastify.get('/console/campaigns/new', editor, async (request, reply) =>
    renderNewForm(request, reply, formOf(request.query)),
  );

  // htmx: the article choices for a search (ticked ones kept first).
  fastify.get('/console/campaigns/new/articles', editor, async (request, reply) => {
    const raw = formOf(request.query);
    return sendPartial(reply, 'campaigns-article-choices', {
      articles: await articleChoices(textField(raw.q), articleIdsOf(raw.articleIds)),
    });
  });

  // htmx: the live audience size for the ticked topics.
  fastify.get('/console/campaigns/audience', editor, async (request, reply) => {
    const parsed = topicList.safeParse(listField(formOf(request.query).topics));
    const text = parsed.success
      ? await audienceText(parsed.data)
      : (parsed.error.issues[0]?.message ?? 'invalid topics');
    return sendPartial(reply, 'campaigns-audience', { audience: text });
  });

  // htmx: the live length advice for the subject or the preheader (whichever is given).
  fastify.get('/console/campaigns/lengths', editor, async (request, reply) => {
    const raw = formOf(request.query);
    const field = raw.preheader !== undefined ? 'preheader' : 'subject';
    const value = textField(raw[field]).slice(0, 1_000);
    const advice = lengthAdvice(
      field === 'subject' ? value : '',
      field === 'preheader' ? value : '',
    );
    return sendPartial(reply, 'campaigns-length', {
      field,
      length: [...value.trim()].length,
      limit: field === 'subject' ? SUBJECT_SOFT_LIMIT : PREHEADER_SOFT_LIMIT,
      warning: advice[field],
    });
  });

  fastify.post('/console/campaigns', editor, async (request, reply) => {
    const form = formOf(request.body);
    const topics = listField(form.topics);
    const parsed = createCampaignSchema.safeParse({
      articleIds: listField(form.articleIds),
      ...(topics.length > 0 ? { topics } : {}),
      ...(textField(form.subject).trim() ? { subject: textField(form.subject) } : {}),
      ...(textField(form.preheader).trim() ? { preheader: textField(form.preheader) } : {}),
      template: textField(form.template) || undefined,
    });
    if (!parsed.success) {
      reply.status(422);
      return renderNewForm(request, reply, form, fieldErrors(parsed.error));
    }
    try {
      const { campaign } = await createCampaign(db, parsed.data, deps.now().toISOString());
      return reply.redirect(`/console/campaigns/${campaign.id}?done=created`, 303);
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      reply.status(422);
      return renderNewForm(request, reply, form, { [error.field]: error.message });
    }
  });

  // ---- One campaign ----
  const NOTICES: Record<string, string> = {
    created:
      'Campaign created as a draft. Check the preview, send a test, then send or schedule it.',
    saved: 'Changes saved.',
    scheduled: 'Scheduled.',
    ...Object.fromEntries(Object.entries(CONFIRMED_ACTIONS).map(([k, v]) => [k, v.done])),
  };

  fastify.get('/console/campaigns/:id', editor, async (request, reply) => {
    const params = idParams.safeParse(request.params);
    if (!params.success) return reply.callNotFound();
    const done = doneQuery.safeParse(request.query);
    const notice = done.success && done.data.done ? NOTICES[done.data.done] : undefined;
    return renderDetail(request, reply, params.data.id, notice ? { notice } : {});
  });

  // htmx: the live progress block (polls itself every 2 s while the campaign sends).
  fastify.get('/console/campaigns/:id/progress', editor, async (request, reply) => {
    const params = idParams.safeParse(request.params);
    if (!params.success) return reply.callNotFound();
    const campaign = await getCampaign(db, params.data.id);
    if (!campaign) return reply.status(404).type('text/plain').send('no such campaign');
    const shown = progressQuery.safeParse(request.query ?? {});
    return sendPartial(
      reply,
      'campaigns-progress',
      await progressData(campaign, shown.success ? shown.data.shown : undefined),
    );
  });

  fastify.post('/console/campaigns/:id/edit', editor, async (request, reply) => {
    const params = idParams.safeParse(request.params);
    if (!params.success) return reply.callNotFound();
    const id = params.data.id;
    const form = formOf(request.body);
    const values = {
      subject: textField(form.subject),
      preheader: textField(form.preheader),
      topics: listField(form.topics),
    };
    const parsed = editCampaignSchema.safeParse(values);
    if (!parsed.success) {
      return renderDetail(request, reply, id, {
        status: 422,
        errors: fieldErrors(parsed.error),
        values,
      });
    }
    return runAction(
      request,
      reply,
      id,
      async () => {
        await editCampaign(db, id, parsed.data, deps.now().toISOString());
        forgetCampaignRenderer(db, id);
      },
      'saved',
      (error) =>
        error.field === 'topics'
          ? { status: 422, errors: { topics: error.message }, values }
          : undefined,
    );
  });

  fastify.post('/console/campaigns/:id/schedule', editor, async (request, reply) => {
    const params = idParams.safeParse(request.params);
    if (!params.success) return reply.callNotFound();
    const id = params.data.id;
    const form = formOf(request.body);
    const values = { at: textField(form.at), timezone: textField(form.timezone) };
    const parsed = scheduleAtBody.safeParse(values);
    if (!parsed.success) {
      return renderDetail(request, reply, id, {
        status: 422,
        errors: fieldErrors(parsed.error),
        values,
      });
    }
    const at = resolveAt(parsed.data.at, parsed.data.timezone);
    if (!at) {
      return renderDetail(request, reply, id, {
        status: 422,
        errors: { at: 'that date and time does not exist in the chosen zone' },
        values,
      });
    }
    return runAction(
      request,
      reply,
      id,
      () => scheduleCampaign(deps, id, at),
      'scheduled',
      (error) =>
        error.field === 'at' ? { status: 422, errors: { at: error.message }, values } : undefined,
    );
  });

  fastify.post('/console/campaigns/:id/schedule-local', editor, async (request, reply) => {
    const params = idParams.safeParse(request.params);
    if (!params.success) return reply.callNotFound();
    const id = params.data.id;
    const values = { localTime: textField(formOf(request.body).localTime) };
    const parsed = scheduleLocalBody.safeParse(values);
    if (!parsed.success) {
      return renderDetail(request, reply, id, {
        status: 422,
        errors: fieldErrors(parsed.error),
        values,
      });
    }
    return runAction(
      request,
      reply,
      id,
      () => scheduleCampaignAtLocalTime(deps, id, parsed.data.localTime),
      'scheduled',
    );
  });

  fastify.post('/console/campaigns/:id/test', editor, async (request, reply) => {
    const params = idParams.safeParse(request.params);
    if (!params.success) return reply.callNotFound();
    const id = params.data.id;
    const values = { to: textField(formOf(request.body).to) };
    const parsed = testSendSchema.safeParse(values);
    if (!parsed.success) {
      return renderDetail(request, reply, id, {
        status: 422,
        errors: { to: parsed.error.issues[0]?.message ?? 'invalid address' },
        values,
      });
    }
    try {
      await sendCampaignTest(db, app.config, await app.transport(), id, parsed.data.to);
    } catch (error) {
      if (error instanceof MailSendError) {
        // The server's reply may quote the address; its codes say enough.
        const code = [error.smtpCode, error.enhancedStatus].filter(Boolean).join(' ');
        return renderDetail(request, reply, id, {
          status: 422,
          errors: {
            to: `the mail server refused the test${code ? ` (${code})` : ''}: ${error.kind === 'permanent' ? 'check the address' : 'try again in a moment'}`,
          },
          values,
        });
      }
      if (error instanceof InputError) {
        return renderDetail(request, reply, id, { status: 422, error: error.message, values });
      }
      throw error;
    }
    return renderDetail(request, reply, id, {
      notice: `Test sent to ${parsed.data.to}. It is not counted in the campaign.`,
      values,
    });
  });

  // The confirm step of send, pause, resume, cancel and unschedule (a page: no script needed).
  fastify.get('/console/campaigns/:id/confirm/:action', editor, async (request, reply) => {
    const params = actionParams.safeParse(request.params);
    if (!params.success) return reply.callNotFound();
    const campaign = await getCampaign(db, params.data.id);
    if (!campaign) return notFound(request, reply, params.data.id);
    const action = CONFIRMED_ACTIONS[params.data.action];
    return renderConsolePage(request, reply, 'campaigns-confirm', {
      title: action.title,
      active: 'campaigns',
      fmt,
      campaign,
      action: { ...action, name: params.data.action },
      allowed: allowedActions(campaign)[params.data.action],
      counts: await campaignStatus(db, campaign.id),
      audience: await audienceText(campaign.audienceTopics),
    });
  });

  const controls: Record<ConfirmedAction, (deps: ControlDeps, id: number) => Promise<Campaign>> = {
    send: sendCampaign,
    pause: pauseCampaign,
    resume: resumeCampaign,
    cancel: cancelCampaign,
    unschedule: unscheduleCampaign,
  };
  for (const name of Object.keys(controls) as ConfirmedAction[]) {
    fastify.post(`/console/campaigns/:id/${name}`, editor, async (request, reply) => {
      const params = idParams.safeParse(request.params);
      if (!params.success) return reply.callNotFound();
      const id = params.data.id;
      return runAction(request, reply, id, () => controls[name](deps, id), name);
    });
  }

  // ---- Preview ----
  const previewQuery = z.object({
    as: z.string().trim().max(254, 'an address is at most 254 characters').optional(),
    width: z.enum(['600', '375']).catch('600'),
    tab: z.enum(['html', 'text']).catch('html'),
  });

  /** The address to preview as: the one asked for, else the first of the audience. */
  async function previewAddress(campaign: Campaign, asked: string | undefined) {
    if (asked) return asked;
    const first = campaign.audienceTopics[0];
    if (!first) return '';
    const page = await listSubscribers(
      db,
      subscriberListQuerySchema.parse({ limit: 1, status: 'active', topic: first }),
    );
    return page.items[0]?.email ?? '';
  }

  fastify.get('/console/campaigns/:id/preview', editor, async (request, reply) => {
    const params = idParams.safeParse(request.params);
    if (!params.success) return reply.callNotFound();
    const campaign = await getCampaign(db, params.data.id);
    if (!campaign) return notFound(request, reply, params.data.id);
    const query = previewQuery.safeParse(request.query);
    const options = query.success ? query.data : { as: undefined, width: '600', tab: 'html' };
    const as = await previewAddress(campaign, options.as);
    const first = campaign.audienceTopics[0];
    const people = first
      ? await listSubscribers(
          db,
          subscriberListQuerySchema.parse({ limit: 20, status: 'active', topic: first }),
        )
      : { items: [] };
    let text = '';
    let error: string | null = query.success ? null : 'that preview address is not valid';
    if (!as) error ??= 'no subscriber follows these topics yet: type an address to preview as';
    else if (!error) {
      try {
        text = (await previewCampaign(db, app.config, campaign.id, as)).text;
      } catch (failure) {
        if (!(failure instanceof InputError)) throw failure;
        error = failure.message;
      }
    }
    if (error) reply.status(as ? 404 : 200);
    const link = (changes: Record<string, string>) =>
      `/console/campaigns/${campaign.id}/preview?${new URLSearchParams({ as, width: options.width, tab: options.tab, ...changes })}`;
    return renderConsolePage(request, reply, 'campaigns-preview', {
      title: `Preview: ${campaign.subject}`,
      active: 'campaigns',
      fmt,
      campaign,
      as,
      width: options.width,
      tab: options.tab,
      people: people.items.map((person) => person.email),
      text,
      error,
      frameSrc: `/console/campaigns/${campaign.id}/preview/html?${new URLSearchParams({ as })}`,
      links: {
        w600: link({ width: '600' }),
        w375: link({ width: '375' }),
        html: link({ tab: 'html' }),
        text: link({ tab: 'text' }),
      },
    });
  });

  // The message HTML itself, for the sandboxed iframe: its own CSP (no script, nothing but
  // images and inline styles, no forms, sandboxed even if opened directly).
  fastify.get('/console/campaigns/:id/preview/html', editor, async (request, reply) => {
    const params = idParams.safeParse(request.params);
    const as = z.object({ as: z.string().trim().min(1).max(254) }).safeParse(request.query);
    if (!params.success || !as.success) {
      return reply.status(400).type('text/plain; charset=utf-8').send('give ?as=ADDRESS');
    }
    try {
      const preview = await previewCampaign(db, app.config, params.data.id, as.data.as);
      return reply
        .type('text/html; charset=utf-8')
        .header('cache-control', 'no-store')
        .header(
          'content-security-policy',
          "default-src 'none'; img-src https: http: data:; style-src 'unsafe-inline'; font-src https: data:; frame-ancestors 'self'; form-action 'none'; base-uri 'none'; sandbox",
        )
        .send(preview.html);
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      return reply.status(404).type('text/plain; charset=utf-8').send(error.message);
    }
  });

  // ---- Report ----
  fastify.get('/console/campaigns/:id/report', editor, async (request, reply) => {
    const params = idParams.safeParse(request.params);
    if (!params.success) return reply.callNotFound();
    const campaign = await getCampaign(db, params.data.id);
    if (!campaign) return notFound(request, reply, params.data.id);
    const counts: CampaignStatusReport = await campaignStatus(db, campaign.id);
    const [minutes, replies, engagement] = await Promise.all([
      sentPerMinute(db, campaign.id),
      unsentReplies(db, campaign.id),
      campaignReport(db, campaign.id),
    ]);
    const bars = sendBars(minutes);
    const tracked =
      engagement !== null &&
      (engagement.clicks.total > 0 ||
        engagement.opens.human.total > 0 ||
        engagement.opens.machine.total > 0);
    return renderConsolePage(request, reply, 'campaigns-report', {
      title: `Report: ${campaign.subject}`,
      active: 'campaigns',
      fmt,
      campaign,
      counts,
      pace: paceOf(counts, campaign.startedAt, campaign.finishedAt, deps.now()),
      bars,
      // At least 12 slots wide, so one or two bars stay bars and not a block.
      chart: { width: Math.max(bars.length, 12) * 20, height: 120 },
      reasons: groupReasons(replies),
      engagement: tracked ? engagement : null,
    });
  });
};
