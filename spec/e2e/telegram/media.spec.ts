import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import sharp from "sharp";
import { oversizedWideImage } from "../../harness/images";
import type { MatrixTestClient } from "../../harness/MatrixTestClient";
import type { TelegramServer } from "../../standins/telegram/TelegramServer";
import { type CoreRig, portalRoomFor } from "../core/coreRig";
import { isText, startTelegramRig, type TelegramRig, tgGhost } from "./telegramRig";

const GROUP = -1003579001;
const UMA = 701;
const PIA = 703;

describe("Telegram media and profiles end to end (grammy ↔ Bot API stand-in, real Synapse)", function () {
  this.timeout(120_000);
  let rig: TelegramRig;
  let tg: TelegramServer;
  let core: CoreRig;
  let alice: MatrixTestClient;
  let room: string;
  const download = (mxc: unknown) => rig.download(mxc);
  const upload = (data: Buffer, name: string, type: string) => rig.upload(data, name, type);
  const from = () => rig.from();

  before(async () => {
    rig = await startTelegramRig(
      "clawbridge_media_bot",
      { poll_timeout_seconds: 1, profile_photo_check_minutes: 0 },
      (t) => {
        t.addChat({ id: GROUP, type: "supergroup", title: "TG media group" });
        t.addUser({ id: UMA, first_name: "Uma", last_name: "Gram" });
      },
    );
    ({ tg, core, alice } = rig);
    tg.injectMessage({ chat: GROUP, from: UMA, text: "media suite starts" });
    room = await portalRoomFor(alice, String(GROUP), "telegram");
    await alice.waitFor((e) => e.room_id === room && isText("media suite starts")(e));
  });
  after(async () => {
    await rig?.stop();
  });

  it("brings photos over byte for byte in both directions", async () => {
    const bytes = randomBytes(4096);
    tg.injectMessage({
      chat: GROUP,
      from: UMA,
      caption: "a photo",
      photo: { data: bytes, mimetype: "image/jpeg" },
    });
    const img = await alice.waitFor((e) => e.room_id === room && e.content.msgtype === "m.image");
    // The stand-in's largest photo size is 800×600: Matrix clients get it to lay the image out.
    assert.deepEqual(
      { w: (img.content.info as { w?: number }).w, h: (img.content.info as { h?: number }).h },
      { w: 800, h: 600 },
    );
    const url = String(img.content.url);
    const [server, id] = url.slice("mxc://".length).split("/");
    const res = await fetch(`${core.rig.synapse.url}/_matrix/client/v1/media/download/${server}/${id}`, {
      headers: { Authorization: `Bearer ${alice.accessToken}` },
    });
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), bytes);

    const upload = randomBytes(2048);
    const up = await fetch(`${core.rig.synapse.url}/_matrix/media/v3/upload?filename=pic.png`, {
      method: "POST",
      headers: { Authorization: `Bearer ${alice.accessToken}`, "Content-Type": "image/png" },
      body: upload,
    });
    const { content_uri } = (await up.json()) as { content_uri: string };
    await alice.sendEvent(room, "m.room.message", {
      msgtype: "m.image",
      body: "pic.png",
      url: content_uri,
      info: { mimetype: "image/png", size: upload.length },
    });
    await tg.waitFor((c) => c.method === "sendPhoto");
    const sent = tg.sent(GROUP).find((m) => m.method === "sendPhoto");
    assert.ok(sent?.upload, "the photo was uploaded to Telegram");
    assert.deepEqual(sent.upload.data, upload);
  });

  it("sends an image past sendPhoto's limits (over 10 MB, 12000×300) as a downscaled photo the stand-in takes", async () => {
    const png = await oversizedWideImage();
    const plain = await sharp({ create: { width: 12_000, height: 300, channels: 3, background: "#808080" } })
      .png()
      .toBuffer();
    // The stand-in answers as Telegram does to the images as they are.
    const direct = (data: Buffer) =>
      fetch(`${tg.url}/bot${tg.token}/sendPhoto`, {
        method: "POST",
        body: (() => {
          const form = new FormData();
          form.append("chat_id", String(GROUP));
          form.append("photo", new Blob([new Uint8Array(data)]), "wide.png");
          return form;
        })(),
      }).then(async (r) => {
        const body = (await r.json()) as { ok: boolean; description?: string };
        if (!body.ok) throw new Error(body.description);
      });
    await assert.rejects(direct(png), /^Error: Bad Request: PHOTO_SAVE_FILE_INVALID$/);
    await assert.rejects(direct(plain), /^Error: Bad Request: PHOTO_INVALID_DIMENSIONS$/);
    await alice.sendEvent(room, "m.room.message", {
      msgtype: "m.image",
      body: "wide.png",
      url: await upload(png, "wide.png", "image/png"),
      info: { mimetype: "image/png", size: png.length, w: 12_000, h: 300 },
    });
    const wide = () => tg.sent(GROUP).find((m) => m.method === "sendPhoto" && m.upload?.name === "wide.jpg");
    for (const end = Date.now() + 60_000; !wide() && Date.now() < end; )
      await new Promise((r) => setTimeout(r, 100));
    const sent = wide();
    assert.equal(
      tg.calls.filter((c) => c.method === "sendPhoto" && c.error).length,
      2,
      "only the direct calls above were refused",
    );
    assert.ok(sent?.upload, "sent as a photo");
    const meta = await sharp(sent.upload.data).metadata();
    assert.ok(sent.upload.data.length <= 10_000_000, `${sent.upload.data.length}`);
    assert.ok(meta.width! + meta.height! <= 10_000, `${meta.width}x${meta.height}`);
    assert.ok(meta.width! / meta.height! <= 20, `${meta.width}x${meta.height}`);
    assert.ok(meta.width! > 5000, "no smaller than it needs to be");
  });

  it("brings documents and voice notes over, and replaces a file over 20 MB with a notice", async () => {
    tg.injectMessage({
      chat: GROUP,
      from: UMA,
      document: { data: randomBytes(1000), name: "report.pdf", mimetype: "application/pdf" },
    });
    const doc = await alice.waitFor((e) => e.room_id === room && e.content.msgtype === "m.file");
    assert.equal(doc.content.body, "report.pdf");
    tg.injectMessage({ chat: GROUP, from: UMA, voice: { data: randomBytes(500), mimetype: "audio/ogg" } });
    const voice = await alice.waitFor((e) => e.room_id === room && e.content.msgtype === "m.audio");
    // A voice bubble in Matrix clients (MSC3245), with its length.
    assert.deepEqual(voice.content["org.matrix.msc3245.voice"], {});
    assert.ok(typeof voice.content["org.matrix.msc1767.audio"] === "object");
    tg.injectMessage({
      chat: GROUP,
      from: UMA,
      caption: "the big one",
      document: { size: 25 * 1024 * 1024, name: "huge.iso", mimetype: "application/octet-stream" },
    });
    await alice.waitFor((e) => e.room_id === room && isText("the big one")(e));
    const notice = await alice.waitFor(
      (e) => e.room_id === room && e.content.msgtype === "m.notice" && e.sender === tgGhost(UMA),
    );
    assert.match(String(notice.content.body), /huge\.iso could not be bridged: .*20 MB/);
  });

  it("gives ghosts the Telegram profile photo", async () => {
    const photo = randomBytes(3000);
    tg.addUser({ id: PIA, first_name: "Pia", photos: [photo] });
    tg.injectMessage({ chat: GROUP, from: PIA, text: "I have a face" });
    await alice.waitFor((e) => e.room_id === room && isText("I have a face")(e));
    const profile = await alice.profile(tgGhost(PIA));
    assert.equal(profile.displayname, "Pia (Telegram)");
    const [server, id] = String(profile.avatar_url).slice("mxc://".length).split("/");
    const res = await fetch(`${core.rig.synapse.url}/_matrix/client/v1/media/download/${server}/${id}`, {
      headers: { Authorization: `Bearer ${alice.accessToken}` },
    });
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), photo);
  });

  it("re-syncs a ghost's avatar when the Telegram profile photo changed since it last spoke", async () => {
    const before = (await alice.profile(tgGhost(PIA))).avatar_url;
    assert.ok(before, "Pia has an avatar from the test before");
    const photo = randomBytes(3200);
    tg.addUser({ id: PIA, first_name: "Pia", photos: [photo] }); // a new photo: new file_unique_id
    tg.injectMessage({ chat: GROUP, from: PIA, text: "new face" });
    await alice.waitFor((e) => e.room_id === room && isText("new face")(e));
    const after = (await alice.profile(tgGhost(PIA))).avatar_url;
    assert.notEqual(after, before);
    assert.deepEqual(await download(after), photo);
    tg.addUser({ id: PIA, first_name: "Pia", photos: [] }); // the photo removed
    tg.injectMessage({ chat: GROUP, from: PIA, text: "no face" });
    await alice.waitFor((e) => e.room_id === room && isText("no face")(e));
    assert.ok(!(await alice.profile(tgGhost(PIA))).avatar_url, "the ghost's avatar is removed too");
  });

  it("brings stickers over: static as an image, animated and video ones with a fallback text", async () => {
    const webp = randomBytes(700);
    tg.injectMessage({ chat: GROUP, from: UMA, sticker: { data: webp, mimetype: "image/webp" } });
    const img = await alice.waitFor(
      (e) => e.room_id === room && e.content.msgtype === "m.image" && e.content.body === "sticker.webp",
    );
    assert.deepEqual(await download(img.content.url), webp);

    const tgs = randomBytes(900);
    tg.injectMessage({ chat: GROUP, from: UMA, sticker: { data: tgs, mimetype: "application/x-tgsticker" } });
    await alice.waitFor(
      (e) =>
        e.room_id === room &&
        e.content.body === "[animated sticker 👍] attached as a .tgs file (Matrix clients cannot play it)",
    );
    const file = await alice.waitFor(
      (e) => e.room_id === room && e.content.msgtype === "m.file" && e.content.body === "sticker.tgs",
    );
    assert.deepEqual(await download(file.content.url), tgs);

    const webm = randomBytes(1100);
    tg.injectMessage({ chat: GROUP, from: UMA, sticker: { data: webm, mimetype: "video/webm" } });
    await alice.waitFor(
      (e) => e.room_id === room && e.content.body === "[video sticker 👍] attached as a video",
    );
    const vid = await alice.waitFor(
      (e) => e.room_id === room && e.content.msgtype === "m.video" && e.content.body === "sticker.webm",
    );
    assert.deepEqual(await download(vid.content.url), webm);

    // Matrix → Telegram: a sticker takes no caption, so the relay line comes first.
    const mine = randomBytes(800);
    const now = from();
    await alice.sendEvent(room, "m.sticker", {
      body: "a cat sticker",
      url: await upload(mine, "cat.webp", "image/webp"),
      info: { mimetype: "image/webp", size: mine.length, w: 512, h: 512 },
    });
    const stickerCall = await tg.waitFor((c) => now(c) && c.method === "sendSticker");
    const lines = tg.calls.filter((c) => now(c) && c.method === "sendMessage");
    assert.deepEqual(
      lines.map((c) => c.params.text),
      ["<b>alice</b>:"],
    );
    assert.ok(tg.calls.indexOf(lines[0]!) < tg.calls.indexOf(stickerCall), "the name line comes first");
    assert.deepEqual(tg.sent(GROUP).find((m) => m.method === "sendSticker")?.upload?.data, mine);
  });

  it("a video or animation comes with Telegram's own thumbnail; one that is no picture leaves the video without", async () => {
    const still = await sharp({ create: { width: 320, height: 180, channels: 3, background: "#2050a0" } })
      .jpeg()
      .toBuffer();
    const thumbnail = { data: still, width: 320, height: 180 };
    tg.injectMessage({
      chat: GROUP,
      from: UMA,
      video: { data: randomBytes(4000), mimetype: "video/mp4", name: "thumbed.mp4", thumbnail },
    });
    const v = await alice.waitFor(
      (e) => e.room_id === room && e.content.msgtype === "m.video" && e.content.body === "thumbed.mp4",
    );
    const info = v.content.info as Record<string, unknown>;
    assert.deepEqual(
      { w: info.w, h: info.h, duration: info.duration },
      { w: 640, h: 480, duration: 1000 },
      "the video's own size and length",
    );
    assert.deepEqual(info.thumbnail_info, { mimetype: "image/jpeg", size: still.length, w: 320, h: 180 });
    assert.deepEqual(await download(info.thumbnail_url), still);

    const clip = randomBytes(4000);
    tg.injectMessage({
      chat: GROUP,
      from: UMA,
      animation: {
        data: clip,
        mimetype: "video/mp4",
        name: "nothumb.mp4",
        thumbnail: { data: randomBytes(500), width: 90, height: 90 },
      },
    });
    const a = await alice.waitFor(
      (e) => e.room_id === room && e.content.msgtype === "m.video" && e.content.body === "nothumb.mp4",
    );
    assert.deepEqual(await download(a.content.url), clip, "the video came over");
    assert.equal((a.content.info as Record<string, unknown>).thumbnail_url, undefined);
  });

  it("brings videos and animations over byte for byte in both directions, captions prefixed", async () => {
    const clip = randomBytes(5000);
    tg.injectMessage({
      chat: GROUP,
      from: UMA,
      video: { data: clip, mimetype: "video/mp4", name: "clip.mp4" },
    });
    const v = await alice.waitFor(
      (e) => e.room_id === room && e.content.msgtype === "m.video" && e.content.body === "clip.mp4",
    );
    assert.deepEqual(await download(v.content.url), clip);
    const gif = randomBytes(3000);
    tg.injectMessage({
      chat: GROUP,
      from: UMA,
      animation: { data: gif, mimetype: "video/mp4", name: "dance.mp4" },
    });
    const a = await alice.waitFor(
      (e) => e.room_id === room && e.content.msgtype === "m.video" && e.content.body === "dance.mp4",
    );
    assert.deepEqual(await download(a.content.url), gif);
    const info = a.content.info as { w?: number; h?: number; duration?: number };
    assert.deepEqual({ w: info.w, h: info.h, duration: info.duration }, { w: 640, h: 480, duration: 1000 });

    const movie = randomBytes(6000);
    await alice.sendEvent(room, "m.room.message", {
      msgtype: "m.video",
      body: "look at this",
      filename: "movie.mp4",
      url: await upload(movie, "movie.mp4", "video/mp4"),
      info: { mimetype: "video/mp4", size: movie.length },
    });
    const sendVideo = await tg.waitFor((c) => c.method === "sendVideo");
    assert.equal(sendVideo.params.caption, "<b>alice</b>: look at this");
    assert.deepEqual(tg.sent(GROUP).find((m) => m.method === "sendVideo")?.upload?.data, movie);

    const funny = randomBytes(2500);
    await alice.sendEvent(room, "m.room.message", {
      msgtype: "m.image",
      body: "funny.gif",
      url: await upload(funny, "funny.gif", "image/gif"),
      info: { mimetype: "image/gif", size: funny.length },
    });
    const sendAnimation = await tg.waitFor((c) => c.method === "sendAnimation");
    assert.equal(sendAnimation.params.caption, "<b>alice</b>:");
    assert.deepEqual(tg.sent(GROUP).find((m) => m.method === "sendAnimation")?.upload?.data, funny);
  });
});
