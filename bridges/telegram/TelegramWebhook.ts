/**
 * Webhook mode: the connector's own HTTP listener for the updates Telegram POSTs after
 * `setWebhook`. Requests without the right `X-Telegram-Bot-Api-Secret-Token` are refused with
 * 401 and nothing of them is read further. An update is answered 200 only once the connector
 * has durably queued it; any failure answers 500, and Telegram delivers the update again.
 */
import { timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "../../src/log/Logger";
import { describe } from "./errors";

/** Updates are small; anything far larger is not from Telegram. */
const MAX_BODY = 4 * 1024 * 1024;
const SECRET_HEADER = "x-telegram-bot-api-secret-token";

export interface TelegramWebhookOptions {
  bindAddress: string;
  port: number;
  /** The path of `webhook_url`; other paths answer 404. */
  path: string;
  /** The `secret_token` given to setWebhook. Never logged. */
  secret: string;
  log: Logger;
  /**
   * Handles one parsed update. Resolves true once it is durably queued (or deliberately
   * skipped), false when Telegram should deliver it again. Called one update at a time.
   */
  accept(update: unknown): Promise<boolean>;
}

/** The listener Telegram delivers updates to. */
export class TelegramWebhook {
  private server?: Server;
  /** Updates are handled strictly one after another, in arrival order. */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: TelegramWebhookOptions) {}

  /** Starts listening; rejects when the address is taken. Returns the bound port. */
  async listen(): Promise<number> {
    if (this.server) return (this.server.address() as AddressInfo).port;
    const server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.opts.port, this.opts.bindAddress, () => {
        server.off("error", reject);
        resolve();
      });
    });
    this.server = server;
    return (server.address() as AddressInfo).port;
  }

  /** Stops listening; an update being handled finishes first. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    await this.chain.catch(() => undefined);
    server.closeAllConnections();
    await closed;
  }

  private secretMatches(got: string | string[] | undefined): boolean {
    if (typeof got !== "string") return false;
    const a = Buffer.from(got);
    const b = Buffer.from(this.opts.secret);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const answer = (status: number): void => {
      if (res.destroyed) return;
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify({ ok: status === 200 }));
    };
    const path = new URL(req.url ?? "/", "http://webhook").pathname;
    if (req.method !== "POST" || path !== this.opts.path) return answer(404);
    if (!this.secretMatches(req.headers[SECRET_HEADER])) {
      this.opts.log.warn("telegram webhook: request with a missing or wrong secret token refused", {
        from: req.socket.remoteAddress,
      });
      req.resume();
      return answer(401);
    }
    let body: Buffer;
    try {
      body = await readBody(req);
    } catch (err) {
      this.opts.log.warn("telegram webhook: request body not read", { err: describe(err) });
      return answer(400);
    }
    let update: unknown;
    try {
      update = JSON.parse(body.toString("utf8"));
    } catch {
      // Delivering it again cannot make it parse: acknowledge and move on.
      this.opts.log.warn("telegram webhook: malformed update skipped (not JSON)", { bytes: body.length });
      return answer(200);
    }
    const done = this.chain.then(() => this.opts.accept(update));
    this.chain = done.catch(() => undefined);
    try {
      answer((await done) ? 200 : 500);
    } catch (err) {
      this.opts.log.warn("telegram webhook: update not queued, Telegram will deliver it again", {
        err: describe(err),
      });
      answer(500);
    }
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error("update too large"));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}
