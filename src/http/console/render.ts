// Rendering console pages: a page's view (views/<view>.eta) writes only the page body; it is
// rendered inside views/layout.eta with the nav, the signed-in user and the CSRF token.

import type { FastifyReply, FastifyRequest } from 'fastify';
import { navFor } from './nav.ts';

export interface ConsolePageData {
  /** The page title (the <h1> and the document title). */
  title: string;
  /** The nav item key to mark current (see nav.ts), or null. */
  active: string | null;
  /** Anything else the view reads as it.<name>. */
  [name: string]: unknown;
}

/**
 * Renders views/<view>.eta inside the layout and sends it (status from `reply`, 200 unless set).
 * The view sees `it.title`, `it.user` ({id, email, role}), `it.csrfToken`, and the data given.
 */
export async function renderConsolePage(
  request: FastifyRequest,
  reply: FastifyReply,
  view: string,
  data: ConsolePageData,
): Promise<FastifyReply> {
  const user = request.consoleUser;
  if (!user) throw new Error('renderConsolePage needs requireConsole on the route');
  const html = await reply.consoleViewAsync(
    `${view}.eta`,
    { ...data, user, csrfToken: request.csrfToken ?? '', nav: navFor(user.role) },
    { layout: 'layout.eta' },
  );
  return reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(html);
}

/** Renders a page outside the signed-in layout (login, set-password): a view of its own. */
export async function renderStandalonePage(
  reply: FastifyReply,
  view: string,
  data: Record<string, unknown> & { title: string },
): Promise<FastifyReply> {
  const html = await reply.consoleViewAsync(`${view}.eta`, data);
  return reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(html);
}
