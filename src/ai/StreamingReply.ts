import { txnIdFor } from "../core/InboundBridge";
import { Logger } from "../log/Logger";
import { LIVE_KEY } from "../matrix/live";
import type { Intent } from "../matrix/MatrixApi";
import { markdownToHtml } from "./markdown";

const log = new Logger("StreamingReply");

type Content = Record<string, unknown>;

/**
 * Text per message, in bytes of its JSON string (quotes, backslashes and control characters
 * take more there). An edit carries the text twice (fallback and `m.new_content`).
 */
export const PART_BYTES = 12_000;
/**
 * Most bytes of an event's content as JSON. An encrypted room's event carries it as base64
 * Megolm ciphertext (a third more) in an envelope: at this size both stay well under the
 * 65,536-byte Matrix event limit. HTML that would pass it is left out (the text stays).
 */
export const CONTENT_BYTES = 40_000;

/** Bytes of one character inside a JSON string, as the homeserver counts them. */
function escapedBytes(ch: string): number {
  const c = ch.codePointAt(0) ?? 0;
  if (c === 0x22 || c === 0x5c) return 2;
  if (c < 0x20) return "\b\f\n\r\t".includes(ch) ? 2 : 6;
  if (c >= 0xd800 && c <= 0xdfff) return 6; // a lone surrogate, escaped
  return Buffer.byteLength(ch);
}

/** Bytes of a value as JSON (UTF-8). */
export function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value));
}

/** Splits text into parts of at most `max` JSON bytes, at a paragraph, line or word break when one is near. */
export function splitForEvents(text: string, max = PART_BYTES): string[] {
  const parts: string[] = [];
  let rest = text;
  while (jsonBytes(rest) - 2 > max) {
    let cut = 0;
    let bytes = 0;
    for (const ch of rest) {
      const b = escapedBytes(ch);
      if (bytes + b > max) break;
      bytes += b;
      cut += ch.length;
    }
    const window = rest.slice(0, cut);
    const floor = Math.floor(cut * 0.6);
    const at = [window.lastIndexOf("\n\n"), window.lastIndexOf("\n"), window.lastIndexOf(" ")].find(
      (i) => i > floor,
    );
    const end = at !== undefined ? at + 1 : cut;
    parts.push(rest.slice(0, end).trimEnd());
    rest = rest.slice(end).trimStart();
  }
  if (rest || !parts.length) parts.push(rest);
  return parts;
}

/** A message's content: the text, and its HTML when it has formatting (`withHtml`). */
export function messageContent(text: string, withHtml: boolean, mentions: string[] = []): Content {
  const c: Content = {
    msgtype: "m.text",
    body: text,
    "m.mentions": mentions.length ? { user_ids: mentions } : {},
  };
  const html = withHtml ? markdownToHtml(text) : undefined;
  if (html) {
    c.format = "org.matrix.custom.html";
    c.formatted_body = html;
  }
  return c;
}

/** An edit (`m.replace`) of `eventId` to show `newContent`. */
export function editContent(eventId: string, newContent: Content): Content {
  return {
    msgtype: "m.text",
    body: `* ${String(newContent.body)}`,
    "m.new_content": newContent,
    "m.mentions": {},
    "m.relates_to": { rel_type: "m.replace", event_id: eventId },
  };
}

/** Leaves out the HTML of content (and of its `m.new_content`) past {@link CONTENT_BYTES}. */
export function withinLimit(content: Content): Content {
  if (jsonBytes(content) <= CONTENT_BYTES) return content;
  const plain = (c: Content): Content => {
    const { format: _f, formatted_body: _h, ...rest } = c;
    return rest;
  };
  const out = plain(content);
  const inner = content["m.new_content"];
  if (typeof inner === "object" && inner !== null) out["m.new_content"] = plain(inner as Content);
  return out;
}

export interface StreamingReplyOptions {
  intent: Intent;
  roomId: string;
  /** Relation of the answer's first message (reply and/or thread). */
  relation?: Content;
  /** Thread relation of follow-up parts of a long answer. */
  threadRelation?: Content;
  /** Users the first message mentions (the asker of a reply); edits never notify again. */
  mentions?: string[];
  /** Seed of the transaction ids, so a repeated answer to the same event is deduplicated. */
  txnSeed: string;
  /**
   * Generation number of this answer (0 the first time). A generation resumed after a crash
   * edits with transaction ids of its own: the homeserver would take the earlier generation's
   * ids for repeats and drop the new text. The first message keeps its id in every generation,
   * so a first message sent just before the crash is not sent twice.
   */
  attempt?: number;
  /** The first message an earlier generation sent: this one edits it instead of sending another. */
  existingEventId?: string;
  /** Told the first message's id once it is sent (to be recorded for a resumed generation). */
  onFirst?(eventId: string): Promise<void>;
  editIntervalMs: number;
  /** Most edits of the first message, the final one included. */
  maxEdits: number;
}

/**
 * One answer as one Matrix message: sent at the first text, edited (`m.replace`) at most once
 * per interval and at most `maxEdits` times, the last edit holding the complete formatted text.
 * Parts past the event size limit follow as their own messages at the end.
 */
export class StreamingReply {
  private text = "";
  private shown?: string;
  private eventId?: string;
  private edits = 0;
  private lastSendAt = 0;
  private chain: Promise<void> = Promise.resolve();
  private timer?: NodeJS.Timeout;
  /** An edit is waiting in the chain: no other is scheduled until it has gone out. */
  private editQueued = false;
  private closed = false;
  /** Event ids of everything sent, first message first. */
  readonly sent: string[] = [];

