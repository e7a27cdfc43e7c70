import assert from "node:assert/strict";
import fc from "fast-check";
import { loadBaileys } from "../../../../bridges/whatsapp/baileys";
import {
  decryptVote,
  pollRecord,
  receivedPollRecord,
  whatsappPoll,
} from "../../../../bridges/whatsapp/polls";
import type { OutboundPoll } from "../../../../src/core/connector";
import { fuzzParams } from "../../../harness/fuzz";
import { pollVoteMessage } from "../../../standins/whatsapp/polls";

const CREATOR = "15550000001@s.whatsapp.net";
const VOTER = "15550000002@s.whatsapp.net";
const poll = (texts: string[], max = 1): OutboundPoll => ({
  question: "Q?",
  answers: texts.map((text, i) => ({ id: `m${i}`, text })),
  maxSelections: max,
  disclosed: true,
});

describe("WhatsApp polls: native polls and encrypted votes", () => {
  before(() => loadBaileys());

  it("a Matrix poll becomes baileys' poll content where WhatsApp takes it", () => {
    const p = whatsappPoll(poll(["A", "B"], 2), "Q?");
    assert.ok(p);
    const content = p.content as { poll: { name: string; values: string[]; selectableCount: number } };
    assert.equal(content.poll.name, "Q?");
    assert.deepEqual(content.poll.values, ["A", "B"]);
    assert.equal(content.poll.selectableCount, 0, "several answers: any number");
    assert.equal(p.secret.length, 32);
    assert.equal(whatsappPoll(poll(["A"]), "Q?"), undefined, "one answer");
    assert.equal(
      whatsappPoll(poll(["A", "A"]), "Q?"),
      undefined,
      "votes name options by text: no duplicates",
    );
    assert.equal(whatsappPoll(poll(Array.from({ length: 13 }, (_, i) => `o${i}`)), "Q?"), undefined);
  });

  it("a vote made with the poll's key gives the Matrix answer ids; a wrong key or voter gives a reason", async () => {
    const secret = Buffer.alloc(32, 3);
    const rec = pollRecord(secret, CREATOR, [
      { text: "Beach", id: "beach" },
      { text: "Hills", id: "hills" },
    ]);
    const key = { remoteJid: "g@g.us", id: "POLL1", fromMe: true };
    const msg = await pollVoteMessage({
      pollKey: key,
      creatorJid: CREATOR,
      voterJid: VOTER,
      secret,
      chosen: ["Hills", "Beach"],
    });
    assert.deepEqual(decryptVote(msg.pollUpdateMessage!, "POLL1", rec, VOTER), ["hills", "beach"]);
    assert.equal(typeof decryptVote(msg.pollUpdateMessage!, "POLL1", rec, CREATOR), "string");
    assert.equal(typeof decryptVote(msg.pollUpdateMessage!, "POLL2", rec, VOTER), "string");
    const none = await pollVoteMessage({
      pollKey: key,
      creatorJid: CREATOR,
      voterJid: VOTER,
      secret,
      chosen: [],
    });
    assert.deepEqual(decryptVote(none.pollUpdateMessage!, "POLL1", rec, VOTER), []);
    const other = await pollVoteMessage({
      pollKey: key,
      creatorJid: CREATOR,
      voterJid: VOTER,
      secret,
      chosen: ["Moon"],
    });
    assert.equal(typeof decryptVote(other.pollUpdateMessage!, "POLL1", rec, VOTER), "string");
  });

  it("a received poll is remembered with its secret; answers by position", () => {
    const rec = receivedPollRecord(
      {
        pollCreationMessageV3: {
          name: "Q",
          options: [{ optionName: "x" }, { optionName: "y" }],
          selectableOptionsCount: 1,
        },
        messageContextInfo: { messageSecret: Buffer.alloc(32, 1) },
      },
      VOTER,
    );
    assert.deepEqual(Object.values(rec?.options ?? {}), ["0", "1"]);
    assert.equal(receivedPollRecord({ pollCreationMessage: { name: "Q", options: [] } }, VOTER), undefined);
  });

  it("fuzz: hostile vote payloads never throw and never name an answer the poll lacks", () => {
    const rec = pollRecord(Buffer.alloc(32, 5), CREATOR, [{ text: "A", id: "a" }]);
    fc.assert(
      fc.property(
        fc.record({
          vote: fc.oneof(
            fc.constant(undefined),
            fc.record({
              encPayload: fc.uint8Array({ maxLength: 80 }),
              encIv: fc.uint8Array({ maxLength: 16 }),
            }),
          ),
        }),
        fc.string(),
        fc.string(),
        (update, pollId, voter) => {
          const r = decryptVote(update as never, pollId, rec, voter);
          if (Array.isArray(r)) for (const id of r) assert.equal(id, "a");
        },
      ),
      fuzzParams(300),
    );
  });
});
