import type { AiConfig, AiMode } from "../config/types";
import type { RoomEvent } from "../matrix/MatrixApi";
import { type AiRoom, type AiStore, startOfUtcDay } from "./AiStore";
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
}

const MODES: AiMode[] = ["mention", "always", "off"];

function help(prefix: string): string {
  return [
    `${prefix} mode mention|always|off — when I answer in this room`,
    `${prefix} model <name> | reset — the model for this room`,
    `${prefix} provider <name> | reset — the provider for this room`,
    `${prefix} prompt <text> | reset — the system prompt for this room`,
    `${prefix} forget — start a fresh conversation from here`,
    `${prefix} usage — tokens used today by this room and by you`,
    `${prefix} leave — I leave this room`,
    `${prefix} help — this list`,
  ].join("\n");
}

/**
 * Runs one `!ai …` command; returns the reply text. Settings go to Postgres (ai_room), so they
 * survive a restart.
 */
export async function runAiCommand(deps: AiCommandDeps, ev: RoomEvent, line: string): Promise<string> {
  const { ai } = deps;
  const prefix = ai.command_prefix;
  const [name = "help", ...args] = line.split(/\s+/).filter(Boolean);
  const rest = line.slice(line.indexOf(name) + name.length).trim();
  const room = await deps.settings(ev.room_id);
  switch (name.toLowerCase()) {
    case "help":
      return `Commands:\n${help(prefix)}`;
    case "mode": {
      const mode = args[0] as AiMode | undefined;
      if (!mode)
        return `Mode here: ${room.mode ?? `${ai.default_mode} (default)`}. Usage: ${prefix} mode mention|always|off`;
      if (!MODES.includes(mode)) return `Unknown mode '${mode}'. Usage: ${prefix} mode mention|always|off`;
      await deps.save({ ...room, mode });
      return `Mode set to ${mode}.`;
    }
    case "model": {
      const model = args[0];
      if (!model) return `Model here: ${room.model ?? "the provider's default"}.`;
      if (model === "reset") {
        await deps.save({ ...room, model: undefined });
        return "Model reset to the provider's default.";
      }
      await deps.save({ ...room, model });
      return `Model set to ${model}.`;
    }
    case "provider": {
      const provider = args[0];
      const known = deps.providers.names().join(", ") || "none configured";
      if (!provider)
        return `Provider here: ${room.provider ?? `${deps.providers.defaultName() ?? "none"} (default)`}. Available: ${known}.`;
      if (provider === "reset") {
        await deps.save({ ...room, provider: undefined });
        return "Provider reset to the default.";
      }
      if (!deps.providers.has(provider)) return `There is no provider '${provider}'. Available: ${known}.`;
      await deps.save({ ...room, provider });
      return `Provider set to ${provider}.`;
    }
    case "prompt": {
      if (!rest) return `System prompt here: ${room.systemPrompt ?? `${ai.system_prompt} (default)`}`;
      if (rest === "reset") {
        await deps.save({ ...room, systemPrompt: undefined });
        return "System prompt reset to the default.";
      }
      await deps.save({ ...room, systemPrompt: rest });
      return "System prompt set.";
    }
    case "forget":
      await deps.save({ ...room, forgetEventId: ev.event_id, forgetTs: ev.origin_server_ts });
      return "Forgotten: I start fresh from here.";
    case "usage": {
      const since = startOfUtcDay();
      const [r, u] = await Promise.all([
        deps.store.roomUsage(ev.room_id, since),
        deps.store.userUsage(ev.sender, since),
      ]);
      const of = (n: number) => (n > 0 ? ` of ${n}` : "");
      return (
        `Today (UTC): this room ${r.tokens}${of(ai.limits.room_daily_tokens)} tokens in ${r.answers} answers; ` +
        `you ${u.tokens}${of(ai.limits.user_daily_tokens)} tokens in ${u.answers} answers.`
      );
    }
    case "leave":
      await deps.leave(ev.room_id);
      return "";
    default:
      return `Unknown command '${name}'. Write ${prefix} help for the list.`;
  }
}
