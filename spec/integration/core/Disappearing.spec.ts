import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Disappearing, durationText, timerNotice } from "../../../src/core/Disappearing";
import { DELETED_IN } from "../../../src/core/InboundBridge";
import { type Intent, MatrixError } from "../../../src/matrix/MatrixApi";
import { openDatabase } from "../../../src/store/Database";
import { DisappearingSql } from "../../../src/store/DisappearingSql";
import { PgStore } from "../../../src/store/PgStore";

/**
 * The scheduler of disappearing messages against real PostgreSQL. The homeserver edge is a
 * recording intent that can be told to fail (the e2e suite runs the same path against Synapse).
 */
class RecordingIntent {
  readonly redactions: Array<{ roomId: string; eventId: string; txnId: string; extra: unknown; by: string }> =
    [];
  readonly notices: Array<{ roomId: string; body: string; txnId: string }> = [];
  readonly calls: Array<{ eventId: string; at: number }> = [];
  /** Failures to answer with, in turn, per event id. */
  readonly failures = new Map<string, Error[]>();
  constructor(readonly userId: string) {}
  async redact(roomId: string, eventId: string, txnId: string, _reason?: string, extra: unknown = {}) {
    this.calls.push({ eventId, at: Date.now() });
    const err = this.failures.get(eventId)?.shift();
    if (err) throw err;
    this.redactions.push({ roomId, eventId, txnId, extra, by: this.userId });
    return `$redaction-${eventId}`;
  }
  async sendEvent(roomId: string, _type: string, content: { body: string }, txnId: string) {
    this.notices.push({ roomId, body: content.body, txnId });
    return `$notice-${this.notices.length}`;
  }
}

