// Parses untrusted article bodies off the main event loop: one worker thread, reused, with a
// time limit per parse. A parse over the limit gets its worker terminated (a fresh one starts
// for the next parse) and fails with an ArticleParseLimitError, so a hostile document costs at
// most the limit and never stalls the API, the public pages or delivery (issue 11, fault 3).
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ArticleInputError } from './errors.ts';
import type { ArticleInput } from './parse.ts';
import type { Article } from './schema.ts';

/** How long one article may take to parse before its worker is killed. */
export const ARTICLE_PARSE_TIME_LIMIT_MS = 10_000;
let defaultTimeLimitMs = ARTICLE_PARSE_TIME_LIMIT_MS;

/**
 * Sets the time limit of parses that do not name one (tests use a short one to reach the
 * limit with a modest document); returns a function that restores the previous limit.
 */
export function setArticleParseTimeLimit(ms: number): () => void {
  const previous = defaultTimeLimitMs;
  defaultTimeLimitMs = ms;
  return () => {
    defaultTimeLimitMs = previous;
  };
}
/** Parses waiting for the worker beyond this many are refused (the caller may retry). */
export const ARTICLE_PARSE_QUEUE_LIMIT = 32;
/** The parser's heap: a document that needs more is refused, the process is not at risk. */
const WORKER_HEAP_MB = 256;

/** A parse that ran over a limit of the pool (time, queue, memory): the caller's 422/429. */
export class ArticleParseLimitError extends Error {
  constructor(
    readonly limit: 'time' | 'queue' | 'memory',
    message: string,
  ) {
    super(message);
    this.name = 'ArticleParseLimitError';
  }
}

export interface ParseRequest {
  id: number;
  body: string | Uint8Array;
  filename?: string;
  contentType?: string;
}

export type ParseReply =
  | { id: number; ok: true; article: Article }
  | { id: number; ok: false; field: string; message: string }
  | { id: number; ok: false; internal: string };

interface Pending {
  request: ParseRequest;
  timeLimitMs: number;
  resolve(article: Article): void;
  reject(error: Error): void;
}

/**
 * How to start the worker from here: the compiled .js next to this module, or, when running
 * the TypeScript sources (tsx, vitest), a tiny ESM bootstrap that registers tsx in the worker
 * thread (loader hooks are per thread) and then imports parse-worker.ts.
 */
function workerEntry(): URL {
  if (!import.meta.url.endsWith('.ts')) return new URL('./parse-worker.js', import.meta.url);
  // tsx's ESM entry, found through its package.json exports (a bare name would not resolve
  // from a data: URL, and its CommonJS entry cannot register the ESM hooks from there).
  const require = createRequire(import.meta.url);
  const manifestPath = require.resolve('tsx/package.json');
  const manifest = require(manifestPath) as {
    exports: Record<string, { import: { default: string } }>;
  };
  const esmApi = manifest.exports['./esm/api']?.import.default ?? './dist/esm/api/index.mjs';
  const tsx = new URL(esmApi, pathToFileURL(manifestPath)).href;
  const entry = new URL('./parse-worker.ts', import.meta.url).href;
  const boot = `import { register } from ${JSON.stringify(tsx)};\nregister();\nawait import(${JSON.stringify(entry)});\n`;
  return new URL(`data:text/javascript,${encodeURIComponent(boot)}`);
}

/** One worker thread parsing one article at a time, queued; restarted after a kill. */
export class ArticleParsePool {
  private worker: Worker | undefined;
  /** Whether `worker` has loaded the parser and can take a parse. */
  private ready = false;
  private current: (Pending & { timer: NodeJS.Timeout; worker: Worker }) | undefined;
  private readonly queue: Pending[] = [];
  private nextId = 1;

  /** Parses one article in the worker; rejects like parseArticle, or with ArticleParseLimitError. */
  parse(input: ArticleInput, options: { timeLimitMs?: number } = {}): Promise<Article> {
    if (this.queue.length >= ARTICLE_PARSE_QUEUE_LIMIT) {
      return Promise.reject(
        new ArticleParseLimitError(
          'queue',
          `${ARTICLE_PARSE_QUEUE_LIMIT} articles are already waiting to be parsed (the limit); try again shortly`,
        ),
      );
    }
    return new Promise<Article>((resolve, reject) => {
      const request: ParseRequest = {
        id: this.nextId++,
        // A copy of just these bytes: a Buffer may be a view of a larger shared pool.
        body: typeof input.body === 'string' ? input.body : new Uint8Array(input.body),
        ...(input.filename ? { filename: input.filename } : {}),
        ...(input.contentType ? { contentType: input.contentType } : {}),
      };
      this.queue.push({
        request,
        timeLimitMs: options.timeLimitMs ?? defaultTimeLimitMs,
        resolve,
        reject,
      });
      this.pump();
    });
  }

