import { strict as assert } from "node:assert";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import yaml from "js-yaml";
import { configFromObject } from "../../../src/config/Config";
import { buildRegistration, renderRegistration } from "../../../src/config/registration";
import { registrationFileProblems, registrationProblems } from "../../../src/config/registrationCheck";

const base = {
  homeserver: { url: "http://127.0.0.1:8008", domain: "example.org" },
  platforms: { telegram: { enabled: true } },
};
const plain = configFromObject(base);
const encrypted = configFromObject({ ...base, encryption: { allow: true } });

/** The registration as `generate-registration` writes it, read back as the homeserver would. */
function generated(): Record<string, unknown> {
  return yaml.load(renderRegistration(buildRegistration(plain))) as Record<string, unknown>;
}

/** A registration written before encryption existed: the two keys missing. */
function older(): Record<string, unknown> {
  const reg = generated();
  delete reg["org.matrix.msc3202"];
  delete reg["io.element.msc4190"];
  return reg;
}

describe("config: registration check", () => {
  it("finds nothing missing in a freshly generated registration, with or without encryption", () => {
    assert.deepEqual(registrationProblems(plain, generated()), []);
    assert.deepEqual(registrationProblems(encrypted, generated()), []);
  });

  it("accepts a registration without the encryption keys while encryption.allow is off", () => {
    assert.deepEqual(registrationProblems(plain, older()), []);
  });

  it("with encryption.allow, names each missing encryption key and the line to add", () => {
    assert.deepEqual(registrationProblems(encrypted, older()), [
      'org.matrix.msc3202 is missing, but encryption.allow needs the line "org.matrix.msc3202: true"',
      'io.element.msc4190 is missing, but encryption.allow needs the line "io.element.msc4190: true"',
    ]);
  });

  it("with encryption.allow, refuses keys that are present but not true (false, text, null)", () => {
    const reg = {
      ...generated(),
      receive_ephemeral: false,
      "org.matrix.msc3202": "true",
      "io.element.msc4190": null,
    };
    assert.deepEqual(registrationProblems(encrypted, reg), [
      'receive_ephemeral is false, but encryption.allow needs the line "receive_ephemeral: true"',
      'org.matrix.msc3202 is "true", but encryption.allow needs the line "org.matrix.msc3202: true"',
      'io.element.msc4190 is null, but encryption.allow needs the line "io.element.msc4190: true"',
    ]);
  });

  it("reports the encryption keys next to the other mismatches of a file", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "clawbridge-regcheck-"));
    try {
      const file = path.join(dir, "registration.yaml");
      const reg = older();
      reg.sender_localpart = "other";
      fs.writeFileSync(file, yaml.dump(reg));
      const problems = registrationFileProblems(encrypted, file);
      assert.equal(problems.length, 3, problems.join("\n"));
      assert.match(problems[0], /^sender_localpart is "other", but bridge\.bot\.localpart is "clawbridge"$/);
      assert.match(problems[1], /org\.matrix\.msc3202: true/);
      assert.match(problems[2], /io\.element\.msc4190: true/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
