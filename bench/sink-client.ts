// Starts bench/smtp-sink.ts as a child process and asks it for its counts over stdin/stdout.
import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';

export interface SinkCounts {
  accepted: number;
  bytes: number;
  recipients: number;
  duplicates: number;
  lastAt: number;
}

export interface SinkProcess {
  url: string;
  pid: number;
  counts(): Promise<SinkCounts>;
  reset(): Promise<SinkCounts>;
  /** Stops the sink; resolves with its final counts. */
  close(): Promise<SinkCounts>;
}

const ROOT = resolve(import.meta.dirname, '..');

/** Spawns the sink (`node bin/run-ts.js bench/smtp-sink.ts`) and waits until it listens. */
export async function startSinkProcess(): Promise<SinkProcess> {
  const child: ChildProcess = spawn(
    process.execPath,
    [resolve(ROOT, 'bin/run-ts.js'), resolve(ROOT, 'bench/smtp-sink.ts')],
    { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const lines = createInterface({ input: child.stdout! });
  const waiting: Array<(line: string) => void> = [];
  const buffered: string[] = [];
  lines.on('line', (line) => {
    const next = waiting.shift();
    if (next) next(line);
    else buffered.push(line);
  });
  const nextLine = () =>
    new Promise<string>((done, fail) => {
      const early = buffered.shift();
      if (early !== undefined) return done(early);
      const onExit = () => fail(new Error('the SMTP sink exited'));
      child.once('exit', onExit);
      waiting.push((line) => {
        child.off('exit', onExit);
        done(line);
      });
    });
  const { port } = JSON.parse(await nextLine()) as { port: number };
  // Requests are answered in order; chain them so each gets its own line.
  let chain: Promise<unknown> = Promise.resolve();
  const ask = (command: string) => {
    const answer = chain.then(async () => {
      child.stdin!.write(`${command}\n`);
      return JSON.parse(await nextLine()) as SinkCounts;
    });
    chain = answer.catch(() => {});
    return answer;
  };
  return {
    url: `smtp://127.0.0.1:${port}`,
    pid: child.pid!,
    counts: () => ask('count'),
    reset: () => ask('reset'),
    async close() {
      await chain;
      const last = nextLine();
      child.stdin!.end();
      const counts = JSON.parse(await last) as SinkCounts;
      await new Promise((done) =>
        child.exitCode !== null ? done(null) : child.once('exit', done),
      );
      return counts;
    },
  };
}

/** Waits until `check` returns true, polling every `everyMs`; throws after `timeoutMs`. */
export async function waitUntil(
  check: () => Promise<boolean>,
  what: string,
  timeoutMs: number,
  everyMs = 20,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((done) => setTimeout(done, everyMs));
  }
}
