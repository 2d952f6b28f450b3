// Entry of one delivery process, forked by `herald start` / `herald worker` when
// DELIVERY_PROCESSES is above 1 (workers/index.ts): the deliveries queue alone, with its own
// store connection and SMTP pool, until SIGTERM (or its parent is gone), then a graceful drain.
import { createApp } from '../src/app.ts';
import { loadConfig } from '../src/config/index.ts';
import { runUntilSignal } from '../src/process/lifecycle.ts';
import { READY_MESSAGE } from '../src/process/supervisor.ts';
import { startWorkers } from './index.ts';

const app = await createApp(loadConfig());
const services = await startWorkers(app, ['deliveries']);
// The parent died without stopping us (SIGKILL, OOM): drain as on SIGTERM rather than run on
// as an orphan; what is in hand is recorded, the rest is handed back.
process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
const stopped = runUntilSignal(app, services, { senderChecks: false });
process.send?.(READY_MESSAGE);
await stopped;
setImmediate(() => process.exit(process.exitCode ?? 0));
