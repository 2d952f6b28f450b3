// The personalised HTML renders without horizontal scrolling at phone and desktop widths.
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileNewsletter, type NewsletterInput } from '../src/templates/index.ts';
import { createPersonaliser } from '../src/templates/personalise.ts';
import { launchChromium } from './helpers/browser.ts';
import { alertInput, digestInput, fixtureArticle, testConfig } from './helpers/newsletter.ts';

// A 1200x800 image (served by the test's route), so a wide photo is laid out as in a client.
const wideImage = 'https://img.example.com/wide.svg';
const wideSvg =
  '<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="800"><rect width="1200" height="800" fill="#888"/></svg>';

// Evaluated in the page (a string, as this project's TypeScript has no DOM types).
const MEASURE =
  '({ scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth, text: document.body.innerText })';
interface Measured {
  scrollWidth: number;
  innerWidth: number;
  text: string;
}

const inputs: Array<[string, NewsletterInput]> = [
  ['alert', alertInput()],
  [
    'alert with a wide image',
    alertInput({
      ...fixtureArticle(),
      title: `A headline with a very long word ${'Supercalifragilistic'.repeat(3)}`,
      image: { url: wideImage, caption: 'A wide photo', credit: 'AFP' },
    }),
  ],
  ['digest', digestInput()],
];

describe('HTML in headless Chromium', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
  });

  it('measures overflow: a fixed 800px block does scroll at 375px', async () => {
    const page = await browser.newPage({ viewport: { width: 375, height: 800 } });
    try {
      await page.setContent('<div style="width:800px">wide</div>');
      const scrollWidth = (await page.evaluate(MEASURE)) as Measured;
      expect(scrollWidth.innerWidth).toBe(375);
      expect(scrollWidth.scrollWidth).toBeGreaterThan(375);
    } finally {
      await page.close();
    }
  });

  for (const [label, input] of inputs) {
    for (const width of [375, 600]) {
      it(`${label} has no horizontal scroll at ${width}px`, async () => {
        const compiled = await compileNewsletter(input, testConfig());
        const { html } = createPersonaliser(compiled)({
          name: 'Maximilian Alexander von Lichtenstein-Habsburg',
          followedTopicNames: ['Russia-China relations', 'China'],
          unsubscribeUrl: `https://news.example.com/unsubscribe?token=${'x'.repeat(120)}`,
          preferencesUrl: `https://news.example.com/preferences?token=${'y'.repeat(120)}`,
        });
        const page = await browser.newPage({ viewport: { width, height: 800 } });
        try {
          // No network: the test image is served here, every other request is refused.
          await page.route(/^https?:/, (route) =>
            route.request().url() === wideImage
              ? route.fulfill({ contentType: 'image/svg+xml', body: wideSvg })
              : route.abort(),
          );
          await page.setContent(html, { waitUntil: 'load' });
          const { scrollWidth, innerWidth, text } = (await page.evaluate(MEASURE)) as Measured;
          expect(innerWidth).toBe(width);
          expect(scrollWidth).toBeLessThanOrEqual(innerWidth);
          expect(text).toContain('Unsubscribe');
          if (label.includes('image')) {
            const imageWidth = (await page.evaluate(
              'document.querySelector("img") && document.querySelector("img").naturalWidth',
            )) as number;
            expect(imageWidth).toBe(1200);
          }
        } finally {
          await page.close();
        }
      }, 60_000);
    }
  }
});
