// Compile-time link rewriting: every web link of a newsletter's HTML part becomes a
// per-recipient placeholder (`{{{clickUrls.[N]}}}`), filled with `PUBLIC_URL/r/TOKEN` when the
// message is personalised. The text part keeps the original links; the unsubscribe and
// preferences links are placeholders already and are never touched, nor mailto:, tel: or #.
import { Parser } from 'htmlparser2';

export interface TrackedHtml {
  /** The HTML with tracked hrefs replaced by placeholders (and the open pixel's, if asked). */
  html: string;
  /** The tracked URLs, in placeholder order: the index is the link's number in its token. */
  urls: string[];
}

/** Only absolute web links are tracked; anything else (mailto:, tel:, #…, placeholders) stays. */
function isTrackable(href: string): boolean {
  return /^https?:\/\/[^\s{}]+$/i.test(href);
}

/** The placeholder a tracked link's href becomes: the click URL list of PersonalVars. */
export function clickPlaceholder(index: number): string {
  return `{{{clickUrls.[${index}]}}}`;
}

/** Where the open-tracking image goes: just before `</body>` (or at the end). */
export const OPEN_PIXEL_PLACEHOLDER = '{{{openPixel}}}';

/**
 * Rewrites the web links of compiled newsletter HTML into click placeholders. The same URL
 * twice (headline and "Read more") is one tracked link. `withOpenPixel` adds the open
 * image's placeholder. Attribute values are read decoded (htmlparser2), so the stored URL is
 * exactly what the reader's client would have opened.
 */
export function trackLinks(
  html: string,
  options: { clicks: boolean; withOpenPixel: boolean },
): TrackedHtml {
  const urls: string[] = [];
  const indexOf = new Map<string, number>();
  const edits: Array<{ start: number; end: number; index: number }> = [];
  if (options.clicks) {
    const parser: Parser = new Parser(
      {
        onopentag(name, attributes) {
          if (name !== 'a') return;
          const href = attributes.href?.trim();
          if (href === undefined || !isTrackable(href)) return;
          // The raw tag text, to find where the href's value sits in it.
          const start = parser.startIndex;
          const tag = html.slice(start, parser.endIndex + 1);
          const match = /\shref\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)/i.exec(tag);
          if (!match) return;
          let index = indexOf.get(href);
          if (index === undefined) {
            index = urls.length;
            urls.push(href);
            indexOf.set(href, index);
          }
          const quoted = match[1]!;
          const valueStart = start + match.index + match[0].length - quoted.length;
          edits.push({ start: valueStart, end: valueStart + quoted.length, index });
        },
      },
      { decodeEntities: true, lowerCaseTags: true, lowerCaseAttributeNames: true },
    );
    parser.write(html);
    parser.end();
  }
  let out = '';
  let at = 0;
  for (const edit of edits) {
    out += `${html.slice(at, edit.start)}"${clickPlaceholder(edit.index)}"`;
    at = edit.end;
  }
  out += html.slice(at);
  if (options.withOpenPixel) {
    const close = out.lastIndexOf('</body>');
    out =
      close === -1
        ? out + OPEN_PIXEL_PLACEHOLDER
        : `${out.slice(0, close)}${OPEN_PIXEL_PLACEHOLDER}${out.slice(close)}`;
  }
  return { html: out, urls };
}
