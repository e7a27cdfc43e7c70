import assert from "node:assert/strict";
import {
  matrixMsgtypeFor,
  pickMedia,
  stickerFallbackText,
  type TelegramMedia,
  telegramMethodFor,
} from "../../../../../bridges/telegram/convert/media";
import { recordedMessage } from "./fixtures";

const RECORDED: [string, TelegramMedia | undefined][] = [
  [
    "photo",
    {
      kind: "image",
      fileId: "AgACAgQAAxkBAAIBZWeA1_large",
      fileUniqueId: "AQADbrsxG1_x",
      mimetype: "image/jpeg",
      name: "photo.jpg",
      size: 98213,
      width: 1280,
      height: 960,
    },
  ],
  [
    "document-pdf",
    {
      kind: "file",
      fileId: "BQACAgQAAxkBAAIBZmeA2pdf",
      fileUniqueId: "AgADpdf1",
      mimetype: "application/pdf",
      name: "quarterly-report.pdf",
      size: 284113,
    },
  ],
  [
    "voice",
    {
      kind: "voice",
      fileId: "AwACAgQAAxkBAAIBZ2eA3voice",
      fileUniqueId: "AgADvoice1",
      mimetype: "audio/ogg",
      name: "voice.ogg",
      size: 21504,
      durationMs: 7000,
    },
  ],
  [
    "sticker-animated",
    {
      kind: "file",
      fileId: "CAACAgIAAxkBAAIBaGeA4tgs",
      fileUniqueId: "AgADtgs1",
      mimetype: "application/x-tgsticker",
      name: "sticker.tgs",
      size: 32104,
      width: 512,
      height: 512,
      animatedSticker: true,
    },
  ],
  [
    "sticker-static",
    {
      kind: "sticker",
      fileId: "CAACAgIAAxkBAAIBaWeA5webp",
      fileUniqueId: "AgADwebp1",
      mimetype: "image/webp",
      name: "sticker.webp",
      size: 25690,
      width: 512,
      height: 497,
    },
  ],
  [
    "sticker-video",
    {
      kind: "file",
      fileId: "CAACAgIAAxkBAAIBameA6webm",
      fileUniqueId: "AgADwebm1",
      mimetype: "video/webm",
      name: "sticker.webm",
      size: 61440,
      width: 512,
      height: 512,
    },
  ],
  [
    "video",
    {
      kind: "video",
      fileId: "BAACAgQAAxkBAAIBa2eA7video",
      fileUniqueId: "AgADvideo1",
      mimetype: "video/mp4",
      name: "IMG_4821.MP4",
      size: 8123456,
      width: 1920,
      height: 1080,
      durationMs: 12000,
      // The still Telegram made of it, fetched like any file.
      thumbnail: { fileId: "AAMCBAADGQEAAgFrthumb", width: 320, height: 180, size: 11520 },
    },
  ],
  [
    "animation-gif",
    {
      kind: "animation",
      fileId: "CgACAgQAAxkBAAIBbGeA8anim",
      fileUniqueId: "AgADanim1",
      mimetype: "video/mp4",
      name: "dance.gif.mp4",
      size: 402311,
      width: 480,
      height: 270,
      durationMs: 3000,
    },
  ],
  [
    "audio",
    {
      kind: "audio",
      fileId: "CQACAgQAAxkBAAIBbWeA9audio",
      fileUniqueId: "AgADaudio1",
      mimetype: "audio/mpeg",
      name: "song.mp3",
      size: 5160000,
      durationMs: 215000,
    },
  ],
  ["text", undefined],
];

describe("telegram convert: media", () => {
  describe("pickMedia on recorded messages", () => {
    for (const [fixture, expected] of RECORDED) {
      it(fixture, () => assert.deepEqual(pickMedia(recordedMessage(fixture)), expected));
    }
  });

  it("gives animated and video stickers a fallback text with their emoji, static ones none", () => {
    assert.equal(
      stickerFallbackText(recordedMessage("sticker-animated")),
      "[animated sticker 😂] attached as a .tgs file (Matrix clients cannot play it)",
    );
    assert.match(
      String(stickerFallbackText(recordedMessage("sticker-video"))),
      /^\[video sticker.*\] attached as a video$/,
    );
    assert.equal(stickerFallbackText(recordedMessage("sticker-static")), undefined);
    assert.equal(stickerFallbackText(recordedMessage("photo")), undefined);
  });

  it("maps kinds to Matrix msgtypes", () => {
    assert.equal(matrixMsgtypeFor("image"), "m.image");
    assert.equal(matrixMsgtypeFor("sticker"), "m.image");
    assert.equal(matrixMsgtypeFor("video"), "m.video");
    assert.equal(matrixMsgtypeFor("animation"), "m.video");
    assert.equal(matrixMsgtypeFor("voice"), "m.audio");
    assert.equal(matrixMsgtypeFor("audio"), "m.audio");
    assert.equal(matrixMsgtypeFor("file"), "m.file");
  });

  const METHODS: [Parameters<typeof telegramMethodFor>[0], string, string][] = [
    ["image", "image/jpeg", "sendPhoto"],
    ["image", "image/png", "sendPhoto"],
    ["image", "image/gif", "sendAnimation"],
    ["image", "image/svg+xml", "sendDocument"],
    ["sticker", "image/webp", "sendSticker"],
    ["sticker", "application/x-tgsticker", "sendSticker"],
    ["sticker", "image/png", "sendPhoto"],
    ["video", "video/mp4", "sendVideo"],
    ["video", "video/x-matroska", "sendDocument"],
    ["audio", "audio/ogg; codecs=opus", "sendVoice"],
    ["audio", "audio/mpeg", "sendAudio"],
    ["audio", "audio/flac", "sendDocument"],
    ["file", "application/pdf", "sendDocument"],
    ["file", "image/gif", "sendAnimation"],
  ];
  for (const [kind, mime, method] of METHODS) {
    it(`sends ${kind} ${mime} with ${method}`, () => assert.equal(telegramMethodFor(kind, mime), method));
  }
  it("sends a Matrix voice message (MSC3245) in MP3 or M4A as a voice note, music as audio", () => {
    assert.equal(telegramMethodFor("audio", "audio/mpeg", true), "sendVoice");
    assert.equal(telegramMethodFor("audio", "audio/mp4", true), "sendVoice");
    assert.equal(telegramMethodFor("audio", "audio/mpeg", false), "sendAudio");
    assert.equal(telegramMethodFor("audio", "audio/flac", true), "sendDocument");
  });
});
