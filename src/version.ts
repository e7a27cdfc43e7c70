import { existsSync, readFileSync } from "node:fs";
import path from "node:path";

/** The package version, found by walking up from this file (works from src/ and dist/src/). */
function readVersion(): string {
  let dir = __dirname;
  for (let i = 0; i < 5; i++) {
    const p = path.join(dir, "package.json");
    if (existsSync(p)) {
      const pkg = JSON.parse(readFileSync(p, "utf8")) as { name?: string; version?: string };
      if (pkg.name === "clawbridge") return pkg.version ?? "0.0.0";
    }
    dir = path.dirname(dir);
  }
  return "0.0.0";
}

export const VERSION = readVersion();
