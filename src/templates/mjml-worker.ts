// The MJML thread's side (see mjml-thread.ts): compiles each MJML document it is sent with
// strict validation and answers with the HTML, or the error's message.
import { parentPort } from 'node:worker_threads';
import mjml2html from 'mjml';
import type { MjmlReply, MjmlRequest } from './mjml-thread.ts';

parentPort!.on('message', async ({ id, mjml }: MjmlRequest) => {
  let reply: MjmlReply;
  try {
    const result = await mjml2html(mjml, { validationLevel: 'strict', keepComments: false });
    reply = { id, ok: true, html: result.html };
  } catch (error) {
    reply = { id, ok: false, message: error instanceof Error ? error.message : String(error) };
  }
  parentPort!.postMessage(reply);
});
