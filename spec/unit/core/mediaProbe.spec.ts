import assert from "node:assert/strict";
import fc from "fast-check";
import sharp from "sharp";
import { effectiveMime, imageFacts, sniffMime, THUMB_H, THUMB_W } from "../../../src/core/mediaProbe";
import { fuzzParams } from "../../harness/fuzz";

const png = (width: number, height: number) =>
  sharp({ create: { width, height, channels: 3, background: "#3366cc" } })
    .png()
    .toBuffer();

describe("media facts from the bytes", function () {
  this.timeout(30_000);

  it("sniffs the formats chats carry", async () => {
    const cases: Array<[Buffer, string]> = [
      [await png(2, 2), "image/png"],
      [Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0]), "image/jpeg"],
      [Buffer.from("GIF89a......"), "image/gif"],
      [Buffer.from("RIFF\0\0\0\0WEBPVP8 "), "image/webp"],
      [Buffer.from("RIFF\0\0\0\0WAVEfmt "), "audio/wav"],
      [Buffer.from("OggS\0\x02\0\0"), "audio/ogg"],
      [Buffer.from("ID3\x04\0\0\0\0"), "audio/mpeg"],
      [Buffer.from("\0\0\0\x20ftypisom\0\0\0\0"), "video/mp4"],
      [Buffer.from("\0\0\0\x20ftypM4A \0\0\0\0"), "audio/mp4"],
      [Buffer.concat([Buffer.from([0x1a, 0x45, 0xdf, 0xa3]), Buffer.from("....webm")]), "video/webm"],
      [Buffer.from("%PDF-1.7\n"), "application/pdf"],
      [Buffer.from("PK\x03\x04...."), "application/zip"],
    ];
    for (const [data, mime] of cases) assert.equal(sniffMime(data), mime, mime);
    assert.equal(sniffMime(Buffer.from("plain words")), undefined);
    assert.equal(sniffMime(Buffer.alloc(2)), undefined);
  });

  it("keeps the platform's type unless it is missing, generic, or names the wrong image format", async () => {
    const p = await png(2, 2);
    assert.equal(effectiveMime(undefined, p), "image/png");
    assert.equal(effectiveMime("application/octet-stream", p), "image/png");
    assert.equal(effectiveMime("image/jpeg", p), "image/png");
    assert.equal(effectiveMime("video/mp4", Buffer.from("whatever")), "video/mp4");
    assert.equal(
      effectiveMime("text/plain; charset=utf-8", Buffer.from("%PDF-1.4")),
      "text/plain; charset=utf-8",
    );
    assert.equal(effectiveMime(undefined, Buffer.from("??")), "application/octet-stream");
  });

  it("measures images and thumbnails large ones within 800×600, EXIF orientation applied", async () => {
    assert.deepEqual(await imageFacts(await png(640, 480)), { w: 640, h: 480 });
    const big = await imageFacts(await png(1600, 1200));
    assert.equal(big?.w, 1600);
    assert.equal(big?.h, 1200);
    assert.deepEqual([big?.thumbnail?.w, big?.thumbnail?.h], [THUMB_W, THUMB_H]);
    assert.equal(sniffMime(big!.thumbnail!.data), "image/jpeg");
    const turned = await sharp({ create: { width: 1000, height: 200, channels: 3, background: "#000" } })
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const t = await imageFacts(turned);
    assert.deepEqual([t?.w, t?.h], [200, 1000], "a quarter turn swaps the sides");
    assert.equal(await imageFacts(Buffer.from("not an image")), undefined);
  });

  it("fuzz: any bytes give a type or none, and image facts or none, never an exception", async () => {
    const p = await png(4, 4);
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), fc.nat({ max: p.length }), async (junk, cut) => {
        const data = Buffer.concat([p.subarray(0, cut), Buffer.from(junk)]);
        const mime = sniffMime(data);
        assert.ok(mime === undefined || /^[a-z]+\/[a-z0-9.+-]+$/.test(mime));
        const facts = await imageFacts(data);
        if (facts) assert.ok(facts.w > 0 && facts.h > 0);
      }),
      fuzzParams(100),
    );
  });
});
