import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import {
  configureLogging,
  Logger,
  MAX_DEPTH,
  MAX_FIELD_CHARS,
  redact,
  registerSecret,
} from "../../../src/log/Logger";

describe("log redaction", () => {
  it("replaces registered secrets wherever they appear", () => {
    const secret = randomBytes(16).toString("hex");
    registerSecret(secret);
    assert.equal(redact(`token is ${secret}, again ${secret}`), "token is <redacted>, again <redacted>");
  });

  it("masks token-shaped values even when never registered", () => {
    const t = randomBytes(12).toString("hex");
    assert.equal(redact(`GET /sync?access_token=${t}&x=1`), "GET /sync?access_token=<redacted>&x=1");
    assert.equal(redact(`Authorization: Bearer ${t}`), "Authorization: Bearer <redacted>");
    assert.equal(redact(`{"as_token":"${t}"}`), `{"as_token":"<redacted>"}`);
    // Other tests may register common words as secrets; what matters is that the value goes.
    assert.ok(!redact(`password=${t}`).includes(t));
    assert.equal(
      redact(`https://api.example/bot123456:${t}/getMe`),
      "https://api.example/bot<redacted>/getMe",
    );
  });

  it("leaves ordinary text alone", () => {
    assert.equal(redact("portal created for chat 42"), "portal created for chat 42");
  });
});

/** Everything written to stderr (where every level goes) while `fn` runs, after the stream has flushed. */
async function linesOf(fn: () => void): Promise<string[]> {
  const lines: string[] = [];
  const original = process.stderr.write;
  process.stderr.write = ((chunk: unknown) => {
    lines.push(String(chunk));
    return true;
  }) as typeof process.stderr.write;
  try {
    fn();
    await new Promise((r) => setImmediate(r));
  } finally {
    process.stderr.write = original;
  }
  return lines;
}

