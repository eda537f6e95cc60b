// Periodic and repair reads of comments (issue 21), on the seeded busy week (bench/seed-digest.ts) with 5 % of the
// replies edited and 2 % deleted: the sweep's `listPostsChangedBetween`, a deleted thread's `markThreadCommentsDeleted`
// and catch-up's `listLiveCommentIds`, each against what it was before migration 023 and the post id in the thread
// statements (the indexes dropped, or the statements by thread only, in a transaction rolled back), as pairs in turn
// (medians), with PostgreSQL's buffers (EXPLAIN (ANALYZE, BUFFERS)). Then what storing replies costs the storage with
// and without 023's indexes (A, B, A: SQLite's WAL pages, PostgreSQL's shared buffers, per batch of 100 new replies,
// and per edit). `BENCH_PERIODIC_SCHEMA` names the PostgreSQL schema (default t_<random>; dropped after).
import { copyFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CompiledQuery, sql } from 'kysely';
import { createDb, type Db, type RootDb } from '../src/db/index.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { listPostsChangedBetween } from '../src/repositories/activity.ts';
import { listLiveCommentIds, markThreadCommentsDeleted, upsertComments, type CommentInput } from '../src/repositories/comments.ts';
import { createPgSchema, rolledBack } from '../test/support/db.ts';
import { median, report } from './figures.ts';
import { editAndDeleteSome, seedBusyWeek } from './seed-digest.ts';

const NEW_INDEXES = ['comments_edited_post_idx', 'comments_deleted_post_idx'];
const pairs = () => Number(process.env.BENCH_PERIODIC_PAIRS ?? 11);

const dropNewIndexes = async (tx: Db) => {
  for (const name of NEW_INDEXES) await sql`drop index ${sql.ref(name)}`.execute(tx.kysely);
};

/** The statements as they were before: by thread only. */
const ERASED = { content: '', author_id: '', author_name: '', author_avatar: null, attachments: '[]', edited_at: null } as const;
const oldMarkThread = (db: Db, threadId: string, at: string) =>
  db.kysely
    .updateTable('comments')
    .set({ ...ERASED, deleted_at: at })
    .where('thread_id', '=', threadId)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
const oldLiveIds = (db: Db, threadId: string) =>
  db.kysely.selectFrom('comments').select('id').where('thread_id', '=', threadId).where('deleted_at', 'is', null).execute();

interface Case {
  name: string;
  before: (tx: Db, k: number) => Promise<unknown>;
  after: (tx: Db, k: number) => Promise<unknown>;
  /** Runs before the timed part, inside the same rolled-back transaction. */
  prepareBefore?: (tx: Db) => Promise<void>;
}

