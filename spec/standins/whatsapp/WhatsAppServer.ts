/**
 * A wire-level WhatsApp Web server for the unmodified baileys client: WebSocket on 127.0.0.1
 * (port 0), Noise handshake, binary nodes, login of an already linked device, the start-up
 * queries, Signal-encrypted 1:1 messages both ways (libsignal on the contacts' side), acks,
 * offline delivery of what arrived while the device was away, and forced disconnects.
 *
 * Driver API: `contact()` adds a WhatsApp user, `sendText()` injects a message from one,
 * `sent` records (decrypted) every message the bridge sent, `nodes` every node it sent,
 * `waitFor()` waits for a recorded message, `dropConnections()` cuts the sockets, `close()`.
 * Strict like the real server: every message stanza is acknowledged (`<ack class="message">`)
 * and a stanza whose id the recipient already has is acknowledged but not delivered twice;
 * `dropNextMessages(n)` loses stanzas without an ack (a socket that died mid-send), and
 * `refuseUpgrade = 401` answers the websocket upgrade with that HTTP status.
 */
import { createHmac } from "node:crypto";
import { deflateSync } from "node:zlib";
import type { BinaryNode, KeyPair, proto } from "@whiskeysockets/baileys";
import { type WebSocket, WebSocketServer } from "ws";
import { type Baileys, loadBaileys } from "../../../bridges/whatsapp/baileys";
import { CertAuthority, frame, NoiseServer } from "./noise";
import { type KeyBundle, Peer } from "./Peer";

/** A message the bridge sent, as the contact decrypted it. */
export interface SentMessage {
  /** The contact's number, or the group's JID for a group message. */
  to: string;
  id: string;
  /** `pkmsg` (a new Signal session) or `msg`. */
  type: string;
  message: proto.IMessage;
  /** The text of a text message, for convenience. */
  text?: string;
  /** A disappearing message's timer (`contextInfo.expiration`, seconds), as the bridge sent it. */
  expiration?: number;
}

/** The `contextInfo.expiration` of a message's content, if it has one. */
function expirationOf(m: proto.IMessage): number | undefined {
  const inner = m.ephemeralMessage?.message ?? m;
  for (const v of Object.values(inner)) {
    const exp = (v as { contextInfo?: proto.IContextInfo } | null)?.contextInfo?.expiration;
    if (typeof exp === "number") return exp;
  }
  return undefined;
}

/** A new device waiting for its QR code to be scanned. */
interface Pairing {
  ws: WebSocket;
  send(node: BinaryNode): void;
  refs: string[];
  /** The device's identity key, from its registration payload. */
  identity: Uint8Array;
}

interface Session {
  ws: WebSocket;
  /** `<number>:<device>@s.whatsapp.net` */
  me: string;
  number: string;
  send(node: BinaryNode): void;
}

const DEFAULT_WAIT_MS = 15_000;
const nowS = () => String(Math.floor(Date.now() / 1000));
const userOf = (jid: string) => jid.split("@")[0].split(":")[0];
const lidOf = (jid: string) => `${userOf(jid)}@lid`;
const childrenOf = (n: BinaryNode | undefined, tag: string): BinaryNode[] =>
  Array.isArray(n?.content) ? n.content.filter((c) => c.tag === tag) : [];
const childOf = (n: BinaryNode | undefined, tag: string) => childrenOf(n, tag)[0];
const bytes = (n: BinaryNode | undefined): Buffer =>
  n?.content instanceof Uint8Array ? Buffer.from(n.content) : Buffer.alloc(0);

