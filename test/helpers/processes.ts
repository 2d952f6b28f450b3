// Child processes for crash tests: a private redis-server, and `herald worker` children.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { appendFileSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
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
export function spawnWorker(env: Record<string, string>): Promise<ChildProcess> {
  return spawnHerald(['worker'], env, 'workers running');
}

/** Spawns `herald ARGS…`; resolves once its stderr has said `readyText`. */
export async function spawnHerald(
  args: string[],
  env: Record<string, string>,
  readyText: string,
): Promise<ChildProcess> {
  const child = spawn('node', ['bin/herald.js', ...args], {
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
      if (stderr.includes(readyText)) resolve();
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

/** The pids of a process's children now, from /proc (empty once it has none or is gone). */
export function childPids(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((task) =>
      readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8')
        .split(' ')
        .filter((part) => part.trim() !== '')
        .map(Number),
    );
  } catch {
    return [];
  }
}

/** This process's children that run the MJML compiler's entry (src/templates/mjml-worker). */
export function mjmlCompilerPids(): number[] {
  return childPids(process.pid).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('mjml-worker');
    } catch {
      return false;
    }
  });
}

/** The local TCP ports of the sockets a process holds open now, from /proc. */
export function tcpPortsOf(pid: number): number[] {
  const inodes = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (match) inodes.add(match[1]!);
      } catch {
        // Closed between the listing and the read.
      }
    }
  } catch {
    return [];
  }
  const ports: number[] = [];
  try {
    for (const table of ['tcp', 'tcp6']) {
      const lines = readFileSync(`/proc/${pid}/net/${table}`, 'utf8').split('\n').slice(1);
      for (const line of lines) {
        const fields = line.trim().split(/\s+/);
        if (fields.length > 9 && inodes.has(fields[9]!))
          ports.push(Number.parseInt(fields[1]!.split(':')[1]!, 16));
      }
    }
  } catch {
    // The process ended meanwhile: what it held is gone too.
  }
  return ports;
}
