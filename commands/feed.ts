import { ChannelType, EmbedBuilder, MessageFlags, SlashCommandBuilder } from 'discord.js';
import type { Command } from '../src/discord/command.ts';
import { feedStatusCommand } from './feed/status.ts';
import { feedWhyAutocomplete, feedWhyCommand } from './feed/why.ts';
import { validateMessagePayload } from '../src/render/limits.ts';
import { cutText, shownUrl } from '../src/render/post.ts';
import { addFeed, guildFeeds, listFeedSummaries, MAX_BACKFILL, removeFeed, type AddFeedResult, type FeedSummary } from '../src/services/feeds.ts';
import { describeOptions, runEdit } from './feed/edit.ts';
import { addOptionOptions, readOptionOptions } from './feed/options.ts';
import { pressPreviewButton, previewItemChoices, runPreview } from './feed/preview.ts';

const when = (iso: string | null) => (iso ? `<t:${Math.floor(Date.parse(iso) / 1000)}:R>` : 'never');

/** One feed's block in /feed list. */
export function describeFeed({ feed, counts, failed }: FeedSummary): string {
  const state = feed.state === 'paused' ? '⏸️ paused (run /feed add again to resume)' : '✅ active';
  const waiting = (counts.pending ?? 0) + (counts.announced ?? 0) + (counts.threaded ?? 0);
  const lines = [
    `**${cutText(feed.title ?? feed.url, 120).replace(/[*_~`|]/g, '\\$&')}**`,
    shownUrl(feed.url),
    `Channel <#${feed.channelId}> · ${state} · last poll ${when(feed.lastPolledAt)}`,
    `Posts published: ${counts.published ?? 0} · failed: ${counts.failed ?? 0}${counts.skipped ? ` · skipped by filter: ${counts.skipped}` : ''}${waiting ? ` · in progress: ${waiting}` : ''}`,
    ...describeOptions(feed.options),
  ];
  if (feed.lastError) lines.push(`Last error: ${cutText(feed.lastError, 300)}`);
  for (const post of failed) lines.push(`❌ ${cutText(post.title, 80)}: ${cutText(post.failureReason ?? 'unknown reason', 200)}`);
  return lines.join('\n');
}

/** The answer to /feed add. */
export function addFeedReply(r: AddFeedResult): string {
  const what = r.created ? 'Now following' : r.resumed ? 'Resumed' : 'Still following';
  const lines = [
    `${what} **${cutText(r.parsed.title ?? r.feed.url, 150).replace(/[*_~`|]/g, '\\$&')}** (${shownUrl(r.feed.url)}) in <#${r.feed.channelId}>.`,
    r.items === 0
      ? 'The feed has no posts yet. New posts are announced as they appear.'
      : `The feed has ${r.items} ${r.items === 1 ? 'post' : 'posts'}; ${r.queued.length ? `${r.queued.length} ${r.queued.length === 1 ? 'is' : 'are'} being published now` : 'none is published now'}. New posts are announced as they appear.`,
  ];
  const filtered = r.filtered?.length ?? 0;
  if (filtered) {
    lines.push(
      `🔎 ${filtered} ${filtered === 1 ? 'post was' : 'posts were'} skipped by the feed's filters (recorded with the rule; \`/publish url:\` publishes one).`,
    );
  }
  // A feed with options set says so (an AddFeedResult made without them, as in older callers, has none).
  const options = r.feed.options ? describeOptions(r.feed.options) : [];
  if (options.length) lines.push(options.join(' · '));
  if (r.held.length) {
    lines.push(
      `⚠️ ${r.held.length} new posts appeared at once, too many to announce: they are saved and will not be announced (a notice in <#${r.feed.channelId}> lists the newest). \`/publish url:\` announces one.`,
    );
  }
  lines.push(
    r.feed.webEnabled
      ? '🌐 On the web: its ratings and replies are served to the blog (the widget); announcements say so, and members choose how they appear with `/privacy`.'
      : '🔒 Only in Discord: nothing of its discussion is served on the web until `/web enable` (or `/feed add … web:True`).',
  );
  if (r.identity) lines.push(r.identity);
  if (r.queueError) lines.push(`⚠️ The job queue is unreachable right now (${r.queueError}); the feed is saved and publishing starts when it is back.`);
  return lines.join('\n');
}

/** The answer to /feed remove. */
export function removeFeedReply(url: string): string {
  return `Stopped following ${shownUrl(url)}. Its posts, threads and ratings stay; \`/feed add\` follows it again without reposting.`;
}

