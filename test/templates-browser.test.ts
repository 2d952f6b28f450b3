// The personalised HTML renders without horizontal scrolling at phone and desktop widths.
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileNewsletter, type NewsletterInput } from '../src/templates/index.ts';
import { createPersonaliser } from '../src/templates/personalise.ts';
import { launchChromium } from './helpers/browser.ts';
import {
  alertInput,
  blocksArticle,
  digestInput,
  fixtureArticle,
  testConfig,
} from './helpers/newsletter.ts';

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

type Rgb = [number, number, number];

/** WCAG 2 relative luminance of an sRGB colour (0-255 channels). */
function luminance([r, g, b]: Rgb): number {
  const channel = (c: number) => {
    const v = c / 255;
    return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
}

/** WCAG 2 contrast ratio of two colours (1 to 21). */
function contrast(a: Rgb, b: Rgb): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (hi + 0.05) / (lo + 0.05);
}

/**
 * In the page: the button's fill and text colour, and the background behind it (the nearest
 * ancestor of the button's cell with an opaque background), as computed by the browser.
 */
const BUTTON_COLOURS = `(() => {
  const rgb = (c) => { const m = c.match(/\\d+(\\.\\d+)?/g).map(Number); return m.length === 4 && m[3] === 0 ? null : m.slice(0, 3); };
  const link = document.querySelector('.hd-button a');
  const cell = link.closest('td[bgcolor]');
  let around = cell.parentElement;
  while (around && rgb(getComputedStyle(around).backgroundColor) === null) around = around.parentElement;
  return {
    fill: rgb(getComputedStyle(cell).backgroundColor),
    text: rgb(getComputedStyle(link).color),
    page: around ? rgb(getComputedStyle(around).backgroundColor) : [255, 255, 255],
  };
})()`;

/**
 * In the page: every visible element holding text of its own, with its computed colour and the
 * background it sits on (nearest ancestor-or-self with an opaque background).
 */
const TEXT_COLOURS = `(() => {
  const rgb = (c) => { const m = c.match(/\\d+(\\.\\d+)?/g).map(Number); return m.length === 4 && m[3] === 0 ? null : m.slice(0, 3); };
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    const own = [...el.childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent.trim()).join(' ').trim();
    if (!own || el.closest('.preheader') || el.getClientRects().length === 0) continue;
    let bg = null;
    for (let at = el; at && bg === null; at = at.parentElement) bg = rgb(getComputedStyle(at).backgroundColor);
    out.push({ text: own.slice(0, 40), colour: rgb(getComputedStyle(el).color), background: bg || [255, 255, 255] });
  }
  return out;
})()`;

/** In the page: the RGB of pixels of a PNG (base64) at the given points, read via a canvas. */
const readPixels = (png: string, points: Array<[number, number]>) => `(async () => {
  const img = new Image();
  img.src = 'data:image/png;base64,${png}';
  await img.decode();
  const canvas = document.createElement('canvas');
  canvas.width = img.width; canvas.height = img.height;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(img, 0, 0);
  return ${JSON.stringify(points)}.map(([x, y]) => Array.from(ctx.getImageData(x, y, 1, 1).data.slice(0, 3)));
})()`;

describe('the button stays visible in dark mode', () => {
  const personal = {
    name: 'Anna',
    followedTopicNames: ['China'],
    unsubscribeUrl: 'https://news.example.com/unsubscribe?token=a',
    preferencesUrl: 'https://news.example.com/preferences?token=b',
  };
  const html = async () =>
    createPersonaliser(await compileNewsletter(alertInput(blocksArticle()), testConfig()))(personal)
      .html;

  it('computes contrast the WCAG way (the checks below can fail)', () => {
    expect(contrast([255, 255, 255], [0, 0, 0])).toBeCloseTo(21, 5);
    // The old button: #111111 on a page forced to #121212.
    expect(contrast([0x11, 0x11, 0x11], [0x12, 0x12, 0x12])).toBeLessThan(1.1);
  });

  it('light and emulated dark (prefers-color-scheme): fill vs page ≥ 3:1, label vs fill ≥ 4.5:1', async () => {
    const browser = await launchChromium();
    try {
      for (const colorScheme of ['light', 'dark'] as const) {
        const page = await browser.newPage({ viewport: { width: 375, height: 800 }, colorScheme });
        await page.route(/^https?:/, (route) => route.abort());
        await page.setContent(await html());
        const colours = (await page.evaluate(BUTTON_COLOURS)) as Record<
          'fill' | 'text' | 'page',
          Rgb
        >;
        expect(contrast(colours.fill, colours.page), colorScheme).toBeGreaterThanOrEqual(3);
        expect(contrast(colours.text, colours.fill), colorScheme).toBeGreaterThanOrEqual(4.5);
        if (colorScheme === 'dark') expect(luminance(colours.page)).toBeLessThan(0.05);
        await page.close();
      }
    } finally {
      await browser.close();
    }
  }, 60_000);

  it('every piece of text reads against its background (≥ 4.5:1) in light and dark', async () => {
    const browser = await launchChromium();
    try {
      const inputs = [alertInput(blocksArticle()), digestInput()];
      for (const input of inputs) {
        const page_html = createPersonaliser(await compileNewsletter(input, testConfig()))(
          personal,
        ).html;
        for (const colorScheme of ['light', 'dark'] as const) {
          const page = await browser.newPage({
            viewport: { width: 600, height: 800 },
            colorScheme,
          });
          await page.route(/^https?:/, (route) => route.abort());
          await page.setContent(page_html);
          const texts = (await page.evaluate(TEXT_COLOURS)) as Array<{
            text: string;
            colour: Rgb;
            background: Rgb;
          }>;
          expect(texts.length).toBeGreaterThan(10);
          const unreadable = texts
            .filter((t) => contrast(t.colour, t.background) < 4.5)
            .map((t) => `${t.text} (${contrast(t.colour, t.background).toFixed(2)})`);
          expect(unreadable, `${input.template} ${colorScheme}`).toEqual([]);
          await page.close();
        }
      }
    } finally {
      await browser.close();
    }
  }, 60_000);

  it('forced dark (Chromium auto-darkening, as some apps invert mail): rendered fill vs page ≥ 3:1', async () => {
    const browser = await launchChromium(['--blink-settings=forceDarkModeEnabled=true']);
    try {
      const page = await browser.newPage({ viewport: { width: 375, height: 800 } });
      await page.route(/^https?:/, (route) => route.abort());
      await page.setContent(await html());
      const cell = page.locator('.hd-button td[bgcolor]');
      await cell.scrollIntoViewIfNeeded();
      const box = (await cell.boundingBox())!;
      const png = (await page.screenshot()).toString('base64');
      // Inside the fill (left padding, clear of the label) and the page to its right.
      const y = Math.round(box.y + box.height / 2);
      const [fill, around] = (await page.evaluate(
        readPixels(png, [
          [Math.round(box.x + 6), y],
          [Math.min(Math.round(box.x + box.width + 30), 370), y],
        ]),
      )) as [Rgb, Rgb];
      expect(luminance(around), 'the page was darkened').toBeLessThan(0.05);
      expect(contrast(fill, around)).toBeGreaterThanOrEqual(3);
    } finally {
      await browser.close();
    }
  }, 60_000);
});
