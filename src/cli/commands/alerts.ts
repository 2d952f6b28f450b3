// `herald alerts add|list|remove`: alert rules (per topic, min strength, approval or hold).
import type { Command } from 'commander';
import { z } from 'zod';
import {
  type AlertRule,
  addAlertRule,
  listAlertRules,
  removeAlertRule,
} from '../../alerts/rules.ts';
import { printJson, UserError, withApp } from '../context.ts';

const idArgument = z.coerce.number().int().positive();

function describe(rule: AlertRule): string {
  const action =
    rule.mode === 'hold' ? `send after a ${rule.holdSeconds}s hold` : 'wait for approval';
  return `rule ${rule.id}: ${rule.topic} (strength ≥ ${rule.minStrength}) → ${action}${rule.enabled ? '' : ' [disabled]'}\n`;
}

export function register(program: Command): void {
  const alerts = program
    .command('alerts')
    .description('alert rules: new articles on a topic become alert campaigns (none by default)');
  alerts
    .command('add')
    .description('add a rule')
    .requiredOption('--topic <id>', 'the topic the article must be tagged with')
    .requiredOption('--mode <mode>', 'approval (draft until `campaign send`) or hold')
    .option('--hold <interval>', 'hold window before sending, e.g. 60s or 15m (mode hold)')
    .option('--min-strength <score>', 'the least topic score the article must have', '0')
    .option('--json', 'print JSON')
    .action(
      async (options: {
        topic: string;
        mode: string;
        hold?: string;
        minStrength: string;
        json?: boolean;
      }) => {
        await withApp(async (app) => {
          const rule = await addAlertRule(app.store.db, {
            topic: options.topic,
            mode: options.mode as 'approval' | 'hold',
            minStrength: options.minStrength,
            ...(options.hold !== undefined ? { hold: options.hold } : {}),
          });
          if (options.json) printJson(rule);
          else process.stdout.write(`added ${describe(rule)}`);
        });
      },
    );
  alerts
    .command('list')
    .description('the alert rules')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      await withApp(async (app) => {
        const rules = await listAlertRules(app.store.db);
        if (options.json) printJson(rules);
        else if (rules.length === 0) process.stdout.write('no alert rules: alerts are off\n');
        else for (const rule of rules) process.stdout.write(describe(rule));
      });
    });
  alerts
    .command('remove <id>')
    .description('remove a rule')
    .option('--json', 'print JSON')
    .action(async (rawId: string, options: { json?: boolean }) => {
      const id = idArgument.safeParse(rawId);
      if (!id.success) throw new UserError('rule id must be a positive whole number');
      await withApp(async (app) => {
        await removeAlertRule(app.store.db, id.data);
        if (options.json) printJson({ id: id.data, removed: true });
        else process.stdout.write(`removed rule ${id.data}\n`);
      });
    });
}
