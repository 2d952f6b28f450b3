// The archive's RSS 2.0 feeds (all issues, or one topic's), written by feedsmith so titles and
// summaries are escaped (CDATA) by a kept library rather than by hand.
import { generateRssFeed } from 'feedsmith';

export interface FeedIssue {
  /** Absolute URL of the issue's web version: also its permanent guid. */
  url: string;
  subject: string;
  summary: string;
  publishedAt: string;
  topicNames: string[];
}

export interface FeedChannel {
  title: string;
  /** Absolute URL of the archive page the feed mirrors. */
  link: string;
  description: string;
}

/** Characters XML 1.0 cannot carry at all (not even escaped): dropped from feed text. */
const XML_INVALID = /[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]/gu;

function xmlText(text: string): string {
  return text.replace(XML_INVALID, '');
}

/** An RSS 2.0 document for the channel with its issues (newest first, as given). */
export function archiveRss(channel: FeedChannel, issues: readonly FeedIssue[]): string {
  const newest = issues[0]?.publishedAt;
  return generateRssFeed({
    title: xmlText(channel.title),
    link: channel.link,
    description: xmlText(channel.description),
    language: 'en',
    ...(newest ? { lastBuildDate: new Date(newest) } : {}),
    items: issues.map((issue) => ({
      title: xmlText(issue.subject),
      link: issue.url,
      guid: { value: issue.url, isPermaLink: true },
      pubDate: new Date(issue.publishedAt),
      description: xmlText(issue.summary),
      categories: issue.topicNames.map((name) => ({ name: xmlText(name) })),
    })),
  });
}
