import assert from "node:assert/strict";
import type { MatrixTestClient } from "../../harness/MatrixTestClient";
import { BOT, type CoreRig, startCoreRig, user } from "./coreRig";

describe("command replies: status counts and unknown commands (real Synapse)", function () {
  this.timeout(60_000);
  let core: CoreRig;
  let alice: MatrixTestClient;
  let dm: string;

  const botSays = (text: RegExp) =>
    alice.waitFor(
      (e) =>
        e.room_id === dm &&
        e.sender === BOT &&
        e.type === "m.room.message" &&
        text.test(String(e.content.body)),
    );

  before(async () => {
    core = await startCoreRig();
    alice = await user("alice");
    dm = await alice.createDm(BOT);
    await botSays(/management room/);
  });
  after(async () => core?.stop());

  it("status on an idle bridge reports no queued deliveries (the status command itself is not one)", async () => {
    await alice.sendText(dm, "status");
    const reply = await botSays(/queued deliveries:/);
    assert.match(String(reply.content.body), /^queued deliveries: 0$/m);
  });

  it("an unknown command is quoted back as a short, markup-free prefix, pointing to help", async () => {
    const word = `<b>${"x".repeat(20_000)}</b>`;
    await alice.sendText(dm, `${word} and more`);
    const reply = await botSays(/^Unknown command/);
    const body = String(reply.content.body);
    assert.ok(body.length < 200, `reply of ${body.length} characters`);
    assert.match(body, /^Unknown command `bx{21}…`\. Write `help` for the list\.$/);
    assert.equal(reply.content.formatted_body, undefined);
  });
});
