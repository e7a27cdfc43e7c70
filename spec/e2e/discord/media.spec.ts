import assert from "node:assert/strict";
import sharp from "sharp";
import { oversizedWideImage } from "../../harness/images";
import type { MatrixTestClient } from "../../harness/MatrixTestClient";
import { oggOpus } from "../../harness/ogg";
import type { DiscordServer } from "../../standins/discord/DiscordServer";
import { discordSection, startWorld, until, type WorldIds } from "../../standins/discord/harness";
import { type CoreRig, portalRoomFor, startCoreRig, user } from "../core/coreRig";

const MIB = 1024 * 1024;

async function download(core: CoreRig, alice: MatrixTestClient, mxc: string): Promise<Buffer> {
  const [server, id] = mxc.slice("mxc://".length).split("/");
  const res = await fetch(`${core.rig.synapse.url}/_matrix/client/v1/media/download/${server}/${id}`, {
    headers: { Authorization: `Bearer ${alice.accessToken}` },
  });
  return Buffer.from(await res.arrayBuffer());
}

async function upload(core: CoreRig, alice: MatrixTestClient, data: Buffer, type: string): Promise<string> {
  const up = await fetch(`${core.rig.synapse.url}/_matrix/media/v3/upload?filename=f`, {
    method: "POST",
    headers: { Authorization: `Bearer ${alice.accessToken}`, "Content-Type": type },
    body: data,
  });
  return ((await up.json()) as { content_uri: string }).content_uri;
}

