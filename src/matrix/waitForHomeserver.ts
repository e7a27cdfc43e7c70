import { retryDelayMs, sleep } from "../ai/providers/retry";
import { BridgeError } from "../core/errors";
import { type HttpAnswer, HttpCallError, httpCall } from "../core/httpCall";
import { Logger } from "../log/Logger";

const log = new Logger("homeserver");

/** How long `clawbridge start` waits for the homeserver by default (`--wait-homeserver`). */
export const DEFAULT_HOMESERVER_WAIT_SECONDS = 60;

/**
 * Waits until the homeserver answers `GET /_matrix/client/versions`, retrying with backoff
 * (0.5 s doubling to 8 s) while it is unreachable or answers 5xx/429 (starting, or behind a
 * proxy that is up before it), for at most `timeoutMs`. Says once that it is waiting.
 * Throws a {@link BridgeError} saying what to do when the time is up, or at once when the URL
 * answers something that is not a homeserver.
 */
export async function waitForHomeserver(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let said = false;
  for (let attempt = 0; ; attempt++) {
    const last = await probe(url);
    if (last.status === 200) {
      if (said) log.info("the homeserver answers", { url });
      return;
    }
    if (!(last.status === 0 || last.status === 429 || last.status >= 500)) {
      throw new BridgeError(
        `${url} answered ${last.status} for /_matrix/client/versions: it is not a Matrix homeserver's client API; check homeserver.url`,
        new Error(last.reason),
      );
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      const why = last.status === 0 ? "is unreachable" : `answers ${last.status}`;
      throw new BridgeError(
        `the homeserver at ${url} ${why} after waiting ${Math.round(timeoutMs / 1000)} s: start it (or fix homeserver.url), then start the bridge again (--wait-homeserver <seconds> waits longer)`,
        new Error(last.reason),
      );
    }
    if (!said) {
      said = true;
      log.info(`waiting for the homeserver at ${url}… (up to ${Math.round(timeoutMs / 1000)} s)`, {
        reason: last.reason,
      });
    }
    await sleep(Math.min(retryDelayMs(attempt), left));
  }
}

/**
 * One unauthenticated `GET /_matrix/client/versions` (a token, even an empty one, makes Synapse
 * answer 401): the HTTP status, 0 when nothing answered.
 */
async function probe(url: string): Promise<{ status: number; reason: string }> {
  try {
    const res = await getVersions(url, { timeoutMs: 10_000 });
    return { status: res.status, reason: `HTTP ${res.status}` };
  } catch (err) {
    const cause = err instanceof HttpCallError ? err.code : (err as Error).message;
    return { status: 0, reason: `unreachable (${cause})` };
  }
}

/** The homeserver's `/_matrix/client/versions` URL. */
export function versionsUrl(homeserverUrl: string): string {
  return `${homeserverUrl.replace(/\/+$/, "")}/_matrix/client/versions`;
}

/**
 * One unauthenticated `GET /_matrix/client/versions`, the way every check of the homeserver
 * makes it: over the kept-alive homeserver connections (node:http; the first fetch() of a
 * process loads undici, about 25 ms of a start), its answer read up to 64 KiB.
 */
export function getVersions(
  homeserverUrl: string,
  opts: { timeoutMs: number; signal?: AbortSignal },
): Promise<HttpAnswer> {
  return httpCall(versionsUrl(homeserverUrl), {
    method: "GET",
    headers: {},
    ...opts,
    maxBodyBytes: 64 * 1024,
    truncate: true,
  });
}
