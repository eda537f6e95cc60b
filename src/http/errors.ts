// The HTTP API's one error shape: { error: { code, message } }. Route code throws HttpError; the error handler
// (src/http/server.ts) answers it with its status and no-store.

export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The one error body of the API. */
export const errorBody = (code: string, message: string): string => JSON.stringify({ error: { code, message } });