export class WhatsAppServer {
  readonly sent: SentMessage[] = [];
  /** Every node a client sent after the handshake (tag, attributes, first child's tag). */
  readonly nodes: Array<{
    from: string;
    tag: string;
    attrs: Record<string, string>;
    child?: string;
    children?: string[];
  }> = [];
  readonly logins: string[] = [];
  private readonly peers = new Map<string, Peer>();
  /** The accounts' own phones (device 0), by number: they send history to linked devices. */
  private readonly phones = new Map<string, Peer>();
  private readonly sessions = new Set<Session>();
  private readonly bundles = new Map<string, KeyBundle>();
  /** Per account number: message stanzas not yet acknowledged by the device. */
  private readonly pending = new Map<string, BinaryNode[]>();
  private readonly waiters = new Set<() => void>();
  private readonly groups = new Map<string, { subject: string; desc?: string; participants: string[] }>();
  private readonly pictures = new Map<string, string>();
  private readonly pairings = new Set<Pairing>();
  /** The phones' account keys, which sign the devices they link. */
  private readonly accountKeys = new Map<string, KeyPair>();
  private counter = 0;
  /** Message stanzas still to be lost without an ack (`dropNextMessages`). */
  private toDrop = 0;
  /** Stanzas lost so far, by id. */
  readonly dropped: string[] = [];
  /** Ids of message stanzas that arrived again after being delivered (and were not delivered twice). */
  readonly duplicates: string[] = [];
  private readonly delivered = new Set<string>();
  /** Upgrade requests answered with an HTTP status instead of 101. */
  readonly refusals: number[] = [];

  private constructor(
    private readonly B: Baileys,
    private readonly wss: WebSocketServer,
    private readonly ca: CertAuthority,
  ) {
    wss.on("connection", (ws) => this.accept(ws));
  }

  static async start(): Promise<WhatsAppServer> {
    const B = await loadBaileys();
    let self: WhatsAppServer | undefined;
    const wss = new WebSocketServer({
      host: "127.0.0.1",
      port: 0,
      // A gateway that refuses the account answers the upgrade itself, with a plain HTTP status.
      verifyClient: (_info, cb) => {
        const status = self?.refuseUpgrade;
        if (!status) return cb(true);
        self?.refusals.push(status);
        cb(false, status, status === 401 ? "Unauthorized" : "Forbidden");
      },
    });
    await new Promise<void>((resolve) => wss.once("listening", () => resolve()));
    self = new WhatsAppServer(B, wss, new CertAuthority(B));
    return self;
  }

  /** While set, every websocket upgrade is answered with this HTTP status (401: a revoked token). */
  refuseUpgrade: number | undefined = undefined;

  /** The next `n` message stanzas from a device are lost: neither delivered nor acknowledged (0: none). */
  dropNextMessages(n = 1): void {
    this.toDrop = n;
  }

  get url(): string {
    const addr = this.wss.address();
    if (!addr || typeof addr === "string") throw new Error("not listening on TCP");
    return `ws://127.0.0.1:${addr.port}/ws/chat`;
  }

  /** The certificate root the client must trust (hex), for `trustRoot.ts`. */
  get certRootHex(): string {
    return Buffer.from(this.ca.root.public).toString("hex");
  }

  /** Adds a WhatsApp user the bridge can talk to. */
  contact(number: string, pushName: string): Peer {
    const peer = new Peer(this.B, number, pushName);
    this.peers.set(number, peer);
    return peer;
  }

  /** A group the accounts are in (`<id>@g.us`), answered to group metadata queries. */
  group(jid: string, info: { subject: string; desc?: string; participants: string[] }): void {
    this.groups.set(jid, info);
  }

  /** The profile picture URL of a user or group JID. */
  picture(jid: string, url: string): void {
    this.pictures.set(jid, url);
  }

  /** Devices logged in right now (account numbers). */
  connected(): string[] {
    return [...this.sessions].map((s) => s.number);
  }

  /** Whether `number`'s device has uploaded its Signal keys (before that, nobody can write to it). */
  keysUploaded(number: string): boolean {
    return this.bundles.has(number);
  }

  /** Messages waiting for `number`'s device (sent while it was away, or not yet acknowledged). */
  pendingFor(number: string): number {
    return this.pending.get(number)?.length ?? 0;
  }

  /**
   * A text message from contact `from` to account `to`, Signal-encrypted for the account's
   * linked device. Delivered now if the device is connected, else when it logs in. Returns its id.
   */
  async sendText(
    from: string,
    to: string,
    text: string,
    opts: { id?: string; asLid?: boolean } = {},
  ): Promise<string> {
    return this.sendMessage(from, to, { conversation: text }, opts);
  }

