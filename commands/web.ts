import { MessageFlags, SlashCommandBuilder } from 'discord.js';
import type { Command } from '../src/discord/command.ts';
import { cutText, shownUrl } from '../src/render/post.ts';
import { escapeMarkdown } from '../src/render/markdown.ts';
import { guildFeeds, setWeb, webStatus, widgetSnippet, type Feed, type WebChange, type WebStatus } from '../src/services/web.ts';

const feedName = (feed: Feed): string => `**${escapeMarkdown(cutText(feed.title ?? feed.url, 120))}** (${shownUrl(feed.url, 200)})`;

/** The answer to /web enable and /web disable. */
export function webChangeReply(r: WebChange): string {
  const name = feedName(r.feed);
  const lines = r.feed.webEnabled
    ? [
        r.changed
          ? `🌐 ${name} is now on the web: its posts' ratings and replies are served to the blog (the HTTP API and the widget). Members choose how they appear with \`/privacy\`.`
          : `${name} was already on the web; nothing changed.`,
      ]
    : [
        r.changed
          ? `🔒 ${name} is off the web: its posts are no longer served outside Discord (the API answers 404, as for an unknown post).`
          : `${name} was not on the web; nothing changed.`,
      ];
  if (r.changed && r.refreshed) lines.push(`Its ${r.refreshed} ${r.refreshed === 1 ? 'announcement is' : 'announcements are'} being updated to say so.`);
  if (r.queueError)
    lines.push(
      `⚠️ The job queue is unreachable right now (${cutText(r.queueError, 200)}); the setting is saved and the announcements are updated when it is back.`,
    );
  return lines.join('\n');
}

/** The answer to /web status: the feeds on the web and those only in Discord, the allowed origins, the widget snippet. */
export function webStatusReply(s: WebStatus, guildId: string): string {
  if (s.feeds.length === 0) return 'This server follows no feeds yet. `/feed add url channel web:True` follows one and puts it on the web.';
  const on = s.feeds.filter((f) => f.webEnabled);
  const off = s.feeds.filter((f) => !f.webEnabled);
  const head =
    s.httpPort === 0 ? ['⚠️ The HTTP API is turned off in this installation (HTTP_PORT=0): nothing is served on the web whatever is enabled here.'] : [];
  const origins =
    s.origins === '*'
      ? 'every origin (`*`)'
      : s.origins.length
        ? s.origins.map((o) => `\`${cutText(o, 200)}\``).join(', ')
        : 'none (set HTTP_CORS_ORIGINS to the blog’s origin, or browsers cannot load the discussion)';
  const tail = [`Blogs allowed to load it (HTTP_CORS_ORIGINS): ${cutText(origins, 600)}`];
  if (on.length) {
    tail.push('The widget, under each post (replace the address with where your blogcord HTTP API is reachable):');
    tail.push('```html', widgetSnippet(guildId, `https://blogcord.example:${s.httpPort || 8787}`), '```');
  }
  const body = [
    on.length ? `🌐 **On the web** (${on.length}):` : '🌐 **On the web:** none. `/web enable feed:` puts a feed on the web.',
    ...on.map((f) => `• ${feedName(f)}`),
  ];
  if (off.length) body.push(`🔒 **Only in Discord** (${off.length}):`, ...off.map((f) => `• ${feedName(f)}`));
  // The feed lists give way to what a server needs to act on (the origins and the snippet).
  const budget = 2000 - [...head, ...tail].join('\n').length - 60;
  const shown: string[] = [];
  let used = 0;
  for (const [i, line] of body.entries()) {
    if (used + line.length + 1 > budget) {
      shown.push(`…and ${body.slice(i).filter((l) => l.startsWith('• ')).length} more feeds`);
      break;
    }
    shown.push(line);
    used += line.length + 1;
  }
  return [...head, ...shown, ...tail].join('\n');
}

export default {
  admin: true,
  data: new SlashCommandBuilder()
    .setName('web')
    .setDescription('Choose which feeds’ discussions appear on the web (the blog’s widget and API)')
    .addSubcommand((s) =>
      s
        .setName('enable')
        .setDescription('Serve a feed’s ratings and replies on the web (the blog’s widget and API)')
        .addStringOption((o) => o.setName('feed').setDescription('The feed to put on the web').setRequired(true).setAutocomplete(true).setMaxLength(2000)),
    )
    .addSubcommand((s) =>
      s
        .setName('disable')
        .setDescription('Stop serving a feed’s ratings and replies on the web')
        .addStringOption((o) => o.setName('feed').setDescription('The feed to take off the web').setRequired(true).setAutocomplete(true).setMaxLength(2000)),
    )
    .addSubcommand((s) => s.setName('status').setDescription('Which feeds are on the web, the widget snippet and the allowed blog origins'))
    .toJSON(),

  async execute(interaction, ctx) {
    const guildId = interaction.guildId!;
    const sub = interaction.options.getSubcommand(true);
    await interaction.deferReply({ flags: MessageFlags.Ephemeral });
    if (sub === 'status') {
      await interaction.editReply({ content: webStatusReply(await webStatus(ctx, guildId), guildId), allowedMentions: { parse: [] } });
      return;
    }
    const change = await setWeb(ctx, guildId, interaction.options.getString('feed', true), sub === 'enable');
    await interaction.editReply({ content: webChangeReply(change), allowedMentions: { parse: [] } });
  },

  async autocomplete(interaction, ctx) {
    const typed = interaction.options.getFocused().toLowerCase();
    const enabling = interaction.options.getSubcommand(false) === 'enable';
    const feeds = await guildFeeds(ctx, interaction.guildId!);
    const choices = feeds
      // The feeds the subcommand can change first (enable: those off the web; disable: those on it).
      .sort((a, b) => Number(a.webEnabled === enabling) - Number(b.webEnabled === enabling))
      .filter((f) => f.url.toLowerCase().includes(typed) || (f.title ?? '').toLowerCase().includes(typed))
      .slice(0, 25)
      .map((f) => ({ name: cutText(`${f.webEnabled ? '🌐 ' : ''}${f.title ? `${f.title} — ` : ''}${f.url}`, 100), value: f.url.length <= 100 ? f.url : f.id }));
    await interaction.respond(choices);
  },
} satisfies Command;
