import { strict as assert } from "node:assert";
import { randomBytes } from "node:crypto";
import type { MatrixTestClient } from "../../harness/MatrixTestClient";
import { scriptedBackend } from "../../standins/llm/backend";
import { TelegramServer } from "../../standins/telegram/TelegramServer";
import { user } from "../core/coreRig";
import {
  type AiRig,
  inviteAi,
  isAnswer,
  isNoticeFromAi,
  lastContent,
  messagesOf,
  sleep,
  startAiRig,
  telegramSection,
  twoPlatformRoom,
} from "./aiRig";

const TG_GROUP = -1001777000101;

/**
 * `!ai summarize [span]` in a room bridged to two platforms: the model gets what everyone said in
 * the span, from each platform's ghosts and from Matrix, under a summary prompt; the summary is a
 * reply in the room and reaches both platforms.
 */
describe("e2e: !ai summarize across two platforms in one room", function () {
  this.timeout(120_000);
  let rig: AiRig;
  let tg: TelegramServer;
  let alice: MatrixTestClient;
  let room: string;

  before(async function () {
    this.timeout(180_000);
    alice = await user("alice");
    tg = await TelegramServer.start({
      token: `777101:${randomBytes(24).toString("base64url")}`,
      botUser: { id: 777101, is_bot: true, first_name: "Bridge", username: "summary_bot" },
    });
    tg.addChat({ id: TG_GROUP, type: "supergroup", title: "Release crew" });
    tg.addUser({ id: 7771, first_name: "Tess" });
    rig = await startAiRig(
      { auto_join: { default: "none" } },
      { platforms: { telegram: telegramSection(tg) } },
    );
    room = await twoPlatformRoom(rig, alice, {
      chat: "sumchat",
      name: "Release crew",
      user: { id: "sumnora", name: "Nora" },
      first: "the release is on Friday",
      tgGroup: TG_GROUP,
    });
    await inviteAi(alice, room);
  });
  after(async () => {
    await rig?.stop();
    await tg?.close();
  });

  it("summarizes what was said on Telegram, on testnet and in Matrix; the summary reaches both platforms", async () => {
    tg.injectMessage({ chat: TG_GROUP, from: 7771, text: "I will write the release notes" });
    await alice.waitFor((e) => e.content.body === "I will write the release notes", {
      roomId: room,
      timeoutMs: 30_000,
    });
    await alice.sendText(room, "I will tag the build on Thursday");
    rig.openai.backend = scriptedBackend("Release on Friday; Tess writes the notes; Alice tags Thursday.");
    const asked = await alice.sendText(room, "!ai summarize 2h");
    const answer = await alice.waitFor((e) => isAnswer(e, asked), { roomId: room, timeoutMs: 30_000 });
    assert.match(String(answer.content.body), /Release on Friday/);
    const req = await rig.openai.waitFor((q) =>
      /Summarize the conversation above \(the last 2 hours\)/.test(lastContent(q)),
    );
    const said = messagesOf(req).map((m) => m.content);
    assert.match(said[0] ?? "", /summarize a Matrix chat room/, "a summary prompt");
    for (const line of [
      "Nora (Testnet): the release is on Friday",
      "Tess (Telegram): I will write the release notes",
      "I will tag the build on Thursday",
    ])
      assert.ok(
        said.some((c) => c.includes(line)),
        `the model read "${line}" (got ${JSON.stringify(said)})`,
      );
    assert.ok(!said.some((c) => c.includes("!ai summarize")), "the command itself is not conversation");
    const deadline = Date.now() + 30_000;
    const onTelegram = () => tg.sent(TG_GROUP).some((m) => String(m.text).includes("Release on Friday"));
    const onTestnet = () =>
      rig.core.testnet.sent("sumchat").some((m) => m.text.includes("Release on Friday"));
    while (!(onTelegram() && onTestnet())) {
      if (Date.now() > deadline) assert.fail("the summary did not reach both platforms");
      await sleep(100);
    }
  });

  it("refuses a span it cannot read, saying how to write one", async () => {
    const before = rig.openai.chats().length;
    await alice.sendText(room, "!ai summarize forever");
    await alice.waitFor((e) => isNoticeFromAi(e, /Give the span as a duration/), {
      roomId: room,
      timeoutMs: 30_000,
    });
    assert.equal(rig.openai.chats().length, before, "the model is not asked");
  });
});
