/**
 * An expected failure a person can act on (a bad option, a feed that is not a feed, a missing permission).
 * The interaction boundary turns it into a clear ephemeral answer; anything else is a bug, logged with a reference.
 */
export class UserError extends Error {
  override name = 'UserError';
  constructor(
    message: string,
    readonly identifier: string = 'user-error',
    readonly context: Record<string, unknown> = {},
  ) {
    super(message);
  }
}
