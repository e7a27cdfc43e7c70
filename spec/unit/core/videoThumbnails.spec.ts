import { strict as assert } from "node:assert";
import fc from "fast-check";
import type { Message } from "grammy/types";
import { videoThumbnail } from "../../../bridges/discord/inbound";
import { fileRef } from "../../../bridges/slack/inbound";
import { pickMedia } from "../../../bridges/telegram/convert/media";
import { inlineThumbnail, MAX_THUMBNAIL_BYTES } from "../../../src/core/media";
import { fuzzParams } from "../../harness/fuzz";

const anything = fc.anything({ withNullPrototype: true, withBigInt: true, maxDepth: 3 });

describe("video thumbnails as the platforms give them (MediaRef.thumbnail)", () => {
  it("Telegram: a video's or animation's thumbnail PhotoSize becomes a fetchable ref with its pixels", () => {
    const video = {
      file_id: "v1",
      file_unique_id: "u1",
      width: 640,
      height: 360,
      duration: 3,
      thumbnail: { file_id: "t1", file_unique_id: "tu1", width: 320, height: 180, file_size: 900 },
    };
    assert.deepEqual(pickMedia({ video } as unknown as Message)?.thumbnail, {
      fileId: "t1",
      width: 320,
      height: 180,
      size: 900,
    });
    const anim = { ...video, thumbnail: { file_id: "t2", width: -1, height: 2.5 } };
    assert.deepEqual(pickMedia({ animation: anim } as unknown as Message)?.thumbnail, { fileId: "t2" });
    assert.equal(
      pickMedia({ video: { ...video, thumbnail: undefined } } as unknown as Message)?.thumbnail,
      undefined,
    );
  });

  it("Discord: a video's media-proxy URL with format=jpeg; nothing for other types or unusable URLs", () => {
    assert.deepEqual(videoThumbnail("video/mp4", "https://media.discordapp.net/attachments/1/2/a.mp4?ex=1"), {
      thumbnail: {
        ref: {
          key: "https://media.discordapp.net/attachments/1/2/a.mp4?ex=1&format=jpeg",
          mimetype: "image/jpeg",
          name: "thumbnail.jpg",
        },
      },
    });
    assert.deepEqual(videoThumbnail("image/png", "https://media.discordapp.net/x.png"), {});
    assert.deepEqual(videoThumbnail("video/mp4", "javascript:alert(1)"), {});
    assert.deepEqual(videoThumbnail("video/mp4", "not a url"), {});
    assert.deepEqual(videoThumbnail(null, null), {});
  });

  it("Slack: a video's thumb_video (http(s) only) with thumb_video_w/h", () => {
    const f = {
      url_private: "https://files.slack.com/files-pri/T-F/clip.mp4",
      mimetype: "video/mp4",
      thumb_video: "https://files.slack.com/files-tmb/T-F-x/clip_thumb_video.jpg",
      thumb_video_w: 480,
      thumb_video_h: 270,
    };
    assert.deepEqual(fileRef(f)?.thumbnail, {
      ref: { key: f.thumb_video, mimetype: "image/jpeg", name: "thumbnail.jpg" },
      width: 480,
      height: 270,
    });
    assert.equal(fileRef({ ...f, thumb_video: "file:///etc/passwd" })?.thumbnail, undefined);
    assert.equal(fileRef({ ...f, mimetype: "image/png" })?.thumbnail, undefined);
  });

  it("inline bytes (WhatsApp jpegThumbnail): strict base64 of at most 1 MiB, else nothing", () => {
    const jpeg = Buffer.from("ffd8ffe000104a46494600010100000100010000ffd9", "hex");
    assert.deepEqual(inlineThumbnail(jpeg.toString("base64")), jpeg);
    assert.equal(inlineThumbnail(""), undefined);
    assert.equal(inlineThumbnail("@@@@"), undefined);
    assert.equal(inlineThumbnail("abc"), undefined, "not a multiple of 4");
    assert.equal(inlineThumbnail(Buffer.alloc(MAX_THUMBNAIL_BYTES + 3).toString("base64")), undefined);
    assert.equal(inlineThumbnail(42), undefined);
  });

  it("property: hostile thumbnail fields never throw and never give a ref that is not what the platform allows", () => {
    fc.assert(
      fc.property(anything, anything, anything, anything, (thumbnail, url, w, h) => {
        const tg = pickMedia({
          video: { file_id: "v", file_unique_id: "u", width: 1, height: 1, duration: 1, thumbnail },
        } as unknown as Message);
        const t = tg?.thumbnail;
        if (t) {
          assert.equal(typeof t.fileId, "string");
          assert.ok(t.fileId.length > 0 && t.fileId.length <= 256);
          for (const n of [t.width, t.height, t.size])
            if (n !== undefined) assert.ok(Number.isInteger(n) && n > 0);
        }
        const dc = videoThumbnail("video/mp4", url as string);
        if (dc.thumbnail) assert.match(dc.thumbnail.ref!.key, /^https?:\/\/.*[?&]format=jpeg/);
        const sl = fileRef({
          url_private: "https://files.slack.com/x",
          mimetype: "video/mp4",
          thumb_video: url,
          thumb_video_w: w,
          thumb_video_h: h,
        });
        if (sl?.thumbnail) {
          assert.match(sl.thumbnail.ref!.key, /^https?:\/\//);
          for (const n of [sl.thumbnail.width, sl.thumbnail.height])
            if (n !== undefined) assert.ok(Number.isInteger(n) && n > 0);
        }
      }),
      fuzzParams(500),
    );
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ maxLength: 300 }), fc.base64String({ maxLength: 300 }), anything),
        (s) => {
          const out = inlineThumbnail(s);
          if (out) {
            assert.ok(out.length > 0 && out.length <= MAX_THUMBNAIL_BYTES);
            assert.ok(typeof s === "string" && /^[A-Za-z0-9+/]*={0,2}$/.test(s) && s.length % 4 === 0);
            assert.ok(out.equals(Buffer.from(s, "base64")));
          }
        },
      ),
      fuzzParams(1000),
    );
  });
});