  constructor(private readonly opts: StreamingReplyOptions) {
    this.eventId = opts.existingEventId;
    if (this.eventId) this.sent.push(this.eventId);
  }

  /** Whether an earlier generation may have shown other text in the first message. */
  private get resumed(): boolean {
    return (this.opts.attempt ?? 0) > 0;
  }

  private txn(...parts: Array<string | number>): string {
    const a = this.opts.attempt ?? 0;
    return a > 0
      ? txnIdFor("ai", this.opts.txnSeed, `attempt${a}`, ...parts)
      : txnIdFor("ai", this.opts.txnSeed, ...parts);
  }

  private async sendFirstEvent(content: Content): Promise<void> {
    this.eventId = await this.opts.intent.sendEvent(
      this.opts.roomId,
      "m.room.message",
      withinLimit(content),
      txnIdFor("ai", this.opts.txnSeed, "first"),
    );
    this.sent.push(this.eventId);
    await this.opts.onFirst?.(this.eventId).catch((err: unknown) => {
      log.warn("first message not recorded", { room: this.opts.roomId, err: String(err) });
    });
  }

  get firstEventId(): string | undefined {
    return this.eventId;
  }

  get editCount(): number {
    return this.edits;
  }

  /** Adds streamed text; the message follows, throttled. */
  push(delta: string): void {
    if (this.closed || !delta) return;
    this.text += delta;
    if (!this.eventId && this.shown === undefined) {
      this.shown = "";
      // One macrotask later: a provider that does not stream delivers its whole answer (and
      // the end) at once, which then goes out as one formatted message without edits.
      this.timer = setTimeout(() => {
        this.timer = undefined;
        if (!this.closed) this.enqueue(() => this.sendFirst());
      }, 0);
    } else this.schedule();
  }

  private enqueue(step: () => Promise<void>): void {
    this.chain = this.chain.then(step).catch((err: unknown) => {
      log.warn("answer update failed", { room: this.opts.roomId, err: String(err) });
    });
  }

  private firstPart(): string {
    return splitForEvents(this.text)[0] ?? "";
  }

  private schedule(): void {
    if (this.timer || this.editQueued || this.closed || !this.eventId) return;
    if (this.edits >= this.opts.maxEdits - 1) return; // the last edit is kept for the final text
    const wait = Math.max(0, this.lastSendAt + this.opts.editIntervalMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.editQueued = true;
      this.enqueue(async () => {
        try {
          await this.editTo(this.firstPart(), false);
        } finally {
          this.editQueued = false;
        }
        if (this.firstPart() !== this.shown) this.schedule();
      });
    }, wait);
  }

  private async sendFirst(): Promise<void> {
    const text = this.firstPart();
    const content = messageContent(text, false, this.opts.mentions);
    if (this.opts.relation) content["m.relates_to"] = this.opts.relation;
    content[LIVE_KEY] = {};
    await this.sendFirstEvent(content);
    // A resumed generation may have got back the earlier one's message: its text is unknown.
    this.shown = this.resumed ? undefined : text;
    this.lastSendAt = Date.now();
    if (this.firstPart() !== this.shown) this.schedule();
  }

  private async editTo(text: string, final: boolean): Promise<void> {
    if (!this.eventId || (!final && text === this.shown)) return;
    if (!final && this.edits >= this.opts.maxEdits - 1) return;
    const newContent = messageContent(text, final);
    const content = editContent(this.eventId, newContent);
    if (!final) {
      content[LIVE_KEY] = {};
      newContent[LIVE_KEY] = {};
    }
    this.edits += 1;
    await this.opts.intent.sendEvent(
      this.opts.roomId,
      "m.room.message",
      withinLimit(content),
      this.txn("edit", this.edits),
    );
    this.shown = text;
    this.lastSendAt = Date.now();
  }

  /**
   * The complete answer: the first message (sent now if nothing was streamed yet) gets its
   * final, formatted edit, respecting the interval; further parts are sent after it.
   */
  async finish(suffix = ""): Promise<void> {
    this.text += suffix;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.chain;
    const parts = splitForEvents(this.text.trim() || "…");
    const first = parts[0]!;
    if (!this.eventId) {
      const content = messageContent(first, true, this.opts.mentions);
      if (this.opts.relation) content["m.relates_to"] = this.opts.relation;
      await this.sendFirstEvent(content);
      // The homeserver may have answered with an earlier generation's message for this id.
      if (this.resumed) await this.editTo(first, true);
    } else if (first !== this.shown || this.resumed || messageContent(first, true).formatted_body) {
      const wait = this.lastSendAt + this.opts.editIntervalMs - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      await this.editTo(first, true);
    }
    for (const [i, part] of parts.slice(1).entries()) {
      const content = messageContent(part, true);
      if (this.opts.threadRelation) content["m.relates_to"] = this.opts.threadRelation;
      this.sent.push(
        await this.opts.intent.sendEvent(
          this.opts.roomId,
          "m.room.message",
          withinLimit(content),
          // Stable in every generation: parts only go out at the very end, and a repeat of one
          // must not appear twice.
          txnIdFor("ai", this.opts.txnSeed, "part", i + 1),
        ),
      );
    }
  }

  /** Stops updating (the generation failed or was cancelled); waits for a send in flight. */
  async abandon(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.chain;
  }
}
