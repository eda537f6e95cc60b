/**
 * Request-body validation: the official schemas from `discord-api-spec/zod` (hand-mapped per route)
 * plus the real limits the spec does not encode (bot content 2000, 6000 chars across embeds, ...).
 * Failures become Discord's `400 { code: 50035, message: 'Invalid Form Body', errors }`.
 */
import * as Spec from 'discord-api-spec/zod';
import { DiscordHttpError, Errors, errorAt, type DiscordErrorTree } from './errors.ts';

type SpecSchema = typeof Spec.MessageCreateRequestSchema;

export const RouteSchemas = {
  createMessage: Spec.MessageCreateRequestSchema,
  editMessage: Spec.MessageEditRequestPartialSchema,
  threadFromMessage: Spec.CreateTextThreadWithMessageRequestSchema,
  threadWithoutMessage: Spec.CreateTextThreadWithoutMessageRequestSchema,
  forumThread: Spec.CreateForumThreadRequestSchema,
  updateThread: Spec.UpdateThreadRequestPartialSchema,
  callbackMessage: Spec.CreateMessageInteractionCallbackRequestSchema,
  callbackUpdate: Spec.UpdateMessageInteractionCallbackRequestSchema,
  callbackAutocomplete: Spec.ApplicationCommandAutocompleteCallbackRequestSchema,
  callbackModal: Spec.ModalInteractionCallbackRequestSchema,
  webhookEdit: Spec.IncomingWebhookUpdateRequestPartialSchema,
  webhookExecute: Spec.IncomingWebhookRequestPartialSchema,
  commandUpdate: Spec.ApplicationCommandUpdateRequestSchema,
  commandCreate: Spec.ApplicationCommandCreateRequestSchema,
  commandPatch: Spec.ApplicationCommandPatchRequestPartialSchema,
} satisfies Record<string, SpecSchema>;
export type RouteSchemaName = keyof typeof RouteSchemas;

/** The spec is stricter than Discord in a few places that discord.js relies on; normalise those first. */
function normalise(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalise);
  if (!value || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (k === 'default_member_permissions' && typeof v === 'string')
      out[k] = Number(v); // API accepts strings
    else if (k === 'timestamp' && typeof v === 'string' && !Number.isNaN(Date.parse(v))) out[k] = new Date(v).toISOString();
    else out[k] = normalise(v);
  }
  return out;
}

function issueCode(code: string): string {
  switch (code) {
    case 'too_big':
      return 'BASE_TYPE_MAX_LENGTH';
    case 'too_small':
      return 'BASE_TYPE_MIN_LENGTH';
    case 'invalid_type':
      return 'BASE_TYPE_BAD_TYPE';
    case 'invalid_union':
      return 'UNION_TYPE_CHOICES';
    default:
      return 'BASE_TYPE_INVALID';
  }
}

export function specErrors(schema: SpecSchema, body: unknown, into: DiscordErrorTree = {}): DiscordErrorTree | undefined {
  const r = schema.safeParse(normalise(body));
  if (r.success) return Object.keys(into).length ? into : undefined;
  for (const issue of r.error.issues) {
    const path = issue.path.map((p) => (typeof p === 'symbol' ? String(p.description) : p));
    const msg =
      issue.code === 'too_big' && issue.maximum !== undefined
        ? `Must be ${String(issue.maximum)} or fewer in length.`
        : issue.code === 'too_small' && issue.minimum !== undefined
          ? `Must be ${String(issue.minimum)} or more in length.`
          : issue.message;
    errorAt(path, issueCode(issue.code), msg, into);
  }
  return into;
}

export interface MessageLike {
  content?: string | null;
  embeds?: unknown[] | null;
  attachments?: unknown[] | null;
  sticker_ids?: unknown[] | null;
  components?: unknown[] | null;
  poll?: unknown;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** Limits Discord enforces for bots that the spec misses or states differently. */
export function messageLimitErrors(body: MessageLike, prefix: ReadonlyArray<string | number> = [], into: DiscordErrorTree = {}): DiscordErrorTree {
  if (typeof body.content === 'string' && body.content.length > 2000) {
    errorAt([...prefix, 'content'], 'BASE_TYPE_MAX_LENGTH', 'Must be 2000 or fewer in length.', into);
  }
  const embeds = Array.isArray(body.embeds) ? body.embeds : [];
  if (embeds.length > 10) errorAt([...prefix, 'embeds'], 'BASE_TYPE_MAX_LENGTH', 'Must be 10 or fewer in length.', into);
  let total = 0;
  embeds.forEach((raw, i) => {
    const e = (raw ?? {}) as Record<string, any>;
    const at = (...p: Array<string | number>) => [...prefix, 'embeds', i, ...p];
    const check = (value: unknown, max: number, ...p: Array<string | number>) => {
      const s = str(value);
      total += s.length;
      if (s.length > max) errorAt(at(...p), 'BASE_TYPE_MAX_LENGTH', `Must be ${max} or fewer in length.`, into);
    };
    check(e.title, 256, 'title');
    check(e.description, 4096, 'description');
    check(e.footer?.text, 2048, 'footer', 'text');
    check(e.author?.name, 256, 'author', 'name');
    const fields = Array.isArray(e.fields) ? e.fields : [];
    if (fields.length > 25) errorAt(at('fields'), 'BASE_TYPE_MAX_LENGTH', 'Must be 25 or fewer in length.', into);
    fields.forEach((f: Record<string, unknown>, j: number) => {
      check(f?.name, 256, 'fields', j, 'name');
      check(f?.value, 1024, 'fields', j, 'value');
    });
  });
  if (total > 6000) errorAt([...prefix, 'embeds'], 'MAX_EMBED_SIZE_EXCEEDED', 'Embed size exceeds maximum size of 6000', into);
  return into;
}

export function isEmptyMessage(body: MessageLike, fileCount = 0): boolean {
  return (
    !(body.content && body.content.length > 0) &&
    !(body.embeds && body.embeds.length > 0) &&
    !(body.attachments && body.attachments.length > 0) &&
    !(body.sticker_ids && body.sticker_ids.length > 0) &&
    !(body.components && body.components.length > 0) &&
    !body.poll &&
    fileCount === 0
  );
}

export interface Validator {
  enabled: boolean;
  /** Throws 50035 when the body breaks the spec schema or (for messages) Discord's real limits. */
  check(schema: RouteSchemaName | null, body: unknown, opts?: { message?: MessageLike; messagePrefix?: Array<string | number>; threadName?: unknown }): void;
}

export function createValidator(enabled: boolean): Validator {
  return {
    enabled,
    check(schema, body, opts = {}) {
      const tree: DiscordErrorTree = {};
      if (this.enabled && schema) specErrors(RouteSchemas[schema], body, tree);
      // Real limits are always enforced (they are cheap and they are behaviour, not just validation).
      if (opts.message) messageLimitErrors(opts.message, opts.messagePrefix ?? [], tree);
      if (opts.threadName !== undefined) {
        const n = opts.threadName;
        if (typeof n !== 'string' || n.length < 1 || n.length > 100) {
          if (!tree.name) errorAt(['name'], 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 100 in length.', tree);
        }
      }
      if (Object.keys(tree).length) throw Errors.invalidFormBody(tree);
    },
  };
}

export { DiscordHttpError };
