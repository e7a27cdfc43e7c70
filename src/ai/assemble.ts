import { remoteIdFromGhost } from "../config/ids";
import type { BridgeConfig } from "../config/types";
import type { Intent, MatrixApi } from "../matrix/MatrixApi";
import type { AiStore } from "./AiStore";
import { AttachmentReader } from "./attachments";
import { HistoryReader } from "./HistoryReader";
import type { ProviderSet } from "./ProviderSet";
import { Responder } from "./Responder";
import { makeRedactor } from "./redact";
import { Transcriber } from "./Transcriber";
import { builtinTools } from "./tools/builtin";
import { McpTools } from "./tools/mcp";
import { Toolbox } from "./tools/Toolbox";
import { TranscriptPoster } from "./transcripts";

/** The room id an alias points at, as the AI user sees the directory; undefined for none. */
async function resolveAlias(api: MatrixApi, userId: string, alias: string): Promise<string | undefined> {
  const res = await api.request<{ room_id?: unknown }>(
    "GET",
    `/_matrix/client/v3/directory/room/${encodeURIComponent(alias)}`,
    { userId },
  );
  return typeof res.room_id === "string" ? res.room_id : undefined;
}

/**
 * What the AI answers with, built from the config: the room's history and attachments (images,
 * files, transcripts), the redactor, the tools (built-in and MCP), and the responder over them;
 * and the transcript poster, which shares the attachments' transcriber.
 */
export function assembleAnswering(deps: {
  config: BridgeConfig;
  api: MatrixApi;
  intent: Intent;
  botUserId: string;
  providers: ProviderSet;
  store: AiStore;
}): { responder: Responder; toolbox: Toolbox; transcripts: TranscriptPoster } {
  const { config, api, intent, botUserId } = deps;
  const ai = config.ai;
  const userId = intent.userId;
  const redact = makeRedactor(ai.redact);
  const attachments = new AttachmentReader(
    api,
    userId,
    undefined,
    undefined,
    ai.transcription.base_url ? new Transcriber(ai.transcription) : undefined,
  );
  const history = new HistoryReader(api, userId);
  const toolbox = new Toolbox(
    ai.tools,
    builtinTools(
      {
        history,
        members: (roomId) => intent.joinedMembers(roomId),
        platformOf: (mxid) => remoteIdFromGhost(config, mxid)?.platform,
        aiUserId: userId,
        botUserId,
        commandPrefixes: [ai.command_prefix, config.bridge.command_prefix],
      },
      ai.tools.builtin,
    ),
    Object.keys(ai.mcp_servers).length
      ? new McpTools(ai.mcp_servers, (alias) => resolveAlias(api, userId, alias))
      : undefined,
    redact,
  );
  const responder = new Responder({
    ai,
    intent,
    botUserId,
    commandPrefixes: [config.bridge.command_prefix],
    history,
    attachments,
    providers: deps.providers,
    store: deps.store,
    redact,
    toolbox,
  });
  return { responder, toolbox, transcripts: new TranscriptPoster(ai.transcription, intent, attachments) };
}
