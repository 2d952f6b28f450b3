// Public pages: /subscribe, /confirm, /preferences (and /preferences/data), /unsubscribe (GET
// page; POST one-click per RFC 8058). Server-rendered HTML (views in ../views/); every
// subscriber-specific page is reached by a signed token. One file per page; this plugin owns
// what they share: the body parsers, the mail transport, the context.
import type { FastifyPluginAsync } from 'fastify';
import type { App } from '../../app.ts';
import { createMailTransport } from '../../mail/factory.ts';
import type { MailTransport } from '../../mail/transport.ts';
import { HttpError } from '../errors.ts';
import { confirmRoutes } from './confirm.ts';
import { publicContext } from './context.ts';
import { myDataRoutes } from './my-data.ts';
import { preferencesRoutes } from './preferences.ts';
import { subscribeRoutes } from './subscribe.ts';
import { MULTIPART_BODY_LIMIT, parseMultipartFields, unsubscribeRoutes } from './unsubscribe.ts';

export { MAILS_PER_ADDRESS_PER_DAY, MAILS_PER_CLIENT_PER_HOUR } from './context.ts';

export const publicRoutes: FastifyPluginAsync<{ app: App; transport?: MailTransport }> = async (
  fastify,
  options,
) => {
  const { app } = options;
  let transport = options.transport;
  const mail = () => {
    transport ??= createMailTransport(app.config);
    return transport;
  };
  fastify.addHook('onClose', async () => {
    if (!options.transport) transport?.close();
  });
  // Public routes take urlencoded and JSON; multipart only for the RFC 8058 one-click POST,
  // and then only a few kB of it.
  fastify.addContentTypeParser(
    'multipart/form-data',
    { parseAs: 'string' },
    (request, body, done) => {
      if (request.method !== 'POST' || request.url.split('?')[0] !== '/unsubscribe') {
        done(new HttpError(415, 'multipart bodies are accepted by POST /unsubscribe only'));
        return;
      }
      // The route's (public) body limit wins over a parser's own: check the smaller one here.
      if (String(body).length > MULTIPART_BODY_LIMIT) {
        done(new HttpError(413, `a one-click body is at most ${MULTIPART_BODY_LIMIT} bytes`));
        return;
      }
      done(null, parseMultipartFields(String(body), request.headers['content-type'] ?? ''));
    },
  );

  const ctx = publicContext(app, mail);
  subscribeRoutes(fastify, ctx);
  confirmRoutes(fastify, ctx);
  preferencesRoutes(fastify, ctx);
  myDataRoutes(fastify, ctx);
  unsubscribeRoutes(fastify, ctx);
};
