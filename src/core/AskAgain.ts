/**
 * Keys of lookups the platform refused, and when to ask again: first after `firstMs`, then
 * twice as long after each refusal, up to `maxMs`. In memory: after a restart the next event
 * that needs the details asks once more anyway.
 */
export class AskAgain<K> {
  private readonly pending = new Map<K, { due: number; waitMs: number }>();

  constructor(
    private readonly firstMs = 5_000,
    private readonly maxMs = 600_000,
  ) {}

  /** The lookup for `key` was refused (again). */
  refused(key: K): void {
    const waitMs = Math.min((this.pending.get(key)?.waitMs ?? this.firstMs / 2) * 2, this.maxMs);
    this.pending.set(key, { due: Date.now() + waitMs, waitMs });
  }

  /** Whether `key` waits for details and it is time to ask. */
  due(key: K): boolean {
    const p = this.pending.get(key);
    return p !== undefined && p.due <= Date.now();
  }

  answered(key: K): void {
    this.pending.delete(key);
  }
}
