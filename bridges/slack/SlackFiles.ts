/**
 * Files both ways: downloads of `url_private` with the bot token (only ever sent to Slack's
 * own hosts), and uploads with files.uploadV2 (getUploadURLExternal → POST →
 * completeUploadExternal), after which the message's ts is read from files.info.
 */
import type { webApi } from "@slack/bolt";
import type { Media, MediaRef } from "../../src/core/connector";
import { BridgeError } from "../../src/core/errors";
import { slack } from "./errors";

type WebClient = webApi.WebClient;

export class SlackFiles {
  constructor(
    private readonly web: WebClient,
    private readonly token: string,
    private readonly apiUrl: string,
    private readonly maxBytes: number,
  ) {}

  /** The bot token goes only to Slack (or to the configured API host, e.g. a test stand-in). */
  private mayAuthorize(url: URL): boolean {
    const api = new URL(this.apiUrl);
    return url.host === api.host || url.hostname === "files.slack.com" || url.hostname.endsWith(".slack.com");
  }

  async download(ref: MediaRef): Promise<Media> {
    const name = ref.name ?? "file";
    if (ref.size !== undefined && ref.size > this.maxBytes) throw tooLarge(name, ref.size, this.maxBytes);
    const url = new URL(ref.key);
    const headers: Record<string, string> = this.mayAuthorize(url)
      ? { authorization: `Bearer ${this.token}` }
      : {};
    const res = await fetch(url, { headers });
    if (!res.ok)
      throw Object.assign(new Error(`download failed: HTTP ${res.status}`), { status: res.status });
    const type = res.headers.get("content-type") ?? "";
    // Without a valid token Slack answers its sign-in page with 200.
    if (type.startsWith("text/html") && !(ref.mimetype ?? "").startsWith("text/html"))
      throw new BridgeError("Slack did not hand out the file (the app may lack files:read)");
    const data = Buffer.from(await res.arrayBuffer());
    if (data.length > this.maxBytes) throw tooLarge(name, data.length, this.maxBytes);
    return { data, mimetype: ref.mimetype ?? (type || "application/octet-stream"), name };
  }

  /** Uploads and shares a file; returns the ts of the message that carries it. */
  async upload(
    channel: string,
    media: Media,
    opts: { comment?: string; threadTs?: string },
  ): Promise<string> {
    if (media.data.length > this.maxBytes) throw tooLarge(media.name, media.data.length, this.maxBytes);
    const args = {
      channel_id: channel,
      file: media.data,
      filename: media.name,
      ...(opts.comment ? { initial_comment: opts.comment } : {}),
      ...(opts.threadTs ? { thread_ts: opts.threadTs } : {}),
    } as Parameters<WebClient["files"]["uploadV2"]>[0];
    const res = (await slack(() => this.web.files.uploadV2(args))) as {
      files?: Array<{ files?: Array<{ id?: string }> }>;
    };
    const id = res.files?.[0]?.files?.[0]?.id;
    if (!id) throw new Error("files.uploadV2 returned no file id");
    // Slack shares the file a moment after completeUploadExternal answers.
    for (let i = 0; i < 20; i++) {
      const info = (await slack(() => this.web.files.info({ file: id }))) as {
        file?: { shares?: Record<string, Record<string, Array<{ ts?: string }>>> };
      };
      const shares = info.file?.shares ?? {};
      const ts = shares.public?.[channel]?.[0]?.ts ?? shares.private?.[channel]?.[0]?.ts;
      if (ts) return ts;
      await new Promise((r) => setTimeout(r, 250 * (i + 1)));
    }
    throw new Error(`file ${id} was uploaded but never shared in ${channel}`);
  }
}

function tooLarge(name: string, size: number, max: number): BridgeError {
  const mb = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MB`;
  return new BridgeError(`${name} is ${mb(size)}, over the bridge's ${mb(max)} limit for files`);
}
