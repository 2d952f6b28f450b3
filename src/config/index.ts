// The one place that reads the environment. Everything else receives a typed `Config`.
import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { z } from 'zod';

const urlWithScheme = (schemes: string[]) =>
  z
    .string()
    .trim()
    .refine(
      (value) => {
        try {
          return schemes.includes(new URL(value).protocol);
        } catch {
          return false;
        }
      },
      { message: `must be a URL starting with ${schemes.map((s) => `${s}//`).join(' or ')}` },
    );

const positiveInt = z.coerce.number().int('must be a whole number').positive('must be above 0');
/** A switch: on/off (also true/false, 1/0, yes/no), read as a boolean. */
const onOff = z
  .enum(['on', 'off', 'true', 'false', '1', '0', 'yes', 'no'], {
    message: 'must be on or off',
  })
  .transform((v) => v === 'on' || v === 'true' || v === '1' || v === 'yes');
const nonNegativeInt = z.coerce
  .number()
  .int('must be a whole number')
  .nonnegative('must be 0 or more');

/** Shortest HERALD_SECRET accepted: 256 bits, as much as the HMAC-SHA256 key can use. */
export const MIN_SECRET_BYTES = 32;

/** Whether a secret is a copied example rather than a generated key. */
function looksLikePlaceholder(secret: string): boolean {
  return (
    /change[-_ ]?(me|this)|development|placeholder|example|default|your[-_ ]?secret/i.test(
      secret,
    ) || new Set(secret).size < 6
  );
}

/** An IP address, or an address with a /prefix, as fastify's trustProxy list takes them. */
function isProxyAddress(entry: string): boolean {
  const [address, prefix, ...rest] = entry.split('/');
  if (rest.length > 0 || !address) return false;
  const family = isIP(address);
  if (family === 0) return false;
  if (prefix === undefined) return true;
  const bits = Number(prefix);
  return /^\d{1,3}$/.test(prefix) && bits <= (family === 4 ? 32 : 128);
}

/** The mail transports MAIL_TRANSPORT can name (one file each in src/mail/transports/). */
export const MAIL_TRANSPORTS = ['smtp', 'outbox', 'ses'] as const;
export type MailTransportName = (typeof MAIL_TRANSPORTS)[number];

/** Environment variables Herald reads, with their rules and defaults. */
export const envSchema = z.object({
  REDIS_URL: urlWithScheme(['redis:', 'rediss:']).default('redis://127.0.0.1:6379'),
  QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_{}:-]+$/, 'may hold only letters, digits, _ - : { }')
    .default('herald'),
  HERALD_DATA_DIR: z.string().min(1, 'must not be empty').default('./var'),
  DATABASE_URL: z
    .string()
    .trim()
    .refine((v) => /^(postgres|postgresql):\/\/.+/.test(v) || /^sqlite:.+/.test(v), {
      message: 'must be postgres://… or sqlite:PATH',
    })
    .optional(),
  SMTP_URL: urlWithScheme(['smtp:', 'smtps:']).optional(),
  /** Where mail goes (src/mail/factory.ts); unset: smtp when SMTP_URL is set, else the outbox. */
  MAIL_TRANSPORT: z.enum(MAIL_TRANSPORTS).optional(),
  /** Amazon SES (MAIL_TRANSPORT=ses): region, credentials, optional endpoint and configuration set. */
  SES_REGION: z
    .string()
    .trim()
    .regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'must be an AWS region such as eu-west-1')
    .optional(),
  SES_ACCESS_KEY_ID: z.string().trim().min(1).optional(),
  SES_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  SES_SESSION_TOKEN: z.string().min(1).optional(),
  /** Unset: https://email.SES_REGION.amazonaws.com (set it for a VPC endpoint or a stand-in). */
  SES_ENDPOINT: urlWithScheme(['https:', 'http:']).optional(),
  SES_CONFIGURATION_SET: z.string().trim().min(1).optional(),
  SMTP_POOL_SIZE: positiveInt.default(5),
  /** The name Herald gives in EHLO; unset: the MAIL_FROM domain (strict receivers refuse `[IP]`). */
  SMTP_EHLO_NAME: z
    .string()
    .trim()
    .max(253, 'must be at most 253 characters')
    .regex(
      /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/,
      'must be a fully qualified host name such as mail.example.com',
    )
    .refine((name) => !/^[\d.]+$/.test(name), 'must be a host name, not an IP address')
    .optional(),
  // Unset: follows HOST and PORT (see defaultPublicUrl).
  PUBLIC_URL: urlWithScheme(['http:', 'https:']).optional(),
  // No default: an unset secret is '' and servers refuse to start (requireSecret); the demo
  // and the tests bring their own. A set one must look random enough to be a key.
  HERALD_SECRET: z
    .string()
    .refine((v) => Buffer.byteLength(v) >= MIN_SECRET_BYTES, {
      message: `must be at least ${MIN_SECRET_BYTES} bytes (e.g. \`openssl rand -base64 48\`)`,
    })
    .refine((v) => !looksLikePlaceholder(v), {
      message: 'looks like a placeholder, not a random key (e.g. `openssl rand -base64 48`)',
    })
    .optional()
    .transform((v) => v ?? ''),
  // Addresses (or CIDR ranges) of reverse proxies whose X-Forwarded-For is believed; none by
  // default, so a client cannot pick its own address for the rate limits.
  TRUST_PROXY: z
    .string()
    .optional()
    .transform((v) =>
      (v ?? '')
        .split(',')
        .map((part) => part.trim())
        .filter((part) => part !== ''),
    )
    .refine((list) => list.every(isProxyAddress), {
      message: 'must be a comma-separated list of IP addresses or CIDR ranges',
    }),
  MAIL_FROM: z.string().min(3).default('Herald <newsletter@herald.localhost>'),
  POSTAL_ADDRESS: z
    .string()
    .min(1)
    .default('Herald Newsroom, 1 Example Street, 00000 Example City'),
  PORT: z.coerce.number().int('must be a whole number').min(0).max(65535).default(3000),
  HOST: z.string().min(1).default('127.0.0.1'),
  /** The separate /metrics and /readyz listener; unset: off (per-campaign counts stay private). */
  METRICS_PORT: z.coerce.number().int('must be a whole number').min(0).max(65535).optional(),
  METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  SEND_RATE: z.coerce.number().positive('must be above 0 messages per second').optional(),
  SEND_CONCURRENCY: positiveInt.default(8),
  /**
   * How many processes run the deliveries queue in `herald start` and `herald worker`; 1 runs
   * it inside the process itself. Unset: one per core (os.availableParallelism()).
   */
  DELIVERY_PROCESSES: z
    .string()
    .trim()
    .regex(/^\d{1,2}$/, 'must be a whole number from 1 to 64')
    .transform(Number)
    .refine((count) => count >= 1 && count <= 64, 'must be a whole number from 1 to 64')
    .optional()
    .transform((count) => count ?? Math.min(64, availableParallelism())),
  BATCH_SIZE: positiveInt.default(500),
  SEND_RETRY_ATTEMPTS: nonNegativeInt.default(8),
  SEND_RETRY_BASE_MS: positiveInt.default(60_000),
  FAILURE_PAUSE_RATIO: z.coerce.number().gt(0).max(1).default(0.5),
  FAILURE_PAUSE_MIN_SAMPLE: positiveInt.default(200),
  RECONCILE_EVERY_MS: positiveInt.default(30_000),
  // At most an hour: a digest is due during its subscriber's send hour only.
  DIGEST_TICK_MS: positiveInt.max(3_600_000, 'must be at most 3600000 (one hour)').default(900_000),
  /** How long a worker holds a job without renewing its lock before it counts as crashed. */
  JOB_LOCK_MS: positiveInt.default(30_000),
  /** A ledger row claimed for sending but untouched this long belongs to a dead worker. */
  CLAIM_STALE_MS: positiveInt.default(120_000),
  REDIS_CONNECT_TIMEOUT_MS: positiveInt.default(3_000),
  /** REDIS_URL names one node of a Redis Cluster; the others are discovered from it. */
  REDIS_CLUSTER: z
    .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'], {
      message: 'must be true or false',
    })
    .transform((v) => ['true', '1', 'yes', 'on'].includes(v))
    .default(false),
  DKIM_DOMAIN: z.string().min(1).optional(),
  DKIM_SELECTOR: z.string().min(1).optional(),
  DKIM_PRIVATE_KEY: z.string().min(1).optional(),
  SOFT_BOUNCE_LIMIT: positiveInt.default(3),
  SOFT_BOUNCE_WINDOW_DAYS: positiveInt.default(30),
  BOUNCE_SMTP_PORT: z.coerce.number().int('must be a whole number').min(0).max(65535).optional(),
  CONFIRM_TTL_HOURS: positiveInt.default(72),
  PUBLIC_RATE_LIMIT: positiveInt.default(120),
  // No schema default: one-shot CLI commands must tell an explicit `info` from unset
  // (parseConfig resolves it to `info` and records `logLevelSet`).
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional(),
  /** Feed and linked-page fetches: whole-request time limit and body size cap. */
  FEED_TIMEOUT_MS: positiveInt.default(15_000),
  FEED_MAX_BYTES: positiveInt.default(5 * 1024 * 1024),
  /** Consecutive failed polls after which a feed is shown as failing. */
  FEED_FAILING_AFTER: positiveInt.default(3),
  /**
   * Hosts (`name` or `name:port`) on private addresses that the console's "ingest by URL" may
   * fetch from, such as an intranet CMS; every other private or reserved address is refused,
   * after redirects too. None by default.
   */
  ARTICLE_FETCH_PRIVATE_HOSTS: z
    .string()
    .optional()
    .transform((v) =>
      (v ?? '')
        .split(',')
        .map((part) => part.trim().toLowerCase())
        .filter((part) => part !== ''),
    )
    .refine((list) => list.every((host) => /^[a-z0-9.[\]:-]{1,260}$/.test(host)), {
      message: 'must be a comma-separated list of host names or host:port pairs',
    }),
  /** Alert emails per subscriber per rolling 24 h (digests and confirmations are not counted). */
  ALERT_DAILY_CAP: positiveInt.default(3),
  /** Local hours without alerts, "HH:MM-HH:MM" in each subscriber's zone, or "off". */
  ALERT_QUIET_HOURS: z
    .string()
    .trim()
    .regex(
      /^(off|([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d)$/,
      'must be HH:MM-HH:MM (e.g. 22:00-07:00) or off',
    )
    .default('22:00-07:00'),
  // Engagement (src/engagement, docs/engagement.md): both trackers off unless asked for.
  TRACK_CLICKS: onOff.default(false),
  TRACK_OPENS: onOff.default(false),
  /** An open fetched this soon after delivery is a machine's prefetch, not a reader. */
  OPEN_MACHINE_SECONDS: nonNegativeInt.default(10),
  /** Per-subscriber engagement rows older than this are folded into campaign totals. */
  ENGAGEMENT_RETENTION_DAYS: positiveInt.default(365),
});