const GHOST = "@_whatsapp_15551234567:example.org";
const portal = {
  platform: "whatsapp",
  chatId: "15550000001_15551234567@s.whatsapp.net",
  roomId: "!r:example.org",
};
const waitUntil = async (cond: () => boolean, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe("Disappearing: timers and expiries in PostgreSQL (embedded PostgreSQL)", function () {
  this.timeout(60_000);
  let dir: string;
  let db: Awaited<ReturnType<typeof openDatabase>>;
  let store: PgStore;
  let sql: DisappearingSql;
  let bot: RecordingIntent;
  let ghost: RecordingIntent;
  const running: Disappearing[] = [];

  const make = () => {
    const d = new Disappearing({
      sql,
      bot: bot as unknown as Intent,
      ghosts: {
        intentOf: (mxid) => {
          assert.equal(mxid, GHOST);
          return ghost as unknown as Intent;
        },
        isGhost: (mxid) => mxid.startsWith("@_whatsapp_"),
      },
      forget: (eventId, chat) => store.deleteMessagesByEvent(eventId, chat),
      initialBackoffMs: 50,
      maxBackoffMs: 200,
      maxAttempts: 3,
    });
    running.push(d);
    return d;
  };

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "clawbridge-disappearing-"));
    db = await openDatabase({ dataDir: dir, embeddedPort: 0, maxConnections: 4 });
    store = await PgStore.open(db);
    sql = new DisappearingSql(db.pool);
  });
  after(async () => {
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    bot = new RecordingIntent("@clawbridge:example.org");
    ghost = new RecordingIntent(GHOST);
    await store.query("DELETE FROM disappearing_event");
    await store.query("DELETE FROM disappearing_chat");
  });
  afterEach(() => {
    for (const d of running.splice(0)) d.stop();
  });
  const pending = async () =>
    (await store.query<{ n: number }>("SELECT count(*)::int AS n FROM disappearing_event"))[0].n;

  it("tells the room once per change, remembers the timer, and ignores a timer that is no number of seconds", async () => {
    const d = make();
    const change = (seconds: number, timestamp = 1) =>
      d.changed(portal, {
        kind: "disappearing",
        chat: { id: portal.chatId },
        sender: { id: "1" },
        timestamp,
        seconds,
      });
    await change(604800);
    await change(604800, 2); // the same timer again: nothing to say
    assert.equal(await d.timerOf(portal), 604800);
    await change(86400, 3);
    await change(-5, 4);
    await change(Number.NaN, 5);
    await change(1.5, 6);
    assert.equal(await d.timerOf(portal), 86400);
    await change(0, 7);
    assert.equal(await d.timerOf(portal), 0);
    assert.deepEqual(
      bot.notices.map((n) => n.body),
      [
        "Disappearing messages are on in this chat: messages disappear after 7 days.",
        "Disappearing messages are on in this chat: messages disappear after 24 hours.",
        "Disappearing messages are off in this chat.",
      ],
    );
    assert.equal(new Set(bot.notices.map((n) => n.txnId)).size, 3);
  });

  it("redacts each expired event once, earliest first, a ghost's by the ghost and others' by the bot", async () => {
    const d = make();
    await d.start();
    const now = Date.now();
    await d.track(portal, "$late", GHOST, now, 2);
    await d.track(portal, "$soon", "@alice:example.org", now, 1);
    await d.track(portal, "$past", GHOST, now - 10_000, 1);
    // Tracked again (a retried delivery): the first expiry stays, one redaction.
    await d.track(portal, "$soon", "@alice:example.org", now + 60_000, 1);
    await waitUntil(() => bot.redactions.length + ghost.redactions.length === 3);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(
      ghost.redactions.map((r) => r.eventId),
      ["$past", "$late"],
    );
    assert.deepEqual(
      bot.redactions.map((r) => r.eventId),
      ["$soon"],
    );
    const soon = ghost.calls.find((c) => c.eventId === "$late")!.at;
    assert.ok(soon >= now + 2000 - 50, "not before its time");
    assert.deepEqual(bot.redactions[0].extra, {
      [DELETED_IN]: { platform: portal.platform, chat_id: portal.chatId },
    });
    assert.equal(await pending(), 0);
  });

  it("what was pending at a stop is redacted by the next start, once", async () => {
    const first = make();
    await first.start();
    await first.track(portal, "$a", GHOST, Date.now(), 1);
    await first.track(portal, "$b", GHOST, Date.now() + 60_000, 1);
    first.stop();
    await new Promise((r) => setTimeout(r, 1200));
    assert.equal(ghost.redactions.length, 0, "nothing redacted while stopped");
    const second = make();
    await second.start();
    await waitUntil(() => ghost.redactions.length === 1);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(
      ghost.redactions.map((r) => r.eventId),
      ["$a"],
    );
    assert.equal(await pending(), 1, "the later one still waits");
  });

  it("a passing failure (502, 429) is retried with the backoff; a refusal is given up after the attempts, logged", async () => {
    const d = make();
    await d.start();
    ghost.failures.set("$busy", [
      new MatrixError("bad gateway", 502),
      new MatrixError("slow down", 429, "M_LIMIT_EXCEEDED", 100),
    ]);
    ghost.failures.set("$refused", [
      new MatrixError("no", 403, "M_FORBIDDEN"),
      new MatrixError("no", 403, "M_FORBIDDEN"),
      new MatrixError("no", 403, "M_FORBIDDEN"),
      new MatrixError("no", 403, "M_FORBIDDEN"),
    ]);
    await d.track(portal, "$busy", GHOST, Date.now() - 5000, 1);
    await d.track(portal, "$refused", GHOST, Date.now() - 5000, 1);
    await waitUntil(
      () => ghost.redactions.length === 1 && ghost.calls.filter((c) => c.eventId === "$refused").length === 3,
    );
    await new Promise((r) => setTimeout(r, 800));
    const busy = ghost.calls.filter((c) => c.eventId === "$busy");
    assert.equal(busy.length, 3);
    assert.ok(busy[1].at - busy[0].at >= 40, "waited the first backoff");
    assert.ok(busy[2].at - busy[1].at >= 90, "waited as long as the homeserver asked");
    assert.equal(ghost.calls.filter((c) => c.eventId === "$refused").length, 3, "not retried forever");
    assert.deepEqual(
      ghost.redactions.map((r) => r.eventId),
      ["$busy"],
    );
    assert.equal(await pending(), 0);
  });

  it("one timer waits for the next expiry, however many messages are pending", async () => {
    const d = make();
    await d.start();
    const timeouts = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    const before = timeouts();
    const now = Date.now();
    // Later ones first, so that each new one is the earliest and the timer is moved each time.
    for (let i = 200; i > 0; i--) await d.track(portal, `$many${i}`, GHOST, now, 60 + i);
    assert.ok(timeouts() - before <= 1, `${timeouts() - before} timers for 200 pending expiries`);
    assert.equal(await pending(), 200);
  });

  it("a timer that is no number of seconds tracks nothing", async () => {
    const d = make();
    for (const bad of [0, -1, 1.5, Number.NaN, "60", 10 ** 10])
      await d.track(portal, `$${String(bad)}`, GHOST, Date.now(), bad);
    assert.equal(await pending(), 0);
  });

  it("reads timers as people do", () => {
    assert.equal(durationText(86400), "24 hours");
    assert.equal(durationText(604800), "7 days");
    assert.equal(durationText(7776000), "90 days");
    assert.equal(durationText(60), "1 minute");
    assert.equal(durationText(5), "5 seconds");
    assert.equal(timerNotice(0), "Disappearing messages are off in this chat.");
  });
});
