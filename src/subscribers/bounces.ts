// Bounce and complaint reports: DSNs (RFC 3464, multipart/report; delivery-status) and ARF
// complaints (RFC 5965, feedback-report), parsed with mailparser. The VERP token in the bounce
// address (bounces+TOKEN@domain) of the reported message names the subscriber and campaign;
// a report we cannot read is returned as such, never thrown.
import type { Kysely } from 'kysely';
import { simpleParser } from 'mailparser';
import type { Database } from '../store/schema.ts';
import { verifySubscriberToken } from '../tokens/subject.ts';
import { applyBounce, type BounceKind, type BounceOutcome } from './events.ts';

/** Largest report read (a DSN with the original message attached), by the listener and the CLI. */
export const MAX_REPORT_BYTES = 10 * 1024 * 1024;

/** One recipient's block of a delivery-status report. */
export interface DeliveryStatusEntry {
  finalRecipient: string | null;
  action: string | null;
  status: string | null;
  diagnostic: string | null;
}

/** What a report says, before it is matched to a subscriber. */
export type ParsedReport =
  | {
      ok: true;
      kind: BounceKind | 'none';
      /** The status code and diagnostic we keep as the reply. */
      reply: string;
      recipient: string | null;
      /** VERP tokens of the reported message (never links from its quoted body). */
      bounceTokens: string[];
      /** The campaign the reported message's Feedback-ID names, when it carries one. */
      feedbackCampaignId: number | null;
    }
  | { ok: false; reason: string };

/** Splits header-style "Field: value" lines (with folded continuations) into groups. */
export function parseFieldGroups(text: string): Array<Map<string, string>> {
  const groups: Array<Map<string, string>> = [];
  let current = new Map<string, string>();
  let lastKey: string | null = null;
  for (const line of text.replace(/\r\n/g, '\n').split('\n')) {
    if (line.trim() === '') {
      if (current.size > 0) groups.push(current);
      current = new Map();
      lastKey = null;
      continue;
    }
    if (/^[ \t]/.test(line) && lastKey) {
      current.set(lastKey, `${current.get(lastKey)} ${line.trim()}`);
      continue;
    }
    const match = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(line);
    if (!match) continue;
    lastKey = match[1]!.toLowerCase();
    current.set(lastKey, match[2]!.trim());
  }
  if (current.size > 0) groups.push(current);
  return groups;
}

/** Reads the per-recipient entries of a message/delivery-status body. */
export function parseDeliveryStatus(text: string): DeliveryStatusEntry[] {
  return parseFieldGroups(text)
    .filter((group) => group.has('final-recipient') || group.has('action'))
    .map((group) => ({
      finalRecipient: group.get('final-recipient')?.replace(/^rfc822;\s*/i, '') ?? null,
      action: group.get('action')?.toLowerCase() ?? null,
      status: group.get('status') ?? null,
      diagnostic: group.get('diagnostic-code') ?? null,
    }));
}

/** Classifies one DSN entry: 5.x.x failed → hard, 4.x.x or delayed → soft, else none. */
export function classifyEntry(entry: DeliveryStatusEntry): BounceKind | 'none' {
  const status = entry.status?.trim() ?? '';
  if (entry.action === 'delivered' || entry.action === 'relayed' || entry.action === 'expanded') {
    return 'none';
  }
  if (/^5\.\d{1,3}\.\d{1,3}/.test(status)) return 'hard';
  if (/^4\.\d{1,3}\.\d{1,3}/.test(status) || entry.action === 'delayed') return 'soft';
  if (entry.action === 'failed') return 'hard';
  return 'none';
}

