import { ConnectionState } from "./connector";

/**
 * A login's connection state as its client keeps it. A change is reported to the core; the
 * same state with the same message is not, except Connecting (each is a new attempt).
 */
export class ConnectionStateCell {
  private current = ConnectionState.Connecting;
  private message?: string;

  constructor(private readonly report: (state: ConnectionState, message?: string) => void) {}

  get(): ConnectionState {
    return this.current;
  }

  /** The message of the last report (why the login is not connected). */
  get reason(): string | undefined {
    return this.message;
  }

  set(state: ConnectionState, message?: string): void {
    if (state === this.current && message === this.message && state !== ConnectionState.Connecting) return;
    this.current = state;
    this.message = message;
    this.report(state, message);
  }
}
