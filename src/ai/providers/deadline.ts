import { abortedError, timeoutError } from "./errors";

/** How one request is watched: its own controller (aborted on timeout), the caller's signal. */
export interface Watch {
  provider: string;
  /** Longest wait for the first item and between two items; undefined: no limit. */
  timeoutMs?: number;
  /** Aborted on timeout or cancel, so that the underlying HTTP request is torn down. */
  controller: AbortController;
  /** The caller's signal (ChatRequest.signal). */
  signal?: AbortSignal;
}

/** Settles like `work`, unless the wait exceeds `timeoutMs` or the caller cancels first. */
export function withDeadline<T>(work: Promise<T>, watch: Watch, firstToken: boolean): Promise<T> {
  // The losing promise still settles later (with the abort); it must not become an unhandled rejection.
  work.catch(() => undefined);
  return new Promise<T>((resolve, reject) => {
    const finish = (): void => {
      if (timer) clearTimeout(timer);
      watch.signal?.removeEventListener("abort", onAbort);
    };
    const onAbort = (): void => {
      finish();
      const err = abortedError(watch.provider, watch.signal?.reason);
      watch.controller.abort(err);
      reject(err);
    };
    const timer =
      watch.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            finish();
            const err = timeoutError(watch.provider, watch.timeoutMs!, firstToken);
            watch.controller.abort(err);
            reject(err);
          }, watch.timeoutMs);
    if (watch.signal?.aborted) return onAbort();
    watch.signal?.addEventListener("abort", onAbort, { once: true });
    work.then(
      (v) => {
        finish();
        resolve(v);
      },
      (e: unknown) => {
        finish();
        reject(e);
      },
    );
  });
}

/** Iterates `source` under the watch: every `next()` must come within `timeoutMs`. */
export async function* watchIdle<T>(
  source: AsyncIterable<T>,
  watch: Watch,
  firstPending = true,
): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]();
  let first = firstPending;
  let finished = false;
  try {
    while (true) {
      const r = await withDeadline(it.next(), watch, first);
      if (r.done) {
        finished = true;
        return;
      }
      first = false;
      yield r.value;
    }
  } finally {
    // Leaving early (consumer break, timeout, error) must release the HTTP stream; the abort
    // makes a pending next() settle, so return() does not wait on a hung socket.
    if (!finished) {
      if (!watch.controller.signal.aborted) watch.controller.abort();
      void it.return?.()?.catch(() => undefined);
    }
  }
}
