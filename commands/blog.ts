import { SlashCommandBuilder } from 'discord.js';
import type { APIEmbed, RESTPostAPIChannelMessageJSONBody } from 'discord-api-types/v10';
import type { Command } from '../src/discord/command.ts';
import { EMBED_DESCRIPTION_MAX, EMBED_TITLE_MAX, validateMessagePayload } from '../src/render/limits.ts';
import { escapeMarkdown, markdownUrl, neutraliseMentions } from '../src/render/markdown.ts';
import { cutText, EMBED_COLOR, formatReplies } from '../src/render/post.ts';
import { formatAverage, formatDistributionBars } from '../src/render/rating.ts';
import {
  LATEST_MAX,
  latestPosts,
  PERIOD_DAYS,
  hasSearchWords,
  resolvePost,
  searchServedPosts,
  suggestPosts,
  topPosts,
  type PostSummaryView,
  type PostView,
  type TopPeriod,
  type TopPosts,
} from '../src/services/blog.ts';

const NO_MENTIONS: RESTPostAPIChannelMessageJSONBody['allowed_mentions'] = { parse: [] };
const SEARCH_RESULTS = 5;
/** Links longer than this are left out of list lines (the title stays). */
const LINK_MAX = 500;

type Payload = RESTPostAPIChannelMessageJSONBody;

function link(text: string, url: string | null | undefined): string {
  return url && url.length <= LINK_MAX && /^https?:\/\//.test(url) ? `[${text}](${markdownUrl(url)})` : text;
}

const unix = (iso: string | null): number | null => {
  const t = iso ? Date.parse(iso) : NaN;
  return Number.isNaN(t) ? null : Math.floor(t / 1000);
};

/** Two lines per post: the linked title, then date · rating · replies · thread. */
export function postLines(p: PostSummaryView, rank?: number): string {
  const title = escapeMarkdown(cutText(p.title || p.url || 'Untitled post', 150));
  const head = `${rank !== undefined ? `${rank}. ` : ''}**${link(title, p.url)}**`;
  const when = unix(p.publishedAt);
  const facts = [
    when !== null ? `<t:${when}:d>` : null,
    p.rating.count > 0 ? p.rating.label : null,
    p.replies > 0 ? formatReplies(p.replies) : null,
    p.discord.threadUrl ? link('discussion', p.discord.threadUrl) : null,
  ].filter(Boolean);
  return facts.length ? `${head}\n${facts.join(' · ')}` : head;
}

/** As many post blocks as fit one embed description; a footer says how many were left out. */
function listEmbed(title: string, blocks: string[], footer?: string): APIEmbed {
  let description = '';
  let shown = 0;
  for (const block of blocks) {
    const next = description ? `${description}\n\n${block}` : block;
    if (next.length > EMBED_DESCRIPTION_MAX) break;
    description = next;
    shown++;
  }
  const left = blocks.length - shown;
  const footerText = [footer, left > 0 ? `${left} more not shown` : null].filter(Boolean).join(' · ');
  return {
    title: cutText(neutraliseMentions(title), EMBED_TITLE_MAX),
    color: EMBED_COLOR,
    description: description || '…',
    ...(footerText ? { footer: { text: cutText(footerText, 2048) } } : {}),
  };
}

function checked(payload: Payload): Payload {
  const problems = validateMessagePayload(payload);
  if (problems.length) throw new Error(`/blog built a message Discord would refuse: ${problems.join('; ')}`);
  return payload;
}

const text = (content: string): Payload => checked({ content: cutText(content, 2000), allowed_mentions: NO_MENTIONS });

export function latestMessage(posts: PostSummaryView[]): Payload {
  if (posts.length === 0) return text('No posts have been published in this server yet.');
  return checked({
    embeds: [
      listEmbed(
        'Latest posts',
        posts.map((p) => postLines(p)),
      ),
    ],
    allowed_mentions: NO_MENTIONS,
  });
}

const quoted = (query: string) => `“${escapeMarkdown(cutText(query, 100))}”`;

export function searchMessage(query: string, posts: PostSummaryView[]): Payload {
  if (!hasSearchWords(query)) return text(`There is nothing to search for in ${quoted(query)}: type a word of a title or summary.`);
  if (posts.length === 0) return text(`No posts match ${quoted(query)}. Try fewer or other words.`);
  return checked({
    embeds: [
      listEmbed(
        `Search: “${cutText(query, 100)}”`,
        posts.map((p) => postLines(p)),
        'Best matches first',
      ),
    ],
    allowed_mentions: NO_MENTIONS,
  });
}

