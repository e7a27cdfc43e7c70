import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Backfill } from "../../../src/core/Backfill";
import type { NetworkClient, RemoteChatRef, RemoteMessage } from "../../../src/core/connector";
import { MatrixError } from "../../../src/matrix/MatrixApi";
import { openDatabase } from "../../../src/store/Database";
import { PgStore } from "../../../src/store/PgStore";
import type { Portal } from "../../../src/store/types";

const portal: Portal = {
  platform: "demo",
  chatId: "c1",
  roomId: "!r:example.org",
  loginId: "demo-1",
  kind: "group",
  linked: false,
};
const msg = (id: string, timestamp: number): RemoteMessage => ({
  kind: "message",
  chat: { id: "c1" },
  sender: { id: "u1" },
  timestamp,
  id,
  text: id,
});

/** A platform client that has history: what `history` answers is up to the test. */
function client(history: (chat: RemoteChatRef, limit: number) => Promise<RemoteMessage[]>): NetworkClient {
  return { history } as unknown as NetworkClient;
}

/**
 * The core's backfill step against the real store (embedded PostgreSQL): due before the room is
 * made, done once, resumed after a crash or an outage, never stalled by one refused message.
 */
describe("Backfill of new portals (embedded PostgreSQL)", function () {
  this.timeout(60_000);
  let dir: string;
  let db: Awaited<ReturnType<typeof openDatabase>>;
  let store: PgStore;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "clawbridge-backfill-"));
    db = await openDatabase({ dataDir: dir, embeddedPort: 0, maxConnections: 4 });
    store = await PgStore.open(db);
  });
  after(async () => {
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    await store.query("DELETE FROM kv WHERE namespace = 'core.backfill'");
  });

  const history = [msg("h1", 1000), msg("h2", 2000), msg("live", 3000), msg("later", 4000)];

  it("runs once for a portal made here, marks what came before the trigger as history, and is cleared", async () => {
    const asked: number[] = [];
    const c = client(async (_chat, limit) => {
      asked.push(limit);
      return history;
    });
    const b = new Backfill({ store, limit: 3 });
    await b.willCreate("demo", "c1", c);
    const got: Array<[string, boolean, boolean]> = [];
    await b.run(portal, c, msg("live", 3000), async (m, how) => {
      got.push([m.id, how.history, how.resumed]);
    });
    assert.deepEqual(asked, [3]);
    assert.deepEqual(got, [
      ["h2", true, false],
      ["live", false, false],
      ["later", false, false],
    ]);
    await b.run(portal, c, msg("later", 4000), async () => assert.fail("not twice"));
    // Another process on the same data does not run it again either.
    await new Backfill({ store, limit: 3 }).run(portal, c, msg("x", 5000), async () =>
      assert.fail("not after a restart"),
    );
  });

  it("does nothing for a portal made before (nothing due), with limit 0, or for a client without history", async () => {
    const c = client(async () => history);
    await new Backfill({ store, limit: 0 }).willCreate("demo", "c1", c);
    await new Backfill({ store, limit: 5 }).willCreate("demo", "c1", {} as NetworkClient);
    await new Backfill({ store, limit: 5 }).run(portal, c, msg("live", 3000), async () =>
      assert.fail("nothing is due"),
    );
  });

  it("resumes after the homeserver went away mid-run, in a new process, with what was sent skipped by the caller", async () => {
    const c = client(async () => history);
    const first = new Backfill({ store, limit: 10 });
    await first.willCreate("demo", "c1", c);
    const sent: string[] = [];
    await assert.rejects(
      first.run(portal, c, msg("live", 3000), async (m) => {
        if (m.id === "live") throw new MatrixError("homeserver unreachable", 0);
        sent.push(m.id);
      }),
      /unreachable/,
    );
    const resumedFlags: boolean[] = [];
    await new Backfill({ store, limit: 10 }).run(portal, c, msg("live", 3000), async (m, how) => {
      resumedFlags.push(how.resumed);
      sent.push(m.id);
    });
    assert.deepEqual(sent, ["h1", "h2", "h1", "h2", "live", "later"]);
    assert.ok(
      resumedFlags.every((r) => r),
      "the second run knows it resumes (the map skips what was sent)",
    );
  });

  it("leaves out a message refused for what it is, and a history the platform will not give, without stalling", async () => {
    const c = client(async () => history);
    const b = new Backfill({ store, limit: 10 });
    await b.willCreate("demo", "c1", c);
    const sent: string[] = [];
    await b.run(portal, c, msg("live", 3000), async (m) => {
      if (m.id === "h2") throw new MatrixError("event too large", 413, "M_TOO_LARGE");
      sent.push(m.id);
    });
    assert.deepEqual(sent, ["h1", "live", "later"]);

    const refusing = client(async () => {
      throw Object.assign(new Error("Missing Access"), { status: 403 });
    });
    const other = { ...portal, chatId: "c2" };
    await b.willCreate("demo", "c2", refusing);
    await b.run(other, refusing, { ...msg("live", 3000), chat: { id: "c2" } }, async () =>
      assert.fail("nothing to bring"),
    );
    await b.run(other, refusing, { ...msg("next", 3500), chat: { id: "c2" } }, async () =>
      assert.fail("given up, not tried again"),
    );
  });
});
