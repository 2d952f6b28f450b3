// Console: digests (editor). When each zone's next daily and weekly digest goes out (in the
// zone and in the editor's zone, `?zone=`), and a preview of one subscriber's digest at a
// chosen instant: the HTML in a sandboxed iframe served with its own strict CSP, and the text.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { DateTime } from 'luxon';
import { z } from 'zod';
import type { App } from '../../../app.ts';
import { digestOverview } from '../../../digests/overview.ts';
import { DigestPreviewError, previewDigest } from '../../../digests/preview.ts';
import { parseEmail } from '../../../subscribers/identity.ts';
import { canonicalTimeZone, getSubscriber } from '../../../subscribers/repository.ts';
import { publicZones } from '../../../subscribers/zones.ts';
import { requireConsole } from '../guard.ts';
import { renderConsolePage } from '../render.ts';

/** The email's own CSP: no script, no fetches, no forms; inline styles and remote images only. */
const PREVIEW_CSP =
  "default-src 'none'; style-src 'unsafe-inline'; img-src https: http: data:; font-src https: data:; base-uri 'none'; form-action 'none'; frame-ancestors 'self'; sandbox";

const zoneField = z
  .string()
  .trim()
  .max(64, 'is not a time zone (too long)')
  .optional()
  .transform((value, ctx) => {
    if (value === undefined || value === '') return 'UTC';
    const zone = canonicalTimeZone(value);
    if (!zone) {
      ctx.addIssue({
        code: 'custom',
        message: `"${value}" is not an IANA time zone (e.g. Europe/Berlin)`,
      });
      return z.NEVER;
    }
    return zone;
  });

/** The page's query: the editor's zone, and (both or neither) a preview's address and local time. */
const digestsQuery = z.object({
  zone: zoneField,
  email: z
    .string()
    .trim()
    .max(254, 'is too long for an address')
    .optional()
    .refine((v) => v === undefined || v === '' || parseEmail(v) !== null, 'is not a valid address'),
  at: z
    .string()
    .trim()
    .max(40)
    .optional()
    .refine(
      (v) => v === undefined || v === '' || /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/.test(v),
      'give a date and time, e.g. 2026-12-02T07:00',
    ),
  view: z.enum(['html', 'text']).default('html'),
});

const previewQuery = z.object({
  at: z.string().datetime({ offset: true, message: 'must be an ISO 8601 instant' }),
});
const idParams = z.object({ id: z.coerce.number().int().positive().max(2_147_483_647) });

/** An instant as the reader of `zone` sees it: "Wed 2 Dec 2026, 07:00 CET". */
export function formatInstant(instant: Date, zone: string): string {
  return DateTime.fromJSDate(instant, { zone }).toFormat('ccc d LLL yyyy, HH:mm ZZZZ');
}

function rawValues(query: unknown): Record<string, string> {
  const raw = (query && typeof query === 'object' ? query : {}) as Record<string, unknown>;
  const out: Record<string, string> = {};
  for (const key of ['zone', 'email', 'at', 'view']) {
    if (typeof raw[key] === 'string') out[key] = (raw[key] as string).slice(0, 300);
  }
  return out;
}