export async function benchPeriodic(dialect: 'sqlite' | 'postgres', sizes = { posts: 10_000, comments: 1_000_000, ratersPerPost: 100 }): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'blogcord-periodic-'));
  const schema = dialect === 'postgres' ? await createPgSchema(process.env.BENCH_PERIODIC_SCHEMA) : null;
  const url = schema?.url ?? `sqlite:${join(dir, 'busy.sqlite')}`;
  let captured: Array<{ sql: string; parameters: readonly unknown[] }> | null = null;
  const db = createDb({ databaseUrl: url }, { poolSize: 1, onQuery: (q, parameters) => void captured?.push({ sql: q, parameters }) });
  try {
    await migrateToLatest(db);
    const s0 = performance.now();
    const seed = await seedBusyWeek(db, sizes);
    await editAndDeleteSome(db);
    if (db.dialect === 'postgres') await sql`vacuum (analyze) comments`.execute(db.kysely);
    console.log(`  (${dialect}: seeded in ${((performance.now() - s0) / 1000).toFixed(1)} s)`);
    // The sweep's window in the middle of the week: 2 × SWEEP_INTERVAL_SECONDS (60).
    const mid = (Date.parse(seed.windowStart) + Date.parse(seed.windowEnd)) / 2;
    const window = (k: number) => [new Date(mid + k * 600_000).toISOString(), new Date(mid + k * 600_000 + 120_000).toISOString()] as const;
    const post = (k: number) => 1 + ((k * 977) % sizes.posts);
    const thread = (k: number) => String(1000000000000000000n + BigInt(post(k)));
    const at = '2026-12-01T00:00:00.000Z';
    const cases: Case[] = [
      {
        name: 'listPostsChangedBetween',
        prepareBefore: dropNewIndexes,
        before: (tx, k) => listPostsChangedBetween(tx, ...window(k)),
        after: (tx, k) => listPostsChangedBetween(tx, ...window(k)),
      },
      {
        name: 'markThreadCommentsDeleted',
        before: (tx, k) => oldMarkThread(tx, thread(k), at),
        after: (tx, k) => markThreadCommentsDeleted(tx, `p${post(k)}`, thread(k), at),
      },
      {
        name: 'listLiveCommentIds',
        before: (tx, k) => oldLiveIds(tx, thread(k)),
        after: (tx, k) => listLiveCommentIds(tx, `p${post(k)}`, thread(k)),
      },
    ];
    for (const c of cases) {
      const run = (which: 'before' | 'after', k: number) =>
        rolledBack(db, async (tx) => {
          if (which === 'before') await c.prepareBefore?.(tx);
          const s = performance.now();
          await c[which](tx, k);
          return performance.now() - s;
        });
      await run('before', 0); // warm
      await run('after', 0);
      const before: number[] = [];
      const after: number[] = [];
      for (let k = 1; k <= pairs(); k++) {
        // In turn, the order swapped every pair.
        if (k % 2) {
          before.push(await run('before', k));
          after.push(await run('after', k));
        } else {
          after.push(await run('after', k));
          before.push(await run('before', k));
        }
      }
      const ratios = before.map((b, i) => after[i]! / b);
      report({
        name: `periodic.${dialect}.${c.name}`,
        value: median(after),
        unit: 'ms',
        note: `before ${median(before).toFixed(2)} ms; ${pairs()} pairs in turn, medians; per-pair after/before median ${median(ratios).toFixed(4)}`,
      });
      if (dialect === 'postgres') {
        const buffers = async (which: 'before' | 'after') =>
          rolledBack(db, async (tx) => {
            if (which === 'before') await c.prepareBefore?.(tx);
            captured = [];
            await c[which](tx, 1);
            const statements = captured;
            captured = null;
            let total = 0;
            const lines: string[] = [];
            for (const q of statements) {
              const r = await tx.kysely.executeQuery<{ 'QUERY PLAN': unknown }>(
                CompiledQuery.raw(`explain (analyze, buffers, format json) ${q.sql}`, [...q.parameters]),
              );
              const plan = (r.rows[0]!['QUERY PLAN'] as Array<{ Plan: PlanNode }>)[0]!.Plan;
              const n = (plan['Shared Hit Blocks'] ?? 0) + (plan['Shared Read Blocks'] ?? 0);
              total += n;
              lines.push(`${n} buffers: ${describe(plan)}`);
            }
            return { total, lines };
          });
        const b = await buffers('before');
        const a = await buffers('after');
        report({ name: `periodic.${dialect}.${c.name}.buffers`, value: a.total, unit: 'buffers', note: `before ${b.total}` });
        if (process.env.BENCH_PLANS !== '0')
          for (const [which, x] of [
            ['before', b],
            ['after', a],
          ] as const)
            for (const l of x.lines) console.log(`    ${which}: ${l}`);
      } else if (process.env.BENCH_PLANS !== '0') {
        for (const which of ['before', 'after'] as const)
          await rolledBack(db, async (tx) => {
            if (which === 'before') await c.prepareBefore?.(tx);
            captured = [];
            await c[which](tx, 1);
            const statements = captured;
            captured = null;
            for (const q of statements) {
              const r = await tx.kysely.executeQuery<{ detail: string }>(CompiledQuery.raw(`explain query plan ${q.sql}`, [...q.parameters]));
              console.log(`    ${which}: ${r.rows.map((x) => x.detail).join('; ')}`);
            }
          });
      }
    }
    await storageWork(db, dialect, url, sizes.posts, sizes.comments);
  } finally {
    await db.destroy();
    await schema?.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Relation Name'?: string;
  'Shared Hit Blocks'?: number;
  'Shared Read Blocks'?: number;
  Plans?: PlanNode[];
}

