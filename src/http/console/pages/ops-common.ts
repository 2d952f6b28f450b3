// Shared by the ops page families (queues, outbox, suppressions, health, keys): the problem page
// a bad id or address gets (a 4xx inside the layout, naming what was wrong).
import type { FastifyReply, FastifyRequest } from 'fastify';
import { renderConsolePage } from '../render.ts';

/** Renders a 4xx page saying what was wrong, with a way back. */
export function renderProblem(
  request: FastifyRequest,
  reply: FastifyReply,
  problem: {
    status: number;
    title: string;
    message: string;
    active: string;
    backHref: string;
    backLabel: string;
  },
): Promise<FastifyReply> {
  reply.status(problem.status);
  return renderConsolePage(request, reply, 'ops-problem', {
    title: problem.title,
    active: problem.active,
    message: problem.message,
    backHref: problem.backHref,
    backLabel: problem.backLabel,
  });
}
