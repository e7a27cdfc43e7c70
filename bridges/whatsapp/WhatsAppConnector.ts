/**
 * The WhatsApp connector: each Matrix user links their own WhatsApp account as a device
 * (`login whatsapp` shows a QR code, `login whatsapp <phone>` a pairing code); each linked
 * account is one login with its keys in Postgres, and one {@link WhatsAppClient}.
 */
import type { WASocket } from "@whiskeysockets/baileys";
import WebSocket from "ws";
import type {
  ConnectorContext,
  LoginFlow,
  LoginPrompt,
  LoginRef,
  NetworkConnector,
} from "../../src/core/connector";
import { registerSecret } from "../../src/log/Logger";
import { loadBaileys } from "./baileys";
import { readWhatsAppConfig, type WhatsAppConfig } from "./config";
import { linkDevice } from "./LoginSession";
import { refusedText, shownUrl, urlSecrets } from "./socket";
import { WhatsAppClient } from "./WhatsAppClient";

/** WhatsApp's limits: 65536 characters of text, 100 MB media (2 GB documents, kept at 100 MB here). */

export class WhatsAppConnector implements NetworkConnector {
  private ctx?: ConnectorContext;
  private cfg?: WhatsAppConfig;
  readonly clients = new Set<WhatsAppClient>();
  /** Sees every socket opened (tests at the seam of baileys' events). */
  onSocket?: (sock: WASocket, client?: WhatsAppClient) => void;

  constructor(readonly name: string) {}

  async init(ctx: ConnectorContext): Promise<void> {
    this.cfg = readWhatsAppConfig(ctx.config, this.name);
    for (const secret of urlSecrets(this.cfg.websocketUrl)) registerSecret(secret);
    this.ctx = ctx;
    await loadBaileys();
  }

  async start(): Promise<void> {}

  async stop(): Promise<void> {
    await Promise.all([...this.clients].map((c) => c.disconnect()));
  }

  loginFlows(): LoginFlow[] {
    return [
      {
        id: "qr",
        name: "QR code",
        description: "`login whatsapp`: scan the QR code posted in your management room",
      },
      {
        id: "phone",
        name: "Pairing code",
        description: "`login whatsapp <phone number>`: type the 8-character code on the phone",
      },
    ];
  }

  loginInteractive(ownerMxid: string, args: string[], prompt: LoginPrompt): Promise<Omit<LoginRef, "id">> {
    const { ctx, cfg } = this.ready();
    return linkDevice({
      ctx,
      cfg,
      platform: this.name,
      ownerMxid,
      args,
      prompt,
      onSocket: (s) => this.onSocket?.(s),
    });
  }

  clientFor(login: LoginRef): WhatsAppClient {
    const { ctx, cfg } = this.ready();
    const client: WhatsAppClient = new WhatsAppClient(ctx, login, cfg, (sock) =>
      this.onSocket?.(sock, client),
    );
    for (const old of this.clients) {
      if (old.loginId !== login.id) continue;
      this.clients.delete(old);
      // The same account linked again (`login whatsapp` once more): the old device's keys go.
      if (old.authKeyOf !== client.authKeyOf)
        old
          .forgetKeys()
          .catch((err: unknown) => ctx.log.warn("old WhatsApp keys not removed", { err: String(err) }));
    }
    this.clients.add(client);
    return client;
  }

  /**
   * Opens the websocket (the upgrade only, within `connect_timeout_ms` capped at 10 s) and
   * closes it: a refused upgrade (a wrong address, a revoked token) shows here, not at the
   * first `login whatsapp`. The URL is shown without its secrets.
   */
  async check(): Promise<{ ok: boolean; message: string }> {
    const { cfg } = this.ready();
    const url = shownUrl(cfg.websocketUrl);
    const key = `platforms.${this.name}.websocket_url`;
    const timeoutMs = Math.min(cfg.connectTimeoutMs, 10_000);
    const outcome = await new Promise<{ ok: boolean; message: string }>((resolve) => {
      const ws = new WebSocket(cfg.websocketUrl, {
        origin: "https://web.whatsapp.com",
        handshakeTimeout: timeoutMs,
      });
      const done = (r: { ok: boolean; message: string }) => {
        ws.removeAllListeners();
        ws.on("error", () => undefined);
        ws.terminate();
        resolve(r);
      };
      ws.once("open", () =>
        done({
          ok: true,
          message: `the websocket at ${url} opens; users link their accounts with \`login whatsapp\``,
        }),
      );
      ws.once("unexpected-response", (_req, res) => {
        res.resume();
        done({ ok: false, message: refusedText(res.statusCode ?? 0, cfg.websocketUrl, key) });
      });
      ws.once("error", (err) =>
        done({ ok: false, message: `could not open the websocket at ${url}: ${err.message}. Check ${key}.` }),
      );
    });
    return outcome;
  }

  private ready(): { ctx: ConnectorContext; cfg: WhatsAppConfig } {
    if (!this.ctx || !this.cfg) throw new Error(`${this.name}: init() has not run`);
    return { ctx: this.ctx, cfg: this.cfg };
  }
}

/** Entry point used by the connector registry: `createConnector("whatsapp")`. */
export function createConnector(name = "whatsapp"): NetworkConnector {
  return new WhatsAppConnector(name);
}
