// In-memory fakes of the ports the feed and publish services talk through: a DiscordPort that records every
// call (with channels of chosen types and failures injected per method) and FeedJobs that record what was queued.
import { ChannelType, type APIChannel, type APIMessage, type RESTPostAPIChannelMessageJSONBody } from 'discord-api-types/v10';
import type { DiscordPort, MessageFile } from '../../src/services/discord-port.ts';
import type { FeedJobs } from '../../src/services/feed-source.ts';
import { snowflake } from './snowflake.ts';

export interface Call {
  method: string;
  args: unknown[];
}

/** A DiscordPort that remembers every call, with channels of chosen types and failures injected per method. */
export class FakeDiscord implements DiscordPort {
  calls: Call[] = [];
  channels = new Map<string, APIChannel>();
  failures: Array<{ method: string; error: Error }> = [];
  messages = new Map<string, { channelId: string; body: RESTPostAPIChannelMessageJSONBody; files?: readonly MessageFile[] }>();

  addChannel(guildId: string, type: ChannelType): string {
    const id = snowflake();
    this.channels.set(id, { id, type, guild_id: guildId, name: `c${id}` } as unknown as APIChannel);
    return id;
  }
  failNext(method: string, error: Error): void {
    this.failures.push({ method, error });
  }
  private hit(method: string, ...args: unknown[]): void {
    this.calls.push({ method, args });
    const i = this.failures.findIndex((f) => f.method === method);
    if (i >= 0) throw this.failures.splice(i, 1)[0]!.error;
  }
  count(method: string): number {
    return this.calls.filter((c) => c.method === method).length;
  }
  async botUserId() {
    return '1';
  }
  async getChannel(channelId: string) {
    this.hit('getChannel', channelId);
    return this.channels.get(channelId) ?? null;
  }
  async createMessage(channelId: string, body: RESTPostAPIChannelMessageJSONBody, files: readonly MessageFile[] = []) {
    this.hit('createMessage', channelId, body);
    const id = snowflake();
    this.messages.set(id, { channelId, body, files });
    return { id, channel_id: channelId } as APIMessage;
  }
  async editMessage(channelId: string, messageId: string) {
    this.hit('editMessage', channelId, messageId);
    return { id: messageId, channel_id: channelId } as APIMessage;
  }
  async getMessage(channelId: string, messageId: string) {
    this.hit('getMessage', channelId, messageId);
    return this.messages.has(messageId) ? ({ id: messageId, channel_id: channelId } as APIMessage) : null;
  }
  async listMessages() {
    return [];
  }
  async startThread(channelId: string, messageId: string, name: string) {
    this.hit('startThread', channelId, messageId, name);
    return messageId;
  }
  async createForumPost(channelId: string, name: string, message: RESTPostAPIChannelMessageJSONBody) {
    this.hit('createForumPost', channelId, name, message);
    const id = snowflake();
    this.messages.set(id, { channelId: id, body: message });
    return { threadId: id, messageId: id };
  }
  async editThread(threadId: string, patch: object) {
    this.hit('editThread', threadId, patch);
  }
  async addReaction(channelId: string, messageId: string, emoji: string) {
    this.hit('addReaction', channelId, messageId, emoji);
  }
  async removeUserReaction() {}
  async listReactors() {
    return [];
  }
  // Webhooks (per-feed identity) are not part of these tests: any use is a test bug, said loudly.
  async createWebhook(): Promise<never> {
    throw new Error('FakeDiscord: webhooks are not part of this test');
  }
  async executeWebhook(): Promise<never> {
    throw new Error('FakeDiscord: webhooks are not part of this test');
  }
  async editWebhookMessage(): Promise<never> {
    throw new Error('FakeDiscord: webhooks are not part of this test');
  }
}

export class FakeJobs implements FeedJobs {
  published: string[] = [];
  scheduled: string[] = [];
  unscheduled: string[] = [];
  refreshed: string[] = [];
  async enqueuePublish(postId: string) {
    this.published.push(postId);
  }
  async schedulePolls(feed: { id: string }, intervalSeconds?: number) {
    this.scheduled.push(feed.id);
    this.intervals.set(feed.id, intervalSeconds);
  }
  async unschedulePolls(feedId: string) {
    this.unscheduled.push(feedId);
  }
  async refreshAnnouncement(postId: string) {
    this.refreshed.push(postId);
  }
  /** Poll intervals asked for, per feed (the last one wins; undefined = the normal interval). */
  intervals = new Map<string, number | undefined>();
  polls: string[] = [];
  deliveries: Array<{ feedId: string; body: string }> = [];
  maintenance = new Map<string, number>();
  async requestPoll(feedId: string) {
    this.polls.push(feedId);
  }
  async enqueuePushDelivery(feedId: string, body: string) {
    this.deliveries.push({ feedId, body });
  }
  async schedulePushMaintenance(feedId: string, everySeconds: number) {
    this.maintenance.set(feedId, everySeconds);
  }
  async unschedulePushMaintenance(feedId: string) {
    this.maintenance.delete(feedId);
  }
}
