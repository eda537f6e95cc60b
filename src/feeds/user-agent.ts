/** The User-Agent of every feed request: it names blogcord and says why it is asking. */
export const USER_AGENT = 'blogcord/0.1 (+https://github.com/blogcord/blogcord; a Discord bot following this feed)';
