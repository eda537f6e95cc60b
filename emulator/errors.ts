/** Discord-shaped REST errors. Handlers throw these; the router turns them into JSON responses. */
export interface DiscordFieldError {
  code: string;
  message: string;
}
export type DiscordErrorTree = { _errors?: DiscordFieldError[] } & { [key: string]: DiscordErrorTree | DiscordFieldError[] | undefined };

export class DiscordHttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
    readonly errors?: DiscordErrorTree,
    readonly extra?: Record<string, unknown>,
  ) {
    super(message);
  }
  toJSON(): Record<string, unknown> {
    return { message: this.message, code: this.code, ...(this.errors ? { errors: this.errors } : {}), ...this.extra };
  }
}

export const Errors = {
  notFound: () => new DiscordHttpError(404, 0, '404: Not Found'),
  unauthorized: () => new DiscordHttpError(401, 0, '401: Unauthorized'),
  unknownChannel: () => new DiscordHttpError(404, 10003, 'Unknown Channel'),
  unknownGuild: () => new DiscordHttpError(404, 10004, 'Unknown Guild'),
  unknownMember: () => new DiscordHttpError(404, 10007, 'Unknown Member'),
  unknownMessage: () => new DiscordHttpError(404, 10008, 'Unknown Message'),
  unknownUser: () => new DiscordHttpError(404, 10013, 'Unknown User'),
  unknownEmoji: () => new DiscordHttpError(400, 10014, 'Unknown Emoji'),
  unknownWebhook: () => new DiscordHttpError(404, 10015, 'Unknown Webhook'),
  unknownCommand: () => new DiscordHttpError(404, 10063, 'Unknown application command'),
  unknownInteraction: () => new DiscordHttpError(404, 10062, 'Unknown interaction'),
  missingAccess: () => new DiscordHttpError(403, 50001, 'Missing Access'),
  missingPermissions: () => new DiscordHttpError(403, 50013, 'Missing Permissions'),
  cannotEditOthers: () => new DiscordHttpError(403, 50005, 'Cannot edit a message authored by another user'),
  emptyMessage: () => new DiscordHttpError(400, 50006, 'Cannot send an empty message'),
  invalidJson: () => new DiscordHttpError(400, 50109, 'The request body contains invalid JSON.'),
  tooOldToBulkDelete: () => new DiscordHttpError(400, 50034, 'You can only bulk delete messages that are under 14 days old.'),
  alreadyAcknowledged: () => new DiscordHttpError(400, 40060, 'Interaction has already been acknowledged.'),
  threadAlreadyCreated: () => new DiscordHttpError(400, 160004, 'A thread has already been created for this message'),
  threadArchived: () => new DiscordHttpError(400, 50083, 'Thread is archived'),
  threadLocked: () => new DiscordHttpError(403, 160005, 'Thread is locked'),
  invalidFormBody: (errors: DiscordErrorTree) => new DiscordHttpError(400, 50035, 'Invalid Form Body', errors),
};

/** Builds `{ a: { 0: { b: { _errors: [...] } } } }` from a path. */
export function errorAt(path: ReadonlyArray<string | number>, code: string, message: string, into: DiscordErrorTree = {}): DiscordErrorTree {
  let node: DiscordErrorTree = into;
  for (const key of path) {
    const k = String(key);
    const child = node[k];
    if (!child || Array.isArray(child)) node[k] = {};
    node = node[k] as DiscordErrorTree;
  }
  (node._errors ??= []).push({ code, message });
  return into;
}
