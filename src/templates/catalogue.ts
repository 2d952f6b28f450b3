// The mail templates, one row each: the one place to add a template (its MJML layout goes under
// templates/layouts/; the partials are shared). Campaign validation, the stored-row reader, the
// renderer and the CLI's help read this table; nothing else lists template names.

/** What a template is made of and who may choose it. */
export interface TemplateEntry {
  /** The MJML layout, relative to the repo's templates/ folder. */
  layout: string;
  /** One line for help texts. */
  description: string;
  /**
   * Whether an editor may pick it for a campaign (rendered from the campaign's articles by
   * src/templates/index.ts). Herald's own mails (welcome) have their own renderer.
   */
  forCampaigns: boolean;
}

export const TEMPLATES = {
  alert: {
    layout: 'layouts/alert.mjml',
    description: 'the articles in full, one after another (breaking news, a single story)',
    forCampaigns: true,
  },
  digest: {
    layout: 'layouts/digest.mjml',
    description: 'one card per article, grouped under its topic',
    forCampaigns: true,
  },
  welcome: {
    layout: 'layouts/welcome.mjml',
    description: 'the welcome mail a subscriber gets once confirmed (src/welcome/)',
    forCampaigns: false,
  },
} as const satisfies Record<string, TemplateEntry>;

/** Any template a stored campaign may name. */
export type StoredTemplateName = keyof typeof TEMPLATES;

/** The templates an editor may choose for a campaign. */
export type CampaignTemplate = {
  [K in StoredTemplateName]: (typeof TEMPLATES)[K]['forCampaigns'] extends true ? K : never;
}[StoredTemplateName];

const allNames = Object.keys(TEMPLATES) as StoredTemplateName[];

/** The campaign templates, in table order (the first is the default). */
export const campaignTemplates = allNames.filter(
  (name): name is CampaignTemplate => TEMPLATES[name].forCampaigns,
) as [CampaignTemplate, ...CampaignTemplate[]];

/** Whether `name` is a template in the table. */
export function isStoredTemplateName(name: string): name is StoredTemplateName {
  return Object.hasOwn(TEMPLATES, name);
}

/** A template name that is not in the table (or not usable where it was found). */
export class UnknownTemplateError extends Error {
  constructor(
    readonly template: string,
    where: string,
    expected: readonly string[] = allNames,
  ) {
    super(`${where} names the template "${template}", which is not one of ${expected.join(', ')}`);
    this.name = 'UnknownTemplateError';
  }
}

/**
 * The template a stored value names; throws an UnknownTemplateError rather than fall back to
 * another one: a campaign must not silently go out in a layout nobody chose.
 */
export function storedTemplate(name: string, where: string): StoredTemplateName {
  if (!isStoredTemplateName(name)) throw new UnknownTemplateError(name, where);
  return name;
}

/** The campaign template `name` is, or an UnknownTemplateError (e.g. welcome, rendered apart). */
export function campaignTemplate(name: string, where: string): CampaignTemplate {
  if (!(campaignTemplates as readonly string[]).includes(name)) {
    throw new UnknownTemplateError(name, where, campaignTemplates);
  }
  return name as CampaignTemplate;
}