const describe = (p: PlanNode): string =>
  [
    `${p['Node Type']}${p['Index Name'] ? ` using ${p['Index Name']}` : p['Relation Name'] ? ` on ${p['Relation Name']}` : ''}`,
    ...(p.Plans ?? []).map(describe),
  ].join(' > ');

/**
 * What storing costs the storage with 023's indexes (A) and without (B), from the same state and with the same rows:
 * 50 batches of 100 new replies, then 50 edits of seeded replies (a statement each, as the writer sends a lone edit).
 * SQLite: WAL pages each commit wrote (checkpoints off), A and B two copies of the seeded file, in turn; and the
 * entries of 023's indexes before and after (dbstat). PostgreSQL: shared buffers touched (pg_statio: the comments
 * table and its indexes, and the schema's tables and indexes, the digest's triggers included), each batch in a
 * transaction rolled back, B with 023's indexes dropped in it, in turn; and the blocks of 023's indexes touched.
 */
async function storageWork(db: RootDb, dialect: 'sqlite' | 'postgres', url: string, posts: number, comments: number): Promise<void> {
  const BATCHES = 50;
  const reply = (i: number): CommentInput => ({
    id: String(4000000000000000000n + BigInt(i)),
    postId: `p${1 + ((i * 31) % posts)}`,
    threadId: String(1000000000000000000n + BigInt(1 + ((i * 31) % posts))),
    authorId: String(3000000000000000000n + BigInt(i % 5000)),
    authorName: `user ${i % 5000}`,
    authorAvatar: null,
    content: `reply ${i} with a few words in it`,
    replyToId: null,
    attachments: [],
    createdAt: new Date(Date.parse('2026-11-23T00:00:00.000Z') + i * 100).toISOString(),
    editedAt: null,
  });
  const batch = (b: number) => Array.from({ length: 100 }, (_, i) => reply(b * 100 + i));
  // A seeded reply never edited nor deleted (its number is 3 mod 20: neither 0 mod 20 nor 7 mod 50), edited a day later.
  const edit = async (e: number): Promise<CommentInput> => {
    const id = String(2000000000000000000n + BigInt(20 * ((e * 997) % (comments / 20)) + 3));
    const row = (await db.kysely.selectFrom('comments').selectAll().where('id', '=', id).executeTakeFirstOrThrow()) as Record<string, string>;
    return {
      id,
      postId: row.post_id!,
      threadId: row.thread_id!,
      authorId: row.author_id!,
      authorName: row.author_name!,
      authorAvatar: null,
      content: `${row.content} (edited)`,
      replyToId: null,
      attachments: [],
      createdAt: row.created_at!,
      editedAt: new Date(Date.parse(row.created_at!) + 86_400_000).toISOString(),
    };
  };
  const edits = await Promise.all(Array.from({ length: 3 * (BATCHES + 1) }, (_, e) => edit(e)));
  const unit = dialect === 'sqlite' ? 'WAL pages' : 'buffers';

  if (dialect === 'sqlite') {
    const path = url.slice('sqlite:'.length);
    await sql`pragma wal_checkpoint(TRUNCATE)`.execute(db.kysely);
    copyFileSync(path, `${path}.b`);
    const b = createDb({ databaseUrl: `sqlite:${path}.b` }, { poolSize: 1 });
    try {
      for (const name of NEW_INDEXES) await sql`drop index ${sql.ref(name)}`.execute(b.kysely);
      const entries = async () =>
        (
          await sql<{
            n: number;
          }>`select coalesce(sum(ncell), 0) as n from dbstat where name in ('comments_edited_post_idx', 'comments_deleted_post_idx')`.execute(db.kysely)
        ).rows[0]!.n;
      const walPages = (file: string) => statSync(`${file}-wal`).size / (4096 + 24);
      const sides = [
        { db, file: path, insert: [] as number[], edit: [] as number[] },
        { db: b, file: `${path}.b`, insert: [] as number[], edit: [] as number[] },
      ];
      for (const side of sides) {
        await sql`pragma wal_checkpoint(TRUNCATE)`.execute(side.db.kysely);
        await sql`pragma wal_autocheckpoint = 0`.execute(side.db.kysely);
      }
      const e0 = await entries();
      for (let k = 0; k < BATCHES; k++)
        for (const side of k % 2 ? [...sides].reverse() : sides) {
          const w0 = walPages(side.file);
          await upsertComments(side.db, batch(k));
          side.insert.push(walPages(side.file) - w0);
        }
      const e1 = await entries();
      for (let k = 0; k < BATCHES; k++)
        for (const side of k % 2 ? [...sides].reverse() : sides) {
          const w0 = walPages(side.file);
          await upsertComments(side.db, [edits[k]!]);
          side.edit.push(walPages(side.file) - w0);
        }
      const e2 = await entries();
      const sum = (xs: number[]) => xs.reduce((a, x) => a + x, 0);
      report({
        name: `periodic.sqlite.insert`,
        value: sum(sides[0]!.insert) / BATCHES,
        unit: `${unit} per batch of 100 new replies`,
        note: `without 023 ${sum(sides[1]!.insert) / BATCHES}; 023's index entries ${e0} before the inserts, ${e1} after`,
      });
      report({
        name: `periodic.sqlite.edit`,
        value: sum(sides[0]!.edit) / BATCHES,
        unit: `${unit} per edit`,
        note: `without 023 ${sum(sides[1]!.edit) / BATCHES}; 023's index entries ${e2} after ${BATCHES} edits`,
      });
    } finally {
      await b.destroy();
      rmSync(`${path}.b`, { force: true });
      rmSync(`${path}.b-wal`, { force: true });
      rmSync(`${path}.b-shm`, { force: true });
    }
    return;
  }

  const counts = async () => {
    await sql`select pg_stat_force_next_flush()`.execute(db.kysely);
    const { rows } = await sql<{ comments: number; all: number; added: number }>`
      select
        (select coalesce(heap_blks_read, 0) + coalesce(heap_blks_hit, 0) + coalesce(idx_blks_read, 0) + coalesce(idx_blks_hit, 0)
          from pg_statio_user_tables where schemaname = current_schema() and relname = 'comments')::float8 as comments,
        (select sum(coalesce(heap_blks_read, 0) + coalesce(heap_blks_hit, 0) + coalesce(idx_blks_read, 0) + coalesce(idx_blks_hit, 0))
          from pg_statio_user_tables where schemaname = current_schema())::float8 as all,
        (select coalesce(sum(coalesce(idx_blks_read, 0) + coalesce(idx_blks_hit, 0)), 0) from pg_statio_user_indexes
          where schemaname = current_schema() and indexrelname in ('comments_edited_post_idx', 'comments_deleted_post_idx'))::float8 as added`.execute(
      db.kysely,
    );
    return rows[0]!;
  };
  // A, B, A: committed writes (new replies with ids of their own, edits of other seeded replies each phase), the first
  // batch and edit of each phase untimed (the plans of the digest's triggers made again after the indexes changed).
  const phase = async (label: string, p: number) => {
    const per = BATCHES + 1;
    await upsertComments(db, batch(p * per));
    await upsertComments(db, [edits[p * per]!]);
    const c0 = await counts();
    for (let k = 1; k < per; k++) await upsertComments(db, batch(p * per + k));
    const c1 = await counts();
    for (let k = 1; k < per; k++) await upsertComments(db, [edits[p * per + k]!]);
    const c2 = await counts();
    report({
      name: `periodic.postgres.insert.${label}`,
      value: (c1.comments - c0.comments) / BATCHES,
      unit: 'buffers of comments and its indexes per batch of 100 new replies',
      note: `all the schema's ${((c1.all - c0.all) / BATCHES).toFixed(1)}; blocks of 023's indexes touched ${c1.added - c0.added}`,
    });
    report({
      name: `periodic.postgres.edit.${label}`,
      value: (c2.comments - c1.comments) / BATCHES,
      unit: 'buffers of comments and its indexes per edit',
      note: `all the schema's ${((c2.all - c1.all) / BATCHES).toFixed(1)}; blocks of 023's indexes touched ${c2.added - c1.added}`,
    });
  };
  await phase('with-023', 0);
  await dropNewIndexes(db);
  await phase('without-023', 1);
  await migrateToLatest(db);
  await phase('with-023-again', 2);
}
