import assert from "node:assert/strict";
import { createProvider, type ProviderConfig } from "../../../../src/ai/providers";
import type { LlmStandin } from "../../../standins/llm/LlmStandin";
import { OllamaStandin } from "../../../standins/llm/OllamaStandin";
import { OpenAIStandin } from "../../../standins/llm/OpenAIStandin";
import { ask, collect, config, done, WIRES } from "./helpers";

const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==",
  "base64",
);
const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4, 0xff, 0xd9]);

const withImages = ask({
  messages: [
    { role: "system", content: "Be brief." },
    { role: "user", content: "Alice: [image: a.png]", images: [{ mime: "image/png", data: PNG }] },
    {
      role: "user",
      content: "Bob: [image: b.jpg] and what is this?",
      images: [{ mime: "image/jpeg", data: JPEG }],
    },
  ],
});

for (const wire of WIRES) {
  describe(`${wire.kind} provider: images (real ${wire.kind} client, stand-in)`, function () {
    this.timeout(30_000);
    let standin: LlmStandin;
    const provider = (over: Partial<ProviderConfig> = {}) =>
      createProvider(config({ kind: wire.kind, baseUrl: wire.baseUrl(standin), ...over }));

    beforeEach(async () => {
      standin = await wire.start();
    });
    afterEach(async () => {
      await standin.close();
    });

    it("with vision: each user turn's images reach the model as the exact bytes", async () => {
      done(await collect(provider({ vision: true }), withImages));
      const chat = standin.chats()[0]!.chat!;
      assert.deepEqual(
        chat.messages.map((m) => ({ content: m.content, images: m.images })),
        [
          { content: "Be brief.", images: undefined },
          { content: "Alice: [image: a.png]", images: [PNG] },
          { content: "Bob: [image: b.jpg] and what is this?", images: [JPEG] },
        ],
      );
    });

    it("without vision: the text alone, no image on the wire", async () => {
      done(await collect(provider(), withImages));
      const rec = standin.chats()[0]!;
      assert.ok(rec.chat!.messages.every((m) => m.images === undefined));
      assert.ok(!rec.raw.includes(PNG.toString("base64")));
      assert.equal(rec.chat!.messages[1]!.content, "Alice: [image: a.png]");
    });
  });
}

describe("model stand-ins: image parts are checked like the real APIs", function () {
  this.timeout(30_000);

  async function post(url: string, body: unknown): Promise<{ status: number; json: unknown }> {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    return { status: res.status, json: await res.json() };
  }

  it("OpenAI: content-part arrays are read; a malformed image_url is a 400 naming the field", async () => {
    const s = await OpenAIStandin.start();
    try {
      const chat = (url: string, role = "user") => ({
        model: "m",
        messages: [
          { role: "system", content: "x" },
          {
            role,
            content: [
              { type: "text", text: "look" },
              { type: "image_url", image_url: { url } },
            ],
          },
        ],
      });
      const good = await post(
        `${s.baseUrl}/chat/completions`,
        chat(`data:image/png;base64,${PNG.toString("base64")}`),
      );
      assert.equal(good.status, 200);
      assert.deepEqual(s.chats()[0]!.chat!.messages[1], { role: "user", content: "look", images: [PNG] });
      const param = "messages[1].content[1].image_url.url";
      const cases: Array<[string, string]> = [
        ["https://example.com/cat.png", "a value without the 'data:' prefix"],
        ["data:image/png;base64,%%%notbase64", "an invalid base64-encoded value"],
        ["data:image/png,rawbytes", "an invalid base64-encoded value"],
        ["data:image/png;base64,", "empty base64-encoded bytes"],
        ["data:text/plain;base64,aGVsbG8=", "unsupported MIME type 'text/plain'"],
      ];
      for (const [url, got] of cases) {
        const bad = await post(`${s.baseUrl}/chat/completions`, chat(url));
        assert.equal(bad.status, 400, url);
        assert.deepEqual(bad.json, {
          error: {
            message: `Invalid image URL: '${param}'. Expected a base64-encoded data URL with an image MIME type (e.g. 'data:image/png;base64,aW1nIGJ5dGVzIGhlcmU='), but got ${got}.`,
            type: "invalid_request_error",
            param,
            code: "invalid_value",
          },
        });
      }
      const wrongRole = await post(
        `${s.baseUrl}/chat/completions`,
        chat(`data:image/png;base64,${PNG.toString("base64")}`, "assistant"),
      );
      assert.equal(wrongRole.status, 400);
      const unknown = await post(`${s.baseUrl}/chat/completions`, {
        model: "m",
        messages: [{ role: "user", content: [{ type: "video", video: {} }] }],
      });
      assert.equal(unknown.status, 400);
      assert.equal((unknown.json as { error: { param: string } }).error.param, "messages[0].content[0].type");
      assert.equal(s.chats().filter((r) => r.outcome === "answered").length, 1, "only the good one answered");
    } finally {
      await s.close();
    }
  });

  it("Ollama: images are base64 strings; anything else is a 400 with Go's error text", async () => {
    const s = await OllamaStandin.start();
    try {
      const chat = (images: unknown) => ({
        model: "m",
        stream: false,
        messages: [{ role: "user", content: "look", images }],
      });
      const good = await post(`${s.url}/api/chat`, chat([PNG.toString("base64")]));
      assert.equal(good.status, 200);
      assert.deepEqual(s.chats()[0]!.chat!.messages[0], { role: "user", content: "look", images: [PNG] });
      const bad = await post(`${s.url}/api/chat`, chat(["iVBO*w0K"]));
      assert.equal(bad.status, 400);
      assert.deepEqual(bad.json, { error: "illegal base64 data at input byte 4" });
      const dataUrl = await post(
        `${s.url}/api/chat`,
        chat([`data:image/png;base64,${PNG.toString("base64")}`]),
      );
      assert.equal(dataUrl.status, 400, "a data URL is not base64");
      const notString = await post(`${s.url}/api/chat`, chat([42]));
      assert.equal(notString.status, 400);
    } finally {
      await s.close();
    }
  });
});
