/**
 * Writes config.sample.yaml and registration.yaml.example from the config schema.
 * `--check` writes nothing and exits 1 if a committed file differs from the generated text.
 * Usage: npx tsx scripts/gen-config-sample.ts [--check]
 */
import fs from "node:fs";
import path from "node:path";
import { renderRegistrationExample, renderSampleConfig } from "../src/config/sample";

const root = path.resolve(__dirname, "..");
const files: [string, string][] = [
  ["config.sample.yaml", renderSampleConfig()],
  ["registration.yaml.example", renderRegistrationExample()],
];
const check = process.argv.includes("--check");
let stale = 0;
for (const [name, text] of files) {
  const file = path.join(root, name);
  const current = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : undefined;
  if (current === text) continue;
  if (check) {
    console.error(`${name} is out of date: run npx tsx scripts/gen-config-sample.ts`);
    stale++;
  } else {
    fs.writeFileSync(file, text);
    console.log(`wrote ${name}`);
  }
}
process.exitCode = stale > 0 ? 1 : 0;
