// discord-api-spec ships its zod-mini schemas as plain JS (its "types" entry points at the .js file),
// so TypeScript sees `any`. This declares the few schemas the emulator uses with a minimal shape.
declare module 'discord-api-spec/zod' {
  interface SpecIssue {
    path: PropertyKey[];
    message: string;
    code: string;
    maximum?: unknown;
    minimum?: unknown;
    origin?: string;
  }
  interface SpecSchema {
    safeParse(data: unknown): { success: true; data: unknown } | { success: false; error: { issues: SpecIssue[] } };
  }
  export const MessageCreateRequestSchema: SpecSchema;
  export const MessageEditRequestPartialSchema: SpecSchema;
  export const CreateTextThreadWithMessageRequestSchema: SpecSchema;
  export const CreateTextThreadWithoutMessageRequestSchema: SpecSchema;
  export const CreateForumThreadRequestSchema: SpecSchema;
  export const UpdateThreadRequestPartialSchema: SpecSchema;
  export const CreateMessageInteractionCallbackRequestSchema: SpecSchema;
  export const UpdateMessageInteractionCallbackRequestSchema: SpecSchema;
  export const ApplicationCommandAutocompleteCallbackRequestSchema: SpecSchema;
  export const ModalInteractionCallbackRequestSchema: SpecSchema;
  export const IncomingWebhookUpdateRequestPartialSchema: SpecSchema;
  export const IncomingWebhookRequestPartialSchema: SpecSchema;
  export const ApplicationCommandUpdateRequestSchema: SpecSchema;
  export const ApplicationCommandCreateRequestSchema: SpecSchema;
  export const ApplicationCommandPatchRequestPartialSchema: SpecSchema;
}
