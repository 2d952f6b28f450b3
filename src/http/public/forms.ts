// Field shapes the public forms share: a browser posts one checked box as a string and several
// as an array; an empty text box means "not given".
import { z } from 'zod';

/** A field that may come once or repeated, as a list (undefined when absent). */
export const listOf = z
  .union([z.string(), z.array(z.string())])
  .optional()
  .transform((v) => (v === undefined ? undefined : Array.isArray(v) ? v : [v]));

/** A text box: trimmed, and undefined when empty. */
export const optionalText = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));
