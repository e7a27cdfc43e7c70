/**
 * Linking a new WhatsApp device for a Matrix user: a fresh key set in Postgres, a socket that
 * shows the QR codes WhatsApp rotates (posted as images, the expired one taken back) or asks
 * for a pairing code, and the restart WhatsApp demands once the phone has confirmed.
 */
import { randomUUID } from "node:crypto";
import type { WASocket } from "@whiskeysockets/baileys";
import QRCode from "qrcode";
import type { ConnectorContext, LoginPrompt, LoginRef } from "../../src/core/connector";
import { baileys, loadBaileys } from "./baileys";
import type { WhatsAppConfig } from "./config";
import { userIdOf } from "./jids";
import { pgAuthState } from "./PgAuthState";
import { RefusedUpgrade, socketOptions, watchUpgrade } from "./socket";

/** A phone number for the pairing code: digits only, with the country code. */
export function parsePhone(arg: string | undefined): string | undefined {
  if (!arg) return undefined;
  const digits = arg.replace(/[\s()+.-]/g, "");
  if (!/^\d{7,15}$/.test(digits))
    throw new Error(`'${arg}' is not a phone number (write it with the country code, e.g. +15551234567)`);
  return digits;
}

export async function linkDevice(opts: {
  ctx: ConnectorContext;
  cfg: WhatsAppConfig;
  platform: string;
  ownerMxid: string;
  args: string[];
  prompt: LoginPrompt;
  /** Sees each socket (tests). */
  onSocket?: (sock: WASocket) => void;
}): Promise<Omit<LoginRef, "id">> {
  const { ctx, cfg, prompt } = opts;
  const phone = parsePhone(opts.args.join(" ") || undefined);
  await loadBaileys();
  const B = baileys();
  const authKey = randomUUID();
  const auth = await pgAuthState(ctx.store, authKey);
  const log = ctx.log.child({ owner: opts.ownerMxid, pairing: authKey.slice(0, 8) });
  let shown: string | undefined;
  let sock: WASocket | undefined;
  let asked = false;

  const outcome = new Promise<string>((resolve, reject) => {
    const open = () => {
      const qrTimeout = cfg.qrRefreshSeconds ? cfg.qrRefreshSeconds * 1000 : undefined;
      const s = B.makeWASocket({ ...socketOptions(cfg, auth, log), ...(qrTimeout ? { qrTimeout } : {}) });
      sock = s;
      watchUpgrade(s, cfg, `platforms.${opts.platform}.websocket_url`);
      opts.onSocket?.(s);
      s.ev.on("creds.update", () => {
        auth
          .saveCreds()
          .catch((err: unknown) => log.error("could not store WhatsApp credentials", { err: String(err) }));
      });
      s.ev.on("connection.update", (u) => {
        if (sock !== s) return;
        if (u.qr && !phone) {
          void showQr(u.qr).catch((err: unknown) =>
            log.warn("could not post the QR code", { err: String(err) }),
          );
        }
        // The pairing code can be asked for once WhatsApp offers the device a link (its first QR).
        if (phone && !asked && u.qr) {
          asked = true;
          s.requestPairingCode(phone)
            .then((code) =>
              prompt.say(
                `Your pairing code is ${code}. On the phone: WhatsApp → Linked devices → Link a device → Link with phone number instead, then type the code.`,
                `Your pairing code is <code>${code}</code>. On the phone: WhatsApp → Linked devices → Link a device → <em>Link with phone number instead</em>, then type the code.`,
              ),
            )
            .catch((err: unknown) => reject(new Error(`WhatsApp gave no pairing code (${String(err)})`)));
        }
        if (u.connection === "open") {
          const me = auth.state.creds.me?.id;
          if (me) resolve(userIdOf(me));
          else reject(new Error("WhatsApp connected without telling who the account is"));
        } else if (u.connection === "close") {
          const code = (u.lastDisconnect?.error as { output?: { statusCode?: number } } | undefined)?.output
            ?.statusCode;
          const error = u.lastDisconnect?.error;
          // Refused before any QR: nothing the phone can do; the message names the config key.
          if (error instanceof RefusedUpgrade)
            reject(
              new Error(
                `${error.message} The login stopped; write \`login whatsapp\` again once that is fixed.`,
              ),
            );
          // After the phone confirms, WhatsApp closes the socket and expects a new one.
          else if (code === B.DisconnectReason.restartRequired) open();
          else if (code === B.DisconnectReason.timedOut && !auth.state.creds.me)
            reject(
              new Error("the QR code expired before it was scanned; write `login whatsapp` to get a new one"),
            );
          else
            reject(new Error(`WhatsApp closed the connection (${u.lastDisconnect?.error?.message ?? code})`));
        }
      });
    };
    open();
  });

  async function showQr(qr: string): Promise<void> {
    const png = await QRCode.toBuffer(qr, { type: "png", margin: 2, scale: 8 });
    const old = shown;
    shown = await prompt.image(
      { data: png, mimetype: "image/png", name: "whatsapp-login-qr.png" },
      "Scan this QR code with WhatsApp on your phone: Settings → Linked devices → Link a device. It is replaced when WhatsApp rotates it.",
    );
    if (old) await prompt.retract(old);
  }

  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(
            `no phone confirmed the link within ${cfg.loginTimeoutSeconds} s; write \`login whatsapp\` to try again`,
          ),
        ),
      cfg.loginTimeoutSeconds * 1000,
    );
  });
  try {
    const number = await Promise.race([outcome, timeout]);
    await auth.saveCreds();
    log.info("WhatsApp device linked", { number });
    return {
      platform: opts.platform,
      ownerMxid: opts.ownerMxid,
      remoteId: number,
      credentials: { auth_key: authKey },
    };
  } catch (err) {
    await auth.clear().catch(() => undefined);
    throw err;
  } finally {
    clearTimeout(timer);
    const s = sock;
    sock = undefined;
    s?.end(undefined);
    if (shown) await prompt.retract(shown);
  }
}
