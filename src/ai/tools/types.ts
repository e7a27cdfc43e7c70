import type { ChatTool } from "../providers/types";

/** What a tool call knows of where it runs. */
export interface ToolContext {
  roomId: string;
  /** The time of the message being answered (spans like "2h" count back from it). */
  now: number;
  /** The message being answered: not a search result of its own question. */
  triggerEventId?: string;
  /** Aborted when the call's time is up or the answer is cancelled. */
  signal: AbortSignal;
}

/** A function the AI may call: its description for the model and how it runs. */
export interface AiTool extends ChatTool {
  /** Its own time limit (ms); `ai.tools.timeout_ms` otherwise. */
  timeoutMs?: number;
  /**
   * Runs the call with arguments the model wrote (already parsed to an object, not yet
   * checked). Resolves with the text given back to the model; throws ToolInputError for
   * arguments it refuses, anything else for a failure.
   */
  run(args: Record<string, unknown>, ctx: ToolContext): Promise<ToolOutput>;
}

/** A tool's answer: the text for the model and a few words for the room (`3 messages`). */
export interface ToolOutput {
  text: string;
  shown: string;
}

/** Arguments a tool refuses; the message tells the model how to call it right. */
export class ToolInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ToolInputError";
  }
}
