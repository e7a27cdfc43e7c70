/**
 * The Bot API client's HTTP: grammy's calls made with the project's kept-alive node:http
 * client instead of node-fetch, a fraction of the CPU per call (two per bridged message: the
 * long poll that brings it, the send that relays one). grammy reads only `json()` of the
 * answer; its timeouts and stops arrive as the abort signal.
 */
import type { Readable } from "node:stream";
import { HttpCallError, httpCall } from "../../src/core/httpCall";

/** grammy bounds every call itself (timeoutSeconds, by aborting); this is only a backstop. */
const BACKSTOP_MS = 15 * 60_000;

interface BotFetchInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Readable;
  signal?: AbortSignal | null;
}

/** What grammy uses of a fetch answer. */
export interface BotFetchAnswer {
  ok: boolean;
  status: number;
  json(): Promise<unknown>;
}

export async function botFetch(url: string | URL, init: BotFetchInit = {}): Promise<BotFetchAnswer> {
  let res: Awaited<ReturnType<typeof httpCall>>;
  try {
    res = await httpCall(String(url), {
      method: init.method ?? "GET",
      headers: init.headers ?? {},
      body: init.body,
      timeoutMs: BACKSTOP_MS,
      signal: init.signal ?? undefined,
    });
  } catch (err) {
    // Shaped as fetch's failures are: an abort is an AbortError, the rest a network error.
    if (err instanceof HttpCallError && err.code === "ABORT_ERR")
      throw Object.assign(new Error("The operation was aborted"), { name: "AbortError" });
    throw new TypeError(`fetch failed: ${err instanceof HttpCallError ? err.code : String(err)}`, {
      cause: err,
    });
  }
  const text = res.body.toString("utf8");
  return {
    ok: res.status >= 200 && res.status < 300,
    status: res.status,
    json: async () => JSON.parse(text) as unknown,
  };
}

/** grammy's client options: the Bot API root and {@link botFetch}. */
export function botClient(apiRoot: string): { apiRoot: string; fetch: typeof fetch } {
  return { apiRoot, fetch: botFetch as unknown as typeof fetch };
}
