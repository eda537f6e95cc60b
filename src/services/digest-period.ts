// Digest periods: a week from one scheduled moment (ISO weekday + hour, in the server's IANA time zone) to the next.
// Pure: the same inputs give the same period in every process, so the (guild, period) claim is shared by all workers.
import { DateTime, IANAZone, type WeekdayNumbers } from 'luxon';
import type { GuildSettings } from '../repositories/guilds.ts';

export interface DigestSchedule {
  /** ISO weekday: 1 = Monday … 7 = Sunday. */
  day: number;
  /** 0–23, local time in `timezone`. */
  hour: number;
  /** An IANA zone name, e.g. Europe/Amsterdam (or UTC). */
  timezone: string;
}

/** A server's digest schedule from its settings. */
export function scheduleOf(s: Pick<GuildSettings, 'digestDay' | 'digestHour' | 'digestTimezone'>): DigestSchedule {
  return { day: s.digestDay, hour: s.digestHour, timezone: s.digestTimezone };
}

export interface DigestPeriod {
  /** `2026-W48`: the ISO week (in the server's zone) of the period's start. */
  key: string;
  /** Inclusive start, ISO-8601 UTC. */
  start: string;
  /** Exclusive end, ISO-8601 UTC (for a period "so far": the moment it was asked for). */
  end: string;
  timezone: string;
  /** True for the current period up to now (`/digest now`, `/digest preview`). */
  partial: boolean;
}

export const WEEKDAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'] as const;

export function isValidTimeZone(zone: string): boolean {
  return typeof zone === 'string' && zone.length > 0 && IANAZone.isValidZone(zone);
}

/** Throws a RangeError naming the bad part of a schedule. */
export function assertSchedule(s: DigestSchedule): void {
  if (!Number.isInteger(s.day) || s.day < 1 || s.day > 7) throw new RangeError(`the digest day is an ISO weekday 1–7 (Monday–Sunday), got ${String(s.day)}`);
  if (!Number.isInteger(s.hour) || s.hour < 0 || s.hour > 23) throw new RangeError(`the digest hour is 0–23, got ${String(s.hour)}`);
  if (!isValidTimeZone(s.timezone)) throw new RangeError(`"${s.timezone}" is not an IANA time zone (like Europe/Amsterdam or America/New_York)`);
}

/** The scheduled moment on a local calendar date. An hour skipped by a DST change moves forward (02:00 → 03:00). */
function momentOn(date: DateTime, s: DigestSchedule): DateTime {
  return DateTime.fromObject({ year: date.year, month: date.month, day: date.day, hour: s.hour }, { zone: s.timezone });
}

/** The latest scheduled moment at or before `at`. */
export function latestScheduledMoment(s: DigestSchedule, at: Date): DateTime {
  assertSchedule(s);
  const local = DateTime.fromJSDate(at, { zone: s.timezone });
  const date = local.minus({ days: (local.weekday - s.day + 7) % 7 });
  const moment = momentOn(date, s);
  return moment.toMillis() <= at.getTime() ? moment : momentOn(date.minus({ days: 7 }), s);
}

/** The ISO week of a moment in its zone: `2026-W48`. */
export function weekKey(moment: DateTime): string {
  return `${moment.weekYear}-W${String(moment.weekNumber).padStart(2, '0')}`;
}

function iso(dt: DateTime): string {
  return dt.toUTC().toISO({ suppressMilliseconds: false })!;
}

/** The week that ended at the latest scheduled moment at or before `at` (what the scheduled job posts). 167–169 hours across DST. */
export function periodJustEnded(s: DigestSchedule, at: Date = new Date()): DigestPeriod {
  const end = latestScheduledMoment(s, at);
  const start = momentOn(end.minus({ days: 7 }), s);
  return { key: weekKey(start), start: iso(start), end: iso(end), timezone: s.timezone, partial: false };
}

/** The current week so far: from the latest scheduled moment to `at` (what `/digest now` and `/digest preview` show). */
export function currentPeriodSoFar(s: DigestSchedule, at: Date = new Date()): DigestPeriod {
  const start = latestScheduledMoment(s, at);
  return { key: weekKey(start), start: iso(start), end: at.toISOString(), timezone: s.timezone, partial: true };
}

/** The 5-field cron pattern BullMQ runs in the schedule's zone (`tz`): minute 0 of `hour` on `day` (cron: 0 = Sunday). */
export function cronPattern(s: DigestSchedule): string {
  assertSchedule(s);
  return `0 ${s.hour} * * ${s.day % 7}`;
}

/** "Monday 09:00 (Europe/Amsterdam)". */
export function describeSchedule(s: DigestSchedule): string {
  return `${WEEKDAYS[s.day - 1] ?? '?'} ${String(s.hour).padStart(2, '0')}:00 (${s.timezone})`;
}

/** One calendar day (in the period's zone) of a period, cut to the period: the chart's buckets. */
export interface PeriodDay {
  /** Inclusive start, ISO-8601 UTC (the period's start for the first day). */
  start: string;
  /** The local date, `2026-11-23`. */
  date: string;
  /** "Mon 23" */
  label: string;
}

/** The local calendar days a period touches, in order (8 for a week from Monday 09:00 to Monday 09:00; 23- or 25-hour days across DST). */
export function periodDays(p: Pick<DigestPeriod, 'start' | 'end' | 'timezone'>): PeriodDay[] {
  const end = Date.parse(p.end);
  const out: PeriodDay[] = [];
  let at = DateTime.fromISO(p.start, { zone: p.timezone });
  while (at.toMillis() < end && out.length < 400) {
    out.push({ start: iso(at), date: at.toISODate()!, label: at.setLocale('en-GB').toFormat('ccc d') });
    at = at.startOf('day').plus({ days: 1 });
  }
  return out;
}

/**
 * The period the trend compares with: the week before, the same length as `p` (for a period so far, the same
 * part of last week), its start seven local days earlier (same wall-clock time across DST).
 */
export function previousPeriod(p: Pick<DigestPeriod, 'start' | 'end' | 'timezone' | 'partial'>): { start: string; end: string } {
  const start = DateTime.fromISO(p.start, { zone: p.timezone }).minus({ days: 7 });
  const end = p.partial ? start.plus({ milliseconds: Date.parse(p.end) - Date.parse(p.start) }) : DateTime.fromISO(p.start, { zone: p.timezone });
  return { start: iso(start), end: iso(end) };
}

/** The whole week of a schedule named `2026-W48`: from its scheduled moment in that ISO week to the next one. */
export function periodOfWeek(s: DigestSchedule, key: string): DigestPeriod {
  assertSchedule(s);
  const m = /^(\d{4})-W(\d{2})$/.exec(key);
  const week = m ? DateTime.fromObject({ weekYear: Number(m[1]), weekNumber: Number(m[2]), weekday: s.day as WeekdayNumbers }, { zone: s.timezone }) : null;
  if (!week?.isValid || weekKey(week) !== key) throw new RangeError(`"${key}" is not an ISO week like 2026-W48`);
  const start = momentOn(week, s);
  const end = momentOn(week.plus({ days: 7 }), s);
  return { key: weekKey(start), start: iso(start), end: iso(end), timezone: s.timezone, partial: false };
}
