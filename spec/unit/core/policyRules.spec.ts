import assert from "node:assert/strict";
import fc from "fast-check";
import {
  Glob,
  MAX_ENTITY_LENGTH,
  parseRule,
  RuleSet,
  rulesOfState,
  serverOf,
  sha256Of,
} from "../../../src/core/policyRules";
import { fuzzParams } from "../../harness/fuzz";

/** The glob as a regular expression: what matrix-bot-sdk's MatrixGlob does, by code point. */
function reference(pattern: string, text: string): boolean {
  const body = Array.from(pattern, (c) =>
    c === "*" ? "[\\s\\S]*" : c === "?" ? "[\\s\\S]" : c.replace(/[\\^$.*+?()[\]{}|/-]/g, "\\$&"),
  ).join("");
  return new RegExp(`^${body}$`, "u").test(text);
}

/** The most character steps a match may take for a text of `n` code points, whatever the pattern. */
const bound = (n: number) => (2 * n + 2) * (n + 1);

const ban = (entity: unknown, extra: Record<string, unknown> = {}) => ({
  type: "m.policy.rule.user",
  state_key: `rule:${String(entity)}`,
  sender: "@mod:example.org",
  event_id: "$e",
  content: { entity, recommendation: "m.ban", reason: "spam", ...extra },
});

describe("policy rules: globs", () => {
  it("matches as Matrix globs do: * any run, ? one character, whole text, case-sensitive", () => {
    const cases: Array<[string, string, boolean]> = [
      ["@_*_999*:localhost", "@_telegram_999001:localhost", true],
      ["@_*_999*:localhost", "@_discord_999000000000000001:localhost", true],
      ["@_*_999*:localhost", "@_telegram_501:localhost", false],
      ["@spam?:example.org", "@spam1:example.org", true],
      ["@spam?:example.org", "@spam:example.org", false],
      ["@spam?:example.org", "@spam12:example.org", false],
      ["*", "", true],
      ["", "", true],
      ["", "a", false],
      ["a*a", "a", false],
      ["a*a", "aa", true],
      ["*.evil.com", "matrix.evil.com", true],
      ["*.evil.com", "evil.com", false],
      ["@Bob:hs", "@bob:hs", false],
      ["@?:hs", "@😀:hs", true],
      ["@??:hs", "@😀:hs", false],
      ["a**b", "ab", true],
      ["a*b*c", "aXbYbZc", true],
      ["a*b*c", "aXbYbZ", false],
    ];
    for (const [pattern, text, want] of cases)
      assert.equal(new Glob(pattern).test(text), want, `${pattern} against ${text}`);
  });

  it("agrees with the regular-expression reading of the glob (property)", () => {
    const pattern = fc.stringMatching(/^[ab*?]{0,14}$/);
    const text = fc.stringMatching(/^[ab]{0,18}$/);
    fc.assert(
      fc.property(pattern, text, (p, t) => {
        assert.equal(new Glob(p).test(t), reference(p, t), `${JSON.stringify(p)} ~ ${JSON.stringify(t)}`);
      }),
      fuzzParams(2000),
    );
  });

  it("any pattern, however long or starry, costs at most (2n+2)(n+1) steps on a text of n characters (property)", () => {
    const pattern = fc.array(fc.constantFrom("a", "b", "*", "?", "**", "*a", "?*"), { maxLength: 400 });
    const text = fc.stringMatching(/^[ab]{0,255}$/);
    fc.assert(
      fc.property(pattern, text, (parts, t) => {
        const steps = { n: 0 };
        new Glob(parts.join("")).test(t, steps);
        assert.ok(steps.n <= bound(t.length), `${steps.n} steps for a text of ${t.length}`);
      }),
      fuzzParams(500),
    );
  });

  it("hostile globs (the patterns that make backtracking regexes explode) stay within the bound", () => {
    const text = "a".repeat(255);
    const hostile = [
      `${"*a".repeat(20_000)}*b`,
      `${"a*".repeat(20_000)}b`,
      `*${"?".repeat(200)}*b`,
      "?".repeat(100_000),
      `${"*".repeat(100_000)}b`,
      `a${"*a?".repeat(5000)}`,
    ];
    for (const p of hostile) {
      const steps = { n: 0 };
      assert.equal(new Glob(p).test(text, steps), false, p.slice(0, 20));
      assert.ok(steps.n <= bound(text.length), `${p.slice(0, 20)}…: ${steps.n} steps`);
    }
    const steps = { n: 0 };
    assert.equal(new Glob(`${"*a".repeat(20_000)}*`).test(text, steps), false);
    assert.ok(steps.n <= bound(text.length));
    assert.equal(new Glob(`${"*a".repeat(100)}*`).test(text), true);
  });
});

