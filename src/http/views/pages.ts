// The public pages' HTML (subscribe, confirm, preferences, unsubscribe, messages): plain HTML
// with labelled controls, one small script (time zone detection), the stylesheet the console
// shares (/assets/herald.css, src/http/console/assets) and no build step. Views only:
// the routes in src/http/public/ decide what to show.
import type { DigestFrequency } from '../../store/schema.ts';
import type { Subscriber } from '../../subscribers/repository.ts';
import { CANONICAL_ZONE, canonicalZone } from '../../subscribers/zones.ts';

/** A piece of HTML that is already safe to insert. */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
}

type Interpolated = string | number | SafeHtml | null | undefined | false | Interpolated[];

function render(value: Interpolated): string {
  if (value === null || value === undefined || value === false) return '';
  if (Array.isArray(value)) return value.map(render).join('');
  if (value instanceof SafeHtml) return value.value;
  return escapeHtml(String(value));
}

/** A tagged template that escapes every interpolation unless it is SafeHtml. */
export function html(strings: TemplateStringsArray, ...values: Interpolated[]): SafeHtml {
  let out = strings[0] ?? '';
  values.forEach((value, i) => {
    out += render(value) + (strings[i + 1] ?? '');
  });
  return new SafeHtml(out);
}

/** Wraps a page body in the shared document shell. */
export function layout(title: string, body: SafeHtml): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${escapeHtml(title)} · Herald</title>
<link rel="stylesheet" href="/assets/herald.css">
</head>
<body class="public">
<main id="main">
${body.value}
</main>
</body>
</html>
`;
}

export interface TopicOption {
  id: string;
  name: string;
  description: string;
}

export interface FieldError {
  field: string;
  message: string;
}

/** What each form field is called on the page, for error messages. */
const FIELD_LABELS: Record<string, string> = {
  email: 'Email address',
  name: 'Name',
  topics: 'Topics',
  digest: 'Digest',
  timezone: 'Time zone',
  send_hour: 'Digest hour',
  confirm_erase: 'Delete me',
};

function errorSummary(errors: readonly FieldError[]): SafeHtml {
  if (errors.length === 0) return html``;
  return html`<div class="error" role="alert" id="errors"><p><strong>Please fix this:</strong></p><ul>${errors.map(
    (e) =>
      html`<li>${FIELD_LABELS[e.field] ? html`<a href="#${e.field}">${FIELD_LABELS[e.field]!}</a>: ` : ''}${e.message}</li>`,
  )}</ul></div>`;
}

function topicBoxes(topics: readonly TopicOption[], chosen: ReadonlySet<string>): SafeHtml {
  if (topics.length === 0)
    return html`<p class="hint">No topics yet: you will get every newsletter.</p>`;
  return html`${topics.map(
    (t) =>
      html`<label class="choice"><input type="checkbox" name="topics" value="${t.id}"${chosen.has(t.id) ? html` checked` : ''}> <span>${t.name}${t.description ? html` <span class="hint">${t.description}</span>` : ''}</span></label>`,
  )}`;
}

function digestRadios(current: DigestFrequency): SafeHtml {
  const labels: Record<DigestFrequency, string> = {
    off: 'No digest: only newsletters as they are sent',
    daily: 'Daily digest',
    weekly: 'Weekly digest',
  };
  return html`<fieldset id="digest"><legend>Digest</legend>${(
    ['off', 'daily', 'weekly'] as const
  ).map(
    (d) =>
      html`<label class="choice"><input type="radio" name="digest" value="${d}"${d === current ? html` checked` : ''}> <span>${labels[d]}</span></label>`,
  )}</fieldset>`;
}

function zoneSelect(zones: readonly string[], current: string): SafeHtml {
  return html`<div class="field"><label for="timezone">Time zone</label>
<select id="timezone" name="timezone" data-detect="${current === 'UTC' ? 'yes' : 'no'}">${zones.map(
    (z) => html`<option${z === canonicalZone(current) ? html` selected` : ''}>${z}</option>`,
  )}</select></div>`;
}

function hourSelect(current: number): SafeHtml {
  return html`<div class="field"><label for="send_hour">Digest hour (your local time)</label>
