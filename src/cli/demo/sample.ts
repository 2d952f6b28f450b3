// Sample data for `herald demo`: the reference article and 1,000 subscribers across topics
// and time zones (addresses on example.com, reserved for documentation).
import { readFileSync } from 'node:fs';

export const DEMO_ARTICLE_PATH = new URL('./lavrov-china.txt', import.meta.url);

/** The demo article's raw text (a copy of the project's reference fixture). */
export function demoArticleText(): Buffer {
  return readFileSync(DEMO_ARTICLE_PATH);
}

const FIRST = [
  'Ana',
  'Bilal',
  'Chen',
  'Dara',
  'Elif',
  'Femi',
  'Greta',
  'Hiro',
  'Ines',
  'Jonas',
  'Kemal',
  'Lena',
];
const LAST = [
  'Silva',
  'Khan',
  'Wei',
  'Moreau',
  'Yilmaz',
  'Okafor',
  'Berg',
  'Sato',
  'Costa',
  'Weber',
  'Aydin',
  'Novak',
];
const ZONES = [
  'Europe/London',
  'Europe/Berlin',
  'Asia/Kolkata',
  'Asia/Shanghai',
  'America/New_York',
  'Australia/Sydney',
  'Africa/Lagos',
  'UTC',
];
/** Topic mixes: most readers follow Russia-China relations, some only a neighbouring beat. */
const TOPIC_MIXES = [
  'russia-china-relations',
  'russia-china-relations;russia',
  'russia-china-relations;china;belt-and-road',
  'china;economy',
  'russia;ukraine-war',
  'russia-china-relations;israel-gaza',
  'climate;technology',
];
const DIGESTS = ['off', 'daily', 'weekly', 'off'];

/** A CSV (email,name,topics,timezone,digest) of `count` sample subscribers. */
export function demoSubscribersCsv(count = 1_000): string {
  const lines = ['email,name,topics,timezone,digest'];
  for (let i = 0; i < count; i++) {
    const first = FIRST[i % FIRST.length]!;
    const last = LAST[Math.floor(i / FIRST.length) % LAST.length]!;
    const email = `${first}.${last}.${i}@example.com`.toLowerCase();
    lines.push(
      [
        email,
        `${first} ${last}`,
        TOPIC_MIXES[i % TOPIC_MIXES.length],
        ZONES[i % ZONES.length],
        DIGESTS[i % DIGESTS.length],
      ].join(','),
    );
  }
  return `${lines.join('\n')}\n`;
}
