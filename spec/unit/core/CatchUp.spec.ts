import assert from "node:assert/strict";
import { CATCH_UP_LIMIT, CATCH_UP_PAGE, CatchUp } from "../../../src/core/CatchUp";
import type { ConnectorRegistry } from "../../../src/core/ConnectorRegistry";
import type {
  LoginRef,
  NetworkClient,
  RemoteChatRef,
  RemoteEvent,
  RemoteMessage,
} from "../../../src/core/connector";
import type { Store } from "../../../src/store/Store";
import type { MessageRow, Portal } from "../../../src/store/types";

const login: LoginRef = { id: "l1", platform: "net", ownerMxid: "@o:hs", credentials: {} };
const msg = (chat: string, id: number): RemoteMessage => ({
  kind: "message",
  chat: { id: chat },
  sender: { id: "u" },
  timestamp: id,
  id: String(id),
  text: `m${id}`,
});
const portal = (chatId: string, loginId = "l1"): Portal => ({
  platform: "net",
  chatId,
  roomId: `!${chatId}:hs`,
  loginId,
  kind: "group",
  linked: false,
});

/** A platform whose chats hold messages with numeric ids; `fail` makes calls of a chat throw. */
function platform(history: Record<string, number>) {
  const calls: Array<{ chat: string; after?: string; limit: number }> = [];
  const fail = new Map<string, unknown[]>();
  const client = {
    async fetchMessagesAfter(chat: RemoteChatRef, after: string | undefined, limit: number) {
      calls.push({ chat: chat.id, after, limit });
      const err = fail.get(chat.id)?.shift();
      if (err) throw err;
      const out: RemoteMessage[] = [];
      for (let i = Number(after) + 1; i <= (history[chat.id] ?? 0) && out.length < limit; i++)
        out.push(msg(chat.id, i));
      return out;
    },
  } as unknown as NetworkClient;
  return { client, calls, fail };
}

function setup(opts: { portals: Portal[]; last: Record<string, number>; client: NetworkClient }) {
  const queued: RemoteEvent[] = [];
  const store = {
    listPortals: async ({ offset = 0 }: { offset?: number }) => (offset === 0 ? opts.portals : []),
    lastMessage: async (_p: string, chatId: string) =>
      opts.last[chatId] === undefined ? undefined : ({ remoteId: String(opts.last[chatId]) } as MessageRow),
  } as unknown as Store;
  const registry = {
    client: (id: string) => (id === login.id ? { login, client: opts.client } : undefined),
  } as unknown as ConnectorRegistry;
  const catchUp = new CatchUp({
    store,
    registry,
    enqueue: async (_l, events) => {
      queued.push(...events);
    },
  });
  return { catchUp, queued };
}

const idsOf = (events: RemoteEvent[], chat: string) =>
  events.filter((e) => e.chat?.id === chat).map((e) => (e as RemoteMessage).id);

describe("CatchUp", () => {
  it("queues each portal's messages after the newest bridged one, oldest first, paging on", async () => {
    const p = platform({ a: 3 + CATCH_UP_PAGE + 5, b: 7 });
    const { catchUp, queued } = setup({
      portals: [portal("a"), portal("b"), portal("c"), portal("other", "l2")],
      last: { a: 3, b: 7, other: 0 },
      client: p.client,
    });
    catchUp.connected(login);
    await catchUp.settled();
    const a = idsOf(queued, "a");
    assert.equal(a.length, CATCH_UP_PAGE + 5);
    assert.deepEqual(
      a,
      Array.from({ length: CATCH_UP_PAGE + 5 }, (_, i) => String(i + 4)),
    );
    assert.deepEqual(idsOf(queued, "b"), []);
    // "c" has nothing bridged (no point to resume from), "other" belongs to another login.
    assert.deepEqual([...new Set(p.calls.map((c) => c.chat))], ["a", "b"]);
    assert.deepEqual(
      p.calls.filter((c) => c.chat === "a").map((c) => c.after),
      ["3", String(3 + CATCH_UP_PAGE)],
    );
  });

  it(`brings at most ${CATCH_UP_LIMIT} messages of one chat over`, async () => {
    const p = platform({ a: 10_000 });
    const { catchUp, queued } = setup({ portals: [portal("a")], last: { a: 0 }, client: p.client });
    catchUp.connected(login);
    await catchUp.settled();
    assert.equal(queued.length, CATCH_UP_LIMIT);
    assert.equal((queued.at(-1) as RemoteMessage).id, String(CATCH_UP_LIMIT));
  });

  it("holds a live event of a chat until that chat's catch-up is queued", async () => {
    const p = platform({ a: 5 });
    const { catchUp, queued } = setup({ portals: [portal("a")], last: { a: 2 }, client: p.client });
    catchUp.connected(login);
    const live = msg("a", 6);
    await catchUp.before(login, live);
    queued.push(live);
    await catchUp.settled();
    assert.deepEqual(idsOf(queued, "a"), ["3", "4", "5", "6"]);
  });

  it("retries a rate-limited page, and a chat that fails for good does not stop the others", async () => {
    const p = platform({ a: 4, b: 4 });
    p.fail.set("a", [Object.assign(new Error("no such channel"), { status: 404 })]);
    p.fail.set("b", [Object.assign(new Error("slow down"), { status: 429, retryAfterMs: 10 })]);
    const { catchUp, queued } = setup({
      portals: [portal("a"), portal("b")],
      last: { a: 1, b: 1 },
      client: p.client,
    });
    catchUp.connected(login);
    await catchUp.settled();
    assert.deepEqual(idsOf(queued, "a"), []);
    assert.deepEqual(idsOf(queued, "b"), ["2", "3", "4"]);
  });

  it("runs once more when the login connects again during a catch-up", async () => {
    const p = platform({ a: 3 });
    const { catchUp, queued } = setup({ portals: [portal("a")], last: { a: 1 }, client: p.client });
    catchUp.connected(login);
    catchUp.connected(login);
    catchUp.connected(login);
    await catchUp.settled();
    assert.equal(p.calls.length, 2, "the running one, and one more after it");
    assert.deepEqual(idsOf(queued, "a"), ["2", "3", "2", "3"], "the lane skips what is bridged");
  });

  it("stops fetching once stopped", async () => {
    const p = platform({ a: 5, b: 5 });
    const { catchUp, queued } = setup({
      portals: [portal("a"), portal("b")],
      last: { a: 0, b: 0 },
      client: p.client,
    });
    catchUp.connected(login);
    await catchUp.stop();
    assert.deepEqual(queued, []);
    assert.deepEqual(p.calls, []);
  });

  it("does nothing for a client without BackfillHandling, and lets its events through at once", async () => {
    const { catchUp, queued } = setup({
      portals: [portal("a")],
      last: { a: 1 },
      client: {} as NetworkClient,
    });
    catchUp.connected(login);
    await catchUp.before(login, msg("a", 9));
    await catchUp.settled();
    assert.deepEqual(queued, []);
  });
});
