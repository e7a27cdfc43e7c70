import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import sharp from "sharp";
import type { MatrixTestClient } from "../../harness/MatrixTestClient";
import type { SlackServer } from "../../standins/slack/SlackServer";
import type { CoreRig } from "../core/coreRig";
import { type SlackRig, startSlackRig, UMA } from "./slackRig";

describe("Slack media end to end (video thumbnails; bolt ↔ Slack stand-in, real Synapse)", function () {
  this.timeout(120_000);
  let r: SlackRig;
  let slack: SlackServer;
  let core: CoreRig;
  let alice: MatrixTestClient;
  let A: string;
  let CH: string;
  let room: string;
  const download = async (mxc: unknown) => {
    const [server, id] = String(mxc).slice("mxc://".length).split("/");
    const res = await fetch(`${core.rig.synapse.url}/_matrix/client/v1/media/download/${server}/${id}`, {
      headers: { Authorization: `Bearer ${alice.accessToken}` },
    });
    return Buffer.from(await res.arrayBuffer());
  };

  before(async () => {
    r = await startSlackRig("MV");
    ({ slack, core, alice, A, CH } = r);
    slack.injectMessage(A, { channel: CH, user: UMA, text: "media suite starts" });
    room = await r.portal(CH);
    await alice.waitFor((e) => e.room_id === room && e.content.body === "media suite starts");
  });
  after(async () => {
    await r?.stop();
  });

  it("a Slack video comes with its thumb_video (fetched with the bot token) as the Matrix thumbnail", async () => {
    const still = await sharp({ create: { width: 480, height: 270, channels: 3, background: "#205080" } })
      .jpeg()
      .toBuffer();
    const clip = randomBytes(4000);
    slack.injectMessage(A, {
      channel: CH,
      user: UMA,
      text: "",
      files: [
        { name: "clip.mp4", data: clip, mimetype: "video/mp4", thumbVideo: { data: still, w: 480, h: 270 } },
      ],
    });
    const v = await alice.waitFor(
      (e) => e.room_id === room && e.content.msgtype === "m.video" && e.content.body === "clip.mp4",
    );
    assert.deepEqual(await download(v.content.url), clip);
    const info = v.content.info as Record<string, unknown>;
    assert.deepEqual(info.thumbnail_info, { mimetype: "image/jpeg", size: still.length, w: 480, h: 270 });
    assert.deepEqual(await download(info.thumbnail_url), still);

    slack.injectMessage(A, {
      channel: CH,
      user: UMA,
      text: "",
      files: [{ name: "plain.mp4", data: clip, mimetype: "video/mp4" }],
    });
    const plain = await alice.waitFor(
      (e) => e.room_id === room && e.content.msgtype === "m.video" && e.content.body === "plain.mp4",
    );
    assert.equal((plain.content.info as Record<string, unknown>).thumbnail_url, undefined, "none offered");
  });
});
