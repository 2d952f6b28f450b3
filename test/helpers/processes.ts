// Child processes for crash tests: a private redis-server, and `herald worker` children.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { appendFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { Redis } from 'ioredis';

/** A free loopback TCP port. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  server.close();
  await once(server, 'close');
  return port;
}

export interface PrivateRedis {
  url: string;
  client: Redis;
  /** Stops the server (its data is gone: nothing is persisted) and starts a new one on the same port after `downMs`. */
  restart(downMs: number): Promise<void>;
  stop(): Promise<void>;
}

/** Whether something accepts TCP connections on the port. */
function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Starts a redis-server of this test's own (nothing persisted), so it may be flushed. */
export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const launch = async () => {
    const server = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    for (let i = 0; !(await answers(port)); i++) {
      if (i > 100) throw new Error('private redis-server did not start');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return server;
  };
  let child = await launch();
  const client = new Redis({ port, host: '127.0.0.1' });
  client.on('error', () => {});
  await client.ping();
  return {
    url: `redis://127.0.0.1:${port}`,
    client,
    async restart(downMs) {
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
      await new Promise((resolve) => setTimeout(resolve, downMs));
      child = await launch();
    },
    async stop() {
      client.disconnect();
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

/** Spawns `herald worker` with the given environment; resolves once it says it is running. */
export async function spawnWorker(env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn('node', ['bin/herald.js', 'worker'], {
    env: {
      ...process.env,
      ...env,
      ...(process.env.HERALD_TEST_CHILD_LOG ? { LOG_LEVEL: 'info' } : {}),
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (data: Buffer) => {
      stderr += data.toString();
      if (process.env.HERALD_TEST_CHILD_LOG) appendFileSync(`/tmp/child-${child.pid}.log`, data);
      if (stderr.includes('workers running')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`worker exited early (${code}): ${stderr}`)));
  });
  return child;
}

/** Sends a signal and waits for the exit; returns the exit code (null when killed). */
export async function stopChild(
  child: ChildProcess,
  signal: NodeJS.Signals,
): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = once(child, 'exit');
  child.kill(signal);
  const [code] = await exited;
  return code as number | null;
}
