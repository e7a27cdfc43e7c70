import { registerSecret } from "../../log/Logger";
import { type FailoverOptions, FailoverProvider } from "./FailoverProvider";
import { OllamaProvider } from "./OllamaProvider";
import { OpenAIProvider } from "./OpenAIProvider";
import type { ChatProvider, ProviderConfig } from "./types";

export { type FailoverOptions, FailoverProvider } from "./FailoverProvider";
export { OllamaProvider } from "./OllamaProvider";
export { OpenAIProvider } from "./OpenAIProvider";
export * from "./types";

/**
 * What is wrong with one provider entry, each naming the key and the fix (empty when fine).
 * `at` is the entry's place in the config file, e.g. "ai.providers[0]".
 */
export function providerConfigProblems(cfg: ProviderConfig, at = `provider ${cfg.name || "?"}`): string[] {
  const out: string[] = [];
  if (!cfg.name) out.push(`${at}.name: give the provider a name (used in logs and commands)`);
  if (cfg.kind !== "openai" && cfg.kind !== "ollama") out.push(`${at}.kind: use "openai" or "ollama"`);
  let url: URL | undefined;
  try {
    url = new URL(cfg.baseUrl);
  } catch {
    out.push(
      `${at}.baseUrl: not a URL; e.g. http://127.0.0.1:11434 (ollama) or https://api.openai.com/v1 (openai)`,
    );
  }
  if (url && url.protocol !== "http:" && url.protocol !== "https:")
    out.push(`${at}.baseUrl: use http:// or https://`);
  if (!cfg.model) out.push(`${at}.model: name the default model`);
  if (!(cfg.timeoutMs > 0)) out.push(`${at}.timeoutMs: must be a positive number of milliseconds`);
  if (!Number.isInteger(cfg.maxRetries) || cfg.maxRetries < 0)
    out.push(`${at}.maxRetries: must be 0 or more`);
  return out;
}

/** Builds the provider for one config entry; its API key is registered so no log line shows it. */
export function createProvider(cfg: ProviderConfig): ChatProvider {
  const problems = providerConfigProblems(cfg);
  if (problems.length > 0) throw new Error(`invalid provider config: ${problems.join("; ")}`);
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
