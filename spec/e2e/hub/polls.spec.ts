import assert from "node:assert/strict";
import type { MatrixEvent } from "../../harness/MatrixTestClient";
import { userPoll } from "../../standins/discord/polls";
import { ghostOf, type HubRig, startHubRig, TG_CHAT, TOM, WAIT } from "./hubRig";

const POLL_START = "org.matrix.msc3381.poll.start";
const POLL_RESPONSE = "org.matrix.msc3381.poll.response";
const POLL_END = "org.matrix.msc3381.poll.end";
const refersTo = (e: MatrixEvent, id: string): boolean =>
  (e.content["m.relates_to"] as { event_id?: string } | undefined)?.event_id === id;

describe("the hub: a poll from one platform is native on the others, and their votes come back (real Synapse, four stand-ins)", function () {
  this.timeout(240_000);
  let h: HubRig;

  before(async () => {
    h = await startHubRig();
  });
  after(async () => h?.stop());

  it("a Discord poll becomes a Telegram poll; a Telegram vote comes back by the Discord answer id; the Discord end stops the Telegram poll", async () => {
    const { dc, ids, tg, alice, hub } = h;
    const posted = dc.postMessage(ids.general, ids.alice, "", {
      poll: userPoll("Hub lunch?", ["Noodles", "Tacos"]),
    });
    const start = await alice.waitFor(
      (e) => e.room_id === hub && e.type === POLL_START && e.sender === ghostOf.discord(ids.alice),
      { timeoutMs: WAIT },
    );
    const sendPoll = await tg.waitFor(
      (c) =>
        c.method === "sendPoll" && c.result !== undefined && /Hub lunch\?$/.test(String(c.params.question)),
      WAIT,
    );
    const copy = sendPoll.result as { message_id: number };
    tg.injectVote({ chat: TG_CHAT, message_id: copy.message_id, from: TOM, options: [1] });
    const vote = await alice.waitFor(
      (e) => e.room_id === hub && e.type === POLL_RESPONSE && refersTo(e, start.event_id!),
      { timeoutMs: WAIT },
    );
    assert.equal(vote.sender, ghostOf.telegram(String(TOM)));
    assert.deepEqual((vote.content[POLL_RESPONSE] as { answers: string[] }).answers, ["2"]);
    const calls = tg.calls.length;
    dc.endPoll(ids.general, String(posted.id));
    const end = await alice.waitFor(
      (e) => e.room_id === hub && e.type === POLL_END && refersTo(e, start.event_id!),
      {
        timeoutMs: WAIT,
      },
    );
    assert.equal(end.sender, ghostOf.discord(ids.alice));
    const stop = await tg.waitFor((c) => tg.calls.indexOf(c) >= calls && c.method === "stopPoll", WAIT);
    assert.equal(Number(stop.params.message_id), copy.message_id);
  });
});
