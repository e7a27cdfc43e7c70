/**
 * WhatsApp's media CDN as the stand-in plays it: plain HTTP on 127.0.0.1 (port 0) serving
 * media encrypted the way WhatsApp encrypts it (baileys' own `encryptedStream`), and profile
 * pictures. Every request is recorded.
 */
import { readFile, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { MediaType } from "@whiskeysockets/baileys";
import { loadBaileys } from "../../../bridges/whatsapp/baileys";

/** The fields a media message carries to find and decrypt its file. */
export interface EncryptedMedia {
  url: string;
  mediaKey: string;
  fileSha256: string;
  fileEncSha256: string;
  fileLength: number;
}

export class MediaServer {
  readonly requests: string[] = [];
  private readonly files = new Map<string, { data: Buffer; type: string }>();
  private counter = 0;

  private constructor(private readonly server: Server) {
    server.on("request", (req, res) => {
      this.requests.push(req.url ?? "");
      const file = this.files.get(req.url ?? "");
      if (!file) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { "content-type": file.type, "content-length": file.data.length }).end(file.data);
    });
  }

  static async start(): Promise<MediaServer> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
    return new MediaServer(server);
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Encrypts `data` as WhatsApp media of `type` and serves it; returns the message fields. */
  async encrypted(data: Buffer, type: MediaType): Promise<EncryptedMedia> {
    const B = await loadBaileys();
    const enc = await B.encryptedStream(data, type);
    const blob = await readFile(enc.encFilePath);
    await rm(enc.encFilePath, { force: true });
    const path = `/v/t62/${type}-${++this.counter}.enc`;
    this.files.set(path, { data: blob, type: "application/octet-stream" });
    const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");
    return {
      url: `${this.url}${path}`,
      mediaKey: b64(enc.mediaKey),
      fileSha256: b64(enc.fileSha256),
      fileEncSha256: b64(enc.fileEncSha256),
      fileLength: Number(enc.fileLength),
    };
  }

  /** Serves a plain file (a profile picture); returns its URL. */
  plain(data: Buffer, type = "image/jpeg"): string {
    const path = `/pp/${++this.counter}.jpg`;
    this.files.set(path, { data, type });
    return `${this.url}${path}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
