/**
 * Webhook delivery of the Telegram stand-in: after `setWebhook`, pending updates are POSTed as
 * JSON, oldest first and one at a time (with `X-Telegram-Bot-Api-Secret-Token` when a secret
 * was set), and each is retried until the bot answers 2xx, as Telegram does.
 */
import { type Obj, strip } from "./BotWorld";
import { BotApiError, type Params } from "./wire";

/** The webhook the bot set with setWebhook. */
export interface WebhookSpec {
  url: string;
  secret_token?: string;
  max_connections?: number;
  allowed_updates?: string[];
}

/** One POST of an update to the webhook: the HTTP status, or 0 when the connection failed. */
export interface WebhookDelivery {
  update_id: number;
  status: number;
  time: number;
}

/** The pending updates the pusher takes from and confirms to. */
export interface UpdateQueue {
  /** The oldest pending update the bot asked for, if any. */
  next(): Obj | undefined;
  /** The bot answered 2xx: the update is done. */
  delivered(update: Obj): void;
}

/** Delivers pending updates to the webhook while one is set. */
export class WebhookPusher {
  /** Every POST attempt, in order. */
  readonly deliveries: WebhookDelivery[] = [];
  /** The webhook currently set, if any. */
  webhook?: WebhookSpec;
  /** Wait before delivering an update again after the webhook did not answer 2xx. */
  retryMs = 200;
  private pumping = false;
  private closed = false;

  constructor(private readonly queue: UpdateQueue) {}

  /** setWebhook's checks and the new webhook (undefined for an empty URL, which removes it). */
  set(p: Params): WebhookSpec | undefined {
    const url = typeof p.url === "string" ? p.url : "";
    if (url === "") {
      this.webhook = undefined;
      return undefined;
    }
    if (!/^https?:\/\//.test(url)) throw new BotApiError(400, "Bad Request: bad webhook: invalid URL");
    const secret = p.secret_token === undefined ? undefined : String(p.secret_token);
    if (secret !== undefined && !/^[A-Za-z0-9_-]{1,256}$/.test(secret))
      throw new BotApiError(400, "Bad Request: bad webhook: secret token contains unallowed characters");
    this.webhook = strip({
      url,
      secret_token: secret,
      max_connections: p.max_connections === undefined ? undefined : Number(p.max_connections),
      allowed_updates: Array.isArray(p.allowed_updates) ? p.allowed_updates.map(String) : undefined,
    });
    return this.webhook;
  }

  /** `WebhookInfo` for getWebhookInfo, with the last failed delivery as Telegram reports it. */
  info(pending: number): Obj {
    const failed = [...this.deliveries].reverse().find((d) => d.status < 200 || d.status >= 300);
    const error = this.webhook && failed;
    return strip({
      url: this.webhook?.url ?? "",
      has_custom_certificate: false,
      pending_update_count: pending,
      max_connections: this.webhook?.max_connections,
      last_error_date: error ? Math.floor(failed.time / 1000) : undefined,
      last_error_message: error
        ? failed.status === 0
          ? "Connection refused"
          : `Wrong response from the webhook: ${failed.status}`
        : undefined,
    });
  }

  /** Delivers what is pending, oldest first, one at a time, until each gets a 2xx. */
  async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (!this.closed && this.webhook) {
        const next = this.queue.next();
        if (!next) return;
        const status = await this.post(this.webhook, next);
        this.deliveries.push({ update_id: next.update_id as number, status, time: Date.now() });
        if (status >= 200 && status < 300) this.queue.delivered(next);
        else await new Promise((r) => setTimeout(r, this.retryMs));
      }
    } finally {
      this.pumping = false;
    }
  }

  private async post(hook: WebhookSpec, update: Obj): Promise<number> {
    try {
      const res = await fetch(hook.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(hook.secret_token ? { "x-telegram-bot-api-secret-token": hook.secret_token } : {}),
        },
        body: JSON.stringify(update),
        signal: AbortSignal.timeout(60_000),
      });
      await res.arrayBuffer();
      return res.status;
    } catch {
      return 0;
    }
  }

  /** Resolves with the first delivery (past or future) matching `predicate`. */
  async waitFor(predicate: (d: WebhookDelivery) => boolean, timeoutMs = 15_000): Promise<WebhookDelivery> {
    const start = Date.now();
    for (;;) {
      const hit = this.deliveries.find(predicate);
      if (hit) return hit;
      if (Date.now() - start > timeoutMs)
        throw new Error(`telegram waitForDelivery: no matching webhook delivery within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Stops delivering (after the POST in flight). */
  close(): void {
    this.closed = true;
  }
}
