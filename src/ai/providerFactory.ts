import type { ProviderFactory } from "./ProviderSet";
import { createProvider, FailoverProvider } from "./providers";

/** The real providers: OpenAI-compatible and Ollama clients, and the ordered failover list. */
export const defaultProviderFactory: ProviderFactory = {
  create: createProvider,
  failover: (providers) => new FailoverProvider(providers),
};
