/**
 * A Matrix voice message (MSC3245) as a Discord voice message: Discord takes only Ogg Opus, with
 * its length in seconds and a waveform of at most 256 bytes (0–255, base64).
 */
import type { OutboundAttachment } from "../../../src/core/connector";

/** Discord clients show at most this many waveform samples. */
const MAX_SAMPLES = 256;
/** Without a waveform from Matrix, an even line of this many samples at half height. */
const FLAT = { samples: 64, level: 128 };

/**
 * MSC1767 waveform samples (0–1024) → Discord's base64 bytes (0–255), downsampled to at most
 * 256 by the loudest sample of each stretch. Anything not a finite number is skipped, values out
 * of range are clamped; without samples, an even line.
 */
export function discordWaveform(samples: readonly unknown[] | undefined): string {
  const clean = (samples ?? [])
    .filter((n): n is number => typeof n === "number" && Number.isFinite(n))
    .map((n) => Math.min(1024, Math.max(0, n)));
  if (clean.length === 0) return Buffer.alloc(FLAT.samples, FLAT.level).toString("base64");
  const n = Math.min(MAX_SAMPLES, clean.length);
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) {
    const from = Math.floor((i * clean.length) / n);
    const to = Math.max(from + 1, Math.floor(((i + 1) * clean.length) / n));
    let peak = 0;
    for (let j = from; j < to; j++) peak = Math.max(peak, clean[j]!);
    out[i] = Math.round((peak / 1024) * 255);
  }
  return out.toString("base64");
}

/** Whether the bytes begin as Ogg Opus: an Ogg page whose first packet is `OpusHead`. */
export function isOggOpus(data: Buffer): boolean {
  if (data.length < 28 || data.toString("latin1", 0, 4) !== "OggS") return false;
  const at = 27 + data[26]!;
  return data.toString("latin1", at, at + 8) === "OpusHead";
}

/**
 * The length of Ogg Opus audio in seconds, from the granule position of its last page (48 kHz
 * samples); undefined when the bytes are no Ogg or say nothing usable.
 */
export function oggOpusSeconds(data: Buffer): number | undefined {
  if (data.length < 27 || data.toString("latin1", 0, 4) !== "OggS") return undefined;
  // The last page's header (at least 27 bytes); searched backwards from the end.
  const at = data.lastIndexOf("OggS", data.length - 27, "latin1");
  if (at < 0) return undefined;
  const granule = data.readBigInt64LE(at + 6);
  if (granule <= 0n || granule > BigInt(48_000 * 86_400)) return undefined;
  return Number(granule) / 48_000;
}

/**
 * What makes an outbound attachment a Discord voice message: a Matrix voice message in Ogg,
 * with its length (from Matrix, else from the Ogg pages) and waveform; undefined for anything
 * else, which goes as an ordinary file.
 */
export function voiceMessage(
  a: OutboundAttachment | undefined,
): { durationSecs: number; waveform: string } | undefined {
  if (a?.kind !== "audio" || !a.voice) return undefined;
  const mime = a.media.mimetype.split(";")[0]!.trim().toLowerCase();
  if (mime !== "audio/ogg" && mime !== "audio/opus") return undefined;
  // Discord plays only Opus in Ogg (and is told the type by the bytes): Vorbis and the rest go as files.
  if (!isOggOpus(a.media.data)) return undefined;
  const fromMatrix = a.durationMs !== undefined && a.durationMs > 0 ? a.durationMs / 1000 : undefined;
  const durationSecs = fromMatrix ?? oggOpusSeconds(a.media.data);
  if (durationSecs === undefined || !Number.isFinite(durationSecs)) return undefined;
  return { durationSecs, waveform: discordWaveform(a.waveform) };
}