  /** Stops the worker; waiting parses fail. */
  async close(): Promise<void> {
    for (const pending of this.queue.splice(0)) pending.reject(new Error('the parser was closed'));
    this.finish(new Error('the parser was closed'));
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }

  /** Starts the next waiting parse when the worker is free. */
  private pump(): void {
    // Only a worker with work keeps the process alive (the CLI exits when done).
    const busy = this.current !== undefined || this.queue.length > 0;
    if (busy) this.worker?.ref();
    else this.worker?.unref();
    if (this.current || this.queue.length === 0) return;
    const worker = this.ensureWorker();
    worker.ref();
    if (!this.ready) return;
    const next = this.queue.shift()!;
    const timer = setTimeout(() => {
      // Over the limit: the only way to stop synchronous work is to end its thread.
      this.finish(
        new ArticleParseLimitError(
          'time',
          `parsing the article took longer than ${next.timeLimitMs / 1000} s (the time limit) and was stopped`,
        ),
      );
      this.kill();
    }, next.timeLimitMs);
    this.current = { ...next, timer, worker };
    worker.postMessage(next.request);
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(workerEntry(), {
      resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB },
      // Not the parent's flags (test runners, inspectors): the entry sets up what it needs.
      execArgv: [],
      stdout: false,
      stderr: false,
    });
    worker.on('message', (reply: ParseReply | { ready: true }) => {
      if ('ready' in reply) {
        if (this.worker !== worker) return;
        this.ready = true;
        this.pump();
        return;
      }
      if (this.current?.worker !== worker || reply.id !== this.current.request.id) return;
      const pending = this.current;
      this.current = undefined;
      clearTimeout(pending.timer);
      if (reply.ok) pending.resolve(reply.article);
      else if ('field' in reply) pending.reject(new ArticleInputError(reply.field, reply.message));
      else pending.reject(new Error(`the article parser failed: ${reply.internal}`));
      this.idle();
    });
    worker.on('error', (error: Error & { code?: string }) => {
      if (this.current?.worker !== worker) {
        // Failed before taking a parse (it could not load): the waiting parses fail with it.
        if (this.worker === worker && !this.ready) {
          this.worker = undefined;
          for (const pending of this.queue.splice(0)) pending.reject(error);
        }
        return;
      }
      const memory = error.code === 'ERR_WORKER_OUT_OF_MEMORY';
      this.finish(
        memory
          ? new ArticleParseLimitError(
              'memory',
              `parsing the article needed more than ${WORKER_HEAP_MB} MB (the limit) and was stopped`,
            )
          : error,
      );
    });
    worker.on('exit', () => {
      if (this.worker === worker) this.worker = undefined;
      if (this.current?.worker === worker) this.finish(new Error('the article parser stopped'));
      this.pump();
    });
    this.worker = worker;
    this.ready = false;
    return worker;
  }

  /** Settles the parse in progress (if any) with an error. */
  private finish(error: Error): void {
    const pending = this.current;
    if (!pending) return;
    this.current = undefined;
    clearTimeout(pending.timer);
    pending.reject(error);
  }

  /** Ends the worker thread; the next parse starts a new one. */
  private kill(): void {
    const worker = this.worker;
    this.worker = undefined;
    void worker?.terminate();
    this.pump();
  }

  /** Takes the next parse, or lets the process exit while the worker waits for work. */
  private idle(): void {
    this.pump();
  }
}

let shared: ArticleParsePool | undefined;

/** The process's parse pool (one worker thread, started on first use). */
export function articleParsePool(): ArticleParsePool {
  shared ??= new ArticleParsePool();
  return shared;
}

/** Parses an untrusted article body off the main event loop (see ArticleParsePool.parse). */
export function parseArticleOffThread(
  input: ArticleInput,
  options: { timeLimitMs?: number } = {},
): Promise<Article> {
  return articleParsePool().parse(input, options);
}
