import type OpenAI from "openai";
import type { AiConfig } from "../config/types";
import { BoundedMap } from "../core/Bounded";
import { Logger } from "../log/Logger";
import { openaiModule } from "./openaiModule";

const log = new Logger("Transcriber");

/** Longest transcript kept (characters): a voice message, not a book. */
const MAX_TRANSCRIPT = 20_000;

/**
 * Speech to text for voice messages and audio in the room, through an OpenAI-compatible
 * `/audio/transcriptions` endpoint (`ai.transcription`). A transcript is made once per event and
 * kept (the room's history is read again for every answer).
 */
export class Transcriber {
  private readonly client?: OpenAI;
  private readonly done = new BoundedMap<string, string>(2000);

  constructor(private readonly cfg: AiConfig["transcription"]) {
    if (cfg.base_url)
      this.client = new (openaiModule().OpenAI)({
        baseURL: cfg.base_url,
        apiKey: cfg.api_key ?? "none",
        timeout: cfg.timeout_ms,
        maxRetries: 0,
      });
  }

  get enabled(): boolean {
    return this.client !== undefined;
  }

  /** A transcript made before, by event id. */
  known(eventId: string): string | undefined {
    return this.done.get(eventId);
  }

  /** The transcript of `data`; undefined when there is no endpoint or it says nothing. */
  async transcribe(
    eventId: string,
    data: Buffer,
    name: string,
    mimetype: string,
    signal?: AbortSignal,
  ): Promise<string | undefined> {
    if (!this.client) return undefined;
    const known = this.done.get(eventId);
    if (known !== undefined) return known;
    const file = await openaiModule().toFile(data, name || "audio", { type: mimetype });
    const res = await this.client.audio.transcriptions.create({ file, model: this.cfg.model }, { signal });
    const text = String(res.text ?? "")
      .trim()
      .slice(0, MAX_TRANSCRIPT);
    log.info("audio transcribed", { event: eventId, bytes: data.length, chars: text.length });
    this.done.set(eventId, text);
    return text || undefined;
  }
}
