/**
 * Webhook mode: the connector's own HTTP listener for the updates Telegram POSTs after
 * `setWebhook`, one route per bot (`<webhook_url path>/<bot id>`, so several logins share the
 * port). Requests without the bot's `X-Telegram-Bot-Api-Secret-Token` are refused with 401 and
 * nothing of them is read further. An update is answered 200 only once the connector has
 * durably queued it; any failure answers 500, and Telegram delivers the update again.
 */
import { timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "../../src/log/Logger";
import { describe } from "./errors";

/** Updates are small; anything far larger is not from Telegram. */
const MAX_BODY = 4 * 1024 * 1024;
const SECRET_HEADER = "x-telegram-bot-api-secret-token";

/** Where the listener binds. */
export interface TelegramWebhookOptions {
  bindAddress: string;
  port: number;
  log: Logger;
}

/** One bot's route on the listener. */
export interface WebhookRoute {
  /** The path of the URL given to setWebhook; other paths answer 404. */
  path: string;
  /** The `secret_token` given to setWebhook. Never logged. */
  secret: string;
  /**
   * Handles one parsed update. Resolves true once it is durably queued (or deliberately
   * skipped), false when Telegram should deliver it again. Called one update at a time.
   */
  accept(update: unknown): Promise<boolean>;
}

interface ActiveRoute extends WebhookRoute {
  origin: WebhookRoute;
  /** Updates of one bot are handled strictly one after another, in arrival order. */
  chain: Promise<unknown>;
}

/** The listener Telegram delivers updates to; it listens while at least one route is added. */
export class TelegramWebhook {
  private server?: Server;
  private listening?: Promise<number>;
  private readonly routes = new Map<string, ActiveRoute>();

  constructor(private readonly opts: TelegramWebhookOptions) {}

  /** Adds a bot's route and makes sure the listener runs; rejects when the port is taken. */
  async add(route: WebhookRoute): Promise<number> {
    this.routes.set(route.path, { ...route, origin: route, chain: Promise.resolve() });
    try {
      this.listening ??= this.listen();
      return await this.listening;
    } catch (err) {
      this.listening = undefined;
      if (this.routes.get(route.path)?.origin === route) this.routes.delete(route.path);
      throw err;
    }
  }

  /**
   * Removes a route (unless a newer one took its path) once its update in progress is done;
   * the last one stops the listener.
   */
  async remove(added: WebhookRoute): Promise<void> {
    const route = this.routes.get(added.path);
    if (route?.origin !== added) return;
    this.routes.delete(added.path);
    await route.chain.catch(() => undefined);
    if (this.routes.size === 0) await this.close();
  }

  private async listen(): Promise<number> {
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

  private async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.listening = undefined;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  private static secretMatches(got: string | string[] | undefined, secret: string): boolean {
    if (typeof got !== "string") return false;
    const a = Buffer.from(got);
    const b = Buffer.from(secret);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const answer = (status: number): void => {
      if (res.destroyed) return;
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify({ ok: status === 200 }));
    };
    const path = new URL(req.url ?? "/", "http://webhook").pathname;
    const route = this.routes.get(path);
    if (req.method !== "POST" || !route) {
      req.resume();
      return answer(404);
    }
    if (!TelegramWebhook.secretMatches(req.headers[SECRET_HEADER], route.secret)) {
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
    const done = route.chain.then(() => route.accept(update));
    route.chain = done.catch(() => undefined);
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
