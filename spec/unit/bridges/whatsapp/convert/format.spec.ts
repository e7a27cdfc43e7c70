import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { htmlToWhatsapp, whatsappToHtml } from "../../../../../bridges/whatsapp/convert/format";

const fixtures = JSON.parse(
  readFileSync(path.resolve(__dirname, "../../../../fixtures/whatsapp/format.json"), "utf8"),
) as {
  toHtml: Array<{ name: string; wa: string; html: string | null }>;
  toWhatsapp: Array<{ name: string; html: string; wa: string }>;
};

describe("WhatsApp formatting ↔ Matrix HTML", () => {
  describe("WhatsApp → HTML", () => {
    for (const f of fixtures.toHtml) {
      it(f.name, () => assert.equal(whatsappToHtml(f.wa), f.html ?? undefined));
    }
  });
  describe("HTML → WhatsApp", () => {
    for (const f of fixtures.toWhatsapp) {
      it(f.name, () => assert.equal(htmlToWhatsapp(f.html), f.wa));
    }
  });
  it("round-trips the markers WhatsApp has", () => {
    const text = "*bold* _italic_ ~strike~ `code`";
    assert.equal(htmlToWhatsapp(whatsappToHtml(text) ?? ""), text);
  });
});
