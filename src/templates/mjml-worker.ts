// The MJML compiler's side (see mjml-process.ts): a child process that compiles each MJML
// document it is sent with strict validation and answers with the HTML, or the error's
// message; it exits when its parent disconnects (idle, or gone).
import mjml2html from 'mjml';
import type { MjmlReply, MjmlRequest } from './mjml-process.ts';

process.on('message', async ({ id, mjml }: MjmlRequest) => {
  let reply: MjmlReply;
  try {
    const result = await mjml2html(mjml, { validationLevel: 'strict', keepComments: false });
    reply = { id, ok: true, html: result.html };
  } catch (error) {
    reply = { id, ok: false, message: error instanceof Error ? error.message : String(error) };
  }
  process.send!(reply);
});
process.once('disconnect', () => process.exit(0));
