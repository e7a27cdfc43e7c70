/**
 * Slack Web API failures → errors the core understands: `status` and `retryAfterMs` for
 * retries (429 with Retry-After, 5xx and network errors are retried), and for what cannot
 * succeed a {@link BridgeError} whose text tells the Matrix user what Slack refused and why.
 */
import { BridgeError } from "../../src/core/errors";

/** A retryable or unclassified Slack failure. `slackError` is Slack's error code. */
export interface SlackError extends Error {
  status: number;
  retryAfterMs?: number;
  slackError?: string;
}

/** What Slack does not let a bot do, in words for the Matrix user. */
const EXPLAINED: Record<string, string> = {
  cant_delete_message: "Slack lets the bridge's bot delete only its own messages, not other people's",
  cant_update_message: "Slack lets the bridge's bot edit only its own messages",
  not_in_channel: "the Slack app is not a member of this channel (invite it with /invite @app)",
  channel_not_found: "the Slack app cannot see this channel (invite it, or check the channel id)",
  message_not_found: "the message is gone on Slack",
  missing_scope: "the Slack app lacks a permission for this (add the scope and reinstall the app)",
  restricted_action: "the workspace's settings do not allow the app to do this",
  method_not_supported_for_channel_type: "Slack does not allow this in direct messages",
  is_archived: "the Slack channel is archived",
  msg_too_long: "the message is too long for Slack",
  invalid_name: "Slack refused the channel name (lowercase letters, digits, - and _ only)",
  no_text: "there was nothing to send",
  invalid_auth: "Slack refused the bot token (invalid_auth): reinstall the app or replace the token",
  token_revoked: "the Slack app's token was revoked: reinstall the app",
  account_inactive: "the Slack app's token is inactive: reinstall the app",
};

const AUTH = new Set(["invalid_auth", "not_authed", "token_revoked", "account_inactive", "token_expired"]);

interface WebApiErrorShape {
  code?: string;
  data?: { error?: string };
  retryAfter?: number;
  statusCode?: number;
  original?: unknown;
  message?: string;
}

/** Converts anything a WebClient call threw. */
export function mapSlackError(raw: unknown): Error {
  const e = (raw ?? {}) as WebApiErrorShape;
  const fail = (status: number, message: string, extra: Partial<SlackError> = {}): SlackError =>
    Object.assign(new Error(message), { status, ...extra }) as SlackError;
  switch (e.code) {
    case "slack_webapi_rate_limited_error":
      return fail(429, `rate limited for ${e.retryAfter ?? 1}s`, {
        retryAfterMs: (e.retryAfter ?? 1) * 1000,
      });
    case "slack_webapi_request_error":
      return fail(0, `Slack unreachable: ${String((e.original as Error | undefined)?.message ?? e.message)}`);
    case "slack_webapi_http_error":
      return fail(e.statusCode ?? 500, `Slack answered HTTP ${e.statusCode}`);
    case "slack_webapi_platform_error": {
      const code = e.data?.error ?? "unknown_error";
      if (code === "ratelimited") return fail(429, "rate limited", { retryAfterMs: 1000 });
      if (code === "internal_error" || code === "fatal_error" || code === "service_unavailable")
        return fail(503, code, { slackError: code });
      const human = EXPLAINED[code] ?? `Slack refused it (${code})`;
      return Object.assign(new BridgeError(human, raw), {
        slackError: code,
        status: AUTH.has(code) ? 401 : 400,
      });
    }
    default:
      return raw instanceof Error ? raw : new Error(String(raw));
  }
}

/** Slack's error code of a mapped error, if any. */
export function slackCode(err: unknown): string | undefined {
  return (err as { slackError?: string } | undefined)?.slackError;
}

/** Runs a Web API call, mapping its failure. */
export async function slack<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw mapSlackError(err);
  }
}

/** A short description for logs. */
export function describe(err: unknown): string {
  const e = err as { message?: string; slackError?: string };
  return e?.slackError ? `${e.slackError}: ${e.message}` : String(e?.message ?? err);
}