/** One post: summary, rating with its distribution as bars, replies, and links to the thread and the post. */
export function showMessage(post: PostView): Payload {
  const rating =
    post.rating.count > 0
      ? `${post.rating.label}\n\`\`\`\n${formatDistributionBars(post.rating.distribution)}\n\`\`\``
      : 'Be the first to rate: react 1️⃣–5️⃣ on the announcement';
  const discussion = [
    post.discord.threadUrl ? `[Open the thread](${post.discord.threadUrl})` : null,
    post.discord.messageUrl ? `[Rate it on the announcement](${post.discord.messageUrl})` : null,
  ].filter(Boolean);
  const embed: APIEmbed = {
    title: cutText(neutraliseMentions(post.title || post.url || 'Untitled post'), EMBED_TITLE_MAX),
    color: EMBED_COLOR,
    fields: [
      { name: 'Rating', value: rating, inline: false },
      { name: 'Replies', value: formatReplies(post.replies), inline: true },
      { name: 'Discussion', value: discussion.length ? discussion.join('\n') : 'Not announced on Discord yet', inline: true },
    ],
  };
  if (post.url && post.url.length <= 2048 && /^https?:\/\//.test(post.url)) embed.url = post.url;
  if (post.summary) embed.description = escapeMarkdown(cutText(post.summary, 1500));
  if (post.author) embed.author = { name: cutText(neutraliseMentions(post.author), 256) };
  const when = unix(post.publishedAt);
  if (when !== null) embed.timestamp = new Date(when * 1000).toISOString();
  if (post.imageUrl && post.imageUrl.length <= 2048 && /^https?:\/\//.test(post.imageUrl)) embed.thumbnail = { url: post.imageUrl };
  return checked({ embeds: [embed], allowed_mentions: NO_MENTIONS });
}

const PERIOD_TEXT: Record<TopPeriod, string> = { week: 'this week', month: 'this month', all: 'of all time' };

/** The one line that says how /blog top ranks. */
export function rankingExplanation(top: Pick<TopPosts, 'priorMean' | 'priorWeight'>): string {
  return `Ranked by Bayesian average: a post's ratings plus ${top.priorWeight} at this server's mean (${formatAverage(top.priorMean)}★), so one 5★ can't outrank many good ratings.`;
}

export function topMessage(period: TopPeriod, top: TopPosts): Payload {
  if (top.posts.length === 0) {
    return text(
      period === 'all'
        ? 'No post has been rated yet: react 1️⃣–5️⃣ on an announcement to rate it.'
        : `No rated posts were published in the last ${PERIOD_DAYS[period]} days. Try /blog top period:all.`,
    );
  }
  const blocks = top.posts.map((p, i) => postLines(p, i + 1));
  return checked({ embeds: [listEmbed(`Top rated ${PERIOD_TEXT[period]}`, blocks, rankingExplanation(top))], allowed_mentions: NO_MENTIONS });
}

function notFound(input: string): Payload {
  return text(`No post matches ${quoted(input)}. Start typing a title and pick one of the suggestions.`);
}

export default {
  data: new SlashCommandBuilder()
    .setName('blog')
    .setDescription('Find and show the blog’s posts')
    .addSubcommand((s) =>
      s
        .setName('latest')
        .setDescription('The newest posts')
        .addIntegerOption((o) => o.setName('count').setDescription(`How many (1–${LATEST_MAX}, default 5)`).setMinValue(1).setMaxValue(LATEST_MAX)),
    )
    .addSubcommand((s) =>
      s
        .setName('search')
        .setDescription('Search titles and summaries')
        .addStringOption((o) => o.setName('query').setDescription('Words to look for').setRequired(true).setMinLength(1).setMaxLength(100)),
    )
    .addSubcommand((s) =>
      s
        .setName('show')
        .setDescription('One post with its rating and discussion')
        .addStringOption((o) => o.setName('post').setDescription('Start typing a title').setRequired(true).setAutocomplete(true).setMaxLength(200)),
    )
    .addSubcommand((s) =>
      s
        .setName('top')
        .setDescription('The best rated posts')
        .addStringOption((o) =>
          o
            .setName('period')
            .setDescription('Posts published in this period (default: all time)')
            .addChoices({ name: 'this week', value: 'week' }, { name: 'this month', value: 'month' }, { name: 'all time', value: 'all' }),
        ),
    )
    .toJSON(),

  async execute(interaction, ctx) {
    const guildId = interaction.guildId!;
    const sub = interaction.options.getSubcommand(true);
    await interaction.deferReply();
    let payload: Payload;
    switch (sub) {
      case 'latest':
        payload = latestMessage(await latestPosts(ctx.db, guildId, interaction.options.getInteger('count') ?? 5));
        break;
      case 'search': {
        const query = interaction.options.getString('query', true);
        payload = searchMessage(query, await searchServedPosts(ctx.db, guildId, query, SEARCH_RESULTS));
        break;
      }
      case 'show': {
        const input = interaction.options.getString('post', true);
        const post = await resolvePost(ctx.db, guildId, input);
        payload = post ? showMessage(post) : notFound(input);
        break;
      }
      case 'top': {
        const raw = interaction.options.getString('period') ?? 'all';
        const period: TopPeriod = raw === 'week' || raw === 'month' ? raw : 'all';
        payload = topMessage(period, await topPosts(ctx.db, guildId, period));
        break;
      }
      default:
        throw new Error(`unknown /blog subcommand ${sub}`);
    }
    await interaction.editReply({ content: payload.content ?? '', embeds: payload.embeds ?? [], allowedMentions: { parse: [] } });
  },

  async autocomplete(interaction, ctx) {
    const focused = interaction.options.getFocused(true);
    if (focused.name !== 'post' || !interaction.guildId) return interaction.respond([]);
    await interaction.respond(await suggestPosts(ctx.db, interaction.guildId, String(focused.value)));
  },
} satisfies Command;
