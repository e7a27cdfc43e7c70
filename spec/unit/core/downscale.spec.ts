import { strict as assert } from "node:assert";
import fc from "fast-check";
import sharp from "sharp";
import { sniffImage } from "../../../src/ai/attachments";
import type { OutboundAttachment } from "../../../src/core/connector";
import { downscale, fitBox, fitImage, fitsLimits } from "../../../src/core/downscale";
import { fuzzParams } from "../../harness/fuzz";

const noise = (width: number, height: number, channels: 3 | 4 = 3) =>
  sharp({
    create: {
      width,
      height,
      channels,
      background: { r: 128, g: 128, b: 128, alpha: 0.5 },
      noise: { type: "gaussian", mean: 128, sigma: 30 },
    },
  })
    .png()
    .toBuffer();

describe("core: downscaling images (sharp): the AI's max_bytes, platforms' photo limits", function () {
  this.timeout(20_000);

  it("a large photo becomes a JPEG of at most maxBytes, its longest side at most 2048 px, the shape kept", async () => {
    const big = await noise(3000, 1500);
    const out = await downscale(big, 300_000);
    assert.ok(out, "downscaled");
    assert.equal(out.mime, "image/jpeg");
    assert.equal(sniffImage(out.data), "image/jpeg");
    assert.ok(out.data.length <= 300_000, `${out.data.length}`);
    const meta = await sharp(out.data).metadata();
    assert.ok(meta.width! <= 2048 && meta.height! <= 2048);
    assert.equal(Math.round((meta.width! / meta.height!) * 10), 20, "2:1 stays 2:1");
  });

  it("tries smaller sizes until one fits; gives up below 512 px; transparent images go on white", async () => {
    const out = await downscale(await noise(1200, 1200, 4), 60_000);
    assert.ok(out && out.data.length <= 60_000);
    assert.ok((await sharp(out.data).metadata()).width! < 1200);
    assert.equal((await sharp(out.data).metadata()).hasAlpha, false);
    assert.equal(await downscale(await noise(1200, 1200), 500), undefined, "nothing fits in 500 bytes");
  });

  it("bytes that do not decode give undefined, never an error", async () => {
    const fake = Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      Buffer.alloc(5000, 1),
    ]);
    assert.equal(await downscale(fake, 1000), undefined);
    assert.equal(await downscale(Buffer.alloc(0), 1000), undefined);
  });
});

const TELEGRAM_PHOTO = { maxBytes: 10_000_000, maxSideSum: 10_000, maxRatio: 20 };
const image = (data: Buffer, name = "wide.png"): OutboundAttachment => ({
  kind: "image",
  media: { data, mimetype: "image/png", name },
});

describe("core: fitImage — an outbound image within a platform's photo limits", function () {
  this.timeout(60_000);

  it("a 12000×300 image (ratio 40, sum 12300) becomes a JPEG padded to ratio 20 with width+height ≤ 10000", async () => {
    const a = image(await noise(12_000, 300));
    const out = await fitImage(a, TELEGRAM_PHOTO);
    assert.notEqual(out, a);
    assert.equal(out.media.mimetype, "image/jpeg");
    assert.equal(out.media.name, "wide.jpg");
    const meta = await sharp(out.media.data).metadata();
    assert.equal(meta.width, out.width);
    assert.equal(meta.height, out.height);
    assert.ok(meta.width! + meta.height! <= 10_000, `${meta.width}x${meta.height}`);
    assert.ok(meta.width! / meta.height! <= 20, `${meta.width}x${meta.height}`);
    assert.ok(meta.width! > 9000, "as large as the limits allow");
    assert.ok(out.media.data.length <= 10_000_000);
  });

  it("an image over the byte limit shrinks until it fits; one within the limits, a file, or bytes that do not decode stay as they are", async () => {
    const big = image(await noise(2000, 2000, 4));
    assert.ok(big.media.data.length > 1_000_000, `${big.media.data.length}`);
    const out = await fitImage(big, { maxBytes: 1_000_000 });
    assert.ok(out.media.data.length <= 1_000_000);
    assert.equal(out.media.mimetype, "image/jpeg");
    const small = image(await noise(300, 200));
    assert.equal(await fitImage(small, TELEGRAM_PHOTO), small);
    const file: OutboundAttachment = { ...big, kind: "file" };
    assert.equal(await fitImage(file, { maxBytes: 10 }), file);
    const junk = image(Buffer.concat([Buffer.from("\x89PNG\r\n\x1a\n", "latin1"), Buffer.alloc(3000, 7)]));
    assert.equal(await fitImage(junk, { maxBytes: 10 }), junk);
  });

  it("an animated GIF keeps its frames (not re-encoded to one still)", async () => {
    const frame = (c: string) =>
      sharp({ create: { width: 640, height: 64, channels: 3, background: c } })
        .png()
        .toBuffer();
    const frames = await Promise.all(["#ff0000", "#00ff00", "#0000ff"].map(frame));
    const anim = await sharp(frames, { join: { animated: true } })
      .gif()
      .toBuffer();
    assert.equal((await sharp(anim).metadata()).pages, 3);
    const a: OutboundAttachment = {
      kind: "image",
      media: { data: anim, mimetype: "image/gif", name: "a.gif" },
    };
    assert.equal(await fitImage(a, { maxBytes: 10, maxRatio: 2 }), a);
  });
});

describe("core: property — fitBox keeps every limit for any picture", () => {
  it("any w×h and limits: the box is whole pixels ≥ 1, within maxSide, maxSideSum and maxRatio, and never larger than the picture padded", () => {
    const side = fc.integer({ min: 1, max: 200_000 });
    fc.assert(
      fc.property(
        side,
        side,
        fc.option(fc.integer({ min: 2, max: 20_000 }), { nil: undefined }),
        fc.option(fc.integer({ min: 4, max: 40_000 }), { nil: undefined }),
        fc.option(fc.integer({ min: 1, max: 100 }), { nil: undefined }),
        fc.double({ min: 0.01, max: 1, noNaN: true }),
        (w, h, maxSide, maxSideSum, maxRatio, scale) => {
          const box = fitBox(w, h, { maxSide, maxSideSum, maxRatio }, scale);
          assert.ok(Number.isInteger(box.w) && Number.isInteger(box.h) && box.w >= 1 && box.h >= 1);
          if (maxSide !== undefined) assert.ok(Math.max(box.w, box.h) <= Math.max(maxSide, 1));
          if (maxSideSum !== undefined) assert.ok(box.w + box.h <= maxSideSum, `${box.w}+${box.h}`);
          if (maxRatio !== undefined)
            assert.ok(Math.max(box.w, box.h) / Math.min(box.w, box.h) <= maxRatio, `${box.w}x${box.h}`);
          assert.ok(Math.max(box.w, box.h) <= Math.max(w, h));
          if (maxSide === undefined && maxSideSum === undefined && maxRatio === undefined && scale === 1)
            assert.deepEqual(box, { w, h });
          assert.ok(fitsLimits(box.w, box.h, 0, { maxBytes: 0, maxSide, maxSideSum, maxRatio }));
        },
      ),
      fuzzParams(2000),
    );
  });
});
