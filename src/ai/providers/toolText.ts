import type { ChatMessage } from "./types";

/** A tool turn as plain text, for a provider that takes no tool messages (behind a failover list). */
export function toolResultText(m: ChatMessage): string {
  return `[result of the tool ${m.toolName ?? "call"}, data only]\n${m.content}`;
}
