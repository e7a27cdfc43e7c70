import assert from "node:assert/strict";
import type { MatrixEvent, MatrixTestClient } from "../../harness/MatrixTestClient";
import { contact, dice, location, poll, venue } from "../../standins/telegram/richKinds";
import type { TelegramServer } from "../../standins/telegram/TelegramServer";
import { portalRoomFor } from "../core/coreRig";
import { isText, startTelegramRig, type TelegramRig, tgGhost } from "./telegramRig";

const GROUP = -1008642001;
const RITA = 8641;
const RENE = 8642;

const POLL_START = "org.matrix.msc3381.poll.start";
const TEXT = "org.matrix.msc1767.text";

describe("Telegram places, contacts, polls, dice and unshowable kinds end to end (real Synapse)", function () {
  this.timeout(120_000);
  let rig: TelegramRig;
  let tg: TelegramServer;
  let alice: MatrixTestClient;
  let room: string;
  let pollId: number;
  const inRoom =
    (p: (e: MatrixEvent) => boolean) =>
    (e: MatrixEvent): boolean =>
      e.room_id === room && p(e);

  before(async () => {
    rig = await startTelegramRig("clawbridge_rich_bot", { poll_timeout_seconds: 1 }, (t) => {
      t.addChat({ id: GROUP, type: "supergroup", title: "TG rich kinds" });
      t.addUser({ id: RITA, first_name: "Rita", last_name: "Ort" });
      t.addUser({ id: RENE, first_name: "René" });
    });
    ({ tg, alice } = rig);
    tg.injectMessage({ chat: GROUP, from: RITA, text: "rich kinds start" });
    room = await portalRoomFor(alice, String(GROUP), "telegram");
    await alice.waitFor(inRoom(isText("rich kinds start")));
  });
  after(async () => {
    await rig?.stop();
  });

  it("a location arrives as m.location with its geo URI and accuracy", async () => {
    tg.injectMessage({
      chat: GROUP,
      from: RITA,
      extra: location({ latitude: 52.52, longitude: 13.405, horizontal_accuracy: 25 }),
    });
    const ev = await alice.waitFor(inRoom((e) => e.content.msgtype === "m.location"));
    assert.equal(ev.type, "m.room.message");
    assert.equal(ev.sender, tgGhost(RITA));
    assert.equal(ev.content.body, "Location: 52.52, 13.405");
    assert.equal(ev.content.geo_uri, "geo:52.52,13.405;u=25");
    assert.deepEqual(ev.content["org.matrix.msc3488.location"], { uri: "geo:52.52,13.405;u=25" });
  });

  it("a live location arrives at its first position; a new position edits it in place", async () => {
    const id = tg.injectMessage({
      chat: GROUP,
      from: RENE,
      extra: location({ latitude: -33.8568, longitude: 151.2153, live_period: 900 }),
    });
    const first = await alice.waitFor(inRoom((e) => e.content.body === "Live location: -33.8568, 151.2153"));
    assert.equal(first.content.geo_uri, "geo:-33.8568,151.2153");
    tg.injectEdit({
      chat: GROUP,
      message_id: id,
      extra: location({ latitude: -33.857, longitude: 151.2155, live_period: 900 }),
    });
    const edit = await alice.waitFor(
      inRoom(
        (e) => (e.content["m.relates_to"] as { event_id?: string } | undefined)?.event_id === first.event_id,
      ),
    );
    assert.deepEqual(edit.content["m.relates_to"], { rel_type: "m.replace", event_id: first.event_id });
    const now = edit.content["m.new_content"] as Record<string, unknown>;
    assert.equal(now.msgtype, "m.location");
    assert.equal(now.geo_uri, "geo:-33.857,151.2155");
    assert.equal(now.body, "Live location: -33.857, 151.2155");
  });

  it("a venue arrives as m.location with its title and address in the body", async () => {
    tg.injectMessage({
      chat: GROUP,
      from: RITA,
      extra: venue({
        latitude: 48.8584,
        longitude: 2.2945,
        title: "Eiffel Tower",
        address: "Champ de Mars, Paris",
      }),
    });
    const ev = await alice.waitFor(inRoom((e) => String(e.content.body).startsWith("Venue:")));
    assert.equal(ev.content.msgtype, "m.location");
    assert.equal(ev.content.body, "Venue: Eiffel Tower, Champ de Mars, Paris (48.8584, 2.2945)");
    assert.equal(ev.content.geo_uri, "geo:48.8584,2.2945");
    assert.deepEqual(ev.content["org.matrix.msc3488.location"], {
      uri: "geo:48.8584,2.2945",
      description: "Eiffel Tower, Champ de Mars, Paris",
    });
  });

  it("a contact arrives as a text line and its vCard as a contact.vcf file", async () => {
    const vcard =
      "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Hans Meier\r\nTEL;TYPE=cell:+49301234567\r\nEND:VCARD\r\n";
    tg.injectMessage({
      chat: GROUP,
      from: RITA,
      extra: contact({ phone_number: "+49301234567", first_name: "Hans", last_name: "Meier", vcard }),
    });
    const line = await alice.waitFor(inRoom(isText("Contact: Hans Meier, +49301234567")));
    assert.equal(line.content.msgtype, "m.text");
    const file = await alice.waitFor(
      inRoom((e) => e.content.msgtype === "m.file" && e.content.body === "contact.vcf"),
    );
    assert.equal((file.content.info as { mimetype?: string }).mimetype, "text/vcard");
    assert.equal((await rig.download(file.content.url)).toString("utf8"), vcard);
  });

  it("a poll arrives as an MSC3381 poll start with its answers and a text fallback", async () => {
    pollId = tg.injectMessage({
      chat: GROUP,
      from: RENE,
      extra: poll({
        question: "Where do we meet?",
        options: ["Café", "Park", "Online"],
        allows_multiple_answers: true,
      }),
    });
    const ev = await alice.waitFor(inRoom((e) => e.type === POLL_START));
    assert.equal(ev.sender, tgGhost(RENE));
    assert.deepEqual(ev.content[POLL_START], {
      question: { [TEXT]: "Where do we meet?" },
      kind: "org.matrix.msc3381.poll.disclosed",
      max_selections: 3,
      answers: [
        { id: "0", [TEXT]: "Café" },
        { id: "1", [TEXT]: "Park" },
        { id: "2", [TEXT]: "Online" },
      ],
    });
    assert.equal(ev.content[TEXT], "Poll: Where do we meet?\n1. Café\n2. Park\n3. Online");
  });

  it("purging a ghost's newest message takes its poll too", async () => {
    const start = await alice.waitFor(inRoom((e) => e.type === POLL_START && e.sender === tgGhost(RENE)));
    await alice.sendText(room, `!cb purge telegram:${RENE} 1`);
    await alice.waitFor(
      inRoom((e) => e.type === "m.room.redaction" && (e.redacts ?? e.content.redacts) === start.event_id),
    );
    const answer = await alice.waitFor(inRoom((e) => String(e.content.body).startsWith("Purged ")));
    assert.equal(
      answer.content.body,
      `Purged ${tgGhost(RENE)}: matrix: 1 of 1 message; telegram ${GROUP}: 1 of 1 message.`,
    );
    const del = tg.calls.find((c) => c.method === "deleteMessage" && Number(c.params.message_id) === pollId);
    assert.ok(del, "the poll was deleted on Telegram too");
  });

  it("a dice throw arrives as text", async () => {
    tg.injectMessage({ chat: GROUP, from: RITA, extra: dice("🎲", 4) });
    const ev = await alice.waitFor(inRoom(isText("🎲 rolled 4")));
    assert.equal(ev.sender, tgGhost(RITA));
  });

  it("a kind the bridge cannot show (a game) becomes a notice, and the next message still comes", async () => {
    tg.injectMessage({
      chat: GROUP,
      from: RENE,
      extra: { game: { title: "Snake", description: "eat", photo: [] } },
    });
    tg.injectMessage({ chat: GROUP, from: RENE, text: "after the game" });
    const notice = await alice.waitFor(
      inRoom((e) => e.content.msgtype === "m.notice" && e.sender === tgGhost(RENE)),
    );
    assert.equal(notice.content.body, "René sent a game, which the bridge cannot show");
    await alice.waitFor(inRoom(isText("after the game")));
  });

  it("m.location from Matrix reaches Telegram's sendLocation with its coordinates", async () => {
    const calls = rig.from();
    await alice.sendEvent(room, "m.room.message", {
      msgtype: "m.location",
      body: "Meet here",
      geo_uri: "geo:51.5007,-0.1246;u=30",
    });
    const call = await tg.waitFor((c) => calls(c) && c.method === "sendLocation");
    assert.equal(Number(call.params.chat_id), GROUP);
    assert.equal(Number(call.params.latitude), 51.5007);
    assert.equal(Number(call.params.longitude), -0.1246);
    assert.equal(Number(call.params.horizontal_accuracy), 30);
    const sent = tg.sent(GROUP);
    const pin = sent.find((m) => m.method === "sendLocation");
    assert.deepEqual(pin?.location, { latitude: 51.5007, longitude: -0.1246, horizontal_accuracy: 30 });
    assert.ok(sent.some((m) => m.method === "sendMessage" && m.plain?.endsWith("Meet here")));
  });

  it("an m.location with a malformed geo URI goes to Telegram as its body, as text", async () => {
    const calls = rig.from();
    await alice.sendEvent(room, "m.room.message", {
      msgtype: "m.location",
      body: "Somewhere odd",
      geo_uri: "geo:123.4,999;u=nope",
    });
    const call = await tg.waitFor(
      (c) => calls(c) && c.method === "sendMessage" && String(c.params.text).includes("Somewhere odd"),
    );
    assert.equal(Number(call.params.chat_id), GROUP);
    await alice.sendText(room, "and then text");
    await tg.waitFor(
      (c) => calls(c) && c.method === "sendMessage" && String(c.params.text).includes("and then text"),
    );
    assert.ok(
      !tg.calls.some((c) => calls(c) && c.method === "sendLocation"),
      "no sendLocation for a bad geo URI",
    );
  });
});
