/**
 * An in-memory ConnectorContext for connector tests without the bridge: emitted events and
 * reported states are recorded, the key/value store is a Map, emits can be made to hang or fail.
 */
import type {
  ConnectionState,
  ConnectorContext,
  LoginRef,
  NetworkClient,
  NetworkConnector,
  RemoteEvent,
} from "../../src/core/connector";
import { Logger } from "../../src/log/Logger";

/** Swallows log lines, keeping warnings for assertions. */
export class QuietLogger extends Logger {
  readonly warnings: string[] = [];
  override debug(): void {}
  override info(): void {}
  override warn(message: string): void {
    this.warnings.push(message);
  }
  override error(): void {}
  /** A child logs into the same lists (a client's warnings are the connector's). */
  override child(): Logger {
    return this;
  }
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
  /** Each write the core took (emit or emitAll): how many events, and the cursor written with them. */
  writes: Array<{ events: number; cursor?: { key: string; value: string } }>;
}

/** A context for `platform` with `config`; ghosts are `@_<platform>_<id>:hs.test`. */
export function memoryContext(
  platform: string,
  config: Record<string, unknown>,
  kv = new Map<string, string>(),
): Harness {
  const log = new QuietLogger(`${platform}-spec`);
  const ghost = new RegExp(`^@_${platform}_(.+):hs\\.test$`);
  const h: Harness = {
    events: [],
    writes: [],
    states: [],
    kv,
    log,
    ctx: {
      config,
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
        h.writes.push({ events: 1 });
      },
      // One write in the core: all or nothing, the cursor with them.
      emitAll: async (_login, evs, cursor) => {
        for (const ev of evs) await h.onEmit?.(ev);
        h.events.push(...evs);
        if (cursor) kv.set(cursor.key, cursor.value);
        h.writes.push({ events: evs.length, cursor });
      },
      stateChanged: (_login, state) => {
        h.states.push(state);
      },
      ghostUserId: (id) => `@_${platform}_${id}:hs.test`,
      remoteUserIdOf: (mxid) => ghost.exec(mxid)?.[1],
    },
  };
  return h;
}

/** Polls `cond` every 10 ms. */
export async function until(cond: () => boolean, timeoutMs = 5000, what = "condition"): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The events of one kind the context saw. */
export function ofKind<K extends RemoteEvent["kind"]>(
  h: Harness,
  kind: K,
): Array<Extract<RemoteEvent, { kind: K }>> {
  return h.events.filter((e): e is Extract<RemoteEvent, { kind: K }> => e.kind === kind);
}

/** Initialises `connector` with the harness context and connects the client of its configured login. */
export async function connectConfigLogin<C extends NetworkClient>(
  connector: NetworkConnector,
  h: Harness,
): Promise<C> {
  await connector.init(h.ctx);
  const [login] = connector.configLogins!();
  const ref: LoginRef = { id: "login-1", ...login! };
  const client = connector.clientFor(ref) as C;
  await client.connect();
  return client;
}
