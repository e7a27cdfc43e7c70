/**
 * The Node.js version check that the CLI and the dev stack run before anything else: on an
 * older Node the bridge mostly starts and then fails somewhere unrelated (undici, which the
 * Slack connector and others load, needs 22.19), so say it at once and how to get a newer one.
 * Plain code only: this must load on old Node versions.
 */

/** Lowest supported version (undici 8's `engines`). */
export const MIN_NODE = { major: 22, minor: 19 } as const;

/** The text to print when `version` (e.g. "20.20.2", "v22.23.0") is too old; undefined when it is fine. */
export function nodeVersionProblem(
  version: string,
  where: { execPath: string; platform: string; arch: string },
): string | undefined {
  const [major = 0, minor = 0] = version
    .replace(/^v/, "")
    .split(".")
    .map((n) => Number.parseInt(n, 10) || 0);
  if (major > MIN_NODE.major || (major === MIN_NODE.major && minor >= MIN_NODE.minor)) return undefined;
  const pkg = `node-${where.platform}-${where.arch}@${MIN_NODE.major}`;
  const bin = `~/.local/node${MIN_NODE.major}/node_modules/node-${where.platform}-${where.arch}/bin`;
  return [
    `clawbridge needs Node.js ${MIN_NODE.major}.${MIN_NODE.minor} or newer; this is Node ${version.replace(/^v?/, "v")} (${where.execPath}).`,
    `Get Node ${MIN_NODE.major}: \`nvm install ${MIN_NODE.major}\`, your distribution's nodejs package (or NodeSource), or without root:`,
    `  npm install --prefix ~/.local/node${MIN_NODE.major} ${pkg}`,
    `  export PATH=${bin}:$PATH`,
    `then run the command again (\`node --version\` should print v${MIN_NODE.major}.${MIN_NODE.minor} or later).`,
  ].join("\n");
}

/** Exits with status 1 and {@link nodeVersionProblem}'s text when this Node is too old. */
export function exitUnlessSupportedNode(): void {
  const problem = nodeVersionProblem(process.versions.node, {
    execPath: process.execPath,
    platform: process.platform,
    arch: process.arch,
  });
  if (problem === undefined) return;
  process.stderr.write(`${problem}\n`);
  process.exit(1);
}
