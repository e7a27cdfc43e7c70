/**
 * A WhatsApp contact as the stand-in plays it: a Signal identity (libsignal, as WhatsApp's
 * own clients use) that decrypts what the bridge sends it and encrypts what it sends the
 * bridge, with sessions set up from the key bundle the bridge uploaded.
 */
import type {
  BinaryNode,
  KeyPair,
  proto,
  SignalDataSet,
  SignalRepositoryWithLIDStore,
  SignedKeyPair,
} from "@whiskeysockets/baileys";
import * as libsignal from "libsignal";
import type { Baileys } from "../../../bridges/whatsapp/baileys";

/** The bridge device's uploaded keys, as the server hands them out. */
export interface KeyBundle {
  registrationId: number;
  identity: Uint8Array;
  signedPreKey: { keyId: number; publicKey: Uint8Array; signature: Uint8Array };
  /** One-time pre-keys not handed out yet (each is given to one session only). */
  preKeys: Array<{ keyId: number; publicKey: Uint8Array }>;
}

const with05 = (k: Uint8Array): Buffer => Buffer.concat([Buffer.from([5]), Buffer.from(k)]);

export class Peer {
  readonly identity: KeyPair;
  private readonly signedPreKey: SignedKeyPair;
  private readonly preKey: { id: number; keyPair: KeyPair };
  private readonly registrationId: number;
  private readonly sessions = new Map<string, libsignal.SessionRecord>();
  private readonly storage: libsignal.SignalStorage;
  private groups?: Promise<SignalRepositoryWithLIDStore>;
  /** Bridge devices that have this contact's sender key, per group. */
  readonly senderKeySent = new Set<string>();

  constructor(
    private readonly B: Baileys,
    /** Phone number, digits only. */
    readonly number: string,
    public pushName: string,
  ) {
    this.identity = B.Curve.generateKeyPair();
    this.signedPreKey = B.signedKeyPair(this.identity, 1);
    this.preKey = { id: 7, keyPair: B.Curve.generateKeyPair() };
    this.registrationId = B.generateRegistrationId();
    const pair = (k: KeyPair) => ({ privKey: Buffer.from(k.private), pubKey: with05(k.public) });
    this.storage = {
      getOurIdentity: () => pair(this.identity),
      getOurRegistrationId: () => this.registrationId,
      isTrustedIdentity: () => true,
      loadSession: async (id) => this.sessions.get(id),
      storeSession: async (id, s) => {
        this.sessions.set(id, s);
      },
      // Like a phone, the contact keeps its one pre-key: the bridge may start several sessions.
      loadPreKey: async (id) => (Number(id) === this.preKey.id ? pair(this.preKey.keyPair) : undefined),
      removePreKey: () => undefined,
      loadSignedPreKey: () => pair(this.signedPreKey.keyPair),
    };
  }

  get jid(): string {
    return `${this.number}@s.whatsapp.net`;
  }

  /** The `<user>` node of a key-bundle answer (`iq xmlns=encrypt` `<key>`). */
  keyNode(wireJid: string): BinaryNode {
    const { encodeBigEndian, xmppSignedPreKey, xmppPreKey } = this.B;
    return {
      tag: "user",
      attrs: { jid: wireJid },
      content: [
        { tag: "registration", attrs: {}, content: encodeBigEndian(this.registrationId) },
        { tag: "type", attrs: {}, content: Buffer.from([5]) },
        { tag: "identity", attrs: {}, content: this.identity.public },
        xmppSignedPreKey(this.signedPreKey),
        xmppPreKey(this.preKey.keyPair, this.preKey.id),
      ],
    };
  }

  private address(jid: string): libsignal.ProtocolAddress {
    const [user, device = "0"] = jid.split("@")[0].split(":");
    return new libsignal.ProtocolAddress(user, Number(device));
  }