  /**
   * Any message (a disappearing one with `contextInfo.expiration`, a protocol message such as an
   * EPHEMERAL_SETTING change) from contact `from` to account `to`, sent as {@link sendText} sends text.
   */
  async sendMessage(
    from: string,
    to: string,
    message: proto.IMessage,
    opts: { id?: string; asLid?: boolean } = {},
  ): Promise<string> {
    const peer = this.peers.get(from);
    if (!peer) throw new Error(`unknown contact ${from}: add it with contact()`);
    const device = this.deviceOf(to);
    const id =
      opts.id ??
      `3EB0${(++this.counter).toString(16).padStart(4, "0")}${Date.now().toString(16).toUpperCase()}`;
    const enc = await peer.encrypt(device, message, this.bundles.get(to));
    const node: BinaryNode = {
      tag: "message",
      // `asLid`: addressed by the contact's privacy id, the phone number alongside (as WhatsApp does now).
      attrs: opts.asLid
        ? {
            from: lidOf(peer.jid),
            sender_pn: peer.jid,
            id,
            t: nowS(),
            type: "text",
            notify: peer.pushName,
            addressing_mode: "lid",
          }
        : { from: peer.jid, id, t: nowS(), type: "text", notify: peer.pushName },
      content: [{ tag: "enc", attrs: { v: "2", type: enc.type }, content: enc.ciphertext }],
    };
    const queue = this.pending.get(to) ?? [];
    queue.push(node);
    this.pending.set(to, queue);
    for (const s of this.sessions) if (s.number === to) s.send(node);
    return id;
  }

  /**
   * The phone of account `number` sends its newly linked device the recent history of its chats,
   * as WhatsApp does after a link: a HISTORY_SYNC_NOTIFICATION protocol message from the
   * account's own phone (device 0), Signal-encrypted for the device, carrying the HistorySync
   * (INITIAL_BOOTSTRAP) zlib-compressed inline. `chats`: per chat JID its messages, oldest
   * first (`from` a contact's number, or the account's own for what the phone sent; `at` in
   * milliseconds). Returns the stanza's id. The device must have logged in and uploaded its keys.
   */
  async historySync(
    number: string,
    chats: Array<{ jid: string; messages: Array<{ id: string; from: string; text: string; at: number }> }>,
  ): Promise<string> {
    const { proto } = this.B;
    let phone = this.phones.get(number);
    if (!phone) {
      phone = new Peer(this.B, number, "phone");
      this.phones.set(number, phone);
    }
    const device = this.deviceOf(number);
    const conversations = chats.map((c) => ({
      id: c.jid,
      messages: c.messages.map((m, i) => {
        const fromMe = m.from === number;
        const group = c.jid.endsWith("@g.us");
        return {
          msgOrderId: i + 1,
          message: {
            key: {
              remoteJid: c.jid,
              fromMe,
              id: m.id,
              ...(group && !fromMe ? { participant: `${m.from}@s.whatsapp.net` } : {}),
            },
            message: { conversation: m.text },
            messageTimestamp: Math.floor(m.at / 1000),
            ...(fromMe ? {} : { pushName: this.peers.get(m.from)?.pushName }),
          },
        };
      }),
    }));
    const T = proto.HistorySync.HistorySyncType.INITIAL_BOOTSTRAP;
    const sync = proto.HistorySync.encode({
      syncType: T,
      conversations,
      chunkOrder: 0,
      progress: 100,
    }).finish();
    const message: proto.IMessage = {
      protocolMessage: {
        type: proto.Message.ProtocolMessage.Type.HISTORY_SYNC_NOTIFICATION,
        historySyncNotification: {
          syncType: T,
          chunkOrder: 0,
          progress: 100,
          initialHistBootstrapInlinePayload: deflateSync(sync),
        },
      },
    };
    const id = `3EB0H${(++this.counter).toString(16).padStart(4, "0")}${Date.now().toString(16).toUpperCase()}`;
    const enc = await phone.encrypt(device, message, this.bundles.get(number));
    const node: BinaryNode = {
      tag: "message",
      attrs: { from: phone.jid, id, t: nowS(), type: "text", category: "peer" },
      content: [{ tag: "enc", attrs: { v: "2", type: enc.type }, content: enc.ciphertext }],
    };
    const queue = this.pending.get(number) ?? [];
    queue.push(node);
    this.pending.set(number, queue);
    for (const s of this.sessions) if (s.number === number) s.send(node);
    return id;
  }

