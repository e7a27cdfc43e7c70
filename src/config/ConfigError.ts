/**
 * An invalid or unreadable configuration. `message` has a header line naming the source, then
 * every problem on its own line as `key.path: what to write instead`; `problems` has the same
 * lines without the header.
 */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(
    readonly problems: string[],
    readonly source = "configuration",
  ) {
    const n = problems.length;
    super(`Invalid ${source} (${n} problem${n === 1 ? "" : "s"}):\n${problems.join("\n")}`);
  }
}
