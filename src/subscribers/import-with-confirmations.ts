// CSV import as the editor API and the CLI both run it: rows in (active, or pending when asked),
// then a confirmation mail to each new pending subscriber. The API answers before the mails go;
// the CLI waits for them: both get the same two results.
import type { Readable } from 'node:stream';
import type { Kysely } from 'kysely';
import type { Config } from '../config/index.ts';
import type { Logger } from '../log/index.ts';
import type { MailTransport } from '../mail/transport.ts';
import type { Database } from '../store/schema.ts';
import { sendConfirmations } from './confirmation.ts';
import { type ImportOptions, type ImportReport, importSubscribersCsv } from './import.ts';

/** What an import with confirmations needs from the app. */
export interface ImportWithConfirmationsDeps {
  db: Kysely<Database>;
  config: Config;
  log: Logger;
  transport: () => Promise<MailTransport>;
}

export interface ImportWithConfirmations {
  report: ImportReport;
  /** Settles when every confirmation was tried; never rejects (failures are counted and logged). */
  confirmations: Promise<{ sent: number; failed: number }>;
}

/**
 * Imports the CSV `source`; with `pending`, rows come in pending and each new one is sent a
 * confirmation through the caller's transport (the App's, opened on first use and closed with
 * the app). A bad CSV throws before any mail is sent; each failed mail is logged by subscriber id.
 */
export async function importWithConfirmations(
  deps: ImportWithConfirmationsDeps,
  source: Readable | string | Buffer,
  options: { pending: boolean } & Pick<ImportOptions, 'keepRejected' | 'onRejected'>,
): Promise<ImportWithConfirmations> {
  const { db, config, log } = deps;
  const report = await importSubscribersCsv(db, source, {
    status: options.pending ? 'pending' : 'active',
    ...(options.keepRejected === undefined ? {} : { keepRejected: options.keepRejected }),
    ...(options.onRejected ? { onRejected: options.onRejected } : {}),
  });
  log.info(
    { imported: report.imported, updated: report.updated, rejected: report.rejectedCount },
    'subscribers.import.done',
  );
  if (report.pending.length === 0) {
    return { report, confirmations: Promise.resolve({ sent: 0, failed: 0 }) };
  }
  const confirmations = (async () => {
    const transport = await deps.transport();
    return sendConfirmations(db, config, transport, report.pending, (recipient, error) =>
      log.error(
        { subscriberId: recipient.subscriberId, err: error },
        'subscribers.confirmation.failed',
      ),
    );
  })().catch((error: unknown) => {
    log.error({ err: error }, 'subscribers.confirmation.failed');
    return { sent: 0, failed: report.pending.length };
  });
  return { report, confirmations };
}
