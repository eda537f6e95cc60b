import type { APIEmbed, RESTPostAPIChannelMessageJSONBody } from 'discord-api-types/v10';

/** Discord's message limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits). */
export const MESSAGE_CONTENT_MAX = 2000;
export const EMBEDS_MAX = 10;
export const EMBED_TITLE_MAX = 256;
export const EMBED_DESCRIPTION_MAX = 4096;
export const EMBED_FIELDS_MAX = 25;
export const EMBED_FIELD_NAME_MAX = 256;
export const EMBED_FIELD_VALUE_MAX = 1024;
export const EMBED_FOOTER_TEXT_MAX = 2048;
export const EMBED_AUTHOR_NAME_MAX = 256;
export const EMBED_TOTAL_MAX = 6000;
export const URL_MAX = 2048;
export const THREAD_NAME_MIN = 1;
export const THREAD_NAME_MAX = 100;

/** Characters Discord counts towards the 6000 total of one embed. */
export function embedLength(embed: APIEmbed): number {
  return (
    (embed.title?.length ?? 0) +
    (embed.description?.length ?? 0) +
    (embed.footer?.text.length ?? 0) +
    (embed.author?.name.length ?? 0) +
    (embed.fields ?? []).reduce((sum, f) => sum + f.name.length + f.value.length, 0)
  );
}

function checkUrl(problems: string[], where: string, url: string | undefined): void {
  if (url === undefined) return;
  if (url.length > URL_MAX) problems.push(`${where} is longer than ${URL_MAX} characters`);
  if (!/^(https?|attachment):\/\//.test(url)) problems.push(`${where} is not an http(s) URL: ${url.slice(0, 80)}`);
}

/** Problems that would make Discord reject the message (empty list = fine). */
export function validateMessagePayload(body: RESTPostAPIChannelMessageJSONBody): string[] {
  const problems: string[] = [];
  const content = body.content ?? '';
  const embeds = body.embeds ?? [];
  if (content.length > MESSAGE_CONTENT_MAX) problems.push(`content is ${content.length} characters (max ${MESSAGE_CONTENT_MAX})`);
  if (embeds.length > EMBEDS_MAX) problems.push(`${embeds.length} embeds (max ${EMBEDS_MAX})`);
  const hasStickers = (body.sticker_ids?.length ?? 0) > 0;
  const hasComponents = (body.components?.length ?? 0) > 0;
  const hasFiles = (body.attachments?.length ?? 0) > 0;
  if (content.trim() === '' && embeds.length === 0 && !hasStickers && !hasComponents && !hasFiles && !body.poll) {
    problems.push('the message is empty');
  }
  let total = 0;
  embeds.forEach((embed, i) => {
    const at = `embed ${i + 1}`;
    if (embed.title !== undefined && embed.title.length > EMBED_TITLE_MAX)
      problems.push(`${at} title is ${embed.title.length} characters (max ${EMBED_TITLE_MAX})`);
    if (embed.description !== undefined && embed.description.length > EMBED_DESCRIPTION_MAX) {
      problems.push(`${at} description is ${embed.description.length} characters (max ${EMBED_DESCRIPTION_MAX})`);
    }
    const fields = embed.fields ?? [];
    if (fields.length > EMBED_FIELDS_MAX) problems.push(`${at} has ${fields.length} fields (max ${EMBED_FIELDS_MAX})`);
    fields.forEach((f, j) => {
      if (f.name.trim() === '') problems.push(`${at} field ${j + 1} has an empty name`);
      if (f.value.trim() === '') problems.push(`${at} field ${j + 1} has an empty value`);
      if (f.name.length > EMBED_FIELD_NAME_MAX) problems.push(`${at} field ${j + 1} name is ${f.name.length} characters (max ${EMBED_FIELD_NAME_MAX})`);
      if (f.value.length > EMBED_FIELD_VALUE_MAX) problems.push(`${at} field ${j + 1} value is ${f.value.length} characters (max ${EMBED_FIELD_VALUE_MAX})`);
    });
    if (embed.footer) {
      if (embed.footer.text.length > EMBED_FOOTER_TEXT_MAX)
        problems.push(`${at} footer is ${embed.footer.text.length} characters (max ${EMBED_FOOTER_TEXT_MAX})`);
      if (embed.footer.text.trim() === '') problems.push(`${at} footer text is empty`);
    }
    if (embed.author) {
      if (embed.author.name.length > EMBED_AUTHOR_NAME_MAX)
        problems.push(`${at} author name is ${embed.author.name.length} characters (max ${EMBED_AUTHOR_NAME_MAX})`);
      if (embed.author.name.trim() === '') problems.push(`${at} author name is empty`);
      checkUrl(problems, `${at} author url`, embed.author.url);
    }
    checkUrl(problems, `${at} url`, embed.url);
    checkUrl(problems, `${at} image url`, embed.image?.url);
    checkUrl(problems, `${at} thumbnail url`, embed.thumbnail?.url);
    if (embed.timestamp !== undefined && Number.isNaN(Date.parse(embed.timestamp))) problems.push(`${at} timestamp is not ISO-8601`);
    const hasSomething = embed.title || embed.description || fields.length || embed.image || embed.thumbnail || embed.author || embed.footer;
    if (!hasSomething) problems.push(`${at} is empty`);
    total += embedLength(embed);
  });
  if (total > EMBED_TOTAL_MAX) problems.push(`embeds total ${total} characters (max ${EMBED_TOTAL_MAX})`);
  return problems;
}

/** Problems with a thread name (empty list = fine). */
export function validateThreadName(name: string): string[] {
  const problems: string[] = [];
  if (name.trim().length < THREAD_NAME_MIN) problems.push('the thread name is empty');
  if (name.length > THREAD_NAME_MAX) problems.push(`the thread name is ${name.length} characters (max ${THREAD_NAME_MAX})`);
  return problems;
}
