// MJML runs in a child process that ends when it has been idle for a few seconds. A process
// compiles a campaign once and then sends for hours; MJML and what it loads (juice, cheerio,
// undici, js-beautify, postcss…) take about 50 MB while they run. In a worker thread that
// memory was the sending process's own (its peak RSS, and glibc kept much of it after the
// thread ended); in a child it is returned whole when the child exits. It also keeps a
// compile's CPU off the event loop that renews the delivery jobs' locks.
import { type ChildProcess, fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

export interface MjmlRequest {
  id: number;
  mjml: string;
}

export type MjmlReply =
  | { id: number; ok: true; html: string }
  | { id: number; ok: false; message: string };

/** The child ends after this long without a compile (a later compile starts a new one). */
const IDLE_MS = 5_000;

/**
 * A compile still running after this long has its compiler killed (it and every compile it
 * held fail; the next compile starts a new compiler): an article's text goes into the MJML,
 * and a document that stalls MJML must not hold a campaign, a preview or a batch forever.
 */
const MJML_COMPILE_TIME_LIMIT_MS = 30_000;
let compileTimeLimitMs = MJML_COMPILE_TIME_LIMIT_MS;

/** Sets the compile time limit (tests reach it with a short one); returns the restore. */
export function setMjmlCompileTimeLimit(ms: number): () => void {
  const previous = compileTimeLimitMs;
  compileTimeLimitMs = ms;
  return () => {
    compileTimeLimitMs = previous;
  };
}

/**
 * V8 options of the compiler: a small young generation (a compile allocates in bursts) and
 * one GC thread; it lives for seconds, so heap growth tuned for throughput buys nothing.
 */
const COMPILER_V8_OPTIONS = ['--max-semi-space-size=2', '--single-threaded-gc'];

/**
 * The child's entry and Node options: the compiled .js next to this module, or, from the
 * TypeScript sources (tsx, vitest), mjml-worker.ts through tsx's ESM hooks.
 */
function compilerEntry(): { modulePath: URL; execArgv: string[] } {
  if (!import.meta.url.endsWith('.ts'))
    return {
      modulePath: new URL('./mjml-worker.js', import.meta.url),
      execArgv: COMPILER_V8_OPTIONS,
    };
  // tsx's ESM hooks alone, registered by a bootstrap (vitest's module runner has no
  // import.meta.resolve): its full loader (`--import tsx`) would also hook require(), and
  // MJML's few hundred CommonJS files would each go through it (~0.25 s more per compiler).
  const require = createRequire(import.meta.url);
  const manifestPath = require.resolve('tsx/package.json');
  const manifest = require(manifestPath) as {
    exports: Record<string, { import?: { default?: string } }>;
  };
  const esmApi = manifest.exports['./esm/api']?.import?.default ?? './dist/esm/api/index.mjs';
  const tsx = new URL(esmApi, pathToFileURL(manifestPath)).href;
  const boot = `import { register } from ${JSON.stringify(tsx)};\nregister();\n`;
  const loader = `data:text/javascript,${encodeURIComponent(boot)}`;
  return {
    modulePath: new URL('./mjml-worker.ts', import.meta.url),
    execArgv: [...COMPILER_V8_OPTIONS, '--import', loader],
  };
}

interface Waiting {
  resolve(html: string): void;
  reject(error: Error): void;
}

let compiler: ChildProcess | undefined;
let idleTimer: NodeJS.Timeout | undefined;
let nextId = 1;
const waiting = new Map<number, Waiting>();

/** Fails every waiting compile and forgets the child (it exited or failed). */
function dropCompiler(child: ChildProcess, error: Error): void {
  if (compiler !== child) return;
  compiler = undefined;
  for (const pending of waiting.values()) pending.reject(error);
  waiting.clear();
}

function startCompiler(): ChildProcess {
  const { modulePath, execArgv } = compilerEntry();
  const child = fork(modulePath, [], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  child.on('message', (reply: MjmlReply) => {
    const pending = waiting.get(reply.id);
    if (!pending) return;
    waiting.delete(reply.id);
    if (reply.ok) pending.resolve(reply.html);
    else pending.reject(new Error(reply.message));
    if (waiting.size === 0) idle(child);
  });
  child.on('error', (error) => dropCompiler(child, error));
  child.on('exit', (code, signal) =>
    dropCompiler(
      child,
      new Error(`the MJML compiler exited (${signal ?? `code ${code}`}) during a compile`),
    ),
  );
  return child;
}

/** No compile is waiting: the child may not keep this process alive, and ends after IDLE_MS. */
function idle(child: ChildProcess): void {
  child.unref();
  child.channel?.unref();
  clearTimeout(idleTimer);
  idleTimer = setTimeout(() => {
    if (compiler !== child || waiting.size > 0) return;
    compiler = undefined;
    child.disconnect();
  }, IDLE_MS);
  idleTimer.unref();
}

/**
 * Starts the compiler now if none runs, for a caller that will compile soon: its start (Node,
 * then MJML's modules, ~1 s of CPU) overlaps what the caller does meanwhile. It ends after
 * IDLE_MS if no compile comes.
 */
export function warmMjmlCompiler(): void {
  if (compiler) return;
  compiler = startCompiler();
  idle(compiler);
}

/** Compiles an MJML document (strict validation) to HTML in the MJML child process. */
export function mjmlToHtml(mjml: string): Promise<string> {
  compiler ??= startCompiler();
  const child = compiler;
  clearTimeout(idleTimer);
  child.ref();
  child.channel?.ref();
  const id = nextId++;
  return new Promise<string>((resolve, reject) => {
    const limit = setTimeout(() => {
      dropCompiler(
        child,
        new Error(`MJML compile ran over its time limit (${compileTimeLimitMs} ms)`),
      );
      child.kill('SIGKILL');
    }, compileTimeLimitMs);
    const settle = () => clearTimeout(limit);
    waiting.set(id, {
      resolve: (html) => {
        settle();
        resolve(html);
      },
      reject: (error) => {
        settle();
        reject(error);
      },
    });
    child.send({ id, mjml } satisfies MjmlRequest, (error) => {
      if (error) dropCompiler(child, error);
    });
  });
}
