// Sender set-up checks: what a start-up warns about, and the quiet case of a good set-up.
import { describe, expect, it } from 'vitest';
import { senderWarnings } from '../src/mail/sender-checks.ts';
import { testConfig } from './helpers/newsletter.ts';

const checks = (overrides: Record<string, string>) =>
  senderWarnings(testConfig(overrides)).map((w) => w.check);
const dkim = (domain: string) => ({
  DKIM_DOMAIN: domain,
  DKIM_SELECTOR: 'herald',
  DKIM_PRIVATE_KEY: 'unused-by-the-check',
});

describe('senderWarnings', () => {
  it('says nothing for an aligned https set-up with a real address', () => {
    expect(checks({ POSTAL_ADDRESS: 'Herald, 5 Fleet Street, London' })).toEqual([]);
    expect(
      checks({ POSTAL_ADDRESS: 'Herald, 5 Fleet Street', ...dkim('news.example.com') }),
    ).toEqual([]);
    // Relaxed alignment: the parent domain signs for news.example.com.
    expect(checks({ POSTAL_ADDRESS: 'Herald, 5 Fleet Street', ...dkim('example.com') })).toEqual(
      [],
    );
  });

  it('warns about each problem, naming the setting', () => {
    const all = senderWarnings(
      testConfig({
        MAIL_FROM: 'Herald <newsletter@herald.localhost>',
        PUBLIC_URL: 'http://localhost:3000',
        POSTAL_ADDRESS: 'Herald Newsroom, 1 Example Street, 00000 Example City',
        ...dkim('mailer.example.net'),
      }),
    );
    expect(all.map((w) => w.check)).toEqual([
      'dkim-alignment',
      'one-click-http',
      'postal-placeholder',
      'localhost-sender',
    ]);
    expect(all[0]!.message).toMatch(/DKIM_DOMAIN mailer\.example\.net .* herald\.localhost/);
    expect(all[1]!.message).toContain('PUBLIC_URL');
    expect(all[2]!.message).toContain('POSTAL_ADDRESS');
    expect(all[3]!.message).toContain('MAIL_FROM');
  });

  it('does not take a look-alike domain for a subdomain', () => {
    expect(
      checks({ POSTAL_ADDRESS: 'Herald, 5 Fleet Street', ...dkim('evilexample.com') }),
    ).toEqual(['dkim-alignment']);
    expect(checks({ POSTAL_ADDRESS: 'x', MAIL_FROM: 'a@localhost' })).toEqual(['localhost-sender']);
  });
});
