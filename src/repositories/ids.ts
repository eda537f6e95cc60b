import { createHash } from 'node:crypto';

/** Deterministic ids: the same blog item gets the same id in every process, so retries and jobs can key on it. */
export function stableId(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\u0000')).digest('base64url').slice(0, 22);
}

export const now = (): string => new Date().toISOString();
