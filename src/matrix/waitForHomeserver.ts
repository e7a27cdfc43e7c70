import { retryDelayMs, sleep } from "../ai/providers/retry";
import { BridgeError } from "../core/errors";
import { Logger } from "../log/Logger";
import { MatrixApi, MatrixError } from "./MatrixApi";

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
  const api = new MatrixApi(url, "", "", 10_000);
  const deadline = Date.now() + timeoutMs;
  let said = false;
  for (let attempt = 0; ; attempt++) {
    let last: MatrixError;
    try {
      await api.versions();
      if (said) log.info("the homeserver answers", { url });
      return;
    } catch (err) {
      if (!(err instanceof MatrixError)) throw err;
      last = err;
    }
    if (!last.retryable) {
      throw new BridgeError(
        `${url} answered ${last.status} for /_matrix/client/versions: it is not a Matrix homeserver's client API; check homeserver.url`,
        last,
      );
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      const why = last.status === 0 ? "is unreachable" : `answers ${last.status}`;
      throw new BridgeError(
        `the homeserver at ${url} ${why} after waiting ${Math.round(timeoutMs / 1000)} s: start it (or fix homeserver.url), then start the bridge again (--wait-homeserver <seconds> waits longer)`,
        last,
      );
    }
    if (!said) {
      said = true;
      log.info(`waiting for the homeserver at ${url}… (up to ${Math.round(timeoutMs / 1000)} s)`, {
        reason: last.message,
      });
    }
    await sleep(Math.min(retryDelayMs(attempt), left));
  }
}
