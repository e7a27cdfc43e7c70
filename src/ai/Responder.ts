import type { AiConfig } from "../config/types";
import { txnIdFor } from "../core/InboundBridge";
import { Logger } from "../log/Logger";
import type { Intent, RoomEvent } from "../matrix/MatrixApi";
import type { AiRoom, AiStore } from "./AiStore";
import type { AttachmentReader } from "./attachments";
import { assembleContext, estimateTokens, messageTokens } from "./context";
import type { HistoryReader } from "./HistoryReader";
import type { ProviderSet } from "./ProviderSet";
import {
  type ChatMessage,
  type ChatProvider,
  type ChatUsage,
  ProviderError,
  type ToolCall,
} from "./providers/types";
import type { Redactor } from "./redact";
import { StreamingReply } from "./StreamingReply";
import type { Toolbox } from "./tools/Toolbox";
import type { AiTool } from "./tools/types";
import { threadRoot } from "./triggers";

const log = new Logger("Responder");

/** Typing notifications last this long; they are refreshed well before they run out. */
const TYPING_TIMEOUT_MS = 30_000;
const TYPING_REFRESH_MS = 20_000;

/** One answer to generate. */
export interface AnswerJob {
  trigger: RoomEvent;
  settings: AiRoom;
  /** Reply to the trigger (rooms with more than two members). */
  asReply: boolean;
  signal: AbortSignal;
  /** Generation number (0 the first time; more when resumed after a crash). */
  attempt?: number;
  /** The first message an earlier generation sent, edited by this one. */
  firstEventId?: string;
  /** Told the first message's id once sent. */
  onFirst?(eventId: string): Promise<void>;
  /** A summary of the room since `sinceTs` (`!ai summarize`), `span` in words, instead of an answer. */
  summary?: { sinceTs: number; span: string };
}

/** Most events a summary reads (the newest of its span). */
const SUMMARY_MAX_EVENTS = 500;
const SUMMARY_PROMPT =
  "You summarize a Matrix chat room whose people may write from several platforms (their names say which). " +
  "Give the main topics, decisions, open questions and who said what, briefly, as a short list.";

function short(text: string, max = 160): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** Short text for the room about a failed answer; details stay in the log. */
export function failureText(err: unknown): string {
  if (err instanceof ProviderError) {
    switch (err.code) {
      case "rate_limited":
        return "the model provider is rate limiting requests; please try again in a moment";
      case "timeout":
        return "the model provider did not answer in time";
      case "auth":
        return "the model provider refused the credentials (ask the bridge admin to check ai.providers)";
      case "model_not_found":
        return `the model is not available there (${err.message}); choose another with the model command`;
      case "aborted":
        return "the answer was cancelled";
      case "all_failed":
        return `no model provider answered (${short(err.message.replace(/^no provider answered: /, ""))})`;
      default:
        return short(err.message) || "the model provider failed";
    }
  }
  return "something went wrong while generating the answer";
}

/** Generates one answer: context from the room, the provider's stream, the edited message, the usage log. */
export class Responder {
  constructor(
    private readonly opts: {
      ai: AiConfig;
      intent: Intent;
      botUserId: string;
      /** Prefixes of other commands in the room (the bridge's `!cb`): not conversation either. */
      commandPrefixes?: string[];
      history: HistoryReader;
      /** Downloads images and text files of the context; without it they stay text stand-ins. */
      attachments?: AttachmentReader;
      providers: ProviderSet;
      store: AiStore;
      redact: Redactor;
      /** Tools offered to providers that call functions. */
      toolbox?: Toolbox;
    },
  ) {}

