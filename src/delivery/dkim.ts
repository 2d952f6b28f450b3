// DKIM signing for built messages: nodemailer's signer, with the signed header list extended
// to cover List-Unsubscribe-Post and Feedback-ID (RFC 8058 wants the one-click header signed).
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import DKIM from 'nodemailer/lib/dkim';
import sign from 'nodemailer/lib/dkim/sign';

export interface DkimKey {
  domain: string;
  selector: string;
  privateKey: string;
}

/** Headers the signature covers (nodemailer's list plus Feedback-ID), in h= order. */
export const DKIM_SIGNED_HEADERS =
  'From:Sender:Reply-To:Subject:Date:Message-ID:To:Cc:MIME-Version:Content-Type:' +
  'Content-Transfer-Encoding:Content-ID:Content-Description:Resent-Date:Resent-From:' +
  'Resent-Sender:Resent-To:Resent-Cc:Resent-Message-ID:In-Reply-To:References:' +
  'List-Id:List-Help:List-Unsubscribe:List-Unsubscribe-Post:List-Subscribe:List-Post:' +
  'List-Owner:List-Archive:Feedback-ID';

/**
 * The body hash (bh=) of a body Herald builds. Relaxed body canonicalisation leaves such a
 * body unchanged: base64 lines and part headers carry no trailing or repeated whitespace and
 * the body ends with exactly one CRLF. The nodemailer equivalence test guards this.
 */
export function dkimBodyHash(body: string): string {
  return createHash('sha256').update(body, 'latin1').digest('base64');
}

/** The DKIM-Signature header (folded, no trailing CRLF) for header lines and a body hash. */
export function dkimSignature(headerLines: string[], bodyHash: string, key: DkimKey): string {
  const headers = headerLines.map((line) => ({
    key: line.slice(0, line.indexOf(':')).trim().toLowerCase(),
    line,
  }));
  const field = sign(headers, 'sha256', bodyHash, {
    domainName: key.domain,
    keySelector: key.selector,
    privateKey: key.privateKey,
    headerFieldNames: DKIM_SIGNED_HEADERS,
  });
  if (!field) throw new Error('DKIM signing failed: the private key was not usable');
  return field;
}

/** Signs a whole raw message with nodemailer's streaming DKIM signer (the reference path). */
export async function signWithNodemailer(raw: Buffer, key: DkimKey): Promise<Buffer> {
  const signer = new DKIM({
    domainName: key.domain,
    keySelector: key.selector,
    privateKey: key.privateKey,
    headerFieldNames: DKIM_SIGNED_HEADERS,
  });
  const chunks: Buffer[] = [];
  for await (const chunk of signer.sign(Readable.from([raw]))) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}
