import { strict as assert } from "node:assert";
import sharp from "sharp";
import { sniffImage } from "../../../src/ai/attachments";
import { downscale } from "../../../src/ai/downscale";

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

describe("ai: downscaling images over ai.vision.max_bytes (sharp)", function () {
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
