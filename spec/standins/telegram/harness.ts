/**
 * Test harness for the Telegram connector: an in-memory ConnectorContext and the real
 * connector + grammy pointed at the {@link TelegramServer} stand-in.
 */

import type { TelegramClient } from "../../../bridges/telegram/TelegramClient";
import { createConnector } from "../../../bridges/telegram/TelegramConnector";
import type {
  ConnectionState,
  ConnectorContext,
  LoginRef,
  OutboundMessage,
  RemoteEvent,
} from "../../../src/core/connector";
import { Logger } from "../../../src/log/Logger";
import type { TelegramServer } from "./TelegramServer";

/** Swallows log lines, keeping warnings for assertions. */
export class QuietLogger extends Logger {
  readonly warnings: string[] = [];
  override debug(): void {}
  override info(): void {}
  override warn(message: string): void {
    this.warnings.push(message);
  }
  override error(): void {}
}

/** The in-memory context and what it saw. */
export interface Harness {
  ctx: ConnectorContext;
  events: RemoteEvent[];
  states: ConnectionState[];
  kv: Map<string, string>;
  log: QuietLogger;
  /** Runs before each emit resolves; may hang or throw. */
  onEmit?: (ev: RemoteEvent) => Promise<void>;
}

/** A context whose config points the connector at `server`. */
export function harness(
  server: TelegramServer,
  extra: Record<string, unknown> = {},
  kv = new Map<string, string>(),
): Harness {
  const log = new QuietLogger("telegram-spec");
  const h: Harness = {
    events: [],
    states: [],
    kv,
    log,
    ctx: {
      config: {
        bot_token: server.token,
        owner: "@owner:hs.test",
        api_root: server.url,
        poll_timeout_seconds: 2,
        backoff_initial_ms: 50,
        backoff_max_ms: 200,
        ...extra,
      },
      log,
      store: {
        query: async () => {
          throw new Error("no SQL in this test");
        },
        kvGet: async (k) => kv.get(k),
        kvSet: async (k, v) => {
          kv.set(k, v);
        },
      },
      emit: async (_login, ev) => {
        await h.onEmit?.(ev);
        h.events.push(ev);
      },
      stateChanged: (_login, state) => {
        h.states.push(state);
      },
      ghostUserId: (id) => `@_telegram_${id}:hs.test`,
      remoteUserIdOf: (mxid) => /^@_telegram_(\d+):hs\.test$/.exec(mxid)?.[1],
    },
  };
  return h;
}

/** Builds the connector from the harness config and returns a connected client. */
export async function connectClient(h: Harness): Promise<TelegramClient> {
  const connector = createConnector();
  await connector.init(h.ctx);
  const [login] = connector.configLogins!();
  const ref: LoginRef = { id: "login-1", ...login! };
  const client = connector.clientFor(ref) as TelegramClient;
  await client.connect();
  return client;
}

/** Polls `cond` every 10 ms. */
export async function until(cond: () => boolean, timeoutMs = 5000, what = "condition"): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The events of one kind. */
export function ofKind<K extends RemoteEvent["kind"]>(
  h: Harness,
  kind: K,
): Array<Extract<RemoteEvent, { kind: K }>> {
  return h.events.filter((e): e is Extract<RemoteEvent, { kind: K }> => e.kind === kind);
}

/** A plain outbound text from Alice. */
export const outbound = (text: string, extra: Partial<OutboundMessage> = {}): OutboundMessage => ({
  sender: { mxid: "@alice:hs.test", displayName: "Alice" },
  text,
  msgtype: "text",
  ...extra,
});