describe("Logger with hostile input", () => {
  const secret = `sec-${randomBytes(12).toString("hex")}`;
  before(() => registerSecret(secret));
  const log = new Logger("HostileSpec");

  /** Logs one line whose message carries `mark`; returns that line, asserting it exists once and hides the secret. */
  async function line(
    meta: unknown,
    message: unknown = `mark-${randomBytes(4).toString("hex")}`,
  ): Promise<string> {
    const mark = typeof message === "string" ? message : undefined;
    const lines = await linesOf(() => {
      assert.doesNotThrow(() => log.warn(message as string, meta as Record<string, unknown>));
    });
    const mine = mark
      ? lines.filter((l) => l.includes(mark))
      : lines.filter((l) => l.includes("[HostileSpec]"));
    assert.equal(mine.length, 1, `one line expected, got ${JSON.stringify(lines)}`);
    const out = mine[0]!;
    assert.ok(!out.includes(secret), `secret leaked: ${out.slice(0, 500)}`);
    assert.ok(!out.includes("log line degraded"), `fell back: ${out.slice(0, 500)}`);
    return out;
  }

  it("circular objects and arrays become [Circular], secrets inside redacted", async () => {
    const a: Record<string, unknown> = { note: `has ${secret}` };
    a.self = a;
    const arr: unknown[] = [secret];
    arr.push(arr);
    const out = await line({ a, arr });
    assert.match(out, /"self":"\[Circular\]"/);
    assert.match(out, /"arr":\["<redacted>","\[Circular\]"\]/);
  });

  it("BigInt, Symbols and functions are written as text", async () => {
    const out = await line({
      big: 12345678901234567890n,
      nested: { b: -1n },
      sym: Symbol(secret),
      fn: function named() {},
    });
    assert.match(out, /"big":"12345678901234567890n"/);
    assert.match(out, /"b":"-1n"/);
    assert.match(out, /"sym":"Symbol\(<redacted>\)"/);
    assert.match(out, /"fn":"\[Function named\]"/);
  });

  it("getters and toJSON that throw, and a Proxy that refuses to list its keys", async () => {
    const getter = {
      ok: `fine ${secret}`,
      get bad(): string {
        throw new Error(`getter ${secret}`);
      },
    };
    const toJSON = {
      toJSON: () => {
        throw new Error("no json");
      },
    };
    const proxy = new Proxy(
      {},
      {
        ownKeys: () => {
          throw new Error("no keys");
        },
      },
    );
    const out = await line({ getter, toJSON, proxy });
    assert.match(out, /"ok":"fine <redacted>","bad":"\[unreadable\]"/);
    assert.match(out, /"toJSON":"\[unreadable\]"/);
    assert.match(out, /"proxy":"\[unreadable\]"/);
  });

  it("an Error keeps its stack and its chain of causes, redacted, a self-cause included", async () => {
    const root = new Error(`db said ${secret}`);
    const mid = new Error("query failed", { cause: root });
    const top = new Error(`Bearer ${randomBytes(8).toString("hex")} refused`, { cause: mid });
    const selfish = new Error("loop");
    (selfish as { cause?: unknown }).cause = selfish;
    const out = await line({ err: top, selfish, wrapped: { inner: new AggregateError([root], "many") } });
    assert.match(out, /Error: Bearer <redacted> refused\\n {4}at /);
    assert.match(out, /Caused by: Error: query failed/);
    assert.match(out, /Caused by: Error: db said <redacted>/);
    assert.match(out, /loop[^"]*Caused by: \[Circular\]/);
    assert.match(out, /AggregateError: many/);
  });

  it("a huge string is cut and the cut is marked; a secret at the cut or past it never shows", async () => {
    const huge = `${"x".repeat(MAX_FIELD_CHARS - 5)}${secret}${"y".repeat(5_000_000)}${secret}`;
    const out = await line({ huge });
    assert.match(out, /…\[cut \d+ chars\]/);
    assert.ok(out.length < MAX_FIELD_CHARS * 2, `line is ${out.length} chars`);
  });

  it("deep nesting is summarised past the depth cap", async () => {
    let deep: Record<string, unknown> = { bottom: secret };
    for (let i = 0; i < 10_000; i++) deep = { d: deep };
    const deepArr: unknown[] = [];
    let cur = deepArr;
    for (let i = 0; i < 10_000; i++) {
      const next: unknown[] = [];
      cur.push(next);
      cur = next;
    }
    const out = await line({ deep, deepArr });
    assert.match(out, /"\[Object\]"/);
    assert.match(out, /"\[Array\]"/);
    assert.ok(out.split('"d"').length - 1 <= MAX_DEPTH);
  });

  it("a wide graph sharing one child many times stays small", async () => {
    let node: Record<string, unknown> = { leaf: secret };
    for (let level = 0; level < 5; level++) {
      const next: Record<string, unknown> = {};
      for (let i = 0; i < 50; i++) next[`k${i}`] = node;
      node = next;
    }
    const out = await line({ node });
    assert.ok(out.length < 200_000, `line is ${out.length} chars`);
  });

  it("null-prototype objects, Maps, Sets, Buffers, dates and a __proto__ key", async () => {
    const bare = Object.assign(Object.create(null) as Record<string, unknown>, { k: secret, n: 1 });
    const json = JSON.parse(`{"__proto__":{"polluted":"${secret}"}}`) as unknown;
    const out = await line({
      bare,
      map: new Map<unknown, unknown>([
        ["a", secret],
        [{ o: 1 }, 2],
      ]),
      set: new Set([secret, 3]),
      buf: Buffer.from(secret),
      when: new Date(0),
      json,
    });
    assert.match(out, /"bare":\{"k":"<redacted>","n":1\}/);
    assert.match(out, /"map":\{"a":"<redacted>"/);
    assert.match(out, /"set":\["<redacted>",3\]/);
    assert.match(out, /"buf":"\[Buffer \d+ bytes\]"/);
    assert.match(out, /"when":"1970-01-01T00:00:00.000Z"/);
    assert.equal(({} as { polluted?: unknown }).polluted, undefined);
  });

  it("a message that is not a string, and meta that is not an object", async () => {
    const evil = {
      toString(): string {
        throw new Error("no string");
      },
      secret_ish: secret,
    };
    for (const message of [evil, Object.create(null), Symbol("s"), 42, null, undefined, 10n]) {
      await line(undefined, message);
    }
    await line(secret as unknown as Record<string, unknown>);
    await line(7 as unknown as Record<string, unknown>);
  });

  it("secret-named fields are redacted at any depth, token patterns inside nested values too", async () => {
    const t = randomBytes(10).toString("hex");
    const out = await line({
      password: "hunter2hunter2",
      cfg: {
        shared_secret: { v: 1 },
        list: [{ access_token: t }],
        url: `https://hs/_matrix?access_token=${t}`,
      },
      [secret]: "the key itself",
    });
    assert.ok(!out.includes(t));
    assert.ok(!out.includes("hunter2"));
    assert.match(out, /"shared_secret":"<redacted>"/);
  });

  it("JSON format: the same inputs give one parseable line", async () => {
    configureLogging({ level: "info", format: "json" });
    try {
      const a: Record<string, unknown> = { big: 1n, s: secret };
      a.a = a;
      const out = await line({ a, err: new Error(secret) });
      const parsed = JSON.parse(out) as { a: { big: string; a: string } };
      assert.equal(parsed.a.big, "1n");
      assert.equal(parsed.a.a, "[Circular]");
    } finally {
      configureLogging({ level: "info", format: "pretty" });
    }
  });

  it("if writing the line throws, a plain redacted line goes to stderr and the next line is normal", async () => {
    const lines: string[] = [];
    const original = process.stderr.write;
    let calls = 0;
    process.stderr.write = ((chunk: unknown) => {
      if (++calls === 1) throw new Error("stream broken");
      lines.push(String(chunk));
      return true;
    }) as typeof process.stderr.write;
    try {
      assert.doesNotThrow(() => log.error(`first ${secret}`));
      assert.doesNotThrow(() => log.error("second line"));
      await new Promise((r) => setImmediate(r));
    } finally {
      process.stderr.write = original;
    }
    assert.equal(lines.length, 2, JSON.stringify(lines));
    assert.match(
      lines[0]!,
      /ERROR \[HostileSpec\] first <redacted> \(log line degraded: Error: stream broken\)/,
    );
    assert.match(lines[1]!, /ERROR \[HostileSpec\] second line$/m);
  });
});
