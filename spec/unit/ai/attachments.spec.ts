import { strict as assert } from "node:assert";
import fc from "fast-check";
import {
  type Attachment,
  attachmentKind,
  fileText,
  sniffImage,
  wantedAttachments,
} from "../../../src/ai/attachments";
import {
  assembleContext,
  type ContextInput,
  fileBlock,
  IMAGE_TOKENS,
  maxFileChars,
} from "../../../src/ai/context";
import type { RoomEvent } from "../../../src/matrix/MatrixApi";
import { fuzzParams } from "../../harness/fuzz";

const AI = "@ai:localhost";
const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==",
  "base64",
);
let ts = 1000;

function ev(sender: string, content: Record<string, unknown>, type = "m.room.message"): RoomEvent {
  ts += 1;
  return { event_id: `$${ts}`, type, sender, room_id: "!r", origin_server_ts: ts, content };
}
const text = (sender: string, body: string) => ev(sender, { msgtype: "m.text", body });
const image = (sender: string, name: string) =>
  ev(sender, { msgtype: "m.image", body: name, url: "mxc://hs/x", info: { mimetype: "image/png" } });
const file = (sender: string, name: string, mimetype = "application/octet-stream") =>
  ev(sender, { msgtype: "m.file", body: name, url: "mxc://hs/y", info: { mimetype } });

function input(events: RoomEvent[], attachments: Map<string, Attachment>, over: Partial<ContextInput> = {}) {
  return {
    events,
    trigger: events[events.length - 1]!,
    aiUserId: AI,
    skipSenders: new Set<string>(),
    names: new Map([["@alice:localhost", "Alice"]]),
    systemPrompt: "Be brief.",
    tokenBudget: 1000,
    commandPrefixes: ["!ai"],
    redact: (t: string) => t,
    attachments,
    ...over,
  };
}

describe("ai: attachments (what is fetched)", () => {
  it("images are m.image and m.sticker; text files go by mimetype or name; other files are neither", () => {
    assert.equal(attachmentKind(image("@a:x", "a.png")), "image");
    assert.equal(attachmentKind(ev("@a:x", { body: "s", url: "mxc://h/s" }, "m.sticker")), "image");
    assert.equal(attachmentKind(file("@a:x", "data", "text/plain; charset=utf-8")), "text");
    assert.equal(attachmentKind(file("@a:x", "x", "application/json")), "text");
    assert.equal(attachmentKind(file("@a:x", "x", "application/xml")), "text");
    for (const name of ["a.md", "b.CSV", "c.yaml", "d.rs", "e.log", "f.toml", "g.h"])
      assert.equal(attachmentKind(file("@a:x", name)), "text", name);
    assert.equal(attachmentKind(file("@a:x", "report.pdf", "application/pdf")), "pdf");
    assert.equal(attachmentKind(file("@a:x", "scan.PDF")), "pdf");
    assert.equal(attachmentKind(file("@a:x", "blob.bin")), undefined);
    assert.equal(attachmentKind(ev("@a:x", { msgtype: "m.video", body: "v.txt" })), undefined);
    assert.equal(attachmentKind(text("@a:x", "notes.md")), undefined);
  });

  it("fetches only the newest max images (none without a vision provider) and max files; skips edits and redactions", () => {
    const events = [
      image("@a:x", "1.png"),
      file("@a:x", "1.md"),
      image("@a:x", "2.png"),
      file("@a:x", "2.md"),
      { ...image("@a:x", "gone.png"), unsigned: { redacted_because: {} } },
      ev("@a:x", {
        msgtype: "m.image",
        body: "* 2.png",
        url: "mxc://h/z",
        "m.relates_to": { rel_type: "m.replace", event_id: "$x" },
      }),
      image("@a:x", "3.png"),
    ];
    const names = (w: ReturnType<typeof wantedAttachments>) => w.map((x) => String(x.ev.content.body));
    const limits = { images: { max: 2, maxBytes: 10 }, files: { max: 1, maxBytes: 10, maxPdfBytes: 100 } };
    assert.deepEqual(names(wantedAttachments(events, limits)), ["3.png", "2.md", "2.png"]);
    assert.deepEqual(names(wantedAttachments(events, { files: limits.files })), ["2.md"]);
    assert.deepEqual(
      names(wantedAttachments(events, { files: { max: 5, maxBytes: 0, maxPdfBytes: 100 } })),
      [],
    );
  });

  it("sniffs the image types vision models read, from the bytes", () => {
    assert.equal(sniffImage(PNG), "image/png");
    assert.equal(sniffImage(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0])), "image/jpeg");
    assert.equal(sniffImage(Buffer.from("GIF89a....")), "image/gif");
    assert.equal(sniffImage(Buffer.from("RIFF\0\0\0\0WEBPVP8 ")), "image/webp");
    assert.equal(sniffImage(Buffer.from("<svg xmlns=...>")), undefined);
    assert.equal(sniffImage(Buffer.alloc(0)), undefined);
  });

  it("file text: UTF-8 only, no NUL; a cut file loses its broken last character; cut to maxChars", () => {
    assert.deepEqual(fileText(Buffer.from("héllo"), 100), { text: "héllo", cut: false });
    assert.equal(fileText(Buffer.from([0x61, 0, 0x62]), 100), undefined, "NUL: binary");
    assert.equal(fileText(Buffer.from([0x61, 0xff, 0x62]), 100), undefined, "invalid UTF-8");
    const euro = Buffer.from("ab€"); // € is 3 bytes
    assert.equal(fileText(euro.subarray(0, 4), 100), undefined, "an incomplete character in a whole file");
    assert.deepEqual(fileText(euro.subarray(0, 4), 100, true), { text: "ab", cut: true });
    assert.deepEqual(fileText(Buffer.from("abcdef"), 3), { text: "abc", cut: true });
    assert.deepEqual(fileText(Buffer.from("a😀b"), 2), { text: "a", cut: true }, "no half surrogate pair");
  });
});

