// Shared helpers for CLI commands: opening the app, printing JSON, failing with a clear line.
import { type App, createApp } from '../app.ts';
import { type Config, ConfigError, debugStacks, loadConfig } from '../config/index.ts';
import { EXIT_CODE, InputError } from '../errors/index.ts';
import { createLogger } from '../log/index.ts';

/**
 * An error only the command line has (a missing file, a bad option), whose message is meant
 * for the user as it is (no stack trace). Domain input errors are InputErrors, mapped below.
 */
export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode = 2,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

/**
 * The log level of a one-shot command: none when LOG_LEVEL is unset (the command's own output
 * and one-line errors say what happened), whatever LOG_LEVEL asks for when it is set, `info`
 * included. Long-running commands (start, serve, worker, demo) log as configured.
 */
export function commandLogLevel(
  config: Pick<Config, 'LOG_LEVEL' | 'logLevelSet'>,
): Config['LOG_LEVEL'] {
  return config.logLevelSet ? config.LOG_LEVEL : 'silent';
}

/** Opens the app from the environment, runs `fn`, and always closes the app. */
export async function withApp<T>(fn: (app: App) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const app = await createApp(config, { logger: createLogger(commandLogLevel(config)) });
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
  // The one mapping of domain input errors to the CLI: the message, and 2 (bad input) or 4
  // (refused by the current state).
  if (error instanceof InputError) {
    process.stderr.write(`herald: ${error.message}\n`);
    return EXIT_CODE[error.kind];
  }
  if (error instanceof ConfigError || error instanceof UserError) {
    process.stderr.write(`herald: ${error.message}\n`);
    return error instanceof UserError ? error.exitCode : 2;
  }
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`herald: ${message}\n`);
  if (debugStacks() && error instanceof Error) process.stderr.write(`${error.stack}\n`);
  return 1;
}
