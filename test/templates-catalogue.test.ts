// The template table: every row has its layout, editors pick only campaign templates, and a
// stored template name outside the table is an error (never read as another template).
// Unit tests: no Redis, no database.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createCampaignSchema, toCampaign } from '../src/campaigns/model.ts';
import type { CampaignRow } from '../src/store/schema.ts';
import {
  campaignTemplate,
  campaignTemplates,
  storedTemplate,
  TEMPLATES,
  UnknownTemplateError,
} from '../src/templates/catalogue.ts';
import { templateNames, templatesDir } from '../src/templates/index.ts';

function row(template: string): CampaignRow {
  return {
    id: 7,
    kind: 'campaign',
    subject: 'Subject',
    template,
    article_ids: '[1]',
    audience_topics: '["china"]',
    status: 'draft',
    status_reason: null,
    scheduled_at: null,
    local_time: null,
    created_at: '2026-12-01T00:00:00.000Z',
    updated_at: '2026-12-01T00:00:00.000Z',
    started_at: null,
    finished_at: null,
    prepared_at: null,
    excerpt_paragraphs: null,
  } as CampaignRow;
}

describe('template table', () => {
  it('names an existing MJML layout for every template', () => {
    for (const [name, entry] of Object.entries(TEMPLATES)) {
      expect(existsSync(resolve(templatesDir, entry.layout)), `${name}: ${entry.layout}`).toBe(
        true,
      );
    }
  });

  it('lets editors choose the campaign templates only, alert first (the default)', () => {
    expect(campaignTemplates).toEqual(['alert', 'digest']);
    expect(templateNames).toEqual(campaignTemplates);
    expect(createCampaignSchema.parse({ articleIds: [1] }).template).toBe('alert');
    expect(createCampaignSchema.parse({ articleIds: [1], template: 'digest' }).template).toBe(
      'digest',
    );
    const welcome = createCampaignSchema.safeParse({ articleIds: [1], template: 'welcome' });
    expect(welcome.success).toBe(false);
    expect(welcome.error?.issues[0]).toMatchObject({
      path: ['template'],
      message: 'must be one of alert, digest',
    });
  });

  it('reads every stored template as itself, welcome included', () => {
    for (const name of Object.keys(TEMPLATES)) {
      expect(toCampaign(row(name)).template).toBe(name);
    }
  });

  it('refuses a stored template outside the table instead of reading it as alert', () => {
    expect(() => toCampaign(row('fancy'))).toThrow(UnknownTemplateError);
    expect(() => toCampaign(row('fancy'))).toThrow(
      'campaign 7 names the template "fancy", which is not one of alert, digest, welcome',
    );
    expect(() => storedTemplate('', 'row')).toThrow(UnknownTemplateError);
    // Not an inherited property either.
    expect(() => storedTemplate('toString', 'row')).toThrow(UnknownTemplateError);
  });

  it('renders from articles only the campaign templates', () => {
    expect(campaignTemplate('digest', 'x')).toBe('digest');
    expect(() => campaignTemplate('welcome', 'campaign 3')).toThrow(
      'campaign 3 names the template "welcome", which is not one of alert, digest',
    );
  });
});
