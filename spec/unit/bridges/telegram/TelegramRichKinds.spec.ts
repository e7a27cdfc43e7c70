import { strict as assert } from "node:assert";
import type { RemoteEdit } from "../../../../src/core/connector";
import {
  ALICE,
  BOB,
  GROUP,
  harness,
  ofKind,
  outbound,
  until,
  useTelegramServer,
} from "../../../standins/telegram/harness";
import { contact, dice, location, poll, venue } from "../../../standins/telegram/richKinds";

describe("Telegram connector: places, contacts, polls, dice and kinds it cannot show", () => {
  const tg = useTelegramServer();

  it("maps each rich kind to the connector model, and an unshowable one to a notice", async () => {
    const h = harness(tg.server());
    await tg.start(h);
    const s = tg.server();
    const vcard = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Bob Builder\r\nTEL:+4930123\r\nEND:VCARD\r\n";
    s.injectMessage({ chat: GROUP, from: ALICE, extra: location({ latitude: 52.52, longitude: 13.405 }) });
    s.injectMessage({
      chat: GROUP,
      from: ALICE,
      extra: venue({ latitude: 48.8584, longitude: 2.2945, title: "Eiffel Tower", address: "Champ de Mars" }),
    });
    s.injectMessage({
      chat: GROUP,
      from: ALICE,
      extra: contact({ phone_number: "+4930123", first_name: "Bob", last_name: "Builder", vcard }),
    });
    s.injectMessage({
      chat: GROUP,
      from: ALICE,
      extra: poll({ question: "Lunch?", options: ["Pizza", "Soup"], allows_multiple_answers: true }),
    });
    s.injectMessage({ chat: GROUP, from: ALICE, extra: dice("🎲", 4) });
    s.injectMessage({
      chat: GROUP,
      from: ALICE,
      extra: { game: { title: "Snake", description: "", photo: [] } },
    });
    s.injectMessage({ chat: GROUP, from: ALICE, extra: { pinned_message: { message_id: 1, date: 0 } } });
    s.injectMessage({ chat: GROUP, from: ALICE, text: "after" });
    await until(() => ofKind(h, "message").some((m) => m.text === "after"), 5000, "the text after");
    const [loc, ven, con, pol, die, game, after] = ofKind(h, "message");
    assert.equal(loc!.text, "Location: 52.52, 13.405");
    assert.deepEqual(loc!.location, { lat: 52.52, lon: 13.405 });
    assert.equal(ven!.text, "Venue: Eiffel Tower, Champ de Mars (48.8584, 2.2945)");
    assert.deepEqual(ven!.location, {
      lat: 48.8584,
      lon: 2.2945,
      description: "Eiffel Tower, Champ de Mars",
    });
    assert.equal(con!.text, "Contact: Bob Builder, +4930123");
    assert.deepEqual(con!.attachments, [
      {
        key: "inline:vcard",
        mimetype: "text/vcard",
        name: "contact.vcf",
        size: Buffer.byteLength(vcard),
        inline: vcard,
      },
    ]);
    assert.equal(pol!.text, "Poll: Lunch?\n1. Pizza\n2. Soup");
    assert.deepEqual(pol!.poll, {
      question: "Lunch?",
      answers: [
        { id: "0", text: "Pizza" },
        { id: "1", text: "Soup" },
      ],
      disclosed: true,
      maxSelections: 2,
    });
    assert.equal(die!.text, "🎲 rolled 4");
    assert.equal(game!.msgtype, "notice");
    assert.equal(game!.text, "Alice Liddell sent a game, which the bridge cannot show");
    assert.equal(after!.text, "after", "the pin (a service message) is not bridged");
  });

  it("a live location's new position is an edit carrying the location", async () => {
    const h = harness(tg.server());
    await tg.start(h);
    const s = tg.server();
    const id = s.injectMessage({
      chat: GROUP,
      from: BOB,
      extra: location({ latitude: 1.5, longitude: -2.25, live_period: 900, horizontal_accuracy: 20 }),
    });
    s.injectEdit({
      chat: GROUP,
      message_id: id,
      extra: location({ latitude: 1.6, longitude: -2.3, live_period: 900, horizontal_accuracy: 15 }),
    });
    await until(() => ofKind(h, "edit").length === 1, 5000, "the edit");
    assert.equal(ofKind(h, "message")[0]!.text, "Live location: 1.5, -2.25");
    assert.deepEqual(ofKind(h, "message")[0]!.location, { lat: 1.5, lon: -2.25, accuracyM: 20 });
    const edit = ofKind(h, "edit")[0] as RemoteEdit;
    assert.equal(edit.id, String(id));
    assert.deepEqual(edit.location, { lat: 1.6, lon: -2.3, accuracyM: 15 });
    assert.equal(edit.text, "Live location: 1.6, -2.3");
  });

  it("sends a location with sendLocation after the relay line; accuracy capped at 1500 m", async () => {
    const client = await tg.start(harness(tg.server()));
    const sent = await client.sendMessage(
      { id: String(GROUP) },
      outbound("Location: -33.8568, 151.2153", {
        location: { lat: -33.8568, lon: 151.2153, accuracyM: 4000 },
      }),
    );
    assert.equal(sent.ids.length, 2);
    const [line, pin] = tg.server().sent(GROUP);
    assert.equal(line!.plain, "Alice: Location: -33.8568, 151.2153");
    assert.equal(pin!.method, "sendLocation");
    assert.deepEqual(pin!.location, { latitude: -33.8568, longitude: 151.2153, horizontal_accuracy: 1500 });
    assert.deepEqual(sent.ids, [String(line!.message_id), String(pin!.message_id)]);
  });

  it("the stand-in refuses coordinates out of range as the Bot API does", async () => {
    const client = await tg.start(harness(tg.server()));
    await assert.rejects(
      client.sendMessage({ id: String(GROUP) }, outbound("x", { location: { lat: 91, lon: 0 } })),
      /wrong latitude/,
    );
    await assert.rejects(
      client.sendMessage({ id: String(GROUP) }, outbound("x", { location: { lat: 0, lon: -180.5 } })),
      /wrong longitude/,
    );
    assert.ok(
      !tg
        .server()
        .sent(GROUP)
        .some((m) => m.method === "sendLocation"),
    );
  });
});
