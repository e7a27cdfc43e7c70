/**
 * Matrix → platform across a SIGKILL of the bridge, the same for every platform: a burst of
 * Matrix messages; the bridge is killed the moment the platform stand-in has taken the
 * `killAt`-th (created it and answered, before the bridge can store the answer: the window in
 * which only a platform-side idempotency key or a look-up prevents a second copy); restarted;
 * then a barrier message, after which everything before it has been delivered (one ordered
 * lane per room).
 */
import type { MatrixTestClient } from "../../harness/MatrixTestClient";

export interface OutboundKillOptions {
  alice: MatrixTestClient;
  room: string;
  /** Restarts the bridge with the given signal (the kill itself happens synchronously). */
  restart(signal: NodeJS.Signals): Promise<void>;
  /** Resolves as soon as the platform holds a message whose text contains `text`. */
  arrived(text: string, timeoutMs: number): Promise<unknown>;
  /** The burst texts the platform holds now, in its order (one entry per copy). */
  held(prefix: string): string[];
  prefix: string;
  count?: number;
  killAt?: number;
}

export async function outboundBurstAcrossKill(
  o: OutboundKillOptions,
): Promise<{ expected: string[]; got: string[]; atKill: number }> {
  const count = o.count ?? 30;
  const expected = Array.from({ length: count }, (_, i) => `${o.prefix} ${String(i).padStart(2, "0")}`);
  const sending = (async () => {
    for (const text of expected) await o.alice.sendText(o.room, text);
  })();
  await o.arrived(expected[(o.killAt ?? 5) - 1], 60_000);
  const killed = o.restart("SIGKILL"); // kills before its first await
  const atKill = o.held(o.prefix).length;
  await killed;
  await sending;
  await o.arrived(expected[count - 1], 120_000);
  const barrier = `${o.prefix} barrier`;
  await o.alice.sendText(o.room, barrier);
  await o.arrived(barrier, 60_000);
  const got = o.held(o.prefix).filter((t) => t !== barrier);
  return { expected, got, atKill };
}
