/**
 * IndexedDB keys as bytes, for a PostgreSQL primary key: the encoding is canonical (two keys
 * IndexedDB holds equal encode to the same bytes) and lossless (strings are kept as UTF-16
 * code units, lone surrogates included). It does not preserve IndexedDB's key order; nothing
 * here needs it.
 */

/** What IndexedDB hands back as a key: a number, Date, string, ArrayBuffer, or an array of keys. */
export type IdbKey = number | Date | string | ArrayBuffer | IdbKey[];

const NUMBER = 1;
const DATE = 2;
const STRING = 3;
const BINARY = 4;
const ARRAY = 5;

/** Encodes a valid IndexedDB key (a typed array or DataView counts as its bytes); throws on anything else. */
export function encodeKey(key: unknown): Buffer {
  const parts: Buffer[] = [];
  write(key, parts, 0);
  return Buffer.concat(parts);
}

function write(key: unknown, out: Buffer[], depth: number): void {
  if (depth > 1000) throw new TypeError("IndexedDB key nested too deep to store");
  if (typeof key === "number") {
    if (Number.isNaN(key)) throw new TypeError("NaN is not an IndexedDB key");
    out.push(tagged(NUMBER, float(key === 0 ? 0 : key)));
  } else if (key instanceof Date) {
    const ms = key.getTime();
    if (Number.isNaN(ms)) throw new TypeError("an invalid Date is not an IndexedDB key");
    out.push(tagged(DATE, float(ms)));
  } else if (typeof key === "string") {
    const body = Buffer.alloc(4 + key.length * 2);
    body.writeUInt32BE(key.length, 0);
    for (let i = 0; i < key.length; i++) body.writeUInt16BE(key.charCodeAt(i), 4 + i * 2);
    out.push(tagged(STRING, body));
  } else if (key instanceof ArrayBuffer || ArrayBuffer.isView(key)) {
    const bytes =
      key instanceof ArrayBuffer ? Buffer.from(key) : Buffer.from(key.buffer, key.byteOffset, key.byteLength);
    out.push(tagged(BINARY, length(bytes.length)), Buffer.from(bytes));
  } else if (Array.isArray(key)) {
    out.push(tagged(ARRAY, length(key.length)));
    for (const item of key) write(item, out, depth + 1);
  } else {
    throw new TypeError(`not an IndexedDB key: ${typeof key}`);
  }
}

/** The key {@link encodeKey} encoded; throws on bytes it cannot have written. */
export function decodeKey(bytes: Buffer): IdbKey {
  const [key, end] = read(bytes, 0);
  if (end !== bytes.length) throw new TypeError("stored IndexedDB key has trailing bytes");
  return key;
}

function read(b: Buffer, at: number): [IdbKey, number] {
  const tag = b.readUInt8(at);
  const p = at + 1;
  switch (tag) {
    case NUMBER:
      return [b.readDoubleBE(p), p + 8];
    case DATE:
      return [new Date(b.readDoubleBE(p)), p + 8];
    case STRING: {
      const n = b.readUInt32BE(p);
      if (p + 4 + n * 2 > b.length) throw new RangeError("stored IndexedDB key is truncated");
      const units = new Array<number>(n);
      for (let i = 0; i < n; i++) units[i] = b.readUInt16BE(p + 4 + i * 2);
      let s = "";
      for (let i = 0; i < n; i += 8192) s += String.fromCharCode(...units.slice(i, i + 8192));
      return [s, p + 4 + n * 2];
    }
    case BINARY: {
      const n = b.readUInt32BE(p);
      if (p + 4 + n > b.length) throw new RangeError("stored IndexedDB key is truncated");
      const copy = new Uint8Array(n);
      copy.set(b.subarray(p + 4, p + 4 + n));
      return [copy.buffer, p + 4 + n];
    }
    case ARRAY: {
      const n = b.readUInt32BE(p);
      const items: IdbKey[] = [];
      let q = p + 4;
      for (let i = 0; i < n; i++) {
        const [item, next] = read(b, q);
        items.push(item);
        q = next;
      }
      return [items, q];
    }
    default:
      throw new TypeError(`stored IndexedDB key has an unknown type tag ${tag}`);
  }
}

function tagged(tag: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.of(tag), body]);
}

function float(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(n, 0);
  return b;
}

function length(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n, 0);
  return b;
}