describe("ai: context with images and files", () => {
  it("an image goes on its user message beside the text stand-in; files' text follows their name", () => {
    const pic = image("@alice:localhost", "cat.png");
    const notes = file("@alice:localhost", "notes.md");
    const bin = file("@alice:localhost", "dump.log");
    const events = [pic, notes, bin, text("@alice:localhost", "AI, look")];
    const attachments = new Map<string, Attachment>([
      [pic.event_id, { kind: "image", image: { mime: "image/png", data: PNG } }],
      [notes.event_id, { kind: "text", text: "# Plan", truncated: false }],
    ]);
    assert.deepEqual(assembleContext(input(events, attachments)), [
      { role: "system", content: "Be brief." },
      { role: "user", content: "Alice: [image: cat.png]", images: [{ mime: "image/png", data: PNG }] },
      { role: "user", content: "Alice: [file: notes.md]\n# Plan" },
      { role: "user", content: "Alice: [file: dump.log]" },
      { role: "user", content: "Alice: AI, look" },
    ]);
    // Without fetched media: the stand-ins alone, as before.
    assert.deepEqual(
      assembleContext(input(events, new Map()))
        .slice(1, 3)
        .map((m) => m.content),
      ["Alice: [image: cat.png]", "Alice: [file: notes.md]"],
    );
  });

  it("a file's text is cut to half the token budget (and says so); redaction covers it", () => {
    const notes = file("@alice:localhost", "big.txt");
    const events = [notes, text("@alice:localhost", "AI?")];
    const big = `SECRET ${"x".repeat(10_000)}`;
    const att = new Map<string, Attachment>([
      [notes.event_id, { kind: "text", text: big, truncated: false }],
    ]);
    const out = assembleContext(
      input(events, att, { tokenBudget: 400, redact: (t) => t.replace(/SECRET/g, "[redacted]") }),
    );
    const shown = out[1]!.content;
    assert.ok(shown.startsWith("Alice: [file: big.txt]\n[redacted] xxx"));
    assert.ok(shown.endsWith("\n[… the rest of the file is left out]"));
    assert.ok(shown.length <= maxFileChars(400) + 100, `${shown.length}`);
    assert.ok(Math.ceil(shown.length / 4) <= 200 + 8, "about half the budget");
  });

  it("images count against the token budget: older ones are trimmed first", () => {
    const pics = [image("@alice:localhost", "a.png"), image("@alice:localhost", "b.png")];
    const events = [...pics, text("@alice:localhost", "AI?")];
    const att = new Map<string, Attachment>(
      pics.map((p) => [p.event_id, { kind: "image", image: { mime: "image/png", data: PNG } }]),
    );
    const out = assembleContext(input(events, att, { tokenBudget: IMAGE_TOKENS + 40 }));
    assert.deepEqual(
      out.map((m) => m.content),
      ["Be brief.", "Alice: [image: b.png]", "Alice: AI?"],
    );
  });

  it("the AI's own messages never carry media", () => {
    const mine = image(AI, "drawn.png");
    const events = [mine, text("@alice:localhost", "AI?")];
    const att = new Map<string, Attachment>([
      [mine.event_id, { kind: "image", image: { mime: "image/png", data: PNG } }],
    ]);
    assert.deepEqual(assembleContext(input(events, att))[1], {
      role: "assistant",
      content: "[image: drawn.png]",
    });
  });
});

describe("ai: property — file text extraction", () => {
  it("arbitrary bytes never throw; the text is bounded, has no NUL, and is well-formed UTF-16", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.nat(400), fc.boolean(), (bytes, max, truncated) => {
        const out = fileText(bytes, max, truncated);
        if (!out) return;
        assert.ok(out.text.length <= max);
        assert.ok(!out.text.includes("\0"));
        assert.ok(out.text.isWellFormed(), "no lone surrogate");
        const block = fileBlock("[file: f]", out.text, out.cut, max);
        assert.ok(block.length <= max + 60);
      }),
      fuzzParams(500),
    );
  });

  it("any text without NUL comes back whole; any cut of its bytes gives a prefix of it", () => {
    const noNul = fc.string({ unit: "grapheme", maxLength: 200 }).map((s) => s.replaceAll("\0", ""));
    fc.assert(
      fc.property(noNul, fc.nat(), (s, at) => {
        const bytes = Buffer.from(s, "utf8");
        // A leading byte order mark is not part of the text.
        const shown = s.replace(/^\uFEFF/, "");
        assert.deepEqual(fileText(bytes, 10_000), { text: shown, cut: false });
        const cut = bytes.subarray(0, at % (bytes.length + 1));
        const out = fileText(cut, 10_000, true);
        assert.ok(out, "a cut of valid UTF-8 is still text");
        assert.ok(shown.startsWith(out.text));
      }),
      fuzzParams(500),
    );
  });
});
