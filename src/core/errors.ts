import { MatrixError } from "../matrix/MatrixApi";

const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EAI_AGAIN",
  "ENOTFOUND",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
]);

/**
 * A failure with a text meant for a person (what happened and what to do), kept apart from
 * the internal cause that goes to the log.
 */
export class BridgeError extends Error {
  constructor(
    readonly userMessage: string,
    cause?: unknown,
    readonly retryable = false,
  ) {
    super(userMessage, { cause });
    this.name = "BridgeError";
  }
}

/** How long to wait before trying again, or undefined when trying again cannot help. */
export function retryHint(err: unknown): { retry: boolean; afterMs?: number } {
  if (err instanceof MatrixError) return { retry: err.retryable, afterMs: err.retryAfterMs };
  if (err instanceof BridgeError) return { retry: err.retryable };
  if (typeof err === "object" && err !== null) {
    const e = err as { status?: unknown; retryAfterMs?: unknown; code?: unknown; cause?: { code?: unknown } };
    const afterMs = typeof e.retryAfterMs === "number" ? e.retryAfterMs : undefined;
    if (typeof e.status === "number")
      return { retry: e.status === 0 || e.status === 429 || e.status >= 500, afterMs };
    const code = typeof e.code === "string" ? e.code : typeof e.cause?.code === "string" ? e.cause.code : "";
    if (NETWORK_CODES.has(code)) return { retry: true };
  }
  return { retry: false };
}

/** The short reason shown to a person, without internals. */
export function userText(err: unknown): string {
  if (err instanceof BridgeError) return err.userMessage;
  if (err instanceof MatrixError)
    return err.errcode ? `the homeserver refused it (${err.errcode})` : "the homeserver refused it";
  if (typeof err === "object" && err !== null && typeof (err as { status?: unknown }).status === "number") {
    return `the platform answered ${(err as { status: number }).status}`;
  }
  return "an internal error (see the bridge log)";
}
