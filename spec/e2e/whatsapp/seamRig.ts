/**
 * The bridge in this process (the real core, the real WhatsApp connector and baileys socket,
 * connected to the wire-level stand-in), with a seam at baileys' event emitter and send
 * function: recorded payloads are emitted on `sock.ev` as baileys emits them, and what the
 * connector hands to `sock.sendMessage` (and presence, read receipts) is recorded instead of
 * being sent — for what the stand-in does not speak (groups' sender keys, media upload).
 */
import type { AnyMessageContent, BaileysEventMap, WAMessage, WASocket } from "@whiskeysockets/baileys";
import { loadBaileys } from "../../../bridges/whatsapp/baileys";
import type { WhatsAppConnector } from "../../../bridges/whatsapp/WhatsAppConnector";
import { createConnector } from "../../../bridges/whatsapp/WhatsAppConnector";
import { configFromObject } from "../../../src/config/Config";
import { Bridge } from "../../../src/core/Bridge";
import { type SharedRig, sharedRig } from "../../harness/synapse";
import { MediaServer } from "../../standins/whatsapp/MediaServer";
import { WhatsAppServer } from "../../standins/whatsapp/WhatsAppServer";
import { bridgeConfig, prepareDatabase } from "./waRig";

export interface SentCall {
  jid: string;
  content: AnyMessageContent;
  options?: { messageId?: string; quoted?: WAMessage };
}

export class Seam {
  readonly sent: SentCall[] = [];
  readonly presence: Array<{ type: string; jid?: string }> = [];
  readonly groupChanges: Array<{ call: string; jid: string; value: unknown }> = [];
  readonly reads: Array<{ remoteJid?: string | null; id?: string | null }> = [];
  sock?: WASocket;

  attach(sock: WASocket): void {
    this.sock = sock;
    const s = sock as { sendMessage: unknown; sendPresenceUpdate: unknown; readMessages: unknown };
    s.sendMessage = async (jid: string, content: AnyMessageContent, options?: SentCall["options"]) => {
      this.sent.push({ jid, content, options });
      const id = options?.messageId ?? `SEAM${this.sent.length}`;
      // The server's ack of the stanza, as baileys' socket emits it (the connector waits for it).
      setImmediate(() =>
        sock.ws.emit("CB:ack,class:message", { tag: "ack", attrs: { class: "message", id, from: jid } }),
      );
      return {
        key: { remoteJid: jid, fromMe: true, id },
        message: {},
        messageTimestamp: Math.floor(Date.now() / 1000),
      };
    };
    s.sendPresenceUpdate = async (type: string, jid?: string) => {
      this.presence.push({ type, jid });
    };
    for (const name of ["groupUpdateSubject", "groupUpdateDescription", "updateProfilePicture"] as const) {
      (sock as unknown as Record<string, unknown>)[name] = async (jid: string, value: unknown) => {
        this.groupChanges.push({ call: name, jid, value });
      };
    }
    s.readMessages = async (keys: Array<{ remoteJid?: string | null; id?: string | null }>) => {
      this.reads.push(...keys);
    };
  }

  /** Emits an event on the socket's emitter, as baileys does when the server sends it. */
  emit<E extends keyof BaileysEventMap>(event: E, data: BaileysEventMap[E]): void {
    if (!this.sock) throw new Error("no socket yet");
    this.sock.ev.emit(event, data);
  }

  async waitSent(pred: (c: SentCall) => boolean, timeoutMs = 30_000): Promise<SentCall> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const hit = this.sent.find(pred);
      if (hit) return hit;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(
      `seam: nothing matching was sent; sent: ${JSON.stringify(this.sent.map((c) => c.content)).slice(0, 500)}`,
    );
  }
}

export interface SeamRig {
  rig: SharedRig;
  wa: WhatsAppServer;
  media: MediaServer;
  seam: Seam;
  bridge: Bridge;
  connector: WhatsAppConnector;
  stop(): Promise<void>;
}

export async function startSeamRig(opts: {
  owner: string;
  number: string;
  name: string;
  setup(wa: WhatsAppServer, media: MediaServer): void;
  /** Config sections added (`ai`). */
  config?: Record<string, unknown>;
}): Promise<SeamRig> {
  const B = await loadBaileys();
  const rig = await sharedRig();
  const wa = await WhatsAppServer.start();
  const media = await MediaServer.start();
  opts.setup(wa, media);
  B.WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(wa.certRootHex, "hex");
  const db = await prepareDatabase(opts);
  const seam = new Seam();
  const connector = createConnector("whatsapp") as WhatsAppConnector;
  connector.onSocket = (sock) => seam.attach(sock);
  const config = configFromObject(bridgeConfig(rig, db.url, wa.url, opts.config));
  const bridge = await Bridge.start({
    config,
    tokens: { as_token: rig.asToken, hs_token: rig.hsToken },
    connectors: [connector],
  });
  await wa.until(() => wa.connected().includes(opts.number), 30_000, "the bridge's device to log in");
  return {
    rig,
    wa,
    media,
    seam,
    bridge,
    connector,
    async stop() {
      await bridge.stop();
      await wa.close();
      await media.close();
      await db.drop();
    },
  };
}
