/** Everything that can go wrong with a feed, as a code a caller can branch on and a message an admin understands. */
export type FeedErrorCode =
  | 'invalid-url'
  | 'unsupported-protocol'
  | 'private-address'
  | 'dns'
  | 'timeout'
  | 'too-large'
  | 'http-status'
  | 'too-many-redirects'
  | 'not-a-feed'
  | 'malformed'
  | 'network';

export interface FeedErrorDetails {
  url?: string;
  status?: number;
  /** For 'not-a-feed': feed URLs discovered in the HTML page (`<link rel="alternate" type="application/rss+xml">`). */
  suggestions?: string[];
  cause?: unknown;
}

export class FeedError extends Error {
  override readonly name = 'FeedError';
  readonly code: FeedErrorCode;
  readonly url: string | undefined;
  readonly status: number | undefined;
  readonly suggestions: string[];

  constructor(code: FeedErrorCode, message: string, details: FeedErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.url = details.url;
    this.status = details.status;
    this.suggestions = details.suggestions ?? [];
  }
}
