/**
 * The server side of WhatsApp Web's Noise XX handshake and transport, mirroring what baileys'
 * noise handler does as the client, built from baileys' own exported primitives. The server
 * proves itself with a certificate chain under a root this stand-in generates; the client
 * trusts it once `WA_CERT_DETAILS.PUBLIC_KEY` is that root (see trustRoot.ts).
 */
import type { BinaryNode, KeyPair } from "@whiskeysockets/baileys";
import type { Baileys } from "../../../bridges/whatsapp/baileys";

const iv = (n: number): Buffer => {
  const b = Buffer.alloc(12);
  b.writeUInt32BE(n, 8);
  return b;
};

/** A frame: 3-byte big-endian length, then the bytes. */
export function frame(data: Uint8Array): Buffer {
  const b = Buffer.alloc(3 + data.length);
  b.writeUIntBE(data.length, 0, 3);
  Buffer.from(data).copy(b, 3);
  return b;
}

/** The stand-in's certificate root and intermediate; the leaf is each connection's static key. */
export class CertAuthority {
  readonly root: KeyPair;
  private readonly intermediate: KeyPair;

  constructor(private readonly B: Baileys) {
    this.root = B.Curve.generateKeyPair();
    this.intermediate = B.Curve.generateKeyPair();
  }

  chainFor(serverStatic: Uint8Array): Uint8Array {
    const { proto, Curve, WA_CERT_DETAILS } = this.B;
    const Details = proto.CertChain.NoiseCertificate.Details;
    const inter = Details.encode({
      serial: 1,
      issuerSerial: WA_CERT_DETAILS.SERIAL,
      key: this.intermediate.public,
    }).finish();
    const leaf = Details.encode({ serial: 2, issuerSerial: 1, key: serverStatic }).finish();
    return proto.CertChain.encode({
      intermediate: { details: inter, signature: Curve.sign(this.root.private, inter) },
      leaf: { details: leaf, signature: Curve.sign(this.intermediate.private, leaf) },
    }).finish();
  }
}

/** One connection's Noise state, server side. */
export class NoiseServer {
  private hash: Buffer;
  private salt: Buffer;
  private key: Buffer;
  private counter = 0;
  private eph?: KeyPair;
  private rx?: { key: Buffer; n: number };
  private tx?: { key: Buffer; n: number };

  constructor(
    private readonly B: Baileys,
    private readonly ca: CertAuthority,
  ) {
    const mode = Buffer.from(B.NOISE_MODE);
    this.hash = mode.length === 32 ? mode : Buffer.from(B.sha256(mode));
    this.salt = this.hash;
    this.key = this.hash;
    this.authenticate(B.NOISE_WA_HEADER);
  }

  private authenticate(data: Uint8Array): void {
    this.hash = Buffer.from(this.B.sha256(Buffer.concat([this.hash, Buffer.from(data)])));
  }

  private mix(data: Uint8Array): void {
    const k = this.B.hkdf(Buffer.from(data), 64, { salt: this.salt, info: "" });
    this.salt = Buffer.from(k.subarray(0, 32));
    this.key = Buffer.from(k.subarray(32));
    this.counter = 0;
  }

  private encrypt(plain: Uint8Array): Buffer {
    const c = Buffer.from(this.B.aesEncryptGCM(Buffer.from(plain), this.key, iv(this.counter++), this.hash));
    this.authenticate(c);
    return c;
  }

  private decrypt(cipher: Uint8Array): Buffer {
    const p = Buffer.from(this.B.aesDecryptGCM(Buffer.from(cipher), this.key, iv(this.counter++), this.hash));
    this.authenticate(cipher);
    return p;
  }

  /** Answers the client hello (its ephemeral key) with ours, our static key and the certificates. */
  serverHello(clientEphemeral: Uint8Array): Uint8Array {
    const { Curve, proto } = this.B;
    this.authenticate(clientEphemeral);
    const eph = Curve.generateKeyPair();
    const stat = Curve.generateKeyPair();
    this.eph = eph;
    this.authenticate(eph.public);
    this.mix(Curve.sharedKey(eph.private, clientEphemeral));
    const s = this.encrypt(stat.public);
    this.mix(Curve.sharedKey(stat.private, clientEphemeral));
    const payload = this.encrypt(this.ca.chainFor(stat.public));
    return proto.HandshakeMessage.encode({
      serverHello: { ephemeral: eph.public, static: s, payload },
    }).finish();
  }

  /** Takes the client finish; returns the client payload (who logs in) and switches to transport keys. */
  clientFinish(msg: { static?: Uint8Array | null; payload?: Uint8Array | null }) {
    const { Curve, proto } = this.B;
    if (!this.eph || !msg.static || !msg.payload) throw new Error("handshake out of order");
    const clientStatic = this.decrypt(msg.static);
    this.mix(Curve.sharedKey(this.eph.private, clientStatic));
    const payload = proto.ClientPayload.decode(this.decrypt(msg.payload));
    const k = this.B.hkdf(Buffer.alloc(0), 64, { salt: this.salt, info: "" });
    this.rx = { key: Buffer.from(k.subarray(0, 32)), n: 0 };
    this.tx = { key: Buffer.from(k.subarray(32)), n: 0 };
    return payload;
  }

  seal(node: BinaryNode): Buffer {
    if (!this.tx) throw new Error("transport not ready");
    const data = this.B.encodeBinaryNode(node);
    return frame(this.B.aesEncryptGCM(Buffer.from(data), this.tx.key, iv(this.tx.n++), Buffer.alloc(0)));
  }

  async open(f: Uint8Array): Promise<BinaryNode> {
    if (!this.rx) throw new Error("transport not ready");
    const plain = this.B.aesDecryptGCM(Buffer.from(f), this.rx.key, iv(this.rx.n++), Buffer.alloc(0));
    return this.B.decodeBinaryNode(Buffer.from(plain));
  }
}
