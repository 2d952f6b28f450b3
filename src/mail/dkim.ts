// DKIM signing for built messages: nodemailer's header canonicalisation, with the signed header
// list extended to cover List-Unsubscribe-Post and Feedback-ID (RFC 8058 wants the one-click
// header signed) and with the headers a forwarder could add a second copy of over-signed.
import { createHash, createSign } from 'node:crypto';
import { Readable } from 'node:stream';
import DKIM from 'nodemailer/lib/dkim';
import sign from 'nodemailer/lib/dkim/sign';
import { foldLines } from 'nodemailer/lib/mime-funcs';

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
 * Headers named once more in h= than the message has them (RFC 6376 §8.15, "over-signing"):
 * a copy added in transit (a second List-Unsubscribe, a changed From or Subject) then breaks
 * the signature. nodemailer's signer lists each name once, so Herald builds h= itself.
 */
export const DKIM_OVERSIGNED_HEADERS = [
  'from',
  'subject',
  'list-unsubscribe',
  'list-unsubscribe-post',
];

/**
 * The body hash (bh=) of a body Herald builds. Relaxed body canonicalisation leaves such a
 * body unchanged: base64 lines and part headers carry no trailing or repeated whitespace and
 * the body ends with exactly one CRLF. The nodemailer equivalence test guards this.
 */
export function dkimBodyHash(body: string | readonly Buffer[]): string {
  const hash = createHash('sha256');
  if (typeof body === 'string') hash.update(body, 'latin1');
  else for (const piece of body) hash.update(piece);
  return hash.digest('base64');
}

/** Relaxed header canonicalisation of one field's value (RFC 6376 §3.4.2), as nodemailer does. */
function relaxedValue(line: string): string {
  return line
    .slice(line.indexOf(':') + 1)
    .replace(/\r?\n/g, '')
    .replace(/[ \t]+/g, ' ')
    .replace(/^ | $/g, '');
}

/** Strips what would close a tag value or open another (as nodemailer's signer does). */
function tagValue(value: string): string {
  return value.replace(/[\x00-\x1f\x7f;=]/g, '');
}

/**
 * The DKIM-Signature header (folded, no trailing CRLF) for header lines and a body hash:
 * relaxed/relaxed, rsa-sha256, h= covering the present headers of DKIM_SIGNED_HEADERS (last
 * instance, as nodemailer picks them) and then each over-signed name once more.
 */
export function dkimSignature(headerLines: string[], bodyHash: string, key: DkimKey): string {
  const headers = headerLines.map((line) => ({
    key: line.slice(0, line.indexOf(':')).trim().toLowerCase(),
    line,
  }));
  const present = sign.relaxedHeaders(headers, DKIM_SIGNED_HEADERS);
  // The extra names match no further instance, so they add nothing to the signed data.
  const fieldNames = [present.fieldNames, ...DKIM_OVERSIGNED_HEADERS].join(':');
  const tags = [
    'v=1',
    'a=rsa-sha256',
    'c=relaxed/relaxed',
    `d=${tagValue(key.domain.toLowerCase())}`,
    'q=dns/txt',
    `s=${tagValue(key.selector)}`,
    `bh=${bodyHash}`,
    `h=${fieldNames}`,
  ].join('; ');
  const field = `${foldLines(`DKIM-Signature: ${tags}`, 76)};\r\n b=`;
  let signature: string;
  try {
    signature = createSign('RSA-SHA256')
      .update(`${present.headers}dkim-signature:${relaxedValue(field)}`, 'latin1')
      .sign(key.privateKey, 'base64');
  } catch {
    throw new Error('DKIM signing failed: the private key was not usable');
  }
  return field + signature.replace(/(^.{73}|.{75}(?!\r?\n|\r))/g, '$&\r\n ').trim();
}

/**
 * Signs a whole raw message with nodemailer's streaming DKIM signer: the reference for the
 * body hash and header canonicalisation (it cannot over-sign, so its h= differs).
 */
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
