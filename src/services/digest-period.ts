// Digest periods: a week from one scheduled moment (ISO weekday + hour, in the server's IANA time zone) to the next.
// Pure: the same inputs give the same period in every process, so the (guild, period) claim is shared by all workers.
import { DateTime, IANAZone } from 'luxon';

export interface DigestSchedule {
  /** ISO weekday: 1 = Monday … 7 = Sunday. */
  day: number;
  /** 0–23, local time in `timezone`. */
  hour: number;
  /** An IANA zone name, e.g. Europe/Amsterdam (or UTC). */
  timezone: string;
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
