import { Attachment, EncryptedAttachment } from "@matrix-org/matrix-sdk-crypto-wasm";
import { MatrixHttpError } from "./MatrixTestClient";

/** An encrypted media reference (the `file` of an `m.image`, `m.file`…), as the spec defines it. */
export interface EncryptedFile {
  url: string;
  key: { kty: string; key_ops: string[]; alg: string; k: string; ext: boolean };
  iv: string;
  hashes: Record<string, string>;
  v: string;
}

/** Encrypts an attachment (AES-256-CTR, SHA-256 of the ciphertext); `keys` is the `file` object without `url`. */
export function encryptAttachment(bytes: Uint8Array): {
  ciphertext: Uint8Array;
  keys: Omit<EncryptedFile, "url">;
} {
  const attachment = Attachment.encrypt(bytes);
  const keys = JSON.parse(attachment.mediaEncryptionInfo ?? "null") as Omit<EncryptedFile, "url">;
  return { ciphertext: attachment.encryptedData, keys };
}

/** Decrypts an attachment; throws when the key, iv or SHA-256 hash do not match the ciphertext. */
export function decryptAttachment(
  ciphertext: Uint8Array,
  file: Omit<EncryptedFile, "url"> & { url?: string },
): Uint8Array {
  const { url: _url, ...keys } = file;
  return Attachment.decrypt(new EncryptedAttachment(ciphertext, JSON.stringify(keys)));
}

/** Uploads bytes to the homeserver's media repository; returns the mxc URI. */
export async function uploadMedia(
  baseUrl: string,
  accessToken: string,
  bytes: Uint8Array,
  contentType: string,
  filename: string,
): Promise<string> {
  const res = await fetch(`${baseUrl}/_matrix/media/v3/upload?filename=${encodeURIComponent(filename)}`, {
    method: "POST",
    headers: { authorization: `Bearer ${accessToken}`, "content-type": contentType },
    body: bytes,
  });
  const json = (await res.json()) as { content_uri?: string; errcode?: string; error?: string };
  if (!res.ok || !json.content_uri) {
    throw new MatrixHttpError(
      res.status,
      json.errcode,
      `upload: ${res.status} ${json.errcode} ${json.error}`,
    );
  }
  return json.content_uri;
}

/** Downloads an mxc URI as stored, through the authenticated media API. */
export async function downloadMedia(baseUrl: string, accessToken: string, mxc: string): Promise<Uint8Array> {
  const m = /^mxc:\/\/([^/]+)\/([^/?#]+)$/.exec(mxc);
  if (!m) throw new Error(`not an mxc URI: ${mxc}`);
  const path = `/_matrix/client/v1/media/download/${encodeURIComponent(m[1])}/${encodeURIComponent(m[2])}`;
  const res = await fetch(`${baseUrl}${path}`, { headers: { authorization: `Bearer ${accessToken}` } });
  if (!res.ok) throw new MatrixHttpError(res.status, undefined, `download ${mxc}: ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}
