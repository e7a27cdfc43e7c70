const BASE_MS = 500;
const MAX_MS = 8_000;
/** A server asking for more than this is not waited for: the failover list is faster. */
const MAX_RETRY_AFTER_MS = 30_000;

/** Wait before retry `attempt` (0-based): the server's Retry-After when sane, else exponential backoff. */
export function retryDelayMs(attempt: number, retryAfter?: string | null): number {
  if (retryAfter) {
    const secs = Number(retryAfter);
    const ms = Number.isFinite(secs) ? secs * 1000 : Date.parse(retryAfter) - Date.now();
    if (Number.isFinite(ms) && ms >= 0 && ms <= MAX_RETRY_AFTER_MS) return ms;
  }
  return Math.min(BASE_MS * 2 ** attempt, MAX_MS) * (1 - Math.random() * 0.25);
}

/** Resolves after `ms`, rejects at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