describe("Discord media end to end (upload limit, voice messages, video thumbnails; discord.js ↔ Discord stand-in, real Synapse)", function () {
  this.timeout(180_000);
  let dc: DiscordServer;
  let ids: WorldIds;
  let core: CoreRig;
  let alice: MatrixTestClient;
  let room: string;

  const execs = (name: string) =>
    dc.sent("POST", /^\/webhooks\/\d+\/[^/]+$/).filter((c) => c.body.files.some((f) => f.name === name));

  before(async () => {
    ({ server: dc, ids } = await startWorld());
    // The default upload limit: 10 MiB, Discord's without boosts.
    core = await startCoreRig({ platforms: { discord: discordSection(dc, [ids.guild]) } });
    alice = await user("alice");
    await until(() => dc.liveSessions() === 1, 60_000, "the bridge's gateway session");
    await new Promise((r) => setTimeout(r, 1000));
    dc.postMessage(ids.general, ids.alice, "media suite starts");
    room = await portalRoomFor(alice, ids.general, "discord");
    await alice.waitFor((e) => e.room_id === room && e.content.body === "media suite starts");
  });
  after(async () => {
    await core?.stop();
    await dc?.close();
  });

  it("the stand-in refuses a file over 10 MiB as Discord does (413, code 40005)", async () => {
    const hook = await fetch(`${dc.api}/v10/channels/${ids.random}/messages`, {
      method: "POST",
      headers: { Authorization: `Bot ${dc.token}` },
      body: (() => {
        const form = new FormData();
        form.append("payload_json", JSON.stringify({ content: "" }));
        form.append("files[0]", new Blob([new Uint8Array(10 * MIB + 1)]), "big.bin");
        return form;
      })(),
    });
    assert.equal(hook.status, 413);
    assert.deepEqual(await hook.json(), { message: "Request entity too large", code: 40005 });
  });

  it("a 12000×300 image of over 10 MiB from Matrix arrives as a downscaled image within the limit", async () => {
    const png = await oversizedWideImage();
    assert.ok(png.length > 10 * MIB);
    await alice.sendEvent(room, "m.room.message", {
      msgtype: "m.image",
      body: "wide.png",
      url: await upload(core, alice, png, "image/png"),
      info: { mimetype: "image/png", size: png.length, w: 12_000, h: 300 },
    });
    await until(() => execs("wide.jpg").length === 1, 60_000, "the downscaled image on Discord");
    const [exec] = execs("wide.jpg");
    const file = exec!.body.files[0]!;
    assert.ok(file.data.length <= 10 * MIB, `${file.data.length}`);
    const meta = await sharp(file.data).metadata();
    assert.equal(meta.format, "jpeg");
    assert.ok(
      meta.width! >= 2000 && meta.width! / meta.height! > 10,
      `${meta.width}x${meta.height}: the shape kept`,
    );
    const msg = (exec!.response as { attachments: Array<{ content_type: string; size: number }> })
      .attachments;
    assert.equal(msg.length, 1);
    assert.equal(msg[0]!.size, file.data.length);
    // Nothing was refused on the way.
    assert.equal(dc.calls.filter((c) => c.status === 413).length, 1, "only the stand-in check above");
  });

  it("the stand-in checks IS_VOICE_MESSAGE as Discord does: no content, one audio attachment with waveform and duration", async () => {
    const post = (payload: Record<string, unknown>, file?: { data: Buffer; type: string }) => {
      const form = new FormData();
      form.append("payload_json", JSON.stringify({ flags: 1 << 13, ...payload }));
      if (file) form.append("files[0]", new Blob([new Uint8Array(file.data)], { type: file.type }), "v.ogg");
      return fetch(`${dc.api}/v10/channels/${ids.random}/messages`, {
        method: "POST",
        headers: { Authorization: `Bot ${dc.token}` },
        body: form,
      }).then(async (r) => ({
        status: r.status,
        body: (await r.json()) as { code?: number; flags?: number },
      }));
    };
    const ogg = { data: Buffer.from("OggS fake"), type: "audio/ogg" };
    const meta = { attachments: [{ id: 0, duration_secs: 1.5, waveform: "AAEC" }] };
    assert.equal((await post({ content: "hi", ...meta }, ogg)).body.code, 50159);
    assert.equal((await post({ ...meta }, { data: ogg.data, type: "image/png" })).body.code, 50160);
    assert.equal((await post({})).body.code, 50160);
    assert.equal((await post({ attachments: [{ id: 0 }] }, ogg)).body.code, 50161);
    const ok = await post(meta, ogg);
    assert.equal(ok.status, 200);
    assert.equal(ok.body.flags, 1 << 13);
  });

  it("a Matrix voice message (Ogg) goes out as a Discord voice message: flag, duration, waveform, no content; other audio as a file", async () => {
    const ogg = oggOpus(2.3);
    await alice.sendEvent(room, "m.room.message", {
      msgtype: "m.audio",
      body: "Voice message",
      filename: "Voice message.ogg",
      url: await upload(core, alice, ogg, "audio/ogg"),
      info: { mimetype: "audio/ogg", size: ogg.length, duration: 2300 },
      "org.matrix.msc1767.audio": { duration: 2300, waveform: [0, 256, 512, 1024, 512] },
      "org.matrix.msc3245.voice": {},
    });
    const sent = () => execs("Voice message.ogg").filter((c) => c.body.json.flags === 1 << 13);
    await until(() => sent().length === 1, 30_000, "the voice message on Discord");
    const [exec] = sent();
    assert.equal(exec!.body.json.content, undefined, "no content with a voice message");
    assert.equal(
      dc.sent("POST", /^\/webhooks\//).filter((c) => c.body.json.content === "Voice message").length,
      0,
      "the body that only names the recording is no caption",
    );
    const [att] = exec!.body.json.attachments as Array<{ duration_secs: number; waveform: string }>;
    assert.equal(att!.duration_secs, 2.3);
    assert.deepEqual([...Buffer.from(att!.waveform, "base64")], [0, 64, 128, 255, 128]);
    const stored = exec!.response as { flags: number; attachments: Array<{ waveform?: string }> };
    assert.equal(stored.flags, 1 << 13);
    assert.equal(stored.attachments[0]!.waveform, att!.waveform);

    const mp3 = Buffer.concat([Buffer.from("ID3"), Buffer.alloc(200, 4)]);
    await alice.sendEvent(room, "m.room.message", {
      msgtype: "m.audio",
      body: "Voice message",
      filename: "voice.mp3",
      url: await upload(core, alice, mp3, "audio/mpeg"),
      info: { mimetype: "audio/mpeg", size: mp3.length, duration: 1000 },
      "org.matrix.msc3245.voice": {},
    });
    await until(() => execs("voice.mp3").length === 1, 30_000, "the mp3 as a file");
    assert.equal(execs("voice.mp3")[0]!.body.json.flags, undefined, "not Ogg: an ordinary file");
  });

  it("a Discord video comes with the media proxy's first frame as its thumbnail; without one (415) the video comes alone", async () => {
    const poster = await sharp({ create: { width: 400, height: 224, channels: 3, background: "#a02050" } })
      .jpeg()
      .toBuffer();
    const clip = Buffer.concat([
      Buffer.from([0, 0, 0, 0x18]),
      Buffer.from("ftypmp42"),
      Buffer.alloc(3000, 9),
    ]);
    dc.postMessage(ids.general, ids.alice, "", {
      files: [{ name: "clip.mp4", data: clip, contentType: "video/mp4", poster }],
    });
    const v = await alice.waitFor(
      (e) => e.room_id === room && e.content.msgtype === "m.video" && e.content.body === "clip.mp4",
    );
    const info = v.content.info as Record<string, unknown>;
    assert.deepEqual(info.thumbnail_info, { mimetype: "image/jpeg", size: poster.length, w: 400, h: 224 });
    assert.deepEqual(await download(core, alice, String(info.thumbnail_url)), poster);

    dc.postMessage(ids.general, ids.alice, "", {
      files: [{ name: "bare.mp4", data: clip, contentType: "video/mp4" }],
    });
    const bare = await alice.waitFor(
      (e) => e.room_id === room && e.content.msgtype === "m.video" && e.content.body === "bare.mp4",
    );
    assert.deepEqual(await download(core, alice, String(bare.content.url)), clip, "the video came over");
    assert.equal((bare.content.info as Record<string, unknown>).thumbnail_url, undefined);
  });

  it("without a webhook the bot posts the sender's name, then the voice message alone (with its nonce)", async () => {
    dc.world.noWebhooks.add(ids.random);
    dc.postMessage(ids.random, ids.bob, "in random");
    const randomRoom = await portalRoomFor(alice, ids.random, "discord");
    await alice.waitFor((e) => e.room_id === randomRoom && e.content.body === "in random");
    await alice.sendEvent(randomRoom, "m.room.message", {
      msgtype: "m.audio",
      body: "Voice message",
      filename: "Voice message.ogg",
      url: await upload(core, alice, oggOpus(1.2), "audio/ogg"),
      info: { mimetype: "audio/ogg", duration: 1200 },
      "org.matrix.msc1767.audio": { duration: 1200, waveform: [1024] },
      "org.matrix.msc3245.voice": {},
    });
    const voiceOf = () =>
      dc
        .sent("POST", new RegExp(`^/channels/${ids.random}/messages$`))
        .filter((c) => c.body.json.flags === 1 << 13 && c.body.files[0]?.name === "Voice message.ogg");
    await until(() => voiceOf().length === 1, 30_000, "the bot's voice message");
    const posts = dc.sent("POST", new RegExp(`^/channels/${ids.random}/messages$`));
    const at = posts.indexOf(voiceOf()[0]!);
    assert.match(String(posts[at - 1]?.body.json.content), /^\*\*[^*]+\*\*: ?$/, "the sender first");
    const voice = voiceOf()[0]!.body.json;
    assert.equal(voice.content, undefined);
    assert.equal(typeof voice.nonce, "string");
    assert.equal(voice.enforce_nonce, true);
    assert.deepEqual((voice.attachments as Array<{ duration_secs: number }>)[0]!.duration_secs, 1.2);
  });
});
