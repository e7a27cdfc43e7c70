/** An Ogg page (CRC left zero): header, one segment table entry per 255 bytes, payload. */
function page(granule: bigint, seq: number, payload: Buffer, bos = false): Buffer {
  const segments: number[] = [];
  for (let left = payload.length; ; left -= 255) {
    segments.push(Math.min(255, left));
    if (left < 255) break;
  }
  const head = Buffer.alloc(27);
  head.write("OggS", 0, "latin1");
  head[5] = bos ? 2 : 0;
  head.writeBigInt64LE(granule, 6);
  head.writeUInt32LE(0x5eed, 14);
  head.writeUInt32LE(seq, 18);
  head[26] = segments.length;
  return Buffer.concat([head, Buffer.from(segments), payload]);
}

/**
 * The shape of an Ogg Opus file `seconds` long (OpusHead page, then an audio page whose granule
 * position says the length at 48 kHz): what sniffers and Discord take for Ogg Opus. Not playable.
 */
export function oggOpus(seconds: number): Buffer {
  const opusHead = Buffer.alloc(19);
  opusHead.write("OpusHead", 0, "latin1");
  opusHead[8] = 1;
  opusHead[9] = 1;
  opusHead.writeUInt32LE(48_000, 12);
  return Buffer.concat([
    page(0n, 0, opusHead, true),
    page(BigInt(Math.round(seconds * 48_000)), 1, Buffer.alloc(300, 0x42)),
  ]);
}
