// A private 3-master Redis Cluster on free ports (no replicas, nothing persisted), for the
// tests that prove Herald's queues work on a cluster.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './processes.ts';

const run = promisify(execFile);

export interface PrivateCluster {
  /** A URL of one node: Herald discovers the other masters from it. */
  url: string;
  ports: number[];
  /** `redis-cli -p PORT` output of a command on every master. */
  onEveryNode(...args: string[]): Promise<string[]>;
  stop(): Promise<void>;
}

export async function startPrivateCluster(masters = 3): Promise<PrivateCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'herald-cluster-'));
  const ports: number[] = [];
  const children: ChildProcess[] = [];
  for (let i = 0; i < masters; i++) {
    const port = await freePort();
    ports.push(port);
    children.push(
      spawn(
        'redis-server',
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--save',
          '',
          '--appendonly',
          'no',
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          join(dir, `nodes-${port}.conf`),
          '--cluster-node-timeout',
          '5000',
          '--dir',
          dir,
        ],
        { stdio: 'ignore' },
      ),
    );
  }
  const cli = (port: number, ...args: string[]) =>
    run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args]).then((r) => r.stdout.trim());
  for (const port of ports) {
    for (let i = 0; ; i++) {
      if ((await cli(port, 'ping').catch(() => '')) === 'PONG') break;
      if (i > 100) throw new Error(`cluster node ${port} did not start`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  await run('redis-cli', [
    '--cluster',
    'create',
    ...ports.map((port) => `127.0.0.1:${port}`),
    '--cluster-replicas',
    '0',
    '--cluster-yes',
  ]);
  // Every node must agree the cluster is up before clients get consistent slot maps.
  for (let i = 0; ; i++) {
    const states = await Promise.all(ports.map((port) => cli(port, 'cluster', 'info')));
    if (states.every((info) => info.includes('cluster_state:ok'))) break;
    if (i > 200) throw new Error(`cluster did not come up: ${states.join(' | ')}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    url: `redis://127.0.0.1:${ports[0]}`,
    ports,
    onEveryNode: (...args) => Promise.all(ports.map((port) => cli(port, ...args))),
    async stop() {
      for (const child of children) {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
