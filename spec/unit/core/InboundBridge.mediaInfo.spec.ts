import assert from "node:assert/strict";
import { mediaInfo } from "../../../src/core/InboundBridge";

describe("media info for Matrix (w, h, duration)", () => {
  it("carries what the platform said, in Matrix's units", () => {
    assert.deepEqual(
      mediaInfo({ key: "k", mimetype: "video/mp4", size: 10, width: 640, height: 480, durationMs: 1500 }),
      {
        mimetype: "video/mp4",
        size: 10,
        w: 640,
        h: 480,
        duration: 1500,
      },
    );
  });

  it("leaves out what is missing, half given or nonsense", () => {
    assert.deepEqual(mediaInfo({ key: "k", mimetype: "image/png", width: 10 }), {
      mimetype: "image/png",
      size: undefined,
    });
    assert.deepEqual(
      mediaInfo({ key: "k", width: Number.NaN, height: -1, durationMs: Number.POSITIVE_INFINITY }),
      {
        mimetype: undefined,
        size: undefined,
      },
    );
    assert.deepEqual(mediaInfo({ key: "k", width: 99.6, height: 10.2 }), {
      mimetype: undefined,
      size: undefined,
      w: 100,
      h: 10,
    });
  });
});
