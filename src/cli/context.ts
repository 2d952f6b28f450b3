// Shared helpers for CLI commands: opening the app, printing JSON, failing with a clear line.
import { type App, createApp } from '../app.ts';
import { ConfigError, loadConfig } from '../config/index.ts';

/** An error whose message is meant for the user as it is (no stack trace). */
export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode = 2,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

/** Opens the app from the environment, runs `fn`, and always closes the app. */
export async function withApp<T>(fn: (app: App) => Promise<T>): Promise<T> {
  const app = await createApp(loadConfig());
  try {
    return await fn(app);
  } finally {
    await app.close();
  }
}

/** Prints exactly one JSON document on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Turns any error into one line on stderr and an exit code. */
export function reportFatal(error: unknown): number {
  if (error instanceof ConfigError || error instanceof UserError) {
    process.stderr.write(`herald: ${error.message}\n`);
    return error instanceof UserError ? error.exitCode : 2;
  }
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`herald: ${message}\n`);
  if (process.env.HERALD_DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`);
  return 1;
}