/** The signed token of a VERP address `bounces+TOKEN@domain` (optionally in <>), or null. */
export function verpToken(address: string | undefined): string | null {
  return /^\s*<?bounces\+([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)@/i.exec(address ?? '')?.[1] ?? null;
}

/** The header fields of the returned or complained message (message/rfc822 or its headers). */
function originalHeaders(
  parts: ReadonlyArray<{ type: string; text: string }>,
): Map<string, string> {
  const original = parts.find(
    (p) => p.type === 'message/rfc822' || p.type === 'text/rfc822-headers',
  );
  if (!original) return new Map();
  // Only the header block: the body is quoted content anyone could have written.
  const headerBlock = original.text.replace(/\r\n/g, '\n').split('\n\n', 1)[0] ?? '';
  return parseFieldGroups(headerBlock)[0] ?? new Map();
}

/** The campaign id a Herald Feedback-ID (`<campaign>:<kind>:herald:<domain>`) names, or null. */
export function feedbackCampaignId(feedbackId: string | undefined): number | null {
  const match = /^\s*(\d{1,12}):[a-z]+:herald:/.exec(feedbackId ?? '');
  return match ? Number(match[1]) : null;
}

/**
 * Parses a raw message as a DSN or an ARF report; anything else is `{ok: false, reason}`.
 * Who the report is about comes only from VERP data of the reported message (its envelope
 * sender as the report states it, its Return-Path) and from the report's own VERP address;
 * never from links in the quoted body, which can be someone else's forwarded footer.
 */
export async function parseReport(raw: Buffer | string): Promise<ParsedReport> {
  let mail: Awaited<ReturnType<typeof simpleParser>>;
  try {
    mail = await simpleParser(raw, {
      keepDeliveryStatus: true,
      skipHtmlToText: true,
      // The reported message stays an attachment: its headers are read, its body is not.
      ignoreEmbedded: true,
    });
  } catch (error) {
    return { ok: false, reason: `unreadable MIME: ${(error as Error).message}` };
  }
  const parts = mail.attachments.map((a) => ({
    type: a.contentType.toLowerCase(),
    text: a.content.toString('utf8'),
  }));
  const original = originalHeaders(parts);
  const addressedTo = (Array.isArray(mail.to) ? mail.to : mail.to ? [mail.to] : []).flatMap(
    (group) => group.value.map((entry) => entry.address ?? ''),
  );
  const tokensFrom = (...addresses: Array<string | undefined>) => [
    ...new Set(addresses.map(verpToken).filter((t): t is string => t !== null)),
  ];
  const feedbackCampaign = feedbackCampaignId(original.get('feedback-id'));

  const feedback = parts.find((p) => p.type === 'message/feedback-report');
  if (feedback) {
    const fields = parseFieldGroups(feedback.text)[0] ?? new Map<string, string>();
    const type = fields.get('feedback-type');
    if (!type) return { ok: false, reason: 'feedback report without Feedback-Type' };
    return {
      ok: true,
      kind: type.toLowerCase() === 'not-spam' ? 'none' : 'complaint',
      reply: `ARF ${type}`,
      recipient: fields.get('original-rcpt-to') ?? null,
      bounceTokens: tokensFrom(
        fields.get('original-mail-from'),
        original.get('return-path'),
        ...addressedTo,
      ),
      feedbackCampaignId: feedbackCampaign,
    };
  }

  const status = parts.find((p) => p.type === 'message/delivery-status');
  if (status) {
    const entries = parseDeliveryStatus(status.text);
    if (entries.length === 0) return { ok: false, reason: 'delivery-status without recipients' };
    // One message goes to one recipient (VERP): the worst entry decides.
    const ranked = entries
      .map((entry) => ({ entry, kind: classifyEntry(entry) }))
      .sort((a, b) => rank(b.kind) - rank(a.kind));
    const { entry, kind } = ranked[0]!;
    if (kind === 'none' && !entry.status && !entry.action) {
      return { ok: false, reason: 'delivery-status without Action or Status' };
    }
    return {
      ok: true,
      kind,
      reply: [entry.status, entry.diagnostic].filter(Boolean).join(' ') || `action ${entry.action}`,
      recipient: entry.finalRecipient,
      bounceTokens: tokensFrom(...addressedTo, original.get('return-path')),
      feedbackCampaignId: feedbackCampaign,
    };
  }
  return { ok: false, reason: 'not a delivery-status or feedback report' };
}

function rank(kind: BounceKind | 'none'): number {
  return { complaint: 3, hard: 2, soft: 1, none: 0 }[kind];
}

/** The outcome of ingesting one report. */
export type IngestResult =
  | {
      ok: true;
      kind: BounceKind | 'none';
      subscriberId: number | null;
      campaignId: number | null;
      outcome: BounceOutcome | 'ignored';
    }
  | { ok: false; reason: string };

export interface IngestOptions {
  secret: string;
  /** Tokens known from the SMTP envelope (RCPT TO bounces+TOKEN@…), tried first. */
  envelopeTokens?: string[];
  softBounceLimit?: number;
  softBounceWindowDays?: number;
  now?: string;
}

/**
 * Finds the first token that verifies (signature, purpose, expiry and the subscriber's own key),
 * as subscriber and campaign ids.
 */
export async function resolveTokens(
  db: Kysely<Database>,
  secret: string,
  bounceTokens: readonly string[],
  unsubscribeTokens: readonly string[],
): Promise<{ subscriberId: number; campaignId: number | null } | null> {
  for (const [purpose, list] of [
    ['bounce', bounceTokens],
    ['unsubscribe', unsubscribeTokens],
  ] as const) {
    for (const token of list) {
      const verified = await verifySubscriberToken(db, secret, purpose, token);
      if (verified.ok) {
        return {
          subscriberId: verified.claims.subscriberId,
          campaignId: verified.claims.campaignId ?? null,
        };
      }
    }
  }
  return null;
}

/** Parses one report and applies it to the subscriber its token names. */
export async function ingestReport(
  db: Kysely<Database>,
  raw: Buffer | string,
  options: IngestOptions,
): Promise<IngestResult> {
  const report = await parseReport(raw);
  if (!report.ok) return report;
  const who = await resolveTokens(
    db,
    options.secret,
    [...(options.envelopeTokens ?? []), ...report.bounceTokens],
    [],
  );
  if (!who) return { ok: false, reason: 'no valid VERP token for the reported message' };
  if (
    report.feedbackCampaignId !== null &&
    who.campaignId !== null &&
    report.feedbackCampaignId !== who.campaignId
  ) {
    return { ok: false, reason: 'the VERP token and the Feedback-ID name different campaigns' };
  }
  if (report.kind === 'none') {
    return { ok: true, kind: 'none', ...who, outcome: 'ignored' };
  }
  const outcome = await applyBounce(db, {
    subscriberId: who.subscriberId,
    campaignId: who.campaignId,
    kind: report.kind,
    reply: report.reply,
    now: options.now,
    softBounceLimit: options.softBounceLimit,
    softBounceWindowDays: options.softBounceWindowDays,
  });
  return { ok: true, kind: report.kind, ...who, outcome };
}
