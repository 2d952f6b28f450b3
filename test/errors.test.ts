// One input-error type, mapped once to HTTP (400/404/409 with `{error, details}`) and once to
// the CLI (one line on stderr, exit 2 or 4); and the bounce-event classifier both interfaces
// use. Unit tests: no Redis, no database.
import Fastify from 'fastify';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AlertRuleError } from '../src/alerts/rules.ts';
import { ArticleInputError } from '../src/articles/errors.ts';
import { CampaignError } from '../src/campaigns/repository.ts';
import { reportFatal, UserError } from '../src/cli/context.ts';
import { ArticleInUseError } from '../src/cli/lists.ts';
import { conflict, type InputError, invalid, notFound } from '../src/errors/index.ts';
import { FeedInputError } from '../src/feeds/repository.ts';
import { installErrorHandler } from '../src/http/errors.ts';
import { type BounceEvent, classifyBounceEvent } from '../src/subscribers/bounce-webhook.ts';
import { SubscriberInputError } from '../src/subscribers/repository.ts';

/** Each error with the HTTP status and exit code it must map to. */
const CASES: Array<[string, InputError, number, number]> = [
  ['invalid', invalid('email', 'email: is not a valid address'), 400, 2],
  ['not found', notFound('id', 'no subscriber 9'), 404, 2],
  ['conflict', conflict('status', 'campaign 3 is sent'), 409, 4],
  ['subscriber input', new SubscriberInputError('timezone', 'unknown zone'), 400, 2],
  ['article input', new ArticleInputError('title', 'the json article has no title'), 400, 2],
  ['campaign missing', new CampaignError('campaign 5 does not exist', 'id', 404), 404, 2],
  ['campaign state', new CampaignError('campaign 5 is sent', 'id', 409), 409, 4],
  ['feed duplicate', new FeedInputError('url', 'url: already added as feed 2', 409), 409, 4],
  ['alert rule missing', new AlertRuleError('id', 'no alert rule 4', 404), 404, 2],
  ['article in use', new ArticleInUseError(8, [{ id: 3, status: 'scheduled' }]), 409, 4],
];

describe('InputError over HTTP', () => {
  it.each(CASES)(
    '%s → %i with {error, details:[{field, message}]}',
    async (_name, error, status) => {
      const server = Fastify();
      installErrorHandler(server);
      server.get('/', async () => {
        throw error;
      });
      try {
        const response = await server.inject({ method: 'GET', url: '/' });
        expect(response.statusCode).toBe(status);
        expect(response.json()).toEqual({
          error: error.message,
          details: [{ field: error.field, message: error.message }],
        });
      } finally {
        await server.close();
      }
    },
  );
});

describe('InputError on the command line', () => {
  afterEach(() => vi.restoreAllMocks());

  it.each(CASES)('%s → one line on stderr and its exit code', (_name, error, _status, exitCode) => {
    const written: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      written.push(String(chunk));
      return true;
    });
    expect(reportFatal(error)).toBe(exitCode);
    expect(written).toEqual([`herald: ${error.message}\n`]);
  });

  it('keeps UserError (command-line faults) and unexpected errors apart', () => {
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    expect(reportFatal(new UserError('no such file: x.csv'))).toBe(2);
    expect(reportFatal(new Error('socket hang up'))).toBe(1);
  });
});

describe('bounce event classification', () => {
  const event = (fields: Partial<BounceEvent>): BounceEvent => ({
    type: 'bounce',
    token: 't',
    ...fields,
  });
  it.each([
    [{ type: 'complaint' as const }, 'complaint'],
    [{ type: 'complaint' as const, bounceType: 'hard' as const }, 'complaint'],
    [{ bounceType: 'hard' as const }, 'hard'],
    [{ bounceType: 'permanent' as const, status: '4.2.2' }, 'hard'],
    [{ bounceType: 'soft' as const, status: '5.1.1' }, 'soft'],
    [{ bounceType: 'transient' as const }, 'soft'],
    [{ status: '5.1.1' }, 'hard'],
    [{ status: ' 5.7.1 ' }, 'hard'],
    [{ status: '4.2.2' }, 'soft'],
    [{ status: 'unknown' }, 'soft'],
  ])('%j → %s', (fields, kind) => {
    expect(classifyBounceEvent(event(fields))).toBe(kind);
  });
});
