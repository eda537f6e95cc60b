import { sql } from 'kysely';
import type { Db } from '../db/index.ts';

/** A column of a batch of rows: its name, its PostgreSQL type, and one value per row. */
export interface RelationColumn {
  name: string;
  pgType: 'text' | 'int';
  values: readonly unknown[];
}

/**
 * A batch of rows as one relation `alias(columns…)`, bound as one parameter per column (PostgreSQL: arrays
 * through `unnest`) or one in all (SQLite: a JSON array through `json_each`). A batch of any size is then one
 * statement of one shape. A multi-row VALUES list compiles to a new statement for every batch size (a 500-row
 * one is ~1 MB of SQLite program and 6,000 parameters to plan on PostgreSQL), and binding its parameters costs
 * SQLite more than parsing the JSON (measured: ~25 % more per row in a burst of replies and votes).
 */
export function relation(db: Db, alias: string, columns: readonly RelationColumn[]) {
  const names = sql.raw(columns.map((c) => c.name).join(', '));
  if (db.dialect === 'postgres') return sql`unnest(${sql.join(columns.map((c) => sql`${c.values}::${sql.raw(c.pgType)}[]`))}) as ${sql.raw(alias)}(${names})`;
  const rows = columns[0]!.values.map((_, i) => columns.map((c) => c.values[i]));
  return sql`(select ${sql.raw(columns.map((c, i) => `value ->> ${i} as ${c.name}`).join(', '))} from json_each(${JSON.stringify(rows)})) as ${sql.raw(alias)}`;
}

/** A list of texts as an `in (…)` subquery bound as one parameter: any number of them is one statement. */
export const textList = (db: Db, values: readonly string[]) =>
  db.dialect === 'postgres' ? sql<string>`(select unnest(${values}::text[]))` : sql<string>`(select value from json_each(${JSON.stringify(values)}))`;
