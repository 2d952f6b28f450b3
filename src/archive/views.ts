// Server-rendered archive pages in the look of the public subscriber pages (system font, one
// accent, a narrow readable column): no scripts, every interpolation escaped, inline styles
// only (the site's Content-Security-Policy allows them, and nothing else from elsewhere).

/** A piece of HTML that is already safe to insert. */
class Markup {
  constructor(readonly value: string) {}
}

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
}

type Part = string | number | Markup | null | undefined | false | Part[];

function part(value: Part): string {
  if (value === null || value === undefined || value === false) return '';
  if (Array.isArray(value)) return value.map(part).join('');
  if (value instanceof Markup) return value.value;
  return escapeHtml(String(value));
}

/** A tagged template that escapes every interpolation unless it is already Markup. */
function html(strings: TemplateStringsArray, ...values: Part[]): Markup {
  let out = strings[0] ?? '';
  values.forEach((value, i) => {
    out += part(value) + (strings[i + 1] ?? '');
  });
  return new Markup(out);
}

/** Trusted markup (the stripped newsletter body) passed through as is. */
function trusted(markup: string): Markup {
  return new Markup(markup);
}

const STYLE = `
:root{color-scheme:light dark;--accent:#1a4d8f;--muted:#5a5a5a;--line:#8884;--card:#fff;--bg:#f4f4f1}
@media (prefers-color-scheme:dark){:root{--accent:#8fb8ff;--muted:#b0b0b0;--card:#121212;--bg:#1c1c1c}}
*{box-sizing:border-box}
body{font:1.05rem/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:var(--bg)}
a,.bar a,.crumbs a,.meta a,.aside a,.foot a,.issue a{color:var(--accent)}
.bar .button,.aside .button,.cta .button{color:#fff}
:focus-visible{outline:3px solid #f90;outline-offset:2px}
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:1rem;background:var(--card);padding:.5rem}
.bar{background:var(--card);border-bottom:1px solid var(--line)}
.bar-in{max-width:62rem;margin:0 auto;padding:.75rem 1rem;display:flex;gap:1rem;align-items:center;justify-content:space-between;flex-wrap:wrap}
.bar .brand{font-weight:700;font-size:1.15rem;text-decoration:none;color:inherit}
.brand span{color:var(--muted);font-weight:400}
.nav{display:flex;gap:1rem;align-items:center}
@media (max-width:30rem){.nav .wide{display:none}.bar-in{flex-wrap:nowrap}}
.button{display:inline-block;padding:.55rem 1rem;border-radius:4px;background:var(--accent);color:#fff;text-decoration:none;font-weight:600;min-height:44px;line-height:1.9}
@media (prefers-color-scheme:dark){.bar .button,.aside .button,.cta .button{color:#111}}
main{max-width:62rem;margin:0 auto;padding:1rem}
h1{font-size:1.7rem;line-height:1.2;margin:.5rem 0}
.lede{color:var(--muted);margin:.25rem 0 1rem}
.meta{color:var(--muted);font-size:.92rem;margin:.25rem 0 1rem;overflow-wrap:anywhere}
.crumbs{font-size:.92rem;margin:.5rem 0}
.layout{display:grid;gap:1.5rem;grid-template-columns:minmax(0,1fr)}
@media (min-width:60rem){.layout{grid-template-columns:minmax(0,1fr) 19rem}}
.topics{list-style:none;padding:0;margin:0;display:flex;flex-wrap:wrap;gap:.5rem}
.topics a{display:inline-block;padding:.3rem .7rem;border:1px solid var(--line);border-radius:999px;text-decoration:none;background:var(--card);overflow-wrap:anywhere}
.topics .count{opacity:.75;font-size:.85em}
.topics a[aria-current]{background:var(--accent);color:#fff;border-color:var(--accent)}
.issues{list-style:none;padding:0;margin:0}
.issue{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:1rem 1.1rem;margin:0 0 .9rem}
.issue h2{font-size:1.25rem;line-height:1.3;margin:.2rem 0 .4rem;overflow-wrap:anywhere}
.issue h2 a{text-decoration:none;color:inherit}.issue h2 a:hover{text-decoration:underline}
.issue p{margin:.3rem 0}
.aside{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:1rem}
.aside h2{font-size:1.05rem;margin:0 0 .5rem}
.pages{display:flex;justify-content:space-between;gap:1rem;margin:1rem 0;flex-wrap:wrap}
.column{max-width:602px;margin:0 auto}
.letter{background:#fff;border:1px solid var(--line);border-radius:6px;max-width:602px;margin:0 auto;padding-bottom:20px;overflow:hidden}
.letter .hd-photo-link{display:block;padding:0 20px;font:.9rem system-ui,sans-serif}
.cta{max-width:602px;margin:1.5rem auto;background:var(--card);border:1px solid var(--line);border-left:4px solid var(--accent);border-radius:6px;padding:1rem 1.1rem}
.cta h2{font-size:1.15rem;margin:0 0 .3rem}
.cta p,.aside p{margin:.6rem 0}
.foot{max-width:62rem;margin:2rem auto 0;padding:1rem;color:var(--muted);font-size:.88rem;border-top:1px solid var(--line);overflow-wrap:anywhere}
`;

