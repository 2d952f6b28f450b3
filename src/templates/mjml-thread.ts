// MJML runs in a worker thread that ends when it has been idle for a few seconds. A process
// compiles a campaign once and then sends for hours; MJML and what it loads (juice, cheerio,
// undici, js-beautify, postcss…) would hold about 50 MB of its memory all that time. In a
// thread, that memory goes with the thread. It also keeps a compile's CPU off the event loop
// that renews the delivery jobs' locks.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

export interface MjmlRequest {
  id: number;
  mjml: string;
}

export type MjmlReply =
  | { id: number; ok: true; html: string }
  | { id: number; ok: false; message: string };

/** The thread ends after this long without a compile (a later compile starts a new one). */
const IDLE_MS = 5_000;

/**
 * The thread's entry: the compiled .js next to this module, or, from the TypeScript sources
 * (tsx, vitest), a bootstrap that registers tsx in the thread (loader hooks are per thread)
 * before importing mjml-worker.ts, as src/articles/parse-pool.ts does.
 */
function workerEntry(): URL {
  if (!import.meta.url.endsWith('.ts')) return new URL('./mjml-worker.js', import.meta.url);
  const require = createRequire(import.meta.url);
  const manifestPath = require.resolve('tsx/package.json');
  const manifest = require(manifestPath) as {
    exports: Record<string, { import: { default: string } }>;
  };
  const esmApi = manifest.exports['./esm/api']?.import.default ?? './dist/esm/api/index.mjs';
  const tsx = new URL(esmApi, pathToFileURL(manifestPath)).href;
  const entry = new URL('./mjml-worker.ts', import.meta.url).href;
  const boot = `import { register } from ${JSON.stringify(tsx)};\nregister();\nawait import(${JSON.stringify(entry)});\n`;
  return new URL(`data:text/javascript,${encodeURIComponent(boot)}`);
}

interface Waiting {
  resolve(html: string): void;
  reject(error: Error): void;
}

let thread: Worker | undefined;
let idleTimer: NodeJS.Timeout | undefined;
let nextId = 1;
const waiting = new Map<number, Waiting>();

/** Fails every waiting compile and forgets the thread (it exited or failed). */
function dropThread(worker: Worker, error: Error): void {
  if (thread !== worker) return;
  thread = undefined;
  for (const pending of waiting.values()) pending.reject(error);
  waiting.clear();
}

function startThread(): Worker {
  // A small young generation: a compile allocates in bursts, and the thread's memory adds to
  // the process's while it runs.
  const worker = new Worker(workerEntry(), { resourceLimits: { maxYoungGenerationSizeMb: 8 } });
  worker.on('message', (reply: MjmlReply) => {
    const pending = waiting.get(reply.id);
    if (!pending) return;
    waiting.delete(reply.id);
    if (reply.ok) pending.resolve(reply.html);
    else pending.reject(new Error(reply.message));
    if (waiting.size === 0) idle(worker);
  });
  worker.on('error', (error) => dropThread(worker, error));
  worker.on('exit', (code) =>
    dropThread(worker, new Error(`the MJML thread exited (code ${code}) during a compile`)),
  );
  return worker;
}

/** No compile is waiting: the thread may not keep the process alive, and ends after IDLE_MS. */
function idle(worker: Worker): void {
  worker.unref();
  clearTimeout(idleTimer);
  idleTimer = setTimeout(() => {
    if (thread !== worker || waiting.size > 0) return;
    thread = undefined;
    void worker.terminate();
  }, IDLE_MS);
  idleTimer.unref();
}

/** Compiles an MJML document (strict validation) to HTML in the MJML thread. */
export function mjmlToHtml(mjml: string): Promise<string> {
  thread ??= startThread();
  const worker = thread;
  clearTimeout(idleTimer);
  worker.ref();
  const id = nextId++;
  return new Promise<string>((resolve, reject) => {
    waiting.set(id, { resolve, reject });
    worker.postMessage({ id, mjml } satisfies MjmlRequest);
  });
}