export default {
  admin: true,
  data: new SlashCommandBuilder()
    .setName('feed')
    .setDescription('Follow blog feeds in this server')
    .addSubcommand((s) => s.setName('list').setDescription('The feeds this server follows, with their state and post counts'))
    .addSubcommand((s) =>
      addOptionOptions(
        s
          .setName('add')
          .setDescription('Follow a feed: announce every new post in a channel, with a thread and rating reactions')
          .addStringOption((o) => o.setName('url').setDescription('The feed URL (RSS, Atom or JSON Feed)').setRequired(true).setMaxLength(2000))
          .addChannelOption((o) =>
            o
              .setName('channel')
              .setDescription('Where posts are announced (a text channel or a forum)')
              .setRequired(true)
              .addChannelTypes(ChannelType.GuildText, ChannelType.GuildForum),
          )
          .addIntegerOption((o) =>
            o
              .setName('backfill')
              .setDescription(`How many of the newest existing posts to publish now (default 0, at most ${MAX_BACKFILL})`)
              .setMinValue(0)
              .setMaxValue(MAX_BACKFILL),
          )
          .addBooleanOption((o) =>
            o.setName('web').setDescription('Also serve its ratings and replies on the blog’s widget (default: no; /web enable does it later)'),
          ),
      ),
    )
    .addSubcommand((s) =>
      s
        .setName('status')
        .setDescription('One feed in detail: last and next poll, failures, its posts by state, its options')
        .addStringOption((o) => o.setName('feed').setDescription('The feed').setRequired(true).setAutocomplete(true)),
    )
    .addSubcommand((s) =>
      s
        .setName('why')
        .setDescription('Why a post was (or was not) announced, and what to do')
        .addStringOption((o) =>
          o.setName('post').setDescription('The post’s link, or pick one by title').setRequired(true).setAutocomplete(true).setMaxLength(2000),
        ),
    )
    .addSubcommand((s) =>
      s
        .setName('remove')
        .setDescription('Stop following a feed (its posts, threads and ratings stay)')
        .addStringOption((o) => o.setName('url').setDescription('The feed to stop following').setRequired(true).setAutocomplete(true)),
    )
    .addSubcommand((s) =>
      addOptionOptions(
        s
          .setName('edit')
          .setDescription('Change a followed feed in place: channel, ping, template, filters, forum tags (nothing is reposted)')
          .addStringOption((o) => o.setName('feed').setDescription('The feed to change').setRequired(true).setAutocomplete(true))
          .addChannelOption((o) =>
            o
              .setName('channel')
              .setDescription('Announce its next posts here instead (a text channel or a forum)')
              .addChannelTypes(ChannelType.GuildText, ChannelType.GuildForum),
          ),
        { edit: true },
      ),
    )
    .addSubcommand((s) =>
      s
        .setName('preview')
        .setDescription('See a post of a feed exactly as it would be announced, then post it or not')
        .addStringOption((o) => o.setName('feed').setDescription('The feed').setRequired(true).setAutocomplete(true))
        .addStringOption((o) => o.setName('item').setDescription('Which post (default: the newest)').setAutocomplete(true)),
    )
    .toJSON(),

  async execute(interaction, ctx) {
    const guildId = interaction.guildId!;
    const sub = interaction.options.getSubcommand(true);
    await interaction.deferReply({ flags: MessageFlags.Ephemeral });
    if (sub === 'add') {
      const channel = interaction.options.getChannel('channel', true);
      const r = await addFeed(ctx, {
        guildId,
        url: interaction.options.getString('url', true),
        channelId: channel.id,
        backfill: interaction.options.getInteger('backfill') ?? 0,
        web: interaction.options.getBoolean('web') ?? undefined,
        options: readOptionOptions(interaction),
        identity: interaction.options.getBoolean('identity') ?? undefined,
      });
      await interaction.editReply({ content: addFeedReply(r), allowedMentions: { parse: [] } });
      return;
    }
    if (sub === 'edit') return runEdit(interaction, ctx);
    if (sub === 'preview') return runPreview(interaction, ctx);
    if (sub === 'status') return feedStatusCommand(interaction, ctx);
    if (sub === 'why') return feedWhyCommand(interaction, ctx);
    if (sub === 'remove') {
      const feed = await removeFeed(ctx, guildId, interaction.options.getString('url', true));
      await interaction.editReply({
        content: removeFeedReply(feed.url),
        allowedMentions: { parse: [] },
      });
      return;
    }
    const summaries = await listFeedSummaries(ctx, guildId);
    if (summaries.length === 0) {
      await interaction.editReply({ content: 'This server follows no feeds yet. `/feed add url channel` follows one.' });
      return;
    }
    const blocks = summaries.map(describeFeed);
    let description = '';
    for (const [i, block] of blocks.entries()) {
      const next = `${description}${description ? '\n\n' : ''}${block}`;
      if (next.length > 3900) {
        description += `\n\n…and ${blocks.length - i} more`;
        break;
      }
      description = next;
    }
    const embed = new EmbedBuilder().setTitle(`Feeds followed here (${summaries.length})`).setDescription(description);
    const body = { embeds: [embed.toJSON()] };
    const problems = validateMessagePayload(body);
    if (problems.length) throw new Error(`feed list does not fit Discord's limits: ${problems.join('; ')}`);
    await interaction.editReply({ ...body, allowedMentions: { parse: [] } });
  },

  async autocomplete(interaction, ctx) {
    const focused = interaction.options.getFocused(true);
    if (focused.name === 'item') {
      await interaction.respond(await previewItemChoices(interaction, ctx));
      return;
    }
    if (focused.name === 'post') return feedWhyAutocomplete(interaction, ctx, focused.value);
    const typed = focused.value.toLowerCase();
    const feeds = await guildFeeds(ctx, interaction.guildId!);
    const choices = feeds
      .filter((f) => f.url.toLowerCase().includes(typed) || (f.title ?? '').toLowerCase().includes(typed))
      .slice(0, 25)
      .map((f) => ({ name: cutText(`${f.title ? `${f.title} — ` : ''}${f.url}`, 100), value: f.url.length <= 100 ? f.url : f.id }));
    await interaction.respond(choices);
  },

  button: pressPreviewButton,
} satisfies Command;
