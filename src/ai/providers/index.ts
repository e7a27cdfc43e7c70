import { registerSecret } from "../../log/Logger";
import { type FailoverOptions, FailoverProvider } from "./FailoverProvider";
import { OllamaProvider } from "./OllamaProvider";
import { OpenAIProvider } from "./OpenAIProvider";
import type { ChatProvider, ProviderConfig } from "./types";

export { type FailoverOptions, FailoverProvider } from "./FailoverProvider";
export { OllamaProvider } from "./OllamaProvider";
export { OpenAIProvider } from "./OpenAIProvider";
export * from "./types";

/** Builds the provider for one config entry; its API key is registered so no log line shows it. */
export function createProvider(cfg: ProviderConfig): ChatProvider {
  registerSecret(cfg.apiKey);
  switch (cfg.kind) {
    case "openai":
      return new OpenAIProvider(cfg);
    case "ollama":
      return new OllamaProvider(cfg);
    default:
      throw new Error(
        `provider ${cfg.name}: unknown kind ${String((cfg as { kind: unknown }).kind)} (use openai or ollama)`,
      );
  }
}

/** One provider, or a failover list over several in the given order. */
export function createFailover(cfgs: readonly ProviderConfig[], opts?: FailoverOptions): ChatProvider {
  const providers = cfgs.map(createProvider);
  return providers.length === 1 ? providers[0]! : new FailoverProvider(providers, opts);
}
