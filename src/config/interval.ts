// Human intervals as operators write them (feed `every`, alert `hold`): kept at the bottom
// layer so feeds and alerts share it without importing each other.

/** "90s", "5m", "2h", "1d" (or plain seconds) to seconds; null when it is not one of those. */
export function parseInterval(value: string): number | null {
  const match = /^(\d{1,7})\s*(s|m|h|d)?$/i.exec(value.trim());
  if (!match) return null;
  const unit = { s: 1, m: 60, h: 3600, d: 86_400 }[(match[2] ?? 's').toLowerCase() as 's'];
  return Number(match[1]) * unit;
}
