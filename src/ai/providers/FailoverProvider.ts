import { Logger } from "../../log/Logger";
import { abortedError, badResponse } from "./errors";
import { type ChatChunk, type ChatProvider, type ChatRequest, ProviderError } from "./types";

export interface FailoverOptions {
  /**
   * "first" (default): the request's model goes to the first provider only; each later provider
   * answers with its own default model (a model name rarely exists on another backend).
   * "all": every provider gets the request's model.
   */
  requestModel?: "first" | "all";
}

/**
 * An ordered list of providers behaving as one. A provider that fails before its first delta
 * (after its own retries: error, timeout, 429) hands over to the next, and that is logged; once
 * output has started, an error is thrown, since the caller has already shown part of an answer.
 * Timeouts are each provider's own (`timeoutMs` for the first token and between tokens).
 * Cancelling (ChatRequest.signal) stops at once, without trying the rest.
 */
export class FailoverProvider implements ChatProvider {
  readonly name: string;
  private readonly log = new Logger("FailoverProvider");

  constructor(
    readonly providers: readonly ChatProvider[],
    private readonly opts: FailoverOptions = {},
  ) {
    if (providers.length === 0) throw new Error("FailoverProvider needs at least one provider");
    this.name = providers.map((p) => p.name).join(">");
  }

  get kind(): "openai" | "ollama" {
    return this.providers[0]!.kind;
  }

  get defaultModel(): string {
    return this.providers[0]!.defaultModel;
  }

  async *stream(req: ChatRequest): AsyncGenerator<ChatChunk> {
    const failures: ProviderError[] = [];
    for (const [i, provider] of this.providers.entries()) {
      if (req.signal?.aborted) throw abortedError(provider.name, req.signal.reason);
      const model = i === 0 || this.opts.requestModel === "all" ? req.model : "";
      let started = false;
      try {
        for await (const chunk of provider.stream({ ...req, model })) {
          if (chunk.type !== "done") started = true;
          yield chunk.type === "done" ? { ...chunk, provider: chunk.provider ?? provider.name } : chunk;
        }
        if (failures.length > 0)
          this.log.info("answered after failover", { provider: provider.name, failed: failures.length });
        return;
      } catch (err) {
        const pe = err instanceof ProviderError ? err : badResponse(provider.name, String(err), err);
        if (started || pe.code === "aborted" || req.signal?.aborted) throw pe;
        failures.push(pe);
        const next = this.providers[i + 1];
        this.log.warn(next ? "provider failed, trying the next" : "provider failed, none left", {
          provider: provider.name,
          next: next?.name,
          status: pe.status,
          code: pe.code,
          error: pe.message,
        });
      }
    }
    if (failures.length === 1) throw failures[0]!;
    const last = failures[failures.length - 1]!;
    throw new ProviderError(
      `no provider answered: ${failures.map((f) => f.message).join("; ")}`,
      this.name,
      last.status,
      failures.some((f) => f.retryable),
      { cause: new AggregateError(failures), code: "all_failed" },
    );
  }
}
