/**
 * Reads one map of a config file key by key (a connector's `platforms.<name>` section, or a
 * map inside it): each method applies the default, checks the type and throws an error that
 * names the key's path and what it must be.
 */
export class SectionReader {
  constructor(
    private readonly map: Record<string, unknown>,
    /** Path of the map itself, e.g. `platforms.telegram`. */
    readonly path: string,
  ) {}

  /** The full path of a key: `platforms.telegram.bot_token`. */
  key(k: string): string {
    return `${this.path}.${k}`;
  }

  /** A string; absent or empty gives `dflt`, or an error when `required`. */
  str(k: string, required = false, dflt = ""): string {
    const v = this.map[k];
    if (v === undefined || v === null || v === "") {
      if (required) throw new Error(`${this.key(k)} is required`);
      return dflt;
    }
    if (typeof v !== "string") throw new Error(`${this.key(k)} must be a string`);
    return v;
  }

  /** A finite number of at least `min`. */
  num(k: string, dflt: number, min: number): number {
    const v = this.map[k];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== "number" || !Number.isFinite(v) || v < min)
      throw new Error(`${this.key(k)} must be a number >= ${min}`);
    return v;
  }

  /** A whole number of at least `min`. */
  int(k: string, dflt: number, min: number): number {
    const v = this.map[k];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== "number" || !Number.isInteger(v) || v < min)
      throw new Error(`${this.key(k)} must be a whole number >= ${min}`);
    return v;
  }

  bool(k: string, dflt: boolean): boolean {
    const v = this.map[k];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== "boolean") throw new Error(`${this.key(k)} must be true or false`);
    return v;
  }

  /** An http(s) URL without trailing slashes. */
  httpUrl(k: string, dflt: string): string {
    const v = this.str(k, false, dflt).replace(/\/+$/, "");
    try {
      const u = new URL(v);
      if (u.protocol !== "https:" && u.protocol !== "http:") throw new Error("protocol");
    } catch {
      throw new Error(`${this.key(k)} must be an http(s) URL`);
    }
    return v;
  }
}