<select id="send_hour" name="send_hour">${Array.from(
    { length: 24 },
    (_, h) =>
      html`<option value="${h}"${h === current ? html` selected` : ''}>${String(h).padStart(2, '0')}:00</option>`,
  )}</select></div>`;
}

/**
 * Script that preselects the browser's time zone (served as a file: no inline script).
 * Browsers report some zones by retired names (Asia/Calcutta): map them as the list does.
 */
export const DETECT_ZONE_JS = `(function(){
  var select=document.getElementById('timezone');
  if(!select||select.getAttribute('data-detect')!=='yes')return;
  var canonical=${JSON.stringify(CANONICAL_ZONE)};
  try{var zone=Intl.DateTimeFormat().resolvedOptions().timeZone;}catch(e){return;}
  zone=canonical[zone]||zone;
  for(var i=0;i<select.options.length;i++){if(select.options[i].value===zone){select.selectedIndex=i;return;}}
})();
`;

export interface SubscribeValues {
  email?: string;
  name?: string;
  topics?: string[];
  digest?: DigestFrequency;
  timezone?: string;
}

/** The subscribe form. */
export function subscribePage(options: {
  topics: readonly TopicOption[];
  zones: readonly string[];
  values?: SubscribeValues;
  errors?: FieldError[];
}): string {
  const values = options.values ?? {};
  const errors = options.errors ?? [];
  return layout(
    'Subscribe',
    html`<h1>Subscribe to Herald</h1>
${errorSummary(errors)}
<form method="post" action="/subscribe" novalidate>
<div class="field"><label for="email">Email address</label>
<input type="email" id="email" name="email" required autocomplete="email" value="${values.email ?? ''}"${errors.some((e) => e.field === 'email') ? html` aria-invalid="true" aria-describedby="errors"` : ''}></div>
<div class="field"><label for="name">Name <span class="hint">(optional)</span></label>
<input type="text" id="name" name="name" autocomplete="name" value="${values.name ?? ''}"></div>
<fieldset id="topics"><legend>Topics</legend>${topicBoxes(options.topics, new Set(values.topics ?? []))}</fieldset>
${digestRadios(values.digest ?? 'off')}
${zoneSelect(options.zones, values.timezone ?? 'UTC')}
<p class="hint">We will send you an email to confirm. Nothing is sent before you confirm.</p>
<button type="submit">Subscribe</button>
</form>
<script src="/subscribe.js" defer></script>`,
  );
}

/** A page that says one thing, with optional links. */
export function messagePage(
  title: string,
  paragraphs: string[],
  links: Array<{ href: string; text: string }> = [],
): string {
  return layout(
    title,
    html`<h1>${title}</h1>${paragraphs.map((p) => html`<p>${p}</p>`)}${links.map(
      (l) => html`<p><a href="${l.href}">${l.text}</a></p>`,
    )}`,
  );
}

/** The preference centre for one subscriber. */
export function preferencesPage(options: {
  subscriber: Subscriber;
  topics: readonly TopicOption[];
  zones: readonly string[];
  token: string;
  unsubscribeUrl: string;
  notice?: string;
  errors?: FieldError[];
  /** Open-tracking consent (undefined: open tracking is off, nothing to ask). */
  openTracking?: boolean;
}): string {
  const s = options.subscriber;
  const action = `/preferences?token=${encodeURIComponent(options.token)}`;
  const names = new Map(options.topics.map((t) => [t.id, t.name]));
  return layout(
    'Your preferences',
    html`<h1>Your preferences</h1>
