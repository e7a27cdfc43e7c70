import type { AiConfig, AiMode } from "../config/types";
import type { RoomEvent } from "../matrix/MatrixApi";
import { type AiRoom, type AiStore, startOfUtcDay, type UsageTotal } from "./AiStore";
import type { ProviderSet } from "./ProviderSet";

/** What a command may do besides replying. */
export interface AiCommandDeps {
  ai: AiConfig;
  store: AiStore;
  providers: ProviderSet;
  /** Reads the room's settings (cached). */
  settings(roomId: string): Promise<AiRoom>;
  /** Persists changed settings. */
  save(room: AiRoom): Promise<void>;
  leave(roomId: string): Promise<void>;
  /** Whether the sender has `ai.command_level` (else only {@link OPEN_COMMANDS} run). */
  permitted: boolean;
}

const MODES: AiMode[] = ["mention", "always", "off"];

/** A command's reply: plain text, or text with an HTML rendering (a table). */
export type AiCommandReply = string | { body: string; html: string };

/** Commands anyone in the room may run; the others need `ai.command_level`. */
export const OPEN_COMMANDS = new Set(["help", "usage"]);

const COMMANDS: Array<[name: string, usage: string, what: string]> = [
  ["mode", "mode mention|always|off", "when I answer in this room"],
  ["model", "model <name> | reset", "the model for this room"],
  ["provider", "provider <name> | reset", "the provider for this room"],
  ["prompt", "prompt <text> | reset", "the system prompt for this room"],
  ["forget", "forget", "start a fresh conversation from here"],
  [
    "summarize",
    "summarize [30m|2h|1d…]",
    "what was said here in that span (default 1d), across every platform",
  ],
  [
    "transcribe",
    "transcribe [on|off]",
    "as a reply to a voice message: its transcript; on: a transcript of every voice message here",
  ],
  ["usage", "usage", "tokens used today and in total by this room and by you"],
  ["leave", "leave", "I leave this room"],
  ["help", "help", "this list"],
];

/** The commands `permitted` (at `ai.command_level`) or not may run, one a line. */
export function helpText(ai: AiConfig, permitted: boolean): string {
  const lines = COMMANDS.filter(([name]) => permitted || OPEN_COMMANDS.has(name)).map(
    ([, usage, what]) => `${ai.command_prefix} ${usage} — ${what}`,
  );
  const more = permitted
    ? ""
    : `\nThe other commands need the bridge permission level '${ai.command_level}'.`;
  return `Commands:\n${lines.join("\n")}${more}`;
}

const num = (n: number) => n.toLocaleString("en-US");

/** `!ai usage` as a small table: tokens and answers today (UTC) and in total, for the room and the user. */
export function usageTable(
  ai: AiConfig,
  rows: { roomToday: UsageTotal; roomTotal: UsageTotal; userToday: UsageTotal; userTotal: UsageTotal },
): { body: string; html: string } {
  const limit = (n: number) => (n > 0 ? ` of ${num(n)}` : "");
  const table = [
    ["", "today (UTC)", "total"],
    [
      "this room: tokens",
      `${num(rows.roomToday.tokens)}${limit(ai.limits.room_daily_tokens)}`,
      num(rows.roomTotal.tokens),
    ],
    ["this room: answers", num(rows.roomToday.answers), num(rows.roomTotal.answers)],
    [
      "you: tokens",
      `${num(rows.userToday.tokens)}${limit(ai.limits.user_daily_tokens)}`,
      num(rows.userTotal.tokens),
    ],
    ["you: answers", num(rows.userToday.answers), num(rows.userTotal.answers)],
  ];
  const widths = [0, 1, 2].map((c) => Math.max(...table.map((r) => r[c]!.length)));
  const body = [
    "AI usage",
    ...table.map((r) =>
      r
        .map((cell, c) => cell.padEnd(widths[c]!))
        .join("  ")
        .trimEnd(),
    ),
  ].join("\n");
  const esc = (t: string) => t.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  const [head, ...rest] = table;
  const html =
    "<p>AI usage</p><table><thead><tr>" +
    head!.map((h) => `<th>${esc(h)}</th>`).join("") +
    "</tr></thead><tbody>" +
    rest.map((r) => `<tr><td>${esc(r[0]!)}</td><td>${esc(r[1]!)}</td><td>${esc(r[2]!)}</td></tr>`).join("") +
    "</tbody></table>";
  return { body, html };
}

/** The per-room settings a command (or the web page) may show and change. */
export type AiSettingName = "mode" | "model" | "provider" | "prompt";
export const AI_SETTINGS: readonly AiSettingName[] = ["mode", "model", "provider", "prompt"];