  /** A message stanza from `from` whose ciphertext is garbage (a corrupt or hostile message). */
  sendGarbage(from: string, to: string): string {
    const peer = this.peers.get(from);
    if (!peer) throw new Error(`unknown contact ${from}`);
    const id = `3EB0BAD${++this.counter}`;
    const node: BinaryNode = {
      tag: "message",
      attrs: { from: peer.jid, id, t: nowS(), type: "text", notify: peer.pushName },
      content: [{ tag: "enc", attrs: { v: "2", type: "msg" }, content: Buffer.from("not a signal message") }],
    };
    for (const s of this.sessions) if (s.number === to) s.send(node);
    return id;
  }

  /**
   * A text message from contact `from` in group `group`, to account `to`'s device: encrypted
   * with the contact's sender key (skmsg), the key itself sent along in a 1:1 Signal message
   * the first time. Returns its id.
   */
  async sendGroupText(group: string, from: string, to: string, text: string): Promise<string> {
    return this.sendGroupMessage(group, from, to, { conversation: text });
  }

  /**
   * Any message (a reply, a reaction, a revoke, an edit…) from contact `from` in group `group`,
   * sent as {@link sendGroupText} sends text. Returns its id.
   */
  async sendGroupMessage(group: string, from: string, to: string, message: proto.IMessage): Promise<string> {
    const peer = this.peers.get(from);
    if (!peer) throw new Error(`unknown contact ${from}`);
    const device = this.deviceOf(to);
    const id = `3EB0G${(++this.counter).toString(16).padStart(4, "0")}${Date.now().toString(16).toUpperCase()}`;
    const { ciphertext, skdm } = await peer.encryptGroup(group, message);
    const content: BinaryNode[] = [];
    const memo = `${group}|${device}`;
    if (!peer.senderKeySent.has(memo)) {
      const dist = await peer.encrypt(
        device,
        { senderKeyDistributionMessage: { groupId: group, axolotlSenderKeyDistributionMessage: skdm } },
        this.bundles.get(to),
      );
      content.push({ tag: "enc", attrs: { v: "2", type: dist.type }, content: dist.ciphertext });
      peer.senderKeySent.add(memo);
    }
    content.push({ tag: "enc", attrs: { v: "2", type: "skmsg" }, content: Buffer.from(ciphertext) });
    const node: BinaryNode = {
      tag: "message",
      attrs: { from: group, participant: peer.jid, id, t: nowS(), type: "text", notify: peer.pushName },
      content,
    };
    const queue = this.pending.get(to) ?? [];
    queue.push(node);
    this.pending.set(to, queue);
    for (const s of this.sessions) if (s.number === to) s.send(node);
    return id;
  }

  private deviceOf(number: string): string {
    const s = [...this.sessions].find((x) => x.number === number);
    if (s) return s.me;
    const seen = this.logins.find((l) => userOf(l) === number);
    if (!seen) throw new Error(`account ${number} has never logged in here`);
    return seen;
  }

  /** WhatsApp unlinks the device of `number` (as "Log out" on the phone does): a 401 failure. */
  logOut(number: string): void {
    for (const s of this.sessions)
      if (s.number === number) s.send({ tag: "failure", attrs: { reason: "401" } });
  }

  /** Cuts every client socket without a goodbye, as a network failure would. */
  dropConnections(): void {
    for (const s of this.sessions) s.ws.terminate();
    this.sessions.clear();
  }

  /** Waits for a message the bridge sent that matches. */
  async waitFor(
    pred: (m: SentMessage) => boolean,
    timeoutMs = DEFAULT_WAIT_MS,
    what = "a message",
  ): Promise<SentMessage> {
    return this.until(() => this.sent.find(pred), timeoutMs, what);
  }

