// The API reference (/console/api/) for every signed-in console user: the OpenAPI document
// (src/http/openapi.ts) rendered by @fastify/swagger-ui from its own npm package — served by
// Herald, no CDN — with the plugin's staticCSP (scripts by hash, no inline, no eval). Every
// route of the plugin, its static files included, is behind the console guard.
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyPluginAsync } from 'fastify';
import type { App } from '../../../app.ts';
import { requireConsole } from '../guard.ts';

/** Where the reference lives (the nav's "API reference" links here). */
export const API_REFERENCE_PREFIX = '/console/api';

/**
 * Narrows swagger-ui's default CSP to what Herald serves: its styles and fonts from our own
 * origin only (the default allows any https: host), no image from the online validator, and
 * upgrade-insecure-requests only on an https site (as the hardening plugin decides); and
 * swagger-ui's own <style> element by its hash (SWAGGER_UI_STYLE_HASH).
 */
export function referenceCsp(header: string, https: boolean): string {
  return header
    .split(';')
    .map((directive) => directive.trim())
    .filter((directive) => directive !== '')
    .filter((directive) => https || directive !== 'upgrade-insecure-requests')
    .map((directive) =>
      directive
        .split(/\s+/)
        .filter((source) => source !== 'https:' && source !== 'validator.swagger.io')
        .join(' '),
    )
    .map((directive) =>
      directive.startsWith('style-src ') ? `${directive} ${SWAGGER_UI_STYLE_HASH}` : directive,
    )
    .join('; ');
}

/**
 * The one <style> element swagger-ui's React tree renders (found by the browser test's CSP
 * check, reported as style-src-elem from swagger-ui-bundle.js): allowed by its hash, so
 * every other inline style, script and eval stays refused. A swagger-ui upgrade that changes
 * it shows again as a CSP error in test/console-browser.test.ts.
 */
const SWAGGER_UI_STYLE_HASH = "'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='";

const HERALD_WORDMARK = `<svg xmlns="http://www.w3.org/2000/svg" width="320" height="32" viewBox="0 0 320 32" role="img" aria-label="Herald console"><text x="0" y="23" fill="#ffffff" font-family="system-ui, sans-serif" font-size="20" font-weight="700">Herald</text><text x="86" y="23" fill="#c9d6f7" font-family="system-ui, sans-serif" font-size="15">← back to the console</text></svg>`;

const REFERENCE_CSS = `
.swagger-ui .topbar { background: #1b44ad; padding: 8px 0; }
.swagger-ui .topbar .download-url-wrapper { display: none; }
.swagger-ui .topbar a { max-width: none; }
`;

export const apiReferencePages: FastifyPluginAsync<{ app: App }> = async (fastify, { app }) => {
  // The guard on every route of this scope: the page, its JSON and the static files.
  fastify.addHook('onRequest', requireConsole());
  const https = app.config.PUBLIC_URL.startsWith('https:');
  await fastify.register(swaggerUi, {
    routePrefix: API_REFERENCE_PREFIX,
    staticCSP: true,
    transformStaticCSP: (header) => referenceCsp(header, https),
    // No call to the public validator service (it would send our document away).
    validatorUrl: false,
    uiConfig: { docExpansion: 'list', deepLinking: true, tryItOutEnabled: false },
    // Herald's name and colours instead of the plugin's, a way back to the console, and no
    // box inviting readers to load another document.
    logo: { type: 'image/svg+xml', content: HERALD_WORDMARK, href: '/console', target: '_self' },
    theme: {
      title: 'API reference · Herald',
      css: [{ filename: 'herald-reference.css', content: REFERENCE_CSS }],
    },
  });
};
