import { strict as assert } from "node:assert";
import fc from "fast-check";
import { discordWaveform, oggOpusSeconds, voiceMessage } from "../../../../../bridges/discord/convert/voice";
import type { OutboundAttachment } from "../../../../../src/core/connector";
import { fuzzParams } from "../../../../harness/fuzz";
import { oggOpus } from "../../../../harness/ogg";

/** An Ogg page header (27 bytes, no segments) with `granule`, after `before` bytes of audio. */
function oggPage(granule: bigint, before: Buffer = Buffer.alloc(0)): Buffer {
  const page = Buffer.alloc(27);
  page.write("OggS", 0, "latin1");
  page.writeBigInt64LE(granule, 6);
  return Buffer.concat([before, page]);
}

const voice = (over: Partial<OutboundAttachment> = {}): OutboundAttachment => ({
  kind: "audio",
  voice: true,
  media: { data: oggOpus(2), mimetype: "audio/ogg", name: "voice.ogg" },
  ...over,
});

describe("discord: voice messages out (MSC3245 → IS_VOICE_MESSAGE)", () => {
  it("MSC1767 samples 0–1024 become bytes 0–255, at most 256 of them, by each stretch's peak", () => {
    assert.deepEqual([...Buffer.from(discordWaveform([0, 512, 1024]), "base64")], [0, 128, 255]);
    const long = Array.from({ length: 1000 }, (_, i) => (i === 999 ? 1024 : 0));
    const out = Buffer.from(discordWaveform(long), "base64");
    assert.equal(out.length, 256);
    assert.equal(out.at(-1), 255, "a short loud peak survives the downsampling");
    assert.deepEqual([...Buffer.from(discordWaveform([-5, 2000, Number.NaN, "x"]), "base64")], [0, 255]);
    assert.equal(Buffer.from(discordWaveform(undefined), "base64").length, 64, "no waveform: an even line");
  });

  it("the length comes from Matrix, else from the last Ogg page's granule (48 kHz); other audio or a non-voice file is not a voice message", () => {
    assert.deepEqual(voiceMessage(voice({ durationMs: 2500 }))?.durationSecs, 2.5);
    assert.equal(voiceMessage(voice())?.durationSecs, 2);
    assert.equal(
      voiceMessage(voice({ media: { data: oggOpus(0), mimetype: "audio/ogg", name: "v.ogg" } })),
      undefined,
    );
    const vorbis = Buffer.concat([oggPage(0n), Buffer.from("\x01vorbis")]);
    assert.equal(
      voiceMessage(voice({ media: { data: vorbis, mimetype: "audio/ogg", name: "v.ogg" }, durationMs: 900 })),
      undefined,
      "Ogg Vorbis: a file",
    );
    assert.equal(
      voiceMessage(
        voice({
          media: { data: Buffer.from("ID3..."), mimetype: "audio/mpeg", name: "v.mp3" },
          durationMs: 1000,
        }),
      ),
      undefined,
    );
    assert.equal(voiceMessage(voice({ voice: undefined, durationMs: 1000 })), undefined);
    assert.equal(voiceMessage(undefined), undefined);
    assert.equal(
      voiceMessage(voice({ media: { data: oggOpus(1), mimetype: "audio/ogg; codecs=opus", name: "v.ogg" } }))
        ?.durationSecs,
      1,
    );
  });

  it("property: any samples give valid base64 of 1–256 bytes; any bytes give no error and a finite, positive length or none", () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.double(), fc.integer(), fc.string(), fc.constant(null)), { maxLength: 3000 }),
        (samples) => {
          const bytes = Buffer.from(discordWaveform(samples), "base64");
          assert.ok(bytes.length >= 1 && bytes.length <= 256);
          assert.equal(Buffer.from(bytes).toString("base64"), discordWaveform(samples));
        },
      ),
      fuzzParams(500),
    );
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 400 }),
        fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
        (junk, granule) => {
          for (const data of [
            Buffer.from(junk),
            oggPage(granule, Buffer.from(junk)),
            Buffer.concat([Buffer.from("OggS"), Buffer.from(junk)]),
          ]) {
            const s = oggOpusSeconds(data);
            if (s !== undefined) assert.ok(Number.isFinite(s) && s > 0 && s <= 86_400);
          }
        },
      ),
      fuzzParams(500),
    );
  });
});
