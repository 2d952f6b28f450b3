// The demo's own HERALD_SECRET: generated once, kept in the data dir (mode 0600) and reused, so
// `herald demo` works on a fresh clone while every other server refuses to run without one.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MIN_SECRET_BYTES } from '../config/index.ts';

/** The file under the data dir that holds the demo's secret. */
export function secretFile(dataDir: string): string {
  return join(dataDir, 'secret');
}

/**
 * Returns the secret kept in `dataDir/secret`, creating it (48 random bytes, base64url) when
 * absent or unusable. Two demos starting at once both end up with the file's content.
 */
export function keptSecret(dataDir: string): string {
  const path = secretFile(dataDir);
  const read = (): string | null => {
    try {
      const value = readFileSync(path, 'utf8').trim();
      return Buffer.byteLength(value) >= MIN_SECRET_BYTES ? value : null;
    } catch {
      return null;
    }
  };
  const existing = read();
  if (existing) return existing;
  mkdirSync(dataDir, { recursive: true });
  const fresh = randomBytes(48).toString('base64url');
  try {
    // 'wx': never overwrite a secret another process has just written.
    writeFileSync(path, `${fresh}\n`, { mode: 0o600, flag: 'wx' });
    return fresh;
  } catch {
    const raced = read();
    if (raced) return raced;
    // The file exists but is unusable (truncated, too short): replace it.
    writeFileSync(path, `${fresh}\n`, { mode: 0o600 });
    return fresh;
  }
}
