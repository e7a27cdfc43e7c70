import type { AiConfig } from "../config/types";
import { txnIdFor } from "../core/InboundBridge";
import { Logger } from "../log/Logger";
import type { Intent, MatrixApi, RoomEvent } from "../matrix/MatrixApi";
import { type AttachmentReader, attachmentKind } from "./attachments";
import { replyTarget, threadRoot } from "./triggers";

const log = new Logger("Transcripts");

/** What became of a request for a transcript. */
export type TranscriptOutcome = "posted" | "silent" | "not-audio" | "off";

/**
 * Transcripts posted in the room (`!ai transcribe`, `!ai transcribe on`): a reply to the voice
 * message, as an ordinary message, so it reaches the room's platforms and members who cannot
 * play audio read it. Once per voice message (the transaction id is the message's).
 */
export class TranscriptPoster {
  constructor(
    private readonly cfg: AiConfig["transcription"],
    private readonly intent: Intent,
    private readonly attachments: AttachmentReader,
  ) {}

  get enabled(): boolean {
    return this.cfg.base_url !== undefined;
  }

  /** The voice message or audio file `ev` replies to (decrypted in an encrypted room); undefined for anything else. */
  async repliedVoice(ev: RoomEvent, api: MatrixApi): Promise<RoomEvent | undefined> {
    const target = replyTarget(ev.content);
    let voice = target ? await this.intent.getEvent(ev.room_id, target).catch(() => undefined) : undefined;
    if (voice && api.crypto) [voice] = await api.crypto.decryptAll([voice], this.intent.userId);
    if (!voice) return undefined;
    const withRoom = { ...voice, room_id: ev.room_id };
    return attachmentKind(withRoom) === "audio" ? withRoom : undefined;
  }

  /** Posts the transcript of `voice`; throws when the download or the endpoint fails. */
  async post(voice: RoomEvent, signal?: AbortSignal): Promise<TranscriptOutcome> {
    if (!this.enabled) return "off";
    if (attachmentKind(voice) !== "audio") return "not-audio";
    const text = await this.attachments.transcribe(voice, this.cfg.max_bytes, signal);
    if (!text) return "silent";
    const root = threadRoot(voice.content);
    const reply = { "m.in_reply_to": { event_id: voice.event_id } };
    await this.intent.sendEvent(
      voice.room_id,
      "m.room.message",
      {
        msgtype: "m.text",
        body: `🎙️ ${text}`,
        "m.relates_to": root
          ? { rel_type: "m.thread", event_id: root, is_falling_back: false, ...reply }
          : reply,
        "m.mentions": {},
      },
      txnIdFor("ai-transcript", voice.event_id),
    );
    log.info("transcript posted", { room: voice.room_id, event: voice.event_id, chars: text.length });
    return "posted";
  }
}
