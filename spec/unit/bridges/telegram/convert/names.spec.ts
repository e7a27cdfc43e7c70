import assert from "node:assert/strict";
import { chatTitle, userDisplayName } from "../../../../../bridges/telegram/convert/names";

describe("telegram convert: names", () => {
  it("joins first and last name", () => {
    assert.equal(userDisplayName({ first_name: "Alice", last_name: "Smith" }), "Alice Smith");
    assert.equal(userDisplayName({ first_name: "Alice" }), "Alice");
    assert.equal(userDisplayName({ first_name: " ", last_name: "Smith" }), "Smith");
  });

  it("falls back to the username when names are blank", () => {
    assert.equal(userDisplayName({ first_name: "", username: "durov" }), "@durov");
    assert.equal(userDisplayName({ first_name: "" }), "");
  });

  it("titles groups by title and private chats by the other party", () => {
    assert.equal(chatTitle({ type: "supergroup", title: "Bridge Test" }), "Bridge Test");
    assert.equal(
      chatTitle({ type: "private", first_name: "Alice", last_name: "Smith", username: "alice_s" }),
      "Alice Smith",
    );
  });
});