export interface SiteInfo {
  /** The sender's display name (MAIL_FROM), shown as the site's name. */
  brand: string;
  postalAddress: string;
}

interface ShellOptions {
  site: SiteInfo;
  title: string;
  body: Markup;
  /** The RSS feed this page offers (site-relative), announced to feed readers. */
  feedPath?: string;
  feedTitle?: string;
  /** The newsletter's own style sheets, for a campaign page. */
  extraStyles?: readonly string[];
  description?: string;
}

/** The document shell every archive page shares: bar with the site name, main, footer. */
function shell(options: ShellOptions): string {
  const { site } = options;
  // A style sheet must not close its own element early.
  const css = [STYLE, ...(options.extraStyles ?? [])]
    .map((sheet) => sheet.replace(/<\/style/gi, '<\\/style'))
    .join('\n');
  return `<!doctype html>
${
  html`<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${options.title} · ${site.brand}</title>
${options.description ? html`<meta name="description" content="${options.description}">` : ''}
${options.feedPath ? html`<link rel="alternate" type="application/rss+xml" title="${options.feedTitle ?? options.title}" href="${options.feedPath}">` : ''}
<style>${trusted(css)}</style>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="bar"><div class="bar-in">
<a class="brand" href="/archive">${site.brand} <span>archive</span></a>
<nav class="nav" aria-label="Site"><a class="wide" href="/archive">All issues</a><a class="button" href="/subscribe">Subscribe</a></nav>
</div></header>
<main id="main">
${options.body}
</main>
<footer class="foot">${site.brand} · ${site.postalAddress}${options.feedPath ? html` · <a href="${options.feedPath}">RSS feed</a>` : ''}</footer>
</body>
</html>
`.value
}`;
}

/** `1 December 2026` for an ISO instant (UTC calendar day). */
export function dayLabel(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime())
    ? iso
    : new Intl.DateTimeFormat('en-GB', {
        day: 'numeric',
        month: 'long',
        year: 'numeric',
        timeZone: 'UTC',
      }).format(date);
}

export interface IssueCard {
  path: string;
  subject: string;
  publishedAt: string;
  summary: string;
  topics: Array<{ id: string; name: string }>;
}

export interface TopicLink {
  id: string;
  name: string;
  count: number;
}

export interface IndexView {
  site: SiteInfo;
  /** The topic this index is for, or undefined for all issues. */
  topic?: { id: string; name: string; description: string };
  topics: TopicLink[];
  issues: IssueCard[];
  page: number;
  pages: number;
  total: number;
}

function pagePath(topicId: string | undefined, page: number): string {
  const base = topicId ? `/archive/topics/${topicId}` : '/archive';
  return page > 1 ? `${base}?page=${page}` : base;
}

