/**
 * Reading a channel's history for the core's catch-up. conversations.history answers newest
 * first and pages backwards, so the pages are read to the end (at most {@link HISTORY_PAGES})
 * and the oldest `limit` messages after `afterId` are kept, oldest first.
 */
import type { webApi } from "@slack/bolt";
import { slack } from "./errors";

type Obj = Record<string, unknown>;

/** Most conversations.history pages (200 messages each) read for one catch-up call. */
export const HISTORY_PAGES = 10;

export async function historyAfter(
  web: webApi.WebClient,
  channel: string,
  afterId: string | undefined,
  limit: number,
): Promise<Obj[]> {
  const raw: Obj[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < HISTORY_PAGES; page++) {
    const res = (await slack(() =>
      web.conversations.history({ channel, oldest: afterId, limit: 200, cursor }),
    )) as { messages?: Obj[]; has_more?: boolean; response_metadata?: { next_cursor?: string } };
    raw.push(...(res.messages ?? []));
    cursor = res.response_metadata?.next_cursor || undefined;
    if (!res.has_more || !cursor) break;
  }
  const after = afterId === undefined ? Number.NEGATIVE_INFINITY : Number(afterId);
  return raw
    .filter((m) => typeof m.ts === "string" && Number(m.ts) > after)
    .sort((a, b) => Number(a.ts) - Number(b.ts))
    .slice(0, limit);
}
