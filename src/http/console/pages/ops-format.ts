// How the ops pages and the dashboard print instants, durations and sizes (one place, so every
// page reads alike). Instants show in UTC with the ISO value kept for <time datetime>.

const dateTime = new Intl.DateTimeFormat('en-GB', {
  day: 'numeric',
  month: 'short',
  year: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
  timeZone: 'UTC',
});
const whole = new Intl.NumberFormat('en');

/** An instant for display: "2 Dec 2026, 03:40 UTC"; '' for null or a bad value. */
export function formatInstant(iso: string | null | undefined): string {
  if (!iso) return '';
  const ms = Date.parse(iso);
  return Number.isFinite(ms) ? `${dateTime.format(ms)} UTC` : '';
}

/** A count with thousands separators. */
export function formatCount(n: number): string {
  return whole.format(n);
}

/** A duration in seconds as "1 h 5 min", "4 min 10 s" or "12 s". */
export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '—';
  const s = Math.max(0, Math.round(seconds));
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  if (hours > 0) return `${hours} h ${minutes} min`;
  if (minutes > 0) return `${minutes} min ${s % 60} s`;
  return `${s} s`;
}

/** A byte size as "812 B", "14.2 kB", "1.3 MB". */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  if (bytes < 1_000_000) return `${(bytes / 1000).toFixed(1)} kB`;
  return `${(bytes / 1_000_000).toFixed(1)} MB`;
}