  /**
   * Sender keys for group messages (skmsg), kept the way baileys keeps them: the stand-in
   * uses baileys' own Signal repository for this contact's side of the group.
   */
  private groupRepo(): Promise<SignalRepositoryWithLIDStore> {
    this.groups ??= (async () => {
      const { makeLibSignalRepository } = (await import(
        "@whiskeysockets/baileys/lib/Signal/libsignal.js"
      )) as {
        makeLibSignalRepository: (auth: unknown, logger: unknown) => SignalRepositoryWithLIDStore;
      };
      const store = new Map<string, unknown>();
      const keys = {
        get: async (type: string, ids: string[]) =>
          Object.fromEntries(
            ids.filter((i) => store.has(`${type}.${i}`)).map((i) => [i, store.get(`${type}.${i}`)]),
          ),
        set: async (data: SignalDataSet) => {
          for (const [type, entries] of Object.entries(data))
            for (const [id, v] of Object.entries(entries ?? {}))
              v == null ? store.delete(`${type}.${id}`) : store.set(`${type}.${id}`, v);
        },
      };
      const quiet = {
        level: "silent",
        child: () => quiet,
        trace() {},
        debug() {},
        info() {},
        warn() {},
        error() {},
      };
      const tx = this.B.addTransactionCapability(keys as never, quiet, {
        maxCommitRetries: 1,
        delayBetweenTriesMs: 1,
      });
      const creds = {
        signedIdentityKey: this.identity,
        signedPreKey: this.signedPreKey,
        registrationId: this.registrationId,
      };
      return makeLibSignalRepository({ creds, keys: tx }, quiet);
    })();
    return this.groups;
  }

  /** A group message from this contact: the sender-key ciphertext and the key to distribute. */
  async encryptGroup(
    group: string,
    message: proto.IMessage,
  ): Promise<{ ciphertext: Uint8Array; skdm: Uint8Array }> {
    const repo = await this.groupRepo();
    const data = this.B.writeRandomPadMax16(this.B.proto.Message.encode(message).finish());
    const out = await repo.encryptGroupMessage({ group, meId: this.jid, data });
    return { ciphertext: out.ciphertext, skdm: out.senderKeyDistributionMessage };
  }

  /** Takes the sender key a bridge device distributed to this contact. */
  async takeSenderKey(fromJid: string, item: proto.Message.ISenderKeyDistributionMessage): Promise<void> {
    await (await this.groupRepo()).processSenderKeyDistributionMessage({ item, authorJid: fromJid });
  }

  /** Decrypts a group message of the bridge device `fromJid`. */
  async decryptGroup(group: string, fromJid: string, ciphertext: Uint8Array): Promise<proto.IMessage> {
    const plain = await (await this.groupRepo()).decryptGroupMessage({
      group,
      authorJid: fromJid,
      msg: ciphertext,
    });
    return this.B.proto.Message.decode(this.B.unpadRandomMax16(plain));
  }

  /** Decrypts what the bridge device `fromJid` sent this contact. */
  async decrypt(fromJid: string, type: string, ciphertext: Uint8Array): Promise<proto.IMessage> {
    const cipher = new libsignal.SessionCipher(this.storage, this.address(fromJid));
    const plain =
      type === "pkmsg"
        ? await cipher.decryptPreKeyWhisperMessage(ciphertext)
        : await cipher.decryptWhisperMessage(ciphertext);
    return this.B.proto.Message.decode(this.B.unpadRandomMax16(plain));
  }

  /**
   * Encrypts `message` for the bridge device `toJid`. A new session is started from `bundle`
   * when there is none yet (a `pkmsg`), as a phone does for a newly linked device.
   */
  async encrypt(
    toJid: string,
    message: proto.IMessage,
    bundle: KeyBundle | undefined,
  ): Promise<{ type: "pkmsg" | "msg"; ciphertext: Buffer }> {
    const addr = this.address(toJid);
    const existing = this.sessions.get(addr.toString());
    if (!existing?.haveOpenSession()) {
      if (!bundle) throw new Error(`the bridge device ${toJid} has uploaded no keys yet`);
      const preKey = bundle.preKeys.shift();
      await new libsignal.SessionBuilder(this.storage, addr).initOutgoing({
        registrationId: bundle.registrationId,
        identityKey: with05(bundle.identity),
        signedPreKey: { ...bundle.signedPreKey, publicKey: with05(bundle.signedPreKey.publicKey) },
        // Without one-time pre-keys left, a session starts from the signed pre-key alone.
        preKey: (preKey ? { keyId: preKey.keyId, publicKey: with05(preKey.publicKey) } : undefined) as never,
      });
    }
    const padded = this.B.writeRandomPadMax16(this.B.proto.Message.encode(message).finish());
    const out = await new libsignal.SessionCipher(this.storage, addr).encrypt(padded);
    return { type: out.type === 3 ? "pkmsg" : "msg", ciphertext: Buffer.from(out.body, "binary") };
  }
}
