import { strict as assert } from "node:assert";
import sharp from "sharp";
import { sniffImage } from "../../../src/ai/attachments";
import { E2eeClient } from "../../harness/E2eeClient";
import type { MatrixEvent, MatrixTestClient } from "../../harness/MatrixTestClient";
import { makePdf } from "../../harness/pdf";
import type { RecordedRequest } from "../../standins/llm/LlmStandin";
import { portalRoomFor, user } from "../core/coreRig";
import { AI, type AiRig, groupWithAi, isAnswer, isNoticeFromAi, startAiRig } from "./aiRig";

/** A real 1×1 PNG and a real 1×1 GIF. */
const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==",
  "base64",
);
const GIF = Buffer.from("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7", "base64");

type ChatMessages = NonNullable<RecordedRequest["chat"]>["messages"];

function messages(r: RecordedRequest): ChatMessages {
  return r.chat?.messages ?? [];
}

function last(r: RecordedRequest): string {
  const m = messages(r);
  return m[m.length - 1]?.content ?? "";
}

describe("e2e: the AI puppet sees images and text files (real Synapse, model stand-ins)", function () {
  this.timeout(120_000);
  let rig: AiRig;
  let alice: MatrixTestClient;
  let bob: MatrixTestClient;
  let vera: E2eeClient | undefined;

  before(async function () {
    this.timeout(180_000);
    [alice, bob] = await Promise.all([user("alice"), user("bob")]);
    // primary (OpenAI wire) and backup (Ollama) read images; plain (OpenAI wire) does not.
    rig = await startAiRig(
      // Small enough that a photo-sized image is over it (and downscaled), the tiny ones under it.
      { vision: { max_images: 4, max_bytes: 200_000 } },
      {
        vision: ["primary", "backup"],
        permissions: { "@vera:localhost": "user" },
        encryption: { allow: true, key_wait_seconds: 4 },
      },
    );
  });

  after(async () => {
    await vera?.stop();
    await rig?.stop();
  });

  async function upload(
    who: MatrixTestClient,
    data: Buffer,
    name: string,
    mimetype: string,
  ): Promise<string> {
    const res = await fetch(
      `${rig.core.rig.synapse.url}/_matrix/media/v3/upload?filename=${encodeURIComponent(name)}`,
      {
        method: "POST",
        headers: { authorization: `Bearer ${who.accessToken}`, "content-type": mimetype },
        body: data,
      },
    );
    assert.equal(res.status, 200, `upload ${name}`);
    return ((await res.json()) as { content_uri: string }).content_uri;
  }

  async function post(
    who: MatrixTestClient,
    roomId: string,
    msgtype: "m.image" | "m.file",
    data: Buffer,
    name: string,
    mimetype: string,
  ): Promise<string> {
    const url = await upload(who, data, name, mimetype);
    return who.sendEvent(roomId, "m.room.message", {
      msgtype,
      body: name,
      url,
      info: { mimetype, size: data.length },
    });
  }

  /** Asks the AI (a display-name mention) and waits for its answer. */
  async function ask(roomId: string, text: string): Promise<MatrixEvent> {
    const id = await bob.sendText(roomId, text);
    return alice.waitFor((e) => isAnswer(e, id), { roomId, timeoutMs: 30_000 });
  }

  async function useProvider(roomId: string, name: string): Promise<void> {
    await alice.sendText(roomId, `!ai provider ${name}`);
    await alice.waitFor((e) => isNoticeFromAi(e, new RegExp(`Provider set to ${name}\\.`)), { roomId });
  }

  it("OpenAI wire: an image posted by a Matrix user reaches the model as a data URL of its exact bytes", async () => {
    const room = await groupWithAi(alice, bob, "vision openai");
    await post(alice, room, "m.image", PNG, "cat.png", "image/png");
    await ask(room, "AI, what is in the picture?");
    const req = await rig.openai.waitFor((r) => last(r) === "bob: AI, what is in the picture?");
    const withImage = messages(req).filter((m) => m.images);
    assert.equal(withImage.length, 1, "one message carries the image");
    assert.equal(withImage[0]!.content, "alice: [image: cat.png]");
    assert.deepEqual(withImage[0]!.images, [PNG], "the exact bytes");
    const wire = (req.body as { messages: Array<{ content: unknown }> }).messages;
    const parts = wire.find((m) => Array.isArray(m.content))!.content;
    assert.deepEqual(parts, [
      { type: "text", text: "alice: [image: cat.png]" },
      { type: "image_url", image_url: { url: `data:image/png;base64,${PNG.toString("base64")}` } },
    ]);
  });

  it("Ollama wire: the image goes in the message's images as base64", async () => {
    const room = await groupWithAi(alice, bob, "vision ollama");
    await useProvider(room, "backup");
    await post(alice, room, "m.image", GIF, "dot.gif", "image/gif");
    await ask(room, "AI, and this one?");
    const req = await rig.ollama.waitFor((r) => last(r) === "bob: AI, and this one?");
    const withImage = messages(req).filter((m) => m.images);
    assert.equal(withImage.length, 1);
    assert.equal(withImage[0]!.content, "alice: [image: dot.gif]");
    assert.deepEqual(withImage[0]!.images, [GIF]);
    const wire = (req.body as { messages: Array<{ images?: unknown }> }).messages;
    assert.deepEqual(
      wire.filter((m) => m.images).map((m) => m.images),
      [[GIF.toString("base64")]],
    );
  });

  it("a provider without vision gets the [image: name] text and no image part; undecodable images stay text", async () => {
    const room = await groupWithAi(alice, bob, "vision off");
    await useProvider(room, "plain");
    await post(alice, room, "m.image", PNG, "chart.png", "image/png");
    const req = await (async () => {
      await ask(room, "AI, describe the chart");
      return rig.openai.waitFor((r) => last(r) === "bob: AI, describe the chart");
    })();
    assert.equal((req.body as { model: string }).model, "standin-plain");
    assert.ok(messages(req).some((m) => m.content === "alice: [image: chart.png]"));
    assert.ok(!messages(req).some((m) => m.images), "no image reached the model");
    assert.ok(!req.raw.includes("image_url"), "no image part on the wire");

    // A vision provider: an "image" whose bytes are no image a model reads stays the stand-in.
    await useProvider(room, "primary");
    await post(alice, room, "m.image", Buffer.from("this is not a picture"), "fake.png", "image/png");
    await ask(room, "AI, and the fake one?");
    const next = await rig.openai.waitFor((r) => last(r) === "bob: AI, and the fake one?");
    assert.ok(messages(next).some((m) => m.content === "alice: [image: fake.png]"));
    const images = messages(next).flatMap((m) => m.images ?? []);
    assert.deepEqual(images, [PNG], "only the real image (chart.png) is sent");
  });

  it("a text file's content enters the context; a binary file's does not", async () => {
    const room = await groupWithAi(alice, bob, "vision files");
    const notes = "# Plan\n\nThe secret word is marmalade.\n";
    await post(alice, room, "m.file", Buffer.from(notes), "notes.md", "application/octet-stream");
    const binary = Buffer.concat([Buffer.from("BINARYMARKER"), Buffer.from([0, 1, 2, 0xff, 0xfe, 0])]);
    await post(alice, room, "m.file", binary, "dump.log", "application/octet-stream");
    const pdf = makePdf(["Quarterly report", "Revenue grew by 12 percent"], { compress: true });
    await post(alice, room, "m.file", pdf, "report.pdf", "application/pdf");
    await ask(room, "AI, what is the secret word?");
    const req = await rig.openai.waitFor((r) => last(r) === "bob: AI, what is the secret word?");
    const contents = messages(req).map((m) => m.content);
    assert.ok(contents.includes(`alice: [file: notes.md]\n${notes}`), JSON.stringify(contents));
    assert.ok(contents.includes("alice: [file: dump.log]"), "the binary file is only named");
    assert.ok(!req.raw.includes("BINARYMARKER"), "no byte of the binary file is sent");
    assert.ok(
      contents.includes("alice: [file: report.pdf]\nQuarterly report\n\nRevenue grew by 12 percent"),
      "the PDF's text, page by page",
    );
  });

  it("an image from a platform ghost (testnet) reaches the model", async () => {
    const { testnet } = rig.core;
    testnet.addChat({ id: "visionchat", name: "Vision chat", kind: "group" });
    testnet.addUser({ id: "vpix", name: "Pia Pixel" });
    testnet.addFile("ghost-dot.png", PNG, "image/png");
    testnet.injectMessage({ chat: "visionchat", sender: "vpix", text: "my photo", files: ["ghost-dot.png"] });
    const portal = await portalRoomFor(alice, "visionchat");
    await alice.invite(portal, AI);
    await alice.waitFor(
      (e) => e.type === "m.room.member" && e.state_key === AI && e.content.membership === "join",
      {
        roomId: portal,
        timeoutMs: 30_000,
      },
    );
    await alice.waitFor((e) => e.content.msgtype === "m.image", { roomId: portal, timeoutMs: 30_000 });
    testnet.injectMessage({ chat: "visionchat", sender: "vpix", text: "AI, what did I send?" });
    const req = await rig.openai.waitFor((r) => /: AI, what did I send\?$/.test(last(r)), 30_000);
    const withImage = messages(req).filter((m) => m.images);
    assert.equal(withImage.length, 1, JSON.stringify(messages(req).map((m) => m.content)));
    assert.match(withImage[0]!.content, /^Pia Pixel.*: \[image: /);
    assert.deepEqual(withImage[0]!.images, [PNG]);
  });

  it("in an encrypted room: an encrypted image (file with key, iv, hash) is decrypted and reaches the model; so is an encrypted text file", async () => {
    vera = await E2eeClient.register(rig.core.rig.synapse, "vera");
    const room = await vera.createEncryptedRoom({ name: "vision encrypted", invite: [AI] });
    await vera.waitForEvent(
      room,
      (e) => e.type === "m.room.member" && e.stateKey === AI && e.content.membership === "join",
      30_000,
    );
    const sent = await vera.sendEncryptedMedia(room, "m.image", GIF, "image/gif", {}, "secret.gif");
    assert.ok(!("url" in sent.content), "only the encrypted file, no plain url");
    const notes = "encrypted notes: the password is quince\n";
    await vera.sendEncryptedMedia(room, "m.file", Buffer.from(notes), "text/plain", {}, "notes.txt");
    // Two members: the AI answers every message, so the question's request is the one to read.
    await vera.sendText(room, "AI, what do you see?");
    const req = await rig.openai.waitFor((r) => last(r) === "vera: AI, what do you see?", 30_000);
    const withImage = messages(req).filter((m) => m.images);
    assert.equal(withImage.length, 1, JSON.stringify(messages(req).map((m) => m.content)));
    assert.equal(withImage[0]!.content, "vera: [image: secret.gif]");
    assert.deepEqual(withImage[0]!.images, [GIF], "the decrypted bytes, not the ciphertext");
    assert.ok(messages(req).some((m) => m.content === `vera: [file: notes.txt]\n${notes}`));
  });

  it("an image over ai.vision.max_bytes is downscaled to a JPEG that fits; one that does not decode, or is far too large, stays text", async () => {
    const room = await groupWithAi(alice, bob, "vision big");
    const photo = await sharp({
      create: {
        width: 600,
        height: 500,
        channels: 3,
        background: "#808080",
        noise: { type: "gaussian", mean: 128, sigma: 8 },
      },
    })
      .png()
      .toBuffer();
    assert.ok(photo.length > 200_000 && photo.length < 800_000, `${photo.length} bytes`);
    await post(alice, room, "m.image", photo, "photo.png", "image/png");
    const junk = Buffer.concat([PNG.subarray(0, 16), Buffer.alloc(300_000, 7)]);
    await post(alice, room, "m.image", junk, "broken.png", "image/png");
    const huge = Buffer.concat([PNG.subarray(0, 16), Buffer.alloc(900_000, 7)]);
    await post(alice, room, "m.image", huge, "huge.png", "image/png");
    await ask(room, "AI, how big was the photo?");
    const req = await rig.openai.waitFor((r) => last(r) === "bob: AI, how big was the photo?");
    const withImage = messages(req).filter((m) => m.images);
    assert.deepEqual(
      withImage.map((m) => m.content),
      ["alice: [image: photo.png]"],
    );
    const sent = withImage[0]!.images![0]!;
    assert.equal(sniffImage(sent), "image/jpeg");
    assert.ok(sent.length <= 200_000, `${sent.length} bytes`);
    const meta = await sharp(sent).metadata();
    assert.deepEqual([meta.width, meta.height], [600, 500]);
    assert.ok(req.raw.includes("data:image/jpeg;base64,"));
    const contents = messages(req).map((m) => m.content);
    assert.ok(contents.includes("alice: [image: broken.png]"));
    assert.ok(contents.includes("alice: [image: huge.png]"));
  });
});