export type Env = z.infer<typeof envSchema>;

export type DatabaseTarget =
  | { dialect: 'sqlite'; path: string }
  | { dialect: 'postgres'; url: string };

export type LogLevel = NonNullable<Env['LOG_LEVEL']>;

export interface Config extends Omit<Env, 'PUBLIC_URL' | 'LOG_LEVEL'> {
  /** Base of links in emails: PUBLIC_URL, or where the api listens when it is unset. */
  PUBLIC_URL: string;
  /** LOG_LEVEL, or `info` when it is unset. */
  LOG_LEVEL: LogLevel;
  /** Whether LOG_LEVEL was set at all (one-shot commands log only when it was). */
  logLevelSet: boolean;
  dataDir: string;
  outboxDir: string;
  database: DatabaseTarget;
  dkim?: { domain: string; selector: string; privateKey: string };
  /** The transport mail goes through: MAIL_TRANSPORT, or smtp with SMTP_URL, else outbox. */
  mailTransport: MailTransportName;
  /** Amazon SES settings, present when MAIL_TRANSPORT is ses. */
  ses?: SesSettings;
}

export interface SesSettings {
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  endpoint: string;
  configurationSet?: string;
}

export class ConfigError extends Error {
  constructor(
    message: string,
    readonly variable: string,
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Parses an environment into a Config; throws ConfigError naming the first bad variable. */
export function parseConfig(env: Record<string, string | undefined>): Config {
  // An empty variable means "unset", as shells and compose files often leave them.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== ''));
  const result = envSchema.safeParse(present);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const variable = String(issue.path[0] ?? 'environment');
    throw new ConfigError(`Invalid ${variable}: ${issue.message}`, variable);
  }
  const parsed = result.data;
  const dataDir = resolve(parsed.HERALD_DATA_DIR);
  const database: DatabaseTarget =
    parsed.DATABASE_URL === undefined
      ? { dialect: 'sqlite', path: resolve(dataDir, 'herald.sqlite') }
      : parsed.DATABASE_URL.startsWith('sqlite:')
        ? {
            dialect: 'sqlite',
            path: resolveSqlitePath(parsed.DATABASE_URL.slice('sqlite:'.length)),
          }
        : { dialect: 'postgres', url: parsed.DATABASE_URL };

  // BullMQ's scripts touch several keys of a queue at once (and Herald's own counters sit
  // under the same prefix): Redis Cluster runs them only when every key hashes to one slot.
  if (parsed.REDIS_CLUSTER && !/\{[^{}]+\}/.test(parsed.QUEUE_PREFIX)) {
    throw new ConfigError(
      'Invalid QUEUE_PREFIX: must hold a {hash tag} such as {herald} when REDIS_CLUSTER is on ' +
        '(Redis Cluster runs a queue script only when all its keys share one slot)',
      'QUEUE_PREFIX',
    );
  }
  const dkimParts = [parsed.DKIM_DOMAIN, parsed.DKIM_SELECTOR, parsed.DKIM_PRIVATE_KEY];
  const dkimSet = dkimParts.filter((part) => part !== undefined).length;
  if (dkimSet !== 0 && dkimSet !== 3) {
    const missing = ['DKIM_DOMAIN', 'DKIM_SELECTOR', 'DKIM_PRIVATE_KEY'].find(
      (_, i) => dkimParts[i] === undefined,
    )!;
    throw new ConfigError(
      `Invalid ${missing}: DKIM_DOMAIN, DKIM_SELECTOR and DKIM_PRIVATE_KEY go together`,
      missing,
    );
  }
  const mailTransport = parsed.MAIL_TRANSPORT ?? (parsed.SMTP_URL ? 'smtp' : 'outbox');
  if (mailTransport === 'smtp' && parsed.SMTP_URL === undefined) {
    throw new ConfigError('Invalid SMTP_URL: is required when MAIL_TRANSPORT is smtp', 'SMTP_URL');
  }
  const sesRequired = ['SES_REGION', 'SES_ACCESS_KEY_ID', 'SES_SECRET_ACCESS_KEY'] as const;
  const sesMissing = sesRequired.find((name) => parsed[name] === undefined);
  if (mailTransport === 'ses' && sesMissing) {
    throw new ConfigError(
      `Invalid ${sesMissing}: is required when MAIL_TRANSPORT is ses`,
      sesMissing,
    );
  }
  return {
    ...parsed,
    mailTransport,
    ses:
      mailTransport === 'ses'
        ? {
            region: parsed.SES_REGION!,
            accessKeyId: parsed.SES_ACCESS_KEY_ID!,
            secretAccessKey: parsed.SES_SECRET_ACCESS_KEY!,
            sessionToken: parsed.SES_SESSION_TOKEN,
            endpoint: parsed.SES_ENDPOINT ?? `https://email.${parsed.SES_REGION!}.amazonaws.com`,
            configurationSet: parsed.SES_CONFIGURATION_SET,
          }
        : undefined,
    PUBLIC_URL: parsed.PUBLIC_URL ?? defaultPublicUrl(parsed.HOST, parsed.PORT),
    LOG_LEVEL: parsed.LOG_LEVEL ?? 'info',
    logLevelSet: parsed.LOG_LEVEL !== undefined,
    dataDir,
    outboxDir: resolve(dataDir, 'outbox'),
    database,
    dkim:
      dkimSet === 3
        ? {
            domain: parsed.DKIM_DOMAIN!,
            selector: parsed.DKIM_SELECTOR!,
            // Keys passed through env often carry literal "\n" sequences.
            privateKey: parsed.DKIM_PRIVATE_KEY!.replace(/\\n/g, '\n'),
          }
        : undefined,
  };
}

/**
 * Where links point when PUBLIC_URL is unset: the api's own HOST and PORT, with a wildcard or
 * loopback HOST shown as `localhost` (a browser on this machine reaches it there).
 */
export function defaultPublicUrl(host: string, port: number): string {
  const bare = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  const local =
    bare === '' ||
    bare === '0.0.0.0' ||
    bare === '::' ||
    bare === '::1' ||
    bare === 'localhost' ||
    bare.endsWith('.localhost') ||
    /^127\./.test(bare) ||
    /^::ffff:127\./.test(bare);
  const name = local ? 'localhost' : bare.includes(':') ? `[${bare}]` : bare;
  return `http://${name}:${port}`;
}

function resolveSqlitePath(path: string): string {
  return path === ':memory:' ? path : resolve(path);
}

/**
 * The link-signing key for processes that mint or check tokens for the public (serve, start,
 * worker, the bounce listener); throws ConfigError naming HERALD_SECRET when it is unset.
 */
export function requireSecret(config: Pick<Config, 'HERALD_SECRET'>): string {
  if (config.HERALD_SECRET === '') {
    throw new ConfigError(
      'Invalid HERALD_SECRET: is required (at least 32 random bytes, e.g. `openssl rand -base64 48`)',
      'HERALD_SECRET',
    );
  }
  return config.HERALD_SECRET;
}

/**
 * Whether a failing CLI command prints the stack trace (HERALD_DEBUG set). Read apart from
 * parseConfig: it must work when the rest of the environment is what failed.
 */
export function debugStacks(env: Record<string, string | undefined> = process.env): boolean {
  return (env.HERALD_DEBUG ?? '') !== '';
}

/** Reads the process environment once. */
export function loadConfig(overrides: Record<string, string | undefined> = {}): Config {
  return parseConfig({ ...process.env, ...overrides });
}

/** A URL with any password replaced, safe for logs and error messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable URL)';
  }
}
