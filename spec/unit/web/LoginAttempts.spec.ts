import assert from "node:assert/strict";
import type { ConnectorRegistry } from "../../../src/core/ConnectorRegistry";
import type { LoginPrompt, LoginRef, NetworkConnector } from "../../../src/core/connector";
import { type LoginAttempt, LoginAttempts } from "../../../src/web/LoginAttempts";

/** A connector whose interactive login shows one QR code, then waits for `finish`. */
function qrConnector() {
  const pending: Array<(ok: boolean) => void> = [];
  const connector = {
    name: "qrnet",
    async loginInteractive(owner: string, _args: string[], prompt: LoginPrompt) {
      await prompt.image({ data: Buffer.from("png"), mimetype: "image/png", name: "qr.png" }, "Scan this");
      const ok = await new Promise<boolean>((resolve) => pending.push(resolve));
      if (!ok) throw new Error("the QR code expired");
      return { platform: "qrnet", ownerMxid: owner, remoteId: "4912345", credentials: {} };
    },
  } as unknown as NetworkConnector;
  const added: Array<Omit<LoginRef, "id">> = [];
  const registry = {
    connectors: new Map([["qrnet", connector]]),
    async addLogin(l: Omit<LoginRef, "id">) {
      added.push(l);
      return { ...l, id: `qrnet:${l.remoteId}` };
    },
  } as unknown as ConnectorRegistry;
  return { registry, added, finish: (ok: boolean) => pending.shift()!(ok) };
}

describe("LoginAttempts: interactive logins from the web page", () => {
  it("records the connector's prompt as steps, long-polled, with the outcome; only the owner sees it", async () => {
    const net = qrConnector();
    const attempts = new LoginAttempts({ registry: net.registry, perHour: 5 });
    const a = attempts.start("@ann:hs", "qrnet", []) as LoginAttempt;
    assert.ok("id" in a);
    const first = await attempts.wait(a, 0, 2000);
    assert.equal(first.steps[0]!.kind, "image");
    assert.match(first.steps[0]!.image!, /^data:image\/png;base64,/);
    assert.equal(attempts.get(a.id, "@bob:hs"), undefined, "another user cannot read it");
    net.finish(true);
    let done = await attempts.wait(a, 1, 5000);
    while (!done.outcome) done = await attempts.wait(a, done.steps.length, 5000);
    assert.deepEqual(done.outcome, { ok: true, loginId: "qrnet:4912345" });
    assert.equal(done.steps.at(-1)!.text, "Logged in to qrnet as 4912345.");
    assert.equal(net.added[0]!.ownerMxid, "@ann:hs");
  });

  it("one running login per user and platform; starts limited per hour; other users unaffected", async () => {
    let now = 1_000_000;
    const net = qrConnector();
    const attempts = new LoginAttempts({ registry: net.registry, perHour: 2, now: () => now });
    const first = attempts.start("@ann:hs", "qrnet", []) as LoginAttempt;
    assert.deepEqual(attempts.start("@ann:hs", "qrnet", []), { refused: "running" });
    await attempts.wait(first, 0, 2000);
    net.finish(false);
    await new Promise((r) => setTimeout(r, 10));
    const second = attempts.start("@ann:hs", "qrnet", []) as LoginAttempt;
    await attempts.wait(second, 0, 2000);
    net.finish(false);
    await new Promise((r) => setTimeout(r, 10));
    const limited = attempts.start("@ann:hs", "qrnet", []);
    assert.ok("refused" in limited && limited.refused === "limited");
    assert.equal(limited.retryAfterMs, 3_600_000);
    assert.ok("id" in attempts.start("@bob:hs", "qrnet", []), "bob has his own budget");
    now += 3_600_001;
    assert.ok("id" in attempts.start("@ann:hs", "qrnet", []), "an hour later ann may again");
    assert.deepEqual(attempts.start("@ann:hs", "nonet", []), { refused: "no-interactive" });
  });
});
