/**
 * grammy errors → the core's error shape: `Error & { status, retryAfterMs? }` for Bot API
 * answers, `Error & { code: "ECONNRESET" }` for network failures (the core retries both).
 */
import { GrammyError, HttpError } from "grammy";
import { BridgeError } from "../../src/core/errors";

/** An error the core understands: HTTP-like status, optional wait before a retry. */
export type TelegramError = Error & {
  status?: number;
  retryAfterMs?: number;
  code?: string;
  cause?: unknown;
};

/** Maps a thrown value from a grammy call; anything unknown is returned as it is. */
export function mapTelegramError(err: unknown): unknown {
  if (err instanceof GrammyError && err.error_code === 403) {
    // A person's refusal, final until they act: told in words, and not tried again.
    const said = /can't initiate conversation/.test(err.description)
      ? "Telegram lets the bot write to this person only once they have started it (sent it /start)"
      : /blocked by the user/.test(err.description)
        ? "this person has blocked the bot on Telegram"
        : undefined;
    if (said) return Object.assign(new BridgeError(said, err), { status: 403 });
  }
  if (err instanceof GrammyError) {
    const e: TelegramError = Object.assign(new Error(err.description), {
      status: err.error_code,
      cause: err,
    });
    const ra = err.parameters?.retry_after;
    if (typeof ra === "number") e.retryAfterMs = ra * 1000;
    return e;
  }
  if (err instanceof HttpError) {
    const inner = err.error instanceof Error ? err.error.message : String(err.error);
    return Object.assign(new Error(`Telegram unreachable: ${inner}`), { code: "ECONNRESET", cause: err });
  }
  return err;
}

/** Runs a Bot API call and rethrows its failure in the core's shape. */
export async function tg<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw mapTelegramError(err);
  }
}

/** The Bot API `description` or message of an error. */
export function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** True for a 400 whose description contains `fragment` (the Bot API's error texts are stable). */
export function isBadRequest(err: unknown, fragment: string): boolean {
  const e = err as TelegramError;
  return e?.status === 400 && typeof e.message === "string" && e.message.includes(fragment);
}