<p>For <strong class="address">${s.email}</strong></p>
${options.notice ? html`<p class="notice" role="status">${options.notice}</p>` : ''}
${errorSummary(options.errors ?? [])}
${stateNotice(s, action)}
<form method="post" action="${action}">
<input type="hidden" name="action" value="save">
<div class="field"><label for="name">Name</label>
<input type="text" id="name" name="name" autocomplete="name" value="${s.name ?? ''}"></div>
<fieldset id="topics"><legend>Topics</legend>${topicBoxes(options.topics, new Set(s.topics))}</fieldset>
${digestRadios(s.digest)}
${hourSelect(s.sendHour)}
${zoneSelect(options.zones, s.timezone)}
${
  options.openTracking === undefined
    ? ''
    : html`<fieldset id="tracking"><legend>Reading statistics</legend><label class="choice"><input type="checkbox" name="track_opens" value="yes"${options.openTracking ? html` checked` : ''}> <span>Count when I open an email (a tiny invisible image in each email tells us). Off unless you tick it; untick it any time.</span></label></fieldset>`
}
<button type="submit">Save preferences</button>
</form>
${
  s.topics.length > 0
    ? html`<h2>Unsubscribe from one topic</h2>${s.topics.map(
        (topic) => html`<form method="post" action="${action}" class="row">
<input type="hidden" name="action" value="unsubscribe-topic"><input type="hidden" name="topic" value="${topic}">
<span>${names.get(topic) ?? topic}</span><button type="submit" class="secondary" aria-label="Unsubscribe from ${names.get(topic) ?? topic}">Unsubscribe</button></form>`,
      )}`
    : ''
}
${
  s.status === 'active' || s.status === 'pending'
    ? html`<h2>Unsubscribe from everything</h2>
<p><a href="${options.unsubscribeUrl}" id="unsubscribe-all">Unsubscribe from all Herald emails</a></p>`
    : ''
}
<h2>Your data</h2>
<p><a href="/preferences/data?token=${encodeURIComponent(options.token)}" download="herald-my-data.json">Download my data (JSON)</a></p>
<form method="post" action="${action}">
<input type="hidden" name="action" value="erase">
<label class="choice"><input type="checkbox" id="confirm_erase" name="confirm_erase" value="yes" required> <span>I understand: delete everything about me. Herald keeps only a one-way hash of my address so that it never emails me again.</span></label>
<p><button type="submit" class="danger">Delete me</button></p>
</form>`,
  );
}

/** What the subscriber's state means for them, and the way back where there is one. */
function stateNotice(s: Subscriber, action: string): SafeHtml {
  switch (s.status) {
    case 'active':
      return html``;
    case 'pending':
      return html`<div class="state" id="state"><p><strong>Not confirmed yet.</strong> We send nothing until you open the link in the confirmation email we sent to this address.</p></div>`;
    case 'unsubscribed':
      return html`<div class="state" id="state"><h2>You are unsubscribed</h2>
<p>We send no emails to this address: no newsletters and no digests. The choices below are kept, but nothing is sent until you subscribe again.</p>
<form method="post" action="${action}"><input type="hidden" name="action" value="resubscribe">
<button type="submit">Subscribe again</button></form></div>`;
    case 'bounced':
      return html`<div class="state" id="state"><h2>We stopped sending</h2>
<p>Emails to this address were returned as undeliverable, so we stopped sending them. Nothing will be sent here again; to read Herald, subscribe with an address that receives mail.</p></div>`;
    case 'complained':
      return html`<div class="state" id="state"><h2>We stopped sending</h2>
<p>One of our emails to this address was reported as spam, so we stopped sending. Nothing will be sent here again.</p></div>`;
  }
}

/** The page a confirm link opens: a GET changes nothing (link scanners open it), the button does. */
export function confirmPage(token: string): string {
  return layout(
    'Confirm your subscription',
    html`<h1>Confirm your subscription</h1>
<p>Press the button to start receiving the Herald newsletter at this address.</p>
<form method="post" action="/confirm?token=${encodeURIComponent(token)}">
<button type="submit">Confirm my subscription</button>
</form>`,
  );
}

/** The unsubscribe page: a button that posts the RFC 8058 body (a GET changes nothing). */
export function unsubscribePage(token: string): string {
  return layout(
    'Unsubscribe',
    html`<h1>Unsubscribe</h1>
<p>Press the button to stop all Herald emails to this address.</p>
<form method="post" action="/unsubscribe?token=${encodeURIComponent(token)}">
<input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">Unsubscribe</button>
</form>`,
  );
}
