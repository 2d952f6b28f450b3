// The error every article parser and the article store throw for input the caller can fix.
import { InputError } from '../errors/index.ts';

/** Bad article input: `field` names what is wrong (body, title, topics…), the message says why. */
export class ArticleInputError extends InputError {
  constructor(field: string, message: string) {
    super('invalid', field, message);
    this.name = 'ArticleInputError';
  }
}