  /** Waits until `cond` returns a value. */
  async until<T>(
    cond: () => T | undefined | false,
    timeoutMs = DEFAULT_WAIT_MS,
    what = "a condition",
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const v = cond();
      if (v) return v;
      if (Date.now() > deadline) throw new Error(`WhatsApp stand-in: timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, 50);
        const self = this;
        function done() {
          clearTimeout(t);
          self.waiters.delete(done);
          resolve();
        }
        this.waiters.add(done);
      });
    }
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }

  async close(): Promise<void> {
    for (const c of this.wss.clients) c.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  /** While true, new connections are cut at once (WhatsApp unreachable). */
  refuseConnections = false;

  private accept(ws: WebSocket): void {
    if (this.refuseConnections) {
      ws.terminate();
      return;
    }
    const noise = new NoiseServer(this.B, this.ca);
    let stage: "hello" | "finish" | "open" = "hello";
    let buf = Buffer.alloc(0);
    let intro = true;
    let session: Session | undefined;
    let work: Promise<void> = Promise.resolve();
    ws.on("message", (data: Buffer) => {
      buf = Buffer.concat([buf, data]);
      if (intro) {
        buf = buf.subarray(this.B.NOISE_WA_HEADER.length);
        intro = false;
      }
      const frames: Buffer[] = [];
      while (buf.length >= 3) {
        const n = buf.readUIntBE(0, 3);
        if (buf.length < n + 3) break;
        frames.push(buf.subarray(3, n + 3));
        buf = buf.subarray(n + 3);
      }
      for (const f of frames) {
        work = work
          .then(async () => {
            if (stage === "hello") {
              const hello = this.B.proto.HandshakeMessage.decode(f).clientHello;
              ws.send(frame(noise.serverHello(hello?.ephemeral ?? new Uint8Array())));
              stage = "finish";
            } else if (stage === "finish") {
              const finish = this.B.proto.HandshakeMessage.decode(f).clientFinish ?? {};
              const payload = noise.clientFinish(finish);
              stage = "open";
              if (payload.username) session = this.login(ws, noise, payload);
              else this.startPairing(ws, noise, payload);
            } else if (session) {
              await this.onNode(session, await noise.open(f));
            } else {
              const node = await noise.open(f);
              this.nodes.push({
                from: "(new device)",
                tag: node.tag,
                attrs: { ...node.attrs },
                child: Array.isArray(node.content) ? node.content[0]?.tag : undefined,
              });
              if (
                node.tag === "iq" &&
                Array.isArray(node.content) &&
                node.content[0]?.tag === "pair-device-sign"
              ) {
                this.pairingReplies.get(ws)?.();
                this.pairingReplies.delete(ws);
              }
              this.notify();
            }
          })
          .catch(() => ws.terminate());
      }
    });
    ws.on("close", () => {
      if (session) this.sessions.delete(session);
      this.notify();
    });
  }

  /** A fresh device: it gets QR references (baileys shows one QR code per reference, rotating). */
  private startPairing(ws: WebSocket, noise: NoiseServer, payload: proto.ClientPayload): void {
    const refs = Array.from({ length: 6 }, (_, i) => `2@stand-in-ref-${++this.counter}-${i}`);
    const send = (node: BinaryNode) => ws.readyState === ws.OPEN && ws.send(noise.seal(node));
    const pairing: Pairing = {
      ws,
      send,
      refs,
      identity: payload.devicePairingData?.eIdent ?? new Uint8Array(),
    };
    this.pairings.add(pairing);
    ws.on("close", () => this.pairings.delete(pairing));
    send({
      tag: "iq",
      attrs: { type: "set", id: `pair-${this.counter}`, from: "s.whatsapp.net", xmlns: "md" },
      content: [
        {
          tag: "pair-device",
          attrs: {},
          content: refs.map((r) => ({ tag: "ref", attrs: {}, content: Buffer.from(r) })),
        },
      ],
    });
    this.notify();
  }

  /** New devices currently showing QR codes. */
  pairingsOpen(): number {
    return this.pairings.size;
  }

  /**
   * The phone of account `number` scans `qr` (the text of a QR code the device showed): the
   * device is linked (pair-success signed with the account key), then told to reconnect.
   */
  scan(qr: string, number: string): void {
    const { proto, Curve } = this.B;
    const [ref, , identityB64, advB64] = qr
      .replace(/^https:\/\/wa\.me\/settings\/linked_devices#/, "")
      .split(",");
    const pairing = [...this.pairings].find((p) => p.refs.includes(ref));
    if (!pairing) throw new Error("no device shows this QR code (expired or already used)");
    if (Buffer.from(identityB64, "base64").compare(Buffer.from(pairing.identity)) !== 0)
      throw new Error("the QR code does not belong to that device");
    let account = this.accountKeys.get(number);
    if (!account) {
      account = Curve.generateKeyPair();
      this.accountKeys.set(number, account);
    }
    const device = 2 + [...this.logins].filter((l) => l.startsWith(`${number}:`)).length;
    const deviceDetails = proto.ADVDeviceIdentity.encode({
      rawId: 1,
      timestamp: Math.floor(Date.now() / 1000),
      keyIndex: device,
    }).finish();
    const accountSignature = Curve.sign(
      account.private,
      Buffer.concat([Buffer.from([6, 0]), deviceDetails, Buffer.from(pairing.identity)]),
    );
    const details = proto.ADVSignedDeviceIdentity.encode({
      details: deviceDetails,
      accountSignatureKey: account.public,
      accountSignature,
    }).finish();
    const hmac = createHmac("sha256", Buffer.from(advB64, "base64")).update(details).digest();
    pairing.send({
      tag: "iq",
      attrs: { type: "set", id: `pair-success-${++this.counter}`, from: "s.whatsapp.net" },
      content: [
        {
          tag: "pair-success",
          attrs: {},
          content: [
            {
              tag: "device-identity",
              attrs: {},
              content: proto.ADVSignedDeviceIdentityHMAC.encode({ details, hmac }).finish(),
            },
            { tag: "platform", attrs: { name: "android" } },
            {
              tag: "device",
              attrs: { jid: `${number}:${device}@s.whatsapp.net`, lid: `${number}:${device}@lid` },
            },
          ],
        },
      ],
    });
    this.pairings.delete(pairing);
    // After the device signs, WhatsApp ends the stream and the device logs in anew (515).
    const restart = () => {
      pairing.send({ tag: "stream:error", attrs: { code: "515" } });
      setTimeout(() => pairing.ws.terminate(), 100);
    };
    this.pairingReplies.set(pairing.ws, restart);
  }

  private readonly pairingReplies = new Map<WebSocket, () => void>();

  private login(ws: WebSocket, noise: NoiseServer, payload: proto.ClientPayload): Session {
    const number = String(payload.username);
    const me = `${number}:${payload.device ?? 0}@s.whatsapp.net`;
    const session: Session = {
      ws,
      me,
      number,
      send: (node) => ws.readyState === ws.OPEN && ws.send(noise.seal(node)),
    };
    this.logins.push(me);
    session.send({ tag: "success", attrs: { t: nowS(), lid: `${number}@lid`, props: "1", abprops: "1" } });
    this.sessions.add(session);
    // What arrived while the device was away, then the end-of-offline marker.
    const queued = this.pending.get(number) ?? [];
    for (const node of queued) session.send({ ...node, attrs: { ...node.attrs, offline: "1" } });
    session.send({
      tag: "ib",
      attrs: {},
      content: [{ tag: "offline", attrs: { count: String(queued.length) } }],
    });
    this.notify();
    return session;
  }

  private result(n: BinaryNode, content?: BinaryNode[]): BinaryNode {
    return {
      tag: "iq",
      attrs: { id: n.attrs.id, type: "result", from: n.attrs.to ?? "s.whatsapp.net" },
      ...(content ? { content } : {}),
    };
  }

  private async onNode(s: Session, n: BinaryNode): Promise<void> {
    const child = Array.isArray(n.content) ? n.content[0] : undefined;
    const children = Array.isArray(n.content) ? n.content.map((c) => c.tag) : undefined;
    this.nodes.push({ from: s.me, tag: n.tag, attrs: { ...n.attrs }, child: child?.tag, children });
    if (n.tag === "iq") return s.send(this.answerIq(s, n, child));
    if (n.tag === "ack" || n.tag === "receipt") {
      // The device has the message: it is not delivered again.
      const ids = new Set([n.attrs.id, ...childrenOf(childOf(n, "list"), "item").map((i) => i.attrs.id)]);
      const queue = this.pending.get(s.number);
      if (queue)
        this.pending.set(
          s.number,
          queue.filter((m) => !ids.has(m.attrs.id)),
        );
      if (n.tag === "receipt")
        s.send({ tag: "ack", attrs: { class: "receipt", id: n.attrs.id, from: n.attrs.to ?? "" } });
      this.notify();
      return;
    }
    if (n.tag === "message") await this.onMessage(s, n);
    this.notify();
  }

  private answerIq(s: Session, n: BinaryNode, child: BinaryNode | undefined): BinaryNode {
    const xmlns = n.attrs.xmlns;
    if (xmlns === "encrypt" && child?.tag === "count") {
      const bundle = this.bundles.get(s.number);
      return this.result(n, [{ tag: "count", attrs: { value: String(bundle?.preKeys.length ?? 0) } }]);
    }
    if (xmlns === "encrypt" && n.attrs.type === "set" && childOf(n, "registration")) {
      this.storeBundle(s.number, n);
      return this.result(n);
    }
    if (xmlns === "encrypt" && child?.tag === "digest") return this.result(n, [{ tag: "digest", attrs: {} }]);
    if (xmlns === "encrypt" && child?.tag === "key") {
      const users = childrenOf(child, "user")
        .map((u) => ({ u, peer: this.peers.get(userOf(u.attrs.jid)) }))
        .filter((x) => x.peer);
      return this.result(n, [
        { tag: "list", attrs: {}, content: users.map((x) => x.peer!.keyNode(x.u.attrs.jid)) },
      ]);
    }
    if (xmlns === "usync") {
      // Every contact has one device (0); the account itself only this linked device.
      const list = childOf(childOf(n, "usync"), "list");
      const users = childrenOf(list, "user").map((u): BinaryNode => {
        const jid = u.attrs.jid;
        const device = userOf(jid) === s.number ? s.me.split("@")[0].split(":")[1] : "0";
        return {
          tag: "user",
          attrs: { jid },
          content: [
            {
              tag: "devices",
              attrs: {},
              content: [
                { tag: "device-list", attrs: {}, content: [{ tag: "device", attrs: { id: device } }] },
              ],
            },
            { tag: "lid", attrs: { val: lidOf(jid) } },
          ],
        };
      });
      return this.result(n, [
        {
          tag: "usync",
          attrs: { sid: child?.attrs.sid ?? "", index: "0", last: "true" },
          content: [{ tag: "list", attrs: {}, content: users }],
        },
      ]);
    }
    if (xmlns === "w:g2" && child?.tag === "query") {
      const g = this.groups.get(n.attrs.to);
      if (!g) return this.result(n, [{ tag: "error", attrs: { code: "404", text: "item-not-found" } }]);
      return this.result(n, [
        {
          tag: "group",
          attrs: {
            id: n.attrs.to.split("@")[0],
            subject: g.subject,
            creation: "1700000000",
            s_t: "1700000000",
          },
          content: [
            ...g.participants.map((p) => ({ tag: "participant", attrs: { jid: `${p}@s.whatsapp.net` } })),
            ...(g.desc
              ? [
                  {
                    tag: "description",
                    attrs: { id: "d1", t: "1700000000" },
                    content: [{ tag: "body", attrs: {}, content: Buffer.from(g.desc) }],
                  },
                ]
              : []),
          ],
        },
      ]);
    }
    if (xmlns === "w:sync:app:state") {
      // An account without app state (no chats archived, pinned, muted…): each collection asked
      // for answers at the version asked, nothing to patch, nothing more.
      const asked = childrenOf(childOf(n, "sync"), "collection");
      return this.result(n, [
        {
          tag: "sync",
          attrs: {},
          content: asked.map((c) => ({
            tag: "collection",
            attrs: { name: c.attrs.name, version: c.attrs.version ?? "0" },
          })),
        },
      ]);
    }
    if (xmlns === "w:profile:picture") {
      const url = this.pictures.get(n.attrs.target);
      if (!url) return this.result(n, [{ tag: "error", attrs: { code: "404", text: "item-not-found" } }]);
      return this.result(n, [{ tag: "picture", attrs: { url, id: "1", type: "image" } }]);
    }
    // Everything else of the start-up (passive, props, privacy, blocklist, ping): a plain OK.
    return this.result(n);
  }

  private storeBundle(number: string, n: BinaryNode): void {
    const reg = bytes(childOf(n, "registration"));
    const skey = childOf(n, "skey");
    const keyId = (k: BinaryNode | undefined) => bytes(childOf(k, "id")).readUIntBE(0, 3);
    const old = this.bundles.get(number);
    this.bundles.set(number, {
      registrationId: reg.readUInt32BE(0),
      identity: bytes(childOf(n, "identity")),
      signedPreKey: {
        keyId: keyId(skey),
        publicKey: bytes(childOf(skey, "value")),
        signature: bytes(childOf(skey, "signature")),
      },
      preKeys: [
        ...(old?.preKeys ?? []),
        ...childrenOf(childOf(n, "list"), "key").map((k) => ({
          keyId: keyId(k),
          publicKey: bytes(childOf(k, "value")),
        })),
      ],
    });
  }

  private async onMessage(s: Session, n: BinaryNode): Promise<void> {
    if (this.toDrop > 0) {
      this.toDrop--;
      this.dropped.push(n.attrs.id);
      return;
    }
    // The server acknowledges once it holds the stanza for the recipients (after the record
    // below, so a test reacting to the record acts before the sender can see the ack).
    const ack = () =>
      s.send({ tag: "ack", attrs: { class: "message", id: n.attrs.id, from: n.attrs.to, t: nowS() } });
    // The same id again (a sender that missed the ack): the recipient already has it.
    const key = `${n.attrs.to}/${n.attrs.id}`;
    if (this.delivered.has(key)) {
      this.duplicates.push(n.attrs.id);
      return ack();
    }
    this.delivered.add(key);
    try {
      const targets = childrenOf(childOf(n, "participants"), "to");
      const direct = childOf(n, "enc");
      const group = n.attrs.to?.endsWith("@g.us") ? n.attrs.to : undefined;
      if (direct && !group) targets.push({ tag: "to", attrs: { jid: n.attrs.to }, content: [direct] });
      const textOf = (m: proto.IMessage) => m.conversation ?? m.extendedTextMessage?.text ?? undefined;
      for (const to of targets) {
        const peer = this.peers.get(userOf(to.attrs.jid));
        const enc = childOf(to, "enc");
        if (!peer || !enc) continue;
        const message = await peer.decrypt(s.me, enc.attrs.type, bytes(enc));
        if (group && message.senderKeyDistributionMessage) {
          await peer.takeSenderKey(s.me, message.senderKeyDistributionMessage);
          continue;
        }
        this.sent.push({
          to: peer.number,
          id: n.attrs.id,
          type: enc.attrs.type,
          message,
          text: textOf(message),
          expiration: expirationOf(message),
        });
      }
      if (group && direct?.attrs.type === "skmsg") {
        // Every member reads the group message with the device's sender key; one record for the group.
        const members = this.groups.get(group)?.participants ?? [];
        const readers = members.map((m) => this.peers.get(m)).filter((p): p is Peer => p !== undefined);
        let message: proto.IMessage | undefined;
        for (const peer of readers) message = await peer.decryptGroup(group, s.me, bytes(direct));
        if (message)
          this.sent.push({
            to: group,
            id: n.attrs.id,
            type: "skmsg",
            message,
            text: textOf(message),
            expiration: expirationOf(message),
          });
      }
    } finally {
      ack();
    }
  }
}
