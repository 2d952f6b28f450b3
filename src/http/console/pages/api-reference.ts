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

/** The document with a link back to the console ahead of its description. */
export function withConsoleLink(
  document: Readonly<Record<string, unknown>>,
): Record<string, unknown> {
  const info = (document.info ?? {}) as Record<string, unknown>;
  const description = typeof info.description === 'string' ? info.description : '';
  return {
    ...document,
    info: { ...info, description: `[← Back to the Herald console](/console)\n\n${description}` },
  };
}

// Swagger UI's own colours put white text on light badges (2.0–2.3:1): darker tones of the
// same hues reach WCAG AA (4.5:1), as the console's axe check requires of every page.
const REFERENCE_CSS = `
.swagger-ui .topbar { display: none; }
.swagger-ui .info .title small.version-stamp { background-color: #4d6b02; }
.swagger-ui .info .title small { background-color: #5b6675; }
.swagger-ui .info a, .swagger-ui .info .url { color: #1b44ad; }
.swagger-ui .btn.authorize { color: #11692f; border-color: #11692f; }
.swagger-ui .btn.authorize svg { fill: #11692f; }
.swagger-ui .opblock.opblock-get .opblock-summary-method { background: #1f5fa8; }
.swagger-ui .opblock.opblock-post .opblock-summary-method { background: #11692f; }
.swagger-ui .opblock.opblock-put .opblock-summary-method { background: #9a5b00; }
.swagger-ui .opblock.opblock-delete .opblock-summary-method { background: #b42318; }
.swagger-ui .opblock.opblock-patch .opblock-summary-method { background: #0f6b63; }
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
    // No deep links: swagger-ui puts each one inside the operation's toggle button, a link
    // nested in a button that keyboards and screen readers cannot use (axe: nested-interactive).
    uiConfig: { docExpansion: 'list', deepLinking: false, tryItOutEnabled: false },
    // The page's own copy of the document opens with the way back to the console (swagger-ui's
    // top bar, with its logo without alt text and its box for loading other documents, is
    // hidden); /api/openapi.json stays as the routes describe it.
    transformSpecification: (document) => withConsoleLink(document),
    theme: {
      title: 'API reference · Herald',
      css: [{ filename: 'herald-reference.css', content: REFERENCE_CSS }],
    },
  });
};
