/**
 * grammy errors → the core's error shape: `Error & { status, retryAfterMs? }` for Bot API
 * answers, `Error & { code: "ECONNRESET" }` for network failures (the core retries both).
 */
import { GrammyError, HttpError } from "grammy";

/** An error the core understands: HTTP-like status, optional wait before a retry. */
export type TelegramError = Error & {
  status?: number;
  retryAfterMs?: number;
  code?: string;
  cause?: unknown;
};

/** Maps a thrown value from a grammy call; anything unknown is returned as it is. */
export function mapTelegramError(err: unknown): unknown {
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
