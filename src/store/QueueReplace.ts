/**
 * Replacing queue items by their successors (a room's item by one item per linked chat), with
 * concurrent replacements sharing one statement and one commit, as {@link GroupWrite} does for
 * other writes: under load, many deliveries fan out at once.
 */
import type pg from "pg";
import { GroupWrite } from "./GroupWrite";
import { named, type PreparedItem, queueColumns } from "./pgRows";
import { isDataError } from "./QuarantineSql";

// Items leave the queue and their successors enter it in one statement: for each item either
// both happen or neither, and an item already gone (replaced before) gets no successors a
// second time.
const SQL_REPLACE_QUEUE_ITEMS = `WITH gone AS (DELETE FROM delivery_queue WHERE id = ANY($1::bigint[]) RETURNING id),
  ins AS (
    INSERT INTO delivery_queue (queue_key, kind, payload, attempts)
    SELECT i.queue_key, i.kind, i.payload, i.attempts
    FROM unnest($2::bigint[], $3::text[], $4::text[], $5::jsonb[], $6::int[])
      WITH ORDINALITY AS i(parent, queue_key, kind, payload, attempts, ord)
    WHERE i.parent IN (SELECT id FROM gone)
    ORDER BY i.ord
    RETURNING id
  )
  SELECT coalesce((SELECT array_agg(id::text) FROM gone), '{}') AS gone,
    coalesce((SELECT array_agg(id::text ORDER BY id) FROM ins), '{}') AS ids`;

/** A queue item to be replaced by its successors (prepared for storing). */
interface Replacement {
  parent: string;
  prepared: PreparedItem[];
}

export class QueueReplace {
  /**
   * Should PostgreSQL refuse the shared statement over what one replacement holds, each is
   * tried on its own, so that one cannot fail the others.
   */
  private readonly writes = new GroupWrite<Replacement, Map<Replacement, string[] | Error>>(async (reps) => {
    try {
      return await this.together(reps);
    } catch (err) {
      if (reps.length === 1 || !isDataError(err)) throw err;
      const out = new Map<Replacement, string[] | Error>();
      for (const r of reps) {
        try {
          out.set(r, (await this.together([r])).get(r)!);
        } catch (e) {
          if (!isDataError(e)) throw e;
          out.set(r, e as Error);
        }
      }
      return out;
    }
  });

  constructor(private readonly pool: pg.Pool) {}

  /** Resolves with the successors' ids in order, none when `parent` was no longer queued. */
  async replace(parent: string, prepared: PreparedItem[]): Promise<string[]> {
    const rep: Replacement = { parent, prepared };
    const ids = (await this.writes.add(rep)).get(rep)!;
    if (ids instanceof Error) throw ids;
    return ids;
  }

  /** One statement for several replacements; each one's successor ids, none for an item gone. */
  private async together(reps: Replacement[]): Promise<Map<Replacement, string[]>> {
    const out = new Map<Replacement, string[]>();
    // The same item twice in one statement would get successors twice: only the first counts.
    const live: Replacement[] = [];
    for (const r of reps) {
      if (live.some((l) => l.parent === r.parent)) out.set(r, []);
      else live.push(r);
    }
    const parents: string[] = [];
    const children: PreparedItem[] = [];
    for (const r of live)
      for (const p of r.prepared) {
        parents.push(r.parent);
        children.push(p);
      }
    const res = await this.pool.query<{ gone: string[]; ids: string[] }>(
      named("replace_queue_items", SQL_REPLACE_QUEUE_ITEMS, [
        live.map((r) => r.parent),
        parents,
        ...queueColumns(children),
        children.map((c) => c.item.attempts ?? 0),
      ]),
    );
    const gone = new Set(res.rows[0]!.gone);
    // Ids follow insertion order: that of `live` and of each one's items.
    const ids = res.rows[0]!.ids.map((x) => BigInt(x))
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
      .map(String);
    let next = 0;
    for (const r of live) {
      if (!gone.has(r.parent)) {
        out.set(r, []);
        continue;
      }
      out.set(r, ids.slice(next, next + r.prepared.length));
      next += r.prepared.length;
    }
    return out;
  }
}
