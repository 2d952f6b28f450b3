// The worker thread that parses untrusted article bodies (see parse-pool.ts): one request at a
// time from the pool, answered with the Article or the input error the caller can act on.
import { parentPort } from 'node:worker_threads';
import { ArticleInputError } from './errors.ts';
import { parseArticle } from './parse.ts';
import type { ParseReply, ParseRequest } from './parse-pool.ts';

parentPort?.on('message', (request: ParseRequest) => {
  let reply: ParseReply;
  try {
    const body =
      typeof request.body === 'string'
        ? request.body
        : Buffer.from(request.body.buffer, request.body.byteOffset, request.body.byteLength);
    const article = parseArticle({
      body,
      ...(request.filename ? { filename: request.filename } : {}),
      ...(request.contentType ? { contentType: request.contentType } : {}),
    });
    reply = { id: request.id, ok: true, article };
  } catch (error) {
    reply =
      error instanceof ArticleInputError
        ? { id: request.id, ok: false, field: error.field, message: error.message }
        : {
            id: request.id,
            ok: false,
            internal: error instanceof Error ? error.message : String(error),
          };
  }
  parentPort?.postMessage(reply);
});

// Loaded: the pool starts a parse's clock only from here, so start-up is not counted.
parentPort?.postMessage({ ready: true });