export const digestPages: FastifyPluginAsync<{ app: App }> = async (fastify, { app }) => {
  const db = app.store.db;
  const editor = { onRequest: requireConsole('editor') };

  const render = async (
    request: FastifyRequest,
    reply: FastifyReply,
    zone: string,
    values: Record<string, string>,
    errors: Record<string, string>,
    preview: unknown,
  ) => {
    const now = new Date();
    const zones = await digestOverview(db, now);
    const weekday = (n: number | null) =>
      n === null ? '' : (['', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'][n] ?? '');
    return renderConsolePage(request, reply, 'digests-overview', {
      title: 'Digests',
      active: 'digests',
      editorZone: zone,
      values,
      errors,
      preview,
      zoneNames: publicZones(),
      nowInZone: formatInstant(now, zone),
      zones: zones.map((z) => ({
        timezone: z.timezone,
        subscribers: z.subscribers,
        daily: z.daily && {
          subscribers: z.daily.subscribers,
          local: formatInstant(z.daily.next, z.timezone),
          editor: formatInstant(z.daily.next, zone),
          iso: z.daily.next.toISOString(),
        },
        weekly: z.weekly && {
          subscribers: z.weekly.subscribers,
          local: formatInstant(z.weekly.next, z.timezone),
          editor: formatInstant(z.weekly.next, zone),
          iso: z.weekly.next.toISOString(),
        },
        groups: z.groups.map((g) => ({
          label: `${g.digest} ${g.weekday === null ? '' : `${weekday(g.weekday)} `}${String(g.sendHour).padStart(2, '0')}:00`,
          subscribers: g.subscribers,
        })),
      })),
    });
  };

  fastify.get('/console/digests', editor, async (request, reply) => {
    const values = rawValues(request.query);
    const parsed = digestsQuery.safeParse(request.query ?? {});
    if (!parsed.success) {
      const errors: Record<string, string> = {};
      for (const issue of parsed.error.issues)
        errors[String(issue.path[0] ?? 'form')] ??= issue.message;
      reply.status(400);
      const zone = canonicalTimeZone(values.zone ?? '') ?? 'UTC';
      return render(request, reply, zone, values, errors, null);
    }
    const { zone, email, at, view } = parsed.data;
    if (!email && !at) return render(request, reply, zone, values, {}, null);
    const errors: Record<string, string> = {};
    if (!email) errors.email = 'give the address of a subscriber';
    if (!at) errors.at = 'give a date and time';
    const instant = at ? DateTime.fromISO(at, { zone }) : null;
    if (instant && !instant.isValid) errors.at = 'is not a date and time that exists in this zone';
    if (Object.keys(errors).length > 0 || !email || !instant) {
      reply.status(422);
      return render(request, reply, zone, values, errors, null);
    }
    try {
      const preview = await previewDigest(db, app.config, email, instant.toJSDate());
      return render(
        request,
        reply,
        zone,
        values,
        {},
        {
          subscriberId: preview.subscriberId,
          subject: preview.subject,
          articles: preview.articles.length,
          since: formatInstant(new Date(preview.since), zone),
          until: formatInstant(new Date(preview.until), zone),
          text: preview.text,
          view,
          frameSrc: `/console/digests/preview/${preview.subscriberId}?at=${encodeURIComponent(preview.until)}`,
          htmlTab: `/console/digests?${new URLSearchParams({ zone, email, at: at!, view: 'html' })}`,
          textTab: `/console/digests?${new URLSearchParams({ zone, email, at: at!, view: 'text' })}`,
        },
      );
    } catch (error) {
      if (!(error instanceof DigestPreviewError)) throw error;
      reply.status(error.field === 'to' ? 404 : 422);
      const message =
        error.field === 'to'
          ? 'no subscriber has this address'
          : error.message.replace(/ between .*: /, ' in this period: ');
      return render(
        request,
        reply,
        zone,
        values,
        { [error.field === 'to' ? 'email' : 'at']: message },
        null,
      );
    }
  });

  // The preview's HTML alone, for the sandboxed iframe: its own CSP (and `sandbox`), no cache.
  fastify.get('/console/digests/preview/:id', editor, async (request, reply) => {
    const params = idParams.safeParse(request.params);
    const query = previewQuery.safeParse(request.query ?? {});
    if (!params.success || !query.success) {
      return reply
        .status(400)
        .type('text/plain; charset=utf-8')
        .send('Bad preview address: give a subscriber id and an ISO instant.');
    }
    const subscriber = await getSubscriber(db, params.data.id);
    if (!subscriber)
      return reply.status(404).type('text/plain; charset=utf-8').send('No such subscriber.');
    try {
      const preview = await previewDigest(
        db,
        app.config,
        subscriber.email,
        new Date(query.data.at),
      );
      return reply
        .header('content-security-policy', PREVIEW_CSP)
        .header('cache-control', 'no-store')
        .header('referrer-policy', 'no-referrer')
        .type('text/html; charset=utf-8')
        .send(preview.html);
    } catch (error) {
      if (!(error instanceof DigestPreviewError)) throw error;
      return reply.status(422).type('text/plain; charset=utf-8').send(error.message);
    }
  });
};
