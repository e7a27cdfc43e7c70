import assert from "node:assert/strict";
import { DEFAULT_RELAY_TEMPLATE, relayText } from "../../../../../bridges/telegram/convert/relay";

const alice = { displayName: "Alice <3", mxid: "@alice:example.org" };

describe("telegram convert: relay text", () => {
  it("prefixes the escaped display name in bold", () => {
    assert.equal(
      relayText(DEFAULT_RELAY_TEMPLATE, alice, "<i>hi</i>", "text"),
      "<b>Alice &lt;3</b>: <i>hi</i>",
    );
  });

  it("formats emotes as actions", () => {
    assert.equal(relayText(DEFAULT_RELAY_TEMPLATE, alice, "waves", "emote"), "* <b>Alice &lt;3</b> waves");
  });

  it("treats notices like text", () => {
    assert.equal(relayText(DEFAULT_RELAY_TEMPLATE, alice, "beep", "notice"), "<b>Alice &lt;3</b>: beep");
  });

  it("fills custom templates once, including the mxid", () => {
    const sender = { displayName: "{message}", mxid: "@a:hs" };
    assert.equal(
      relayText("[{mxid}] {displayname}: {message}", sender, "{displayname}", "text"),
      "[@a:hs] {message}: {displayname}",
    );
    assert.equal(relayText("{displayname} | {message}", alice, "waves", "emote"), "Alice &lt;3 | * waves");
  });

  it("uses the mxid when the display name is blank", () => {
    assert.equal(
      relayText(DEFAULT_RELAY_TEMPLATE, { displayName: " ", mxid: "@b:hs" }, "x", "text"),
      "<b>@b:hs</b>: x",
    );
  });
});