  async answer(job: AnswerJob): Promise<void> {
    const { ai, intent, providers, store } = this.opts;
    const { trigger, settings } = job;
    const roomId = trigger.room_id;
    const started = performance.now();
    const chosen = providers.forRoom(settings.provider);
    if (!chosen) {
      await this.notice(trigger, "No AI model provider is configured (ai.providers); ask the bridge admin.");
      await store.pending.drop(trigger.event_id).catch(() => undefined);
      return;
    }
    let typing = true;
    const setTyping = (on: boolean) =>
      intent.setTyping(roomId, on, TYPING_TIMEOUT_MS).catch((err: unknown) => {
        log.debug("typing not set", { room: roomId, err: String(err) });
      });
    void setTyping(true);
    const refresh = setInterval(() => {
      if (typing) void setTyping(true);
    }, TYPING_REFRESH_MS);
    const stopTyping = async () => {
      if (!typing) return;
      typing = false;
      clearInterval(refresh);
      await setTyping(false);
    };

    const root = threadRoot(trigger.content);
    const thread = root ? { rel_type: "m.thread", event_id: root, is_falling_back: !job.asReply } : undefined;
    const reply = { "m.in_reply_to": { event_id: trigger.event_id } };
    const relation = thread ? { ...thread, ...reply } : job.asReply ? reply : undefined;
    const streaming = new StreamingReply({
      intent,
      roomId,
      relation,
      threadRelation: thread && { rel_type: "m.thread", event_id: root, is_falling_back: true, ...reply },
      mentions: job.asReply ? [trigger.sender] : [],
      txnSeed: trigger.event_id,
      attempt: job.attempt,
      existingEventId: job.firstEventId,
      onFirst: job.onFirst,
      editIntervalMs: ai.streaming.edit_interval_ms,
      maxEdits: ai.streaming.max_edits,
    });
    let usage: ChatUsage | undefined;
    let answeredBy = chosen.chain[0];
    let model = settings.model || chosen.provider.defaultModel;
    let text = "";
    let promptTokens = 0;
    try {
      const summary = job.summary;
      const history = summary
        ? await this.opts.history.readSince(roomId, summary.sinceTs, SUMMARY_MAX_EVENTS)
        : await this.opts.history.read(roomId, ai.context.max_events, root);
      const events = history.events.some((e) => e.event_id === trigger.event_id)
        ? history.events
        : [...history.events, trigger];
      // A summary reads what people said; images and files are for answers.
      const attachments = summary
        ? undefined
        : await this.opts.attachments?.read(
            events.filter((e) => e.sender !== intent.userId && e.sender !== this.opts.botUserId),
            {
              images: chosen.vision
                ? { max: ai.vision.max_images, maxBytes: ai.vision.max_bytes }
                : undefined,
              files: {
                max: ai.files.max_files,
                maxBytes: ai.files.max_bytes,
                maxPdfBytes: ai.files.max_pdf_bytes,
              },
              audio: ai.transcription.base_url
                ? { max: ai.transcription.max_files, maxBytes: ai.transcription.max_bytes }
                : undefined,
            },
            job.signal,
          );
      const messages = assembleContext({
        events: history.events,
        trigger,
        aiUserId: intent.userId,
        skipSenders: new Set([this.opts.botUserId]),
        names: history.names,
        systemPrompt: summary ? SUMMARY_PROMPT : (settings.systemPrompt ?? ai.system_prompt),
        tokenBudget: ai.context.token_budget,
        // `forget` starts a fresh conversation with the AI; a summary covers what people said.
        forgetEventId: summary ? undefined : settings.forgetEventId,
        forgetTs: summary ? undefined : settings.forgetTs,
        commandPrefixes: [ai.command_prefix, ...(this.opts.commandPrefixes ?? [])],
        redact: this.opts.redact,
        skipEventIds: job.firstEventId ? new Set([job.firstEventId]) : undefined,
        attachments,
      });
      if (summary)
        messages.push({
          role: "user",
          content:
            messages.length > 1
              ? `Summarize the conversation above (the last ${summary.span}).`
              : `Nothing was said in the last ${summary.span}: say so in one sentence.`,
        });
      promptTokens = messages.reduce((n, m) => n + messageTokens(m), 0);
      const tools = chosen.tools && !summary ? await this.opts.toolbox?.forRoom(roomId) : undefined;
      for (let step = 0; ; step++) {
        // The last round offers no tools: the model then answers with what it has.
        const offered = tools?.length && step < ai.tools.max_steps ? tools : undefined;
        const round = await this.round(
          chosen.provider,
          messages,
          offered,
          settings.model ?? "",
          job.signal,
          (piece) => {
            text += piece;
            streaming.push(piece);
            if (streaming.firstEventId) void stopTyping();
          },
        );
        if (round.usage) {
          usage = {
            promptTokens: (usage?.promptTokens ?? 0) + round.usage.promptTokens,
            completionTokens: (usage?.completionTokens ?? 0) + round.usage.completionTokens,
          };
        }
        answeredBy = round.provider ?? answeredBy;
        model = round.model ?? model;
        if (!offered || !round.calls.length) break;
        const results = await this.opts.toolbox!.run(
          offered,
          round.calls,
          { roomId, now: trigger.origin_server_ts, triggerEventId: trigger.event_id },
          job.signal,
        );
        await this.notice(trigger, results.map((r) => `🔧 ${r.shown}`).join("\n"));
        messages.push({ role: "assistant", content: round.text, toolCalls: round.calls });
        for (const r of results)
          messages.push({ role: "tool", toolCallId: r.call.id, toolName: r.call.name, content: r.output });
        if (text && !/\s$/.test(text)) {
          text += "\n\n";
          streaming.push("\n\n");
        }
      }
      await streaming.finish();
      await stopTyping();
      await store.logUsage(
        {
          roomId,
          userId: trigger.sender,
          triggerEventId: trigger.event_id,
          provider: answeredBy,
          model,
          promptTokens: usage?.promptTokens ?? promptTokens,
          completionTokens: usage?.completionTokens ?? (text ? estimateTokens(text) : 0),
          latencyMs: Math.round(performance.now() - started),
          ok: true,
        },
        { settle: true },
      );
      log.info("answered", { room: roomId, provider: answeredBy, model, edits: streaming.editCount });
    } catch (err) {
      await streaming.abandon();
      await stopTyping();
      log.warn("answer failed", { room: roomId, provider: chosen.chain.join(">"), err: String(err) });
      if (text.trim() && streaming.firstEventId) await streaming.finish(" …").catch(() => undefined);
      if (!job.signal.aborted) await this.notice(trigger, `⚠️ The AI could not answer: ${failureText(err)}.`);
      await store
        .logUsage(
          {
            roomId,
            userId: trigger.sender,
            triggerEventId: trigger.event_id,
            provider: err instanceof ProviderError ? err.provider : answeredBy,
            model,
            promptTokens: 0,
            completionTokens: 0,
            latencyMs: Math.round(performance.now() - started),
            ok: false,
            error: String(err),
          },
          // Cancelled by a stop: still pending, resumed at the next start.
          { settle: !job.signal.aborted },
        )
        .catch((e: unknown) => log.warn("usage not logged", { err: String(e) }));
    } finally {
      clearInterval(refresh);
      if (typing) await stopTyping();
    }
  }

