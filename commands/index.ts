// The one registry of slash commands: the interaction dispatcher and `blogcord deploy-commands` both read it.
import type { Command } from '../src/discord/command.ts';
import blog from './blog.ts';
import digest from './digest.ts';
import feed from './feed.ts';
import privacy from './privacy.ts';
import publish from './publish.ts';
import status from './status.ts';
import web from './web.ts';

export const commands: readonly Command[] = [status, feed, publish, digest, blog, privacy, web];
