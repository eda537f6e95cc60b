// /feed why post:<URL or autocomplete>: a post's story (src/services/feed-why.ts, rendered by src/render/post-story.ts).
import type { AutocompleteInteraction, ChatInputCommandInteraction } from 'discord.js';
import type { AppContext } from '../../src/context.ts';
import { renderPostStory } from '../../src/render/post-story.ts';
import { cutText } from '../../src/render/post.ts';
import { postChoices, postStory } from '../../src/services/feed-why.ts';

export async function feedWhyCommand(interaction: ChatInputCommandInteraction, ctx: AppContext): Promise<void> {
  const story = await postStory(ctx, interaction.guildId!, interaction.options.getString('post', true));
  await interaction.editReply({ content: renderPostStory(story), allowedMentions: { parse: [] } });
}

/** Posts by title as the admin types; the value is the post's id (a URL may be longer than Discord's 100). */
export async function feedWhyAutocomplete(interaction: AutocompleteInteraction, ctx: AppContext, typed: string): Promise<void> {
  const posts = await postChoices(ctx, interaction.guildId!, typed);
  await interaction.respond(posts.map((p) => ({ name: cutText(`${p.title} (${p.publishState})`, 100), value: p.id })));
}
