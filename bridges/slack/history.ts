/**
 * Reading a channel's history: the newest messages for a new portal ({@link historyNewest}), and,
 * for the core's catch-up, its messages and its thread replies after
 * `afterId`, merged in Slack's order (the `ts`, compared exactly by its order key), so a reply comes
 * after its parent. conversations.history answers newest first, pages backwards and leaves thread
 * replies out; its thread parents tell their `latest_reply`, and conversations.replies gives the
 * replies of those whose latest reply is newer than `afterId`. History is read from
 * {@link THREAD_LOOKBACK_S} before `afterId`, to find older parents with new replies: a reply to a
 * thread whose parent is older than that, sent while the bridge was away, stays missed.
 */
import type { webApi } from "@slack/bolt";
import { slackTsOrderKey } from "../../src/core/orderKey";
import { slack } from "./errors";

type Obj = Record<string, unknown>;

/** Most conversations.history pages (200 messages each) read for one catch-up call. */
export const HISTORY_PAGES = 10;
/** How far before `afterId` thread parents are looked for (seconds). */
export const THREAD_LOOKBACK_S = 24 * 3600;
/** Most threads whose replies are read for one catch-up call, and pages per thread. */
export const THREADS_READ = 50;
const REPLY_PAGES = 5;

type Page = { messages?: Obj[]; has_more?: boolean; response_metadata?: { next_cursor?: string } };

async function pages(read: (cursor: string | undefined) => Promise<Page>, most: number): Promise<Obj[]> {
  const out: Obj[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < most; page++) {
    const res = await read(cursor);
    // Slack's answer is not trusted blindly: only objects are messages.
    if (Array.isArray(res?.messages))
      out.push(...res.messages.filter((m): m is Obj => typeof m === "object" && m !== null));
    const next = res?.response_metadata?.next_cursor;
    cursor = typeof next === "string" && next ? next : undefined;
    if (res?.has_more !== true || !cursor) break;
  }
  return out;
}

const keyOf = (m: Obj): string | undefined => (typeof m.ts === "string" ? slackTsOrderKey(m.ts) : undefined);

export async function historyAfter(
  web: webApi.WebClient,
  channel: string,
  afterId: string | undefined,
  limit: number,
): Promise<Obj[]> {
  const afterKey = afterId === undefined ? "" : slackTsOrderKey(afterId);
  if (afterKey === undefined) return []; // not a ts: nothing is known to be after it
  const seconds = afterId === undefined ? 0 : Number(afterId.split(".")[0]);
  const lookback = afterId === undefined ? undefined : `${Math.max(0, seconds - THREAD_LOOKBACK_S)}.000000`;
  const history = await pages(
    (cursor) =>
      slack(() =>
        web.conversations.history({ channel, oldest: lookback, limit: 200, cursor }),
      ) as Promise<Page>,
    HISTORY_PAGES,
  );
  const found = new Map<string, { key: string; m: Obj }>();
  const add = (m: Obj) => {
    const key = keyOf(m);
    if (key !== undefined && key > afterKey && !found.has(key)) found.set(key, { key, m });
  };
  history.forEach(add);
  const threads = history.filter((m) => {
    const latest = typeof m.latest_reply === "string" ? slackTsOrderKey(m.latest_reply) : undefined;
    return typeof m.ts === "string" && latest !== undefined && latest > afterKey;
  });
  // Oldest threads first: with more than THREADS_READ, the replies nearest the watermark come.
  threads.sort((a, b) => (keyOf(a)! < keyOf(b)! ? -1 : 1));
  for (const parent of threads.slice(0, THREADS_READ)) {
    const replies = await pages(
      (cursor) =>
        slack(() =>
          web.conversations.replies({
            channel,
            ts: parent.ts as string,
            oldest: afterId,
            limit: 200,
            cursor,
          }),
        ) as Promise<Page>,
      REPLY_PAGES,
    );
    // A reply names its parent; the parent itself (first in the answer) is history's.
    for (const r of replies) if (r.ts !== parent.ts && r.thread_ts === parent.ts) add(r);
  }
  return [...found.values()]
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .slice(0, limit)
    .map((x) => x.m);
}

/**
 * The channel's newest `limit` messages for a new portal, thread replies among them, oldest first
 * (a reply after its parent). conversations.history gives the newest channel messages; the
 * replies of the newest {@link THREADS_READ} threads among them come from conversations.replies,
 * and the newest `limit` of all are kept (a reply whose parent falls out of them comes without it,
 * as a plain message). Replies to threads whose parents are older than the channel messages read
 * are not seen: Slack lists a thread's replies only under its parent.
 */
export async function historyNewest(web: webApi.WebClient, channel: string, limit: number): Promise<Obj[]> {
  if (limit <= 0) return [];
  const perPage = Math.min(limit, 200);
  const history = await pages(
    (cursor) => slack(() => web.conversations.history({ channel, limit: perPage, cursor })) as Promise<Page>,
    Math.min(HISTORY_PAGES, Math.ceil(limit / perPage)),
  );
  const found = new Map<string, Obj>();
  const add = (m: Obj) => {
    const key = keyOf(m);
    if (key !== undefined && !found.has(key)) found.set(key, m);
  };
  history.forEach(add);
  const threads = history
    .filter((m) => typeof m.ts === "string" && typeof m.latest_reply === "string" && keyOf(m) !== undefined)
    .sort((a, b) => (keyOf(a)! < keyOf(b)! ? 1 : -1));
  for (const parent of threads.slice(0, THREADS_READ)) {
    const replies = await pages(
      (cursor) =>
        slack(() =>
          web.conversations.replies({ channel, ts: parent.ts as string, limit: 200, cursor }),
        ) as Promise<Page>,
      REPLY_PAGES,
    );
    for (const r of replies) if (r.ts !== parent.ts && r.thread_ts === parent.ts) add(r);
  }
  return [...found.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .slice(-limit)
    .map(([, m]) => m);
}