/**
 * Shows (`value` undefined) or changes (`reset` goes back to the default) one setting of
 * `room`: the text the user is shown, and whether it was refused.
 */
export async function applyAiSetting(
  deps: Pick<AiCommandDeps, "ai" | "providers" | "save">,
  room: AiRoom,
  name: AiSettingName,
  value: string | undefined,
): Promise<{ refused: boolean; text: string }> {
  const { ai } = deps;
  const prefix = ai.command_prefix;
  const ok = (text: string) => ({ refused: false, text });
  const no = (text: string) => ({ refused: true, text });
  switch (name) {
    case "mode": {
      const mode = value as AiMode | undefined;
      if (!mode)
        return ok(
          `Mode here: ${room.mode ?? `${ai.default_mode} (default)`}. Usage: ${prefix} mode mention|always|off`,
        );
      if (!MODES.includes(mode))
        return no(`Unknown mode '${mode}'. Usage: ${prefix} mode mention|always|off`);
      await deps.save({ ...room, mode });
      return ok(`Mode set to ${mode}.`);
    }
    case "model": {
      if (!value) return ok(`Model here: ${room.model ?? "the provider's default"}.`);
      if (value === "reset") {
        await deps.save({ ...room, model: undefined });
        return ok("Model reset to the provider's default.");
      }
      await deps.save({ ...room, model: value });
      return ok(`Model set to ${value}.`);
    }
    case "provider": {
      const known = deps.providers.names().join(", ") || "none configured";
      if (!value)
        return ok(
          `Provider here: ${room.provider ?? `${deps.providers.defaultName() ?? "none"} (default)`}. Available: ${known}.`,
        );
      if (value === "reset") {
        await deps.save({ ...room, provider: undefined });
        return ok("Provider reset to the default.");
      }
      if (!deps.providers.has(value)) return no(`There is no provider '${value}'. Available: ${known}.`);
      await deps.save({ ...room, provider: value });
      return ok(`Provider set to ${value}.`);
    }
    case "prompt": {
      if (!value) return ok(`System prompt here: ${room.systemPrompt ?? `${ai.system_prompt} (default)`}`);
      if (value === "reset") {
        await deps.save({ ...room, systemPrompt: undefined });
        return ok("System prompt reset to the default.");
      }
      await deps.save({ ...room, systemPrompt: value });
      return ok("System prompt set.");
    }
  }
}

/**
 * Runs one `!ai …` command; returns the reply text. Settings go to Postgres (ai_room), so they
 * survive a restart.
 */
export async function runAiCommand(
  deps: AiCommandDeps,
  ev: RoomEvent,
  line: string,
): Promise<AiCommandReply> {
  const { ai } = deps;
  const prefix = ai.command_prefix;
  const [name = "help", ...args] = line.split(/\s+/).filter(Boolean);
  const rest = line.slice(line.indexOf(name) + name.length).trim();
  const room = await deps.settings(ev.room_id);
  switch (name.toLowerCase()) {
    case "help":
      return helpText(ai, deps.permitted);
    case "mode":
    case "model":
    case "provider":
      return (await applyAiSetting(deps, room, name.toLowerCase() as AiSettingName, args[0])).text;
    case "prompt":
      return (await applyAiSetting(deps, room, "prompt", rest || undefined)).text;
    case "transcribe": {
      const want = args[0]?.toLowerCase();
      if (want !== "on" && want !== "off")
        return `Usage: ${prefix} transcribe on|off, or ${prefix} transcribe as a reply to a voice message.`;
      if (want === "on" && !ai.transcription.base_url)
        return "Transcription is not set up (ai.transcription); ask the bridge admin.";
      await deps.save({ ...room, transcribe: want === "on" || undefined });
      return want === "on"
        ? "I will post a transcript of every voice message here, as a reply to it."
        : "I will no longer post transcripts here.";
    }
    case "forget":
      await deps.save({ ...room, forgetEventId: ev.event_id, forgetTs: ev.origin_server_ts });
      return "Forgotten: I start fresh from here.";
    case "usage": {
      const today = startOfUtcDay();
      const ever = new Date(0);
      const [roomToday, roomTotal, userToday, userTotal] = await Promise.all([
        deps.store.roomUsage(ev.room_id, today),
        deps.store.roomUsage(ev.room_id, ever),
        deps.store.userUsage(ev.sender, today),
        deps.store.userUsage(ev.sender, ever),
      ]);
      return usageTable(ai, { roomToday, roomTotal, userToday, userTotal });
    }
    case "leave":
      await deps.leave(ev.room_id);
      return "";
    default:
      return `Unknown command '${name}'. Write ${prefix} help for the list.`;
  }
}