  /** One request to the model: its text streamed to `onText`, and the tool calls it asks for. */
  private async round(
    provider: ChatProvider,
    messages: ChatMessage[],
    tools: AiTool[] | undefined,
    model: string,
    signal: AbortSignal,
    onText: (piece: string) => void,
  ): Promise<{ text: string; calls: ToolCall[]; usage?: ChatUsage; provider?: string; model?: string }> {
    const { ai } = this.opts;
    let text = "";
    let calls: ToolCall[] = [];
    const out: { usage?: ChatUsage; provider?: string; model?: string } = {};
    const stream = provider.stream({
      model,
      messages,
      maxTokens: ai.context.max_answer_tokens,
      signal,
      tools: tools?.map(({ name, description, parameters }) => ({ name, description, parameters })),
    });
    for await (const chunk of stream) {
      if (chunk.type === "delta") {
        text += chunk.text;
        onText(chunk.text);
      } else if (chunk.type === "tool_calls") calls = chunk.calls;
      else {
        out.usage = chunk.usage;
        out.provider = chunk.provider;
        out.model = chunk.model;
      }
    }
    return { text, calls, ...out };
  }

  /** A short notice from the AI user, replying to `to`. */
  async notice(to: RoomEvent, text: string): Promise<void> {
    const content: Record<string, unknown> = {
      msgtype: "m.notice",
      body: text,
      "m.relates_to": { "m.in_reply_to": { event_id: to.event_id } },
    };
    const root = threadRoot(to.content);
    if (root)
      content["m.relates_to"] = {
        rel_type: "m.thread",
        event_id: root,
        is_falling_back: false,
        "m.in_reply_to": { event_id: to.event_id },
      };
    await this.opts.intent
      .sendEvent(to.room_id, "m.room.message", content, txnIdFor("ai-notice", to.event_id, text))
      .catch((err: unknown) => log.warn("notice not sent", { room: to.room_id, err: String(err) }));
  }
}
