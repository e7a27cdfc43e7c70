import { MatrixError } from "../matrix/MatrixApi";
import { isDatabaseUnavailable } from "../store/unavailable";

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

/**
 * What a failure says about trying again:
 * - `outage`: the other side is unreachable or overloaded (no connection, 429, 502–504, the
 *   database gone). Nothing is wrong with the item; its lane waits and retries.
 * - `refused`: the other side answered and said no (another 4xx or 5xx, or an error of ours).
 *   Worth a few more attempts (a race, a hiccup), then the item is given up.
 * - `permanent`: trying again cannot help (a refusal the code already explained to the user).
 */
export type FailureClass = "outage" | "refused" | "permanent";

const OUTAGE_STATUS = new Set([0, 429, 502, 503, 504]);

/** How a failure should be retried; `afterMs` when the other side said how long to wait. */
export function classifyFailure(err: unknown): { kind: FailureClass; afterMs?: number } {
  if (err instanceof MatrixError) {
    return { kind: OUTAGE_STATUS.has(err.status) ? "outage" : "refused", afterMs: err.retryAfterMs };
  }
  if (err instanceof BridgeError) return { kind: err.retryable ? "refused" : "permanent" };
  if (typeof err === "object" && err !== null) {
    const e = err as { status?: unknown; retryAfterMs?: unknown };
    const afterMs = typeof e.retryAfterMs === "number" ? e.retryAfterMs : undefined;
    if (typeof e.status === "number")
      return { kind: OUTAGE_STATUS.has(e.status) ? "outage" : "refused", afterMs };
    if (lostConnection(err)) return { kind: "outage" };
  }
  return { kind: "refused" };
}

/** A network failure, here or in the error's causes (a few levels), or the database gone. */
function lostConnection(err: unknown): boolean {
  if (isDatabaseUnavailable(err)) return true;
  let e: unknown = err;
  for (let depth = 0; depth < 5 && typeof e === "object" && e !== null; depth++) {
    const { code } = e as { code?: unknown };
    if (typeof code === "string" && NETWORK_CODES.has(code)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * How long to wait before trying again, or undefined when trying again cannot help. For a
 * single operation (catch-up, one send); the delivery queue uses {@link classifyFailure}.
 */
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
