import type { PushLinks } from './websub-discovery.ts';

export interface PostDraft {
  /** Identity within the feed: the guid/id if present, else the link, else 'hash:' + sha256(title + date). */
  key: string;
  keySource: 'guid' | 'link' | 'hash';
  /** Absolute (resolved against xml:base / the feed URL); feedburner:origLink preferred over the proxy link. */
  url: string | null;
  /** Never empty: falls back to the first words of the text, then the URL, then 'Untitled'. */
  title: string;
  /** dc:creator, author name, JSON Feed authors[0].name, feed-level author. */
  author: string | null;
  /** ISO-8601 (UTC, toISOString) or null. */
  publishedAt: string | null;
  updatedAt: string | null;
  /** description/summary (relative URLs made absolute). */
  summaryHtml: string | null;
  /** content:encoded / content / content_html (relative URLs made absolute). */
  contentHtml: string | null;
  /** media:content/thumbnail/enclosure image/JSON image, else first <img> of content (absolute), ignoring 1×1 tracking pixels. */
  imageUrl: string | null;
  /** sha256 of the normalised title + url + summary/content text: detects edits. */
  contentHash: string;
  /** The item's categories (tags) as plain text, duplicates removed, in feed order; [] when it has none. */
  categories: string[];
}

export interface ParsedFeed {
  format: 'rss' | 'atom' | 'rdf' | 'json';
  title: string | null;
  link: string | null;
  /** Items in feed order. */
  items: PostDraft[];
  /** WebSub hub and self URLs the document advertises (with the Link headers' merged in by `fetchAndParse`). */
  push: PushLinks;
}

export interface FetchFeedValidators {
  etag?: string | null;
  lastModified?: string | null;
}

export interface FetchFeedOptions {
  /** Allow loopback/private/link-local targets (FEED_ALLOW_PRIVATE_NETWORK). */
  allowPrivateNetwork: boolean;
  /** Total time for the whole fetch, redirects included. Default 20000. */
  timeoutMs?: number;
  /** Time to establish each TCP/TLS connection. Default min(10000, timeoutMs / 2): shorter than the total, so it can tell. */
  connectTimeoutMs?: number;
  /** Cap on the decoded-transfer body size (after decompression). Default 5 MB. */
  maxBytes?: number;
  userAgent: string;
  /** Which resolved addresses may be connected to when allowPrivateNetwork is false. Default: isPublicAddress. */
  addressPolicy?: (address: string) => boolean;
}

export type FetchFeedResult =
  | { status: 'not-modified' }
  | {
      status: 'ok';
      /** The final response's HTTP status (a 2xx). */
      httpStatus: number;
      /** Decoded text. */
      body: string;
      contentType: string | null;
      etag: string | null;
      lastModified: string | null;
      /** URL after redirects. */
      finalUrl: string;
      /** WebSub hub and self URLs of the final response's Link headers. */
      links: PushLinks;
    };
