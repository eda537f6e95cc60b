// The layering of docs/architecture.md, checked by `npm run lint` (dependency-cruiser):
// commands, listeners, jobs and http → services → repositories, render, feeds → db; src/domain below them all. No cycles.
const layer = (path) => ({ path });
module.exports = {
  forbidden: [
    { name: 'no-cycles', severity: 'error', comment: 'a cycle makes two modules one', from: {}, to: { circular: true } },
    {
      name: 'lower-layers-stay-low',
      severity: 'error',
      comment: 'db, repositories, render and feeds never reach up into the layers that use them',
      from: layer('^src/(db|repositories|render|feeds)/'),
      to: layer('^(commands/|src/(services|jobs|discord|http)/|src/(app|main|context|setup)\\.ts)'),
    },
    {
      name: 'domain-at-the-bottom',
      severity: 'error',
      comment: 'src/domain holds what every layer means by a word (a rating, a keycap): it imports nothing of the project',
      from: layer('^src/domain/'),
      to: layer('^(commands/|src/(?!domain/))'),
    },
    {
      name: 'services-below-entry-points',
      severity: 'error',
      comment: 'services hold the rules; the queues, Discord listeners, HTTP and commands call them, not the reverse',
      from: layer('^src/services/'),
      to: layer('^(commands/|src/(jobs|http)/|src/discord/(listeners|interactions|deploy)|src/(app|main)\\.ts)'),
    },
    {
      name: 'commands-through-services',
      severity: 'error',
      comment: 'a command reaches data and queues through services',
      from: layer('^commands/'),
      to: layer('^src/(jobs|repositories|db)/'),
    },
    {
      name: 'jobs-without-discord',
      severity: 'error',
      comment: 'processors work through services and the Discord port, not the gateway client',
      from: layer('^src/jobs/'),
      to: layer('^(commands/|src/discord/)'),
    },
    {
      name: 'listeners-without-jobs',
      severity: 'error',
      from: layer('^src/discord/'),
      to: layer('^src/jobs/'),
    },
    {
      name: 'pure-layers-without-discordjs',
      severity: 'error',
      comment: 'render and repositories do not import discord.js',
      from: layer('^src/(render|repositories)/'),
      to: { path: '^node_modules/discord\\.js/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist)/' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.mjs'] },
  },
};
