import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type { WAMessage } from "@whiskeysockets/baileys";
import sharp from "sharp";
import { oversizedWideImage } from "../../harness/images";
import type { MatrixEvent, MatrixTestClient } from "../../harness/MatrixTestClient";
import { user } from "../core/coreRig";
import { type SeamRig, startSeamRig } from "./seamRig";
import { waAlias } from "./waRig";

const ME = "15550007701";
const GUS = "15552227701";
const GROUP = "120363000000007701@g.us";
const WAIT = { timeoutMs: 30_000 };

describe("WhatsApp media at the seam (video thumbnails in, large images out; real core, Synapse)", function () {
  this.timeout(180_000);
  let core: SeamRig;
  let alice: MatrixTestClient;
  let room: string;
  let n = 0;
  const ev = (pred: (e: MatrixEvent) => boolean) => alice.waitFor((e) => e.room_id === room && pred(e), WAIT);
  const upsert = (message: Record<string, unknown>) =>
    core.seam.emit("messages.upsert", {
      messages: [
        {
          key: {
            remoteJid: GROUP,
            fromMe: false,
            id: `3EB0ME77${String(++n).padStart(12, "0")}`,
            participant: `${GUS}@s.whatsapp.net`,
          },
          messageTimestamp: Math.floor(Date.now() / 1000),
          pushName: "Gus",
          message,
        } as unknown as WAMessage,
      ],
      type: "notify",
    });
  const download = async (mxc: string) => {
    const [server, id] = mxc.slice("mxc://".length).split("/");
    const res = await fetch(`${core.rig.synapse.url}/_matrix/client/v1/media/download/${server}/${id}`, {
      headers: { authorization: `Bearer ${alice.accessToken}` },
    });
    assert.equal(res.status, 200);
    return Buffer.from(await res.arrayBuffer());
  };

  before(async () => {
    core = await startSeamRig({
      owner: "@alice:localhost",
      number: ME,
      name: "Alice M",
      setup: (wa) => {
        wa.group(GROUP, { subject: "Media group", participants: [ME, GUS] });
      },
    });
    alice = await user("alice");
    upsert({ conversation: "media suite starts" });
    const invite = await alice.waitForInvite(
      (i) => i.events.some((e) => e.type === "m.room.canonical_alias" && e.content.alias === waAlias(GROUP)),
      30_000,
    );
    room = await alice.join(invite.roomId);
    await ev((e) => e.content.body === "media suite starts");
  });
  after(async () => core?.stop());

  it("a video's inline jpegThumbnail becomes its Matrix thumbnail, with the video's size and length; a broken one leaves the video without", async () => {
    const still = await sharp({ create: { width: 96, height: 54, channels: 3, background: "#30a050" } })
      .jpeg()
      .toBuffer();
    const clip = randomBytes(3000);
    upsert({
      videoMessage: {
        ...(await core.media.encrypted(clip, "video")),
        mimetype: "video/mp4",
        seconds: 4,
        width: 640,
        height: 360,
        jpegThumbnail: still,
      },
    });
    const v = await ev((e) => e.content.msgtype === "m.video" && e.content.body === "video.mp4");
    assert.ok((await download(String(v.content.url))).equals(clip));
    const info = v.content.info as Record<string, unknown>;
    assert.deepEqual({ w: info.w, h: info.h, duration: info.duration }, { w: 640, h: 360, duration: 4000 });
    assert.deepEqual(info.thumbnail_info, { mimetype: "image/jpeg", size: still.length, w: 96, h: 54 });
    assert.ok((await download(String(info.thumbnail_url))).equals(still));

    const other = randomBytes(2000);
    upsert({
      videoMessage: {
        ...(await core.media.encrypted(other, "video")),
        mimetype: "video/mp4",
        caption: "no picture",
        jpegThumbnail: Buffer.from("not a jpeg at all"),
      },
    });
    const bare = await ev(
      (e) => e.content.msgtype === "m.video" && (e.content.info as { size?: number })?.size === other.length,
    );
    assert.ok((await download(String(bare.content.url))).equals(other), "the video came over");
    assert.equal((bare.content.info as Record<string, unknown>).thumbnail_url, undefined);
  });

  it("a 12000×300 image of over 12 MB from Matrix goes to WhatsApp as an image within its 16 MB; one over 16 MB is downscaled", async () => {
    const send = async (png: Buffer, name: string, w: number, h: number) => {
      const up = await fetch(`${core.rig.synapse.url}/_matrix/media/v3/upload?filename=${name}`, {
        method: "POST",
        headers: { authorization: `Bearer ${alice.accessToken}`, "content-type": "image/png" },
        body: new Uint8Array(png),
      });
      const { content_uri } = (await up.json()) as { content_uri: string };
      await alice.sendEvent(room, "m.room.message", {
        msgtype: "m.image",
        body: name,
        url: content_uri,
        info: { mimetype: "image/png", size: png.length, w, h },
      });
      const sent = await core.seam.waitSent(
        (c) =>
          "image" in c.content && core.seam.sent.filter((s) => "image" in s.content).indexOf(c) === images,
        60_000,
      );
      images++;
      const img = Buffer.from((sent.content as { image: Buffer }).image);
      assert.ok(img.length <= 16_000_000, `${img.length}`);
      return {
        img,
        meta: await sharp(img).metadata(),
        mimetype: (sent.content as { mimetype?: string }).mimetype,
      };
    };
    let images = 0;
    const wide = await send(await oversizedWideImage(), "wide.png", 12_000, 300);
    assert.deepEqual(
      { w: wide.meta.width, h: wide.meta.height },
      { w: 12_000, h: 300 },
      "within the limit: as it was",
    );
    const huge = await oversizedWideImage(12_000, 600);
    assert.ok(huge.length > 16_000_000, `${huge.length}`);
    const fitted = await send(huge, "huge.png", 12_000, 600);
    assert.equal(fitted.meta.format, "jpeg");
    assert.equal(fitted.mimetype, "image/jpeg");
  });
});
