import type { AiConfig } from "../config/types";
import type { ChatProvider, ProviderConfig } from "./providers/types";

/** Builds providers from config; the model side supplies it (createProvider, FailoverProvider). */
export interface ProviderFactory {
  create(cfg: ProviderConfig): ChatProvider;
  /** One provider that tries `providers` in order, moving on when one fails. */
  failover(providers: ChatProvider[]): ChatProvider;
}

/** What a room's answer is generated with. */
export interface RoomProvider {
  provider: ChatProvider;
  /** Provider names in the order they are tried. */
  chain: string[];
  /** Some provider of the chain reads images (worth downloading them). */
  vision: boolean;
  /** The first provider of the chain calls functions (worth offering tools). */
  tools: boolean;
}

/** The configured providers (`ai.providers`) and the failover order (`ai.failover`). */
export class ProviderSet {
  private readonly providers = new Map<string, ChatProvider>();
  private readonly chains = new Map<string, ChatProvider>();

  constructor(
    private readonly ai: AiConfig,
    private readonly factory: ProviderFactory,
  ) {
    for (const [name, p] of Object.entries(ai.providers)) {
      this.providers.set(
        name,
        factory.create({
          name,
          kind: p.kind,
          baseUrl: p.base_url,
          apiKey: p.api_key,
          model: p.model,
          stream: p.stream,
          timeoutMs: p.timeout_ms,
          maxRetries: p.max_retries,
          vision: p.vision === true,
          tools: p.tools === true,
        }),
      );
    }
  }

  names(): string[] {
    return [...this.providers.keys()];
  }

  has(name: string): boolean {
    return this.providers.has(name);
  }

  get(name: string): ChatProvider | undefined {
    return this.providers.get(name);
  }

  defaultName(): string | undefined {
    return this.ai.default_provider ?? this.names()[0];
  }

  /** The room's provider (or the default) first, then the failover list; undefined when none is configured. */
  forRoom(roomProvider?: string): RoomProvider | undefined {
    const first = roomProvider && this.has(roomProvider) ? roomProvider : this.defaultName();
    if (!first) return undefined;
    const chain = [first, ...this.ai.failover.filter((n) => n !== first && this.has(n))];
    const key = chain.join("\n");
    let provider = this.chains.get(key);
    if (!provider) {
      const list = chain.map((n) => this.providers.get(n)!);
      provider = list.length === 1 ? list[0]! : this.factory.failover(list);
      this.chains.set(key, provider);
    }
    return {
      provider,
      chain,
      vision: chain.some((n) => this.ai.providers[n]?.vision === true),
      tools: this.ai.providers[first]?.tools === true,
    };
  }
}
