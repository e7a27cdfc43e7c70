/**
 * Thread roots of messages seen in threads (ts → root ts), so that a Matrix reply to any of
 * them lands in the right Slack thread. Bounded: the oldest entries go first. Not kept across
 * restarts (the README says what that means for replies).
 */
const MAX_ROOTS = 5000;

export class ThreadRoots {
  private readonly roots = new Map<string, string>();

  remember(ts: string, root: string): void {
    if (this.roots.size > MAX_ROOTS) this.roots.delete(this.roots.keys().next().value!);
    this.roots.set(ts, root);
  }

  rootOf(ts: string): string | undefined {
    return this.roots.get(ts);
  }
}
