import assert from "node:assert/strict";
import { entitiesToHtml } from "../../../../../bridges/telegram/convert/entities";
import { matrixToTelegramHtml } from "../../../../../bridges/telegram/convert/html";
import { entityCases, pillToTelegramUser, userPill } from "./fixtures";

describe("telegram convert: entities → Matrix HTML", () => {
  for (const c of entityCases()) {
    it(c.name, () => {
      assert.equal(entitiesToHtml(c.text, c.entities, { userPill }) ?? null, c.html);
    });
  }

  it("treats missing entities as plain text", () => {
    assert.equal(entitiesToHtml("<b>", undefined, { userPill }), undefined);
  });

  it("passes the Telegram name to userPill for ghost creation", () => {
    const seen: [number, string][] = [];
    entitiesToHtml(
      "hey you",
      [
        {
          type: "text_mention",
          offset: 4,
          length: 3,
          user: { id: 9, is_bot: false, first_name: "Zoë", last_name: "Q" },
        },
      ],
      {
        userPill: (id, name) => {
          seen.push([id, name]);
          return undefined;
        },
      },
    );
    assert.deepEqual(seen, [[9, "Zoë Q"]]);
  });
});

describe("telegram convert: round trip Telegram → Matrix → Telegram", () => {
  for (const c of entityCases()) {
    it(c.name, () => {
      const html = entitiesToHtml(c.text, c.entities, { userPill });
      const content =
        html === undefined
          ? { body: c.text }
          : { body: c.text, format: "org.matrix.custom.html", formatted_body: html };
      assert.equal(matrixToTelegramHtml(content, { pillToTelegramUser }), c.telegramHtml);
    });
  }
});
