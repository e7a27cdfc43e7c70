import { redact } from "../../log/Logger";
import { ProviderError } from "./types";

/** Servers echo request parts in error texts; keep what reaches a user short and free of tokens. */
function clip(text: string | undefined, max = 160): string {
  if (!text) return "";
  const one = redact(text.replace(/\s+/g, " ").trim());
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}

/** Maps an HTTP error status (and the server's own message) to a ProviderError with a human text. */
export function httpError(
  provider: string,
  status: number,
  serverMessage: string | undefined,
  model: string,
  cause?: unknown,
): ProviderError {
  const said = clip(serverMessage);
  const detail = said ? `: ${said}` : "";
  if (status === 401 || status === 403) {
    return new ProviderError(
      `${provider}: the API key was refused (HTTP ${status}); check the provider's apiKey`,
      provider,
      status,
      false,
      { cause, code: "auth" },
    );
  }
  if (status === 404) {
    return new ProviderError(
      `${provider}: model "${model}" not found (HTTP 404); check the model name and the provider's baseUrl`,
      provider,
      status,
      false,
      { cause, code: "model_not_found" },
    );
  }
  if (status === 429) {
    return new ProviderError(`${provider}: rate limited (HTTP 429)${detail}`, provider, status, true, {
      cause,
      code: "rate_limited",
    });
  }
  if (status === 408 || status >= 500) {
    return new ProviderError(`${provider}: server error (HTTP ${status})${detail}`, provider, status, true, {
      cause,
      code: "server",
    });
  }
  return new ProviderError(
    `${provider}: request refused (HTTP ${status})${detail}`,
    provider,
    status,
    false,
    {
      cause,
      code: "bad_request",
    },
  );
}

export function timeoutError(provider: string, timeoutMs: number, firstToken: boolean): ProviderError {
  const what = firstToken ? "no answer" : "the answer stalled";
  return new ProviderError(
    `${provider}: ${what} within ${Math.round(timeoutMs / 100) / 10} s`,
    provider,
    undefined,
    true,
    {
      code: "timeout",
    },
  );
}

export function abortedError(provider: string, cause?: unknown): ProviderError {
  return new ProviderError(`${provider}: the request was cancelled`, provider, undefined, false, {
    cause,
    code: "aborted",
  });
}

export function networkError(provider: string, baseUrl: string, cause: unknown): ProviderError {
  const why = cause instanceof Error ? describeNetworkCause(cause) : "";
  return new ProviderError(
    `${provider}: cannot reach ${safeUrl(baseUrl)}${why ? ` (${why})` : ""}`,
    provider,
    undefined,
    true,
    { cause, code: "network" },
  );
}

export function badResponse(provider: string, what: string, cause?: unknown): ProviderError {
  return new ProviderError(
    `${provider}: unexpected answer (${clip(what, 120)})`,
    provider,
    undefined,
    false,
    {
      cause,
      code: "bad_response",
    },
  );
}

/** The URL without user info or query (either may hold a credential). */
function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    return redact(`${u.protocol}//${u.host}${u.pathname}`);
  } catch {
    return "the configured baseUrl";
  }
}

/** undici's error when the connection drops while a response body is read. */
export function isBrokenStream(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; depth < 4 && e instanceof Error; depth++) {
    const code = (e as Error & { code?: unknown }).code;
    if (e.message === "terminated" || code === "UND_ERR_SOCKET" || code === "ECONNRESET") return true;
    e = e.cause;
  }
  return false;
}

export function brokenStream(provider: string, cause: unknown): ProviderError {
  return new ProviderError(`${provider}: the connection broke during the answer`, provider, undefined, true, {
    cause,
    code: "network",
  });
}

function describeNetworkCause(err: Error): string {
  let e: unknown = err;
  let innermost = err;
  // fetch wraps the socket error: TypeError("fetch failed", { cause: { code: "ECONNREFUSED" } }).
  for (let depth = 0; depth < 4 && e instanceof Error; depth++) {
    const code = (e as Error & { code?: unknown }).code;
    if (typeof code === "string" && /^E[A-Z]+$/.test(code)) return code;
    innermost = e;
    e = e.cause;
  }
  return clip(innermost.message, 80);
}
