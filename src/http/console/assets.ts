// The console's static files, served by Herald (no CDN, no build step): our stylesheet and
// script from ./assets, and htmx from its npm package. A fixed list: nothing else is served.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync } from 'fastify';

const here = dirname(fileURLToPath(import.meta.url));
const htmxDir = join(
  dirname(createRequire(import.meta.url).resolve('htmx.org/package.json')),
  'dist',
);

/** URL path → file and media type. */
export const ASSETS: Readonly<Record<string, { file: string; type: string }>> = {
  '/assets/herald.css': {
    file: join(here, 'assets', 'herald.css'),
    type: 'text/css; charset=utf-8',
  },
  '/assets/console.js': {
    file: join(here, 'assets', 'console.js'),
    type: 'text/javascript; charset=utf-8',
  },
  '/assets/htmx.min.js': {
    file: join(htmxDir, 'htmx.min.js'),
    type: 'text/javascript; charset=utf-8',
  },
};

export const assetRoutes: FastifyPluginAsync = async (fastify) => {
  // Read once at start: a handful of small files, served from memory.
  const bodies = new Map<string, Buffer>();
  for (const [path, asset] of Object.entries(ASSETS)) bodies.set(path, await readFile(asset.file));
  for (const [path, asset] of Object.entries(ASSETS)) {
    fastify.get(path, async (_request, reply) =>
      reply
        .type(asset.type)
        // Revalidate hourly: the files change only with a new Herald version.
        .header('cache-control', 'public, max-age=3600')
        .send(bodies.get(path)),
    );
  }
};