describe("policy rules: parsing", () => {
  it("reads Draupnir's and Mjolnir's rule events, stable and old types, both ban recommendations", () => {
    assert.deepEqual(parseRule(ban("@_*_999*:localhost")), {
      kind: "user",
      entity: "@_*_999*:localhost",
      reason: "spam",
      sender: "@mod:example.org",
      stateKey: "rule:@_*_999*:localhost",
      eventId: "$e",
    });
    for (const type of ["m.room.rule.user", "org.matrix.mjolnir.rule.user"])
      assert.equal(parseRule({ ...ban("@x:hs"), type })?.kind, "user");
    for (const type of ["m.policy.rule.server", "m.room.rule.server", "org.matrix.mjolnir.rule.server"])
      assert.equal(parseRule({ ...ban("evil.com"), type })?.kind, "server");
    assert.equal(parseRule(ban("@x:hs", { recommendation: "org.matrix.mjolnir.ban" }))?.entity, "@x:hs");
    assert.equal(parseRule(ban("@x:hs", { reason: undefined }))?.reason, "");
  });

  it("skips removed rules (empty content, no entity), other recommendations and rule kinds", () => {
    assert.equal(parseRule({ ...ban("@x:hs"), content: {} }), undefined);
    assert.equal(parseRule(ban("")), undefined);
    assert.equal(parseRule(ban(42)), undefined);
    assert.equal(parseRule(ban("@x:hs", { recommendation: "org.matrix.msc3845.opinion" })), undefined);
    assert.equal(parseRule({ ...ban("!room:hs"), type: "m.policy.rule.room" }), undefined);
    assert.equal(parseRule({ ...ban("@x:hs"), state_key: undefined }), undefined);
    assert.equal(parseRule(ban("*".repeat(MAX_ENTITY_LENGTH + 1))), undefined);
  });

  it("never throws on hostile events and yields only well-formed rules (fuzz)", () => {
    const value = fc.oneof(
      fc.string(),
      fc.constantFrom(
        "m.policy.rule.user",
        "m.policy.rule.server",
        "m.ban",
        "org.matrix.mjolnir.ban",
        "\u0000",
        "\ud800",
      ),
      fc.integer(),
      fc.constant(null),
      fc.constant(undefined),
      fc.object(),
      fc.array(fc.anything()),
    );
    const event = fc.record(
      {
        type: value,
        state_key: value,
        sender: value,
        event_id: value,
        content: fc.oneof(
          value,
          fc.record({ entity: value, recommendation: value, reason: value }, { requiredKeys: [] }),
        ),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.oneof(event, fc.anything()), (ev) => {
        const rule = parseRule(ev as never);
        if (rule) {
          assert.ok(rule.kind === "user" || rule.kind === "server");
          assert.ok(typeof rule.entity === "string" && rule.entity.length > 0);
          assert.ok(typeof rule.reason === "string" && typeof rule.stateKey === "string");
        }
        const all = rulesOfState([ev, ev]);
        assert.ok(all.length <= 1);
      }),
      fuzzParams(3000),
    );
  });

  it("lets the stable type win over an old one with the same state key, even to remove a rule", () => {
    const old = { ...ban("@a:hs"), type: "org.matrix.mjolnir.rule.user", state_key: "k" };
    const stable = { ...ban("@b:hs"), state_key: "k" };
    assert.deepEqual(
      rulesOfState([stable, old]).map((r) => r.entity),
      ["@b:hs"],
    );
    assert.deepEqual(
      rulesOfState([old, stable]).map((r) => r.entity),
      ["@b:hs"],
    );
    assert.deepEqual(rulesOfState([old, { ...stable, content: {} }]), []);
    assert.equal(rulesOfState([old]).length, 1);
  });
});

describe("policy rules: a list's rule set", () => {
  const set = new RuleSet(
    rulesOfState([
      ban("@_*_999*:localhost"),
      ban("@exact:localhost"),
      { ...ban("evil.example"), type: "m.policy.rule.server", state_key: "s1" },
      { ...ban("*.bad.example"), type: "m.policy.rule.server", state_key: "s2" },
    ]),
  );

  it("matches user ids by user rules and by their server", () => {
    assert.equal(set.match("@_telegram_999001:localhost")?.entity, "@_*_999*:localhost");
    assert.equal(set.match("@exact:localhost")?.entity, "@exact:localhost");
    assert.equal(set.match("@anyone:evil.example")?.entity, "evil.example");
    assert.equal(set.match("@anyone:a.bad.example")?.entity, "*.bad.example");
    assert.equal(set.match("@_telegram_501:localhost"), undefined);
    assert.equal(set.match("@anyone:bad.example"), undefined);
    assert.equal(set.match("not a user id"), undefined);
    assert.equal(set.size, 4);
  });

  it("matches takedowns that name the entity only by its SHA-256 (MSC4205, the MSC's own example)", () => {
    const hashed = new RuleSet(
      rulesOfState([
        {
          type: "m.policy.rule.user",
          state_key: "h1",
          content: {
            "org.matrix.msc4205.hashes": { sha256: "VPqwbUV7mMMkOVto3kPwsNXXiALMs7VCKWh3OeqqjGs=" },
            recommendation: "org.matrix.msc4204.takedown",
          },
        },
        {
          type: "m.policy.rule.server",
          state_key: "h2",
          content: { hashes: { sha256: sha256Of("evil.example") }, recommendation: "m.takedown" },
        },
        {
          type: "m.policy.rule.user",
          state_key: "h3",
          content: { hashes: { sha256: "short" }, recommendation: "m.ban" },
        },
      ]),
    );
    assert.equal(hashed.size, 2);
    assert.equal(
      hashed.match("@yarrgh:example.com")?.entity,
      "sha256:VPqwbUV7mMMkOVto3kPwsNXXiALMs7VCKWh3OeqqjGs",
    );
    assert.equal(hashed.match("@anyone:evil.example")?.stateKey, "h2");
    assert.equal(hashed.match("@someone:example.com"), undefined);
  });

  it("takes the server name after the first colon", () => {
    assert.equal(serverOf("@a:hs.example:8448"), "hs.example:8448");
    assert.equal(serverOf("@a"), undefined);
    assert.equal(serverOf("@:hs"), undefined);
    assert.equal(serverOf("#room:hs"), undefined);
  });
});
