// The error every article parser and the article store throw for input the caller can fix.

/** Bad article input: `field` names what is wrong (body, title, topics…), the message says why. */
export class ArticleInputError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'ArticleInputError';
  }
}
