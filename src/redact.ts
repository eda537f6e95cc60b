// Credentials never reach a log line or the terminal: every URL the bot prints goes through these.

/** `scheme://user:password@host` → `scheme://user:***@host`; a lone user name (often a token) becomes `***`. */
const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#@]*)@/gi;

function hideUserinfo(userinfo: string): string {
  if (userinfo === '') return '';
  const colon = userinfo.indexOf(':');
  if (colon === -1) return '***';
  return `${userinfo.slice(0, colon)}:***`;
}

/** A webhook's token in its URL (`/webhooks/{id}/{token}`): a secret like a password (per-feed identity). */
const WEBHOOK_TOKEN = /(\/webhooks\/\d+\/)[A-Za-z0-9_.-]+/g;

/** Every `scheme://userinfo@` in a text (an error message, a log field) with its password hidden, and webhook tokens. */
export function redactCredentials(text: string): string {
  return text.replace(USERINFO, (_match, scheme: string, userinfo: string) => `${scheme}${hideUserinfo(userinfo)}@`).replace(WEBHOOK_TOKEN, '$1***');
}

/** One URL (REDIS_URL, DATABASE_URL, a feed URL) safe to print. Not-a-URL text is redacted the same way. */
export function redactUrl(url: string): string {
  return redactCredentials(url);
}