/** The archive index: all issues or one topic's, newest first, a page at a time. */
export function indexPage(view: IndexView): string {
  const { topic } = view;
  const title = topic ? topic.name : 'Newsletter archive';
  const feedPath = topic ? `/archive/topics/${topic.id}/rss.xml` : '/archive/rss.xml';
  const cards = view.issues.map(
    (issue) => html`<li class="issue"><article>
<p class="meta"><time datetime="${issue.publishedAt}">${dayLabel(issue.publishedAt)}</time>${issue.topics.length ? html` · ${issue.topics.map((t, i) => html`${i ? ', ' : ''}<a href="/archive/topics/${t.id}">${t.name}</a>`)}` : ''}</p>
<h2><a href="${issue.path}">${issue.subject}</a></h2>
${issue.summary ? html`<p>${issue.summary}</p>` : ''}
</article></li>`,
  );
  const pager =
    view.pages > 1
      ? html`<nav class="pages" aria-label="Pages">${view.page > 1 ? html`<a rel="prev" href="${pagePath(topic?.id, view.page - 1)}">← Newer issues</a>` : html`<span></span>`}<span class="meta">Page ${view.page} of ${view.pages}</span>${view.page < view.pages ? html`<a rel="next" href="${pagePath(topic?.id, view.page + 1)}">Older issues →</a>` : html`<span></span>`}</nav>`
      : '';
  const topicList = html`<ul class="topics">${view.topics.map(
    (t) =>
      html`<li><a href="/archive/topics/${t.id}"${t.id === topic?.id ? html` aria-current="page"` : ''}>${t.name} <span class="count">(${t.count})</span></a></li>`,
  )}</ul>`;
  const body = html`${topic ? html`<p class="crumbs"><a href="/archive">All issues</a> › ${topic.name}</p>` : ''}
<h1>${title}</h1>
<p class="lede">${topic?.description ? topic.description : 'Every newsletter we have sent, newest first.'} ${view.total} ${view.total === 1 ? 'issue' : 'issues'}.</p>
<div class="layout">
<section aria-label="Issues">
${view.issues.length ? html`<ol class="issues">${cards}</ol>` : html`<p>No issues here yet.</p>`}
${pager}
</section>
<aside class="aside" aria-label="Topics">
<h2>Topics</h2>
${view.topics.length ? topicList : html`<p class="meta">None yet.</p>`}
<p><a href="${feedPath}">RSS feed of ${topic ? topic.name : 'all issues'}</a></p>
<p><a class="button" href="/subscribe">Get them by email</a></p>
</aside>
</div>`;
  return shell({
    site: view.site,
    title,
    body,
    feedPath,
    feedTitle: `${view.site.brand}: ${title}`,
    description: topic?.description || `${view.site.brand} newsletter archive`,
  });
}

export interface IssueView {
  site: SiteInfo;
  subject: string;
  publishedAt: string;
  summary: string;
  topics: Array<{ id: string; name: string }>;
  /** The newsletter's stripped body markup (see render.ts) and its style sheets. */
  newsletterBody: string;
  newsletterStyles: string[];
}

/** One issue's web version: the newsletter as mailed, and how to get the next one. */
export function issuePage(view: IssueView): string {
  const firstTopic = view.topics[0];
  const body = html`<div class="column"><p class="crumbs"><a href="/archive">All issues</a>${firstTopic ? html` › <a href="/archive/topics/${firstTopic.id}">${firstTopic.name}</a>` : ''}</p>
<p class="meta">Sent <time datetime="${view.publishedAt}">${dayLabel(view.publishedAt)}</time>${view.topics.length ? html` to followers of ${view.topics.map((t, i) => html`${i ? ', ' : ''}<a href="/archive/topics/${t.id}">${t.name}</a>`)}` : ''}</p></div>
<article class="letter" aria-label="${view.subject}">
${trusted(view.newsletterBody)}
</article>
<section class="cta" aria-labelledby="cta-title">
<h2 id="cta-title">Get the next issue by email</h2>
<p>Pick your topics and a daily or weekly digest; every email has a one-click unsubscribe.</p>
<p><a class="button" href="/subscribe">Subscribe</a></p>
</section>`;
  return shell({
    site: view.site,
    title: view.subject,
    body,
    extraStyles: view.newsletterStyles,
    description: view.summary.slice(0, 200),
    ...(firstTopic
      ? {
          feedPath: `/archive/topics/${firstTopic.id}/rss.xml`,
          feedTitle: `${view.site.brand}: ${firstTopic.name}`,
        }
      : {}),
  });
}

/** The page for an address that is not (or no longer) in the archive. */
export function notFoundPage(site: SiteInfo, message: string): string {
  return shell({
    site,
    title: 'Not in the archive',
    body: html`<h1>Not in the archive</h1><p>${message}</p><p><a href="/archive">See every issue</a></p>`,
  });
}
