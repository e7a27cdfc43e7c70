/**
 * Caches that never grow with every room, user or event the bridge has seen: past `max`
 * entries the least recently used one is forgotten (a lookup or a write counts as a use).
 * Everything kept in them can be found again (in the store, from the homeserver) or is only a
 * hint, so forgetting costs a lookup, never correctness.
 */
export class BoundedMap<K, V> {
  private readonly map = new Map<K, V>();

  constructor(private readonly max: number) {
    if (!(max >= 1)) throw new RangeError(`BoundedMap: max must be at least 1, got ${max}`);
  }

  get size(): number {
    return this.map.size;
  }

  get(key: K): V | undefined {
    if (!this.map.has(key)) return undefined;
    const value = this.map.get(key) as V;
    this.map.delete(key);
    this.map.set(key, value);
    return value;
  }

  has(key: K): boolean {
    return this.map.has(key);
  }

  set(key: K, value: V): this {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value as K);
    return this;
  }

  delete(key: K): boolean {
    return this.map.delete(key);
  }

  clear(): void {
    this.map.clear();
  }

  keys(): IterableIterator<K> {
    return this.map.keys();
  }
}

/** A set with the same bound: the least recently added or checked member goes first. */
export class BoundedSet<K> {
  private readonly map: BoundedMap<K, true>;

  constructor(max: number) {
    this.map = new BoundedMap(max);
  }

  get size(): number {
    return this.map.size;
  }

  has(key: K): boolean {
    return this.map.get(key) !== undefined;
  }

  add(key: K): this {
    this.map.set(key, true);
    return this;
  }

  delete(key: K): boolean {
    return this.map.delete(key);
  }

  clear(): void {
    this.map.clear();
  }

  [Symbol.iterator](): IterableIterator<K> {
    return this.map.keys();
  }
}
