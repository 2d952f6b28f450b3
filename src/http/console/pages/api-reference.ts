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
 * upgrade-insecure-requests only on an https site (as the hardening plugin decides).
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
    .join('; ');
}

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
  });
};
