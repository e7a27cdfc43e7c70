import { strict as assert } from "node:assert";
import sharp from "sharp";
import type { MatrixTestClient } from "../../harness/MatrixTestClient";
import { type CoreRig, ghostId, portalRoomFor, startCoreRig, user } from "./coreRig";

type Info = {
  mimetype?: string;
  size?: number;
  w?: number;
  h?: number;
  thumbnail_url?: string;
  thumbnail_info?: Record<string, unknown>;
};

/**
 * Media metadata from the bytes: a platform file sent without a usable type becomes the right
 * kind of Matrix event with its type, size, width and height, and a large image gets a
 * thumbnail that clients show before downloading the whole picture.
 */
describe("e2e: media events carry what their bytes say (type, size, dimensions, thumbnail)", function () {
  this.timeout(120_000);
  let core: CoreRig;
  let alice: MatrixTestClient;
  let room: string;

  async function download(mxc: string): Promise<Buffer> {
    const [server, id] = mxc.slice("mxc://".length).split("/");
    const res = await fetch(`${core.rig.synapse.url}/_matrix/client/v1/media/download/${server}/${id}`, {
      headers: { authorization: `Bearer ${alice.accessToken}` },
    });
    assert.equal(res.status, 200);
    return Buffer.from(await res.arrayBuffer());
  }

  before(async function () {
    this.timeout(180_000);
    alice = await user("alice");
    core = await startCoreRig();
    core.testnet.addChat({ id: "mfchat", name: "Media facts", kind: "group" });
    core.testnet.addUser({ id: "mfpia", name: "Pia" });
    core.testnet.injectMessage({ chat: "mfchat", sender: "mfpia", text: "photos coming" });
    room = await portalRoomFor(alice, "mfchat");
  });
  after(async () => core?.stop());

  it("a large picture sent as octet-stream arrives as m.image with type, size, dimensions and a thumbnail", async () => {
    const photo = await sharp({ create: { width: 1600, height: 1200, channels: 3, background: "#228844" } })
      .png()
      .toBuffer();
    core.testnet.addFile("mf-photo", photo, "application/octet-stream");
    core.testnet.injectMessage({ chat: "mfchat", sender: "mfpia", text: "", files: ["mf-photo"] });
    const ev = await alice.waitFor((e) => e.sender === ghostId("mfpia") && e.content.msgtype === "m.image", {
      roomId: room,
      timeoutMs: 30_000,
    });
    const info = ev.content.info as Info;
    assert.equal(info.mimetype, "image/png");
    assert.equal(info.size, photo.length);
    assert.deepEqual([info.w, info.h], [1600, 1200]);
    assert.ok((await download(String(ev.content.url))).equals(photo), "the original, byte for byte");
    assert.match(String(info.thumbnail_url), /^mxc:\/\//);
    const thumb = await download(info.thumbnail_url!);
    const meta = await sharp(thumb).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ["jpeg", 800, 600]);
    assert.deepEqual(info.thumbnail_info, { mimetype: "image/jpeg", size: thumb.length, w: 800, h: 600 });
  });

  it("a small picture gets its dimensions and no thumbnail; a file that is no image stays m.file with its size", async () => {
    const icon = await sharp({ create: { width: 40, height: 30, channels: 4, background: "#ff000080" } })
      .webp()
      .toBuffer();
    core.testnet.addFile("mf-icon", icon, "image/jpeg");
    core.testnet.injectMessage({ chat: "mfchat", sender: "mfpia", text: "", files: ["mf-icon"] });
    const ev = await alice.waitFor(
      (e) =>
        e.sender === ghostId("mfpia") && e.content.msgtype === "m.image" && (e.content.info as Info).w === 40,
      { roomId: room, timeoutMs: 30_000 },
    );
    const info = ev.content.info as Info;
    assert.equal(info.mimetype, "image/webp", "the bytes name the format the platform got wrong");
    assert.equal(info.h, 30);
    assert.equal(info.thumbnail_url, undefined);

    const blob = Buffer.from("just some bytes, not media at all");
    core.testnet.addFile("mf-blob", blob, "application/octet-stream");
    core.testnet.injectMessage({ chat: "mfchat", sender: "mfpia", text: "", files: ["mf-blob"] });
    const file = await alice.waitFor(
      (e) =>
        e.sender === ghostId("mfpia") &&
        e.content.msgtype === "m.file" &&
        (e.content.info as Info).size === blob.length,
      { roomId: room, timeoutMs: 30_000 },
    );
    assert.equal((file.content.info as Info).mimetype, "application/octet-stream");
  });
});
