import { existsSync, readFileSync } from "node:fs";
import type http from "node:http";
import path from "node:path";

/** The page's files: name → content type. Nothing else is served. */
const FILES: Record<string, string> = {
  "index.html": "text/html; charset=utf-8",
  "app.js": "text/javascript; charset=utf-8",
  "style.css": "text/css; charset=utf-8",
};

/** The `ui/` folder of the checkout, from the sources (src/web) or the build (dist/src/web). */
function uiDir(): string {
  const candidates = [path.resolve(__dirname, "../../ui"), path.resolve(__dirname, "../../../ui")];
  return candidates.find((d) => existsSync(path.join(d, "index.html"))) ?? candidates[0]!;
}

/**
 * The Content-Security-Policy of the page: its own script and style only (no inline ones),
 * images from itself and data URLs (QR codes), requests to itself and to the homeserver (the
 * standalone page asks it for an OpenID token), and framing only by the configured clients.
 */
export function contentSecurityPolicy(homeserverUrl: string, frameAncestors: string[]): string {
  const hs = new URL(homeserverUrl).origin;
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src 'self' ${hs}`,
    `frame-ancestors ${frameAncestors.length ? frameAncestors.join(" ") : "'none'"}`,
    "base-uri 'none'",
    "form-action 'none'",
  ].join("; ");
}

/** Serves the web page (`/_clawbridge/ui/`): three static files, read once, with strict headers. */
export class StaticUi {
  readonly prefix = "/_clawbridge/ui";
  private readonly files = new Map<string, { type: string; body: Buffer }>();
  private readonly csp: string;

  constructor(opts: { homeserverUrl: string; frameAncestors: string[]; dir?: string }) {
    const dir = opts.dir ?? uiDir();
    for (const [name, type] of Object.entries(FILES))
      this.files.set(name, { type, body: readFileSync(path.join(dir, name)) });
    this.csp = contentSecurityPolicy(opts.homeserverUrl, opts.frameAncestors);
  }

  async handle(req: http.IncomingMessage, res: http.ServerResponse, rest: string): Promise<void> {
    if (rest === "") {
      res.writeHead(308, { Location: `${this.prefix}/`, "Content-Length": 0 });
      res.end();
      return;
    }
    const name = rest === "/" ? "index.html" : rest.slice(1);
    const file = this.files.get(name);
    const method = req.method ?? "GET";
    if (!file || (method !== "GET" && method !== "HEAD")) {
      const body = JSON.stringify({ errcode: file ? "M_UNRECOGNIZED" : "M_NOT_FOUND", error: "Not found" });
      res.writeHead(file ? 405 : 404, {
        "Content-Type": "application/json",
        "Content-Length": Buffer.byteLength(body),
      });
      res.end(body);
      return;
    }
    res.writeHead(200, {
      "Content-Type": file.type,
      "Content-Length": file.body.length,
      "Content-Security-Policy": this.csp,
      "X-Content-Type-Options": "nosniff",
      "Referrer-Policy": "no-referrer",
      "Cache-Control": "no-cache",
      "Cross-Origin-Opener-Policy": "same-origin",
    });
    res.end(method === "HEAD" ? undefined : file.body);
  }
}
