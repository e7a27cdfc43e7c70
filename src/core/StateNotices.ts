import { Logger } from "../log/Logger";
import type { Intent } from "../matrix/MatrixApi";
import type { Store } from "../store/Store";
import { ConnectionState, type LoginRef } from "./connector";
import { txnIdFor } from "./InboundBridge";

const log = new Logger("StateNotices");

/** How long a transient disconnect lasts before the owner hears of it (a blip is not news). */
export const TRANSIENT_GRACE_MS = 30_000;

/**
 * Tells a login's owner, in their management room, when the login needs them (logged out,
 * credentials refused) or has been down for a while, and when it is back.
 */
export class StateNotices {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly told = new Set<string>();
  /** The latest reason a login gave for being down. */
  private readonly reasons = new Map<string, string | undefined>();
  private counter = 0;

  constructor(private readonly opts: { store: Store; bot: Intent; graceMs?: number }) {}

  changed(login: LoginRef, state: ConnectionState, message?: string): void {
    const what = `${login.platform}${login.remoteId ? ` (${login.remoteId})` : ""}`;
    if (state === ConnectionState.TransientDisconnect || state === ConnectionState.Connecting) {
      // A reconnect loop reports again and again while the login is down: the grace time runs
      // from the first report, and the notice gives the latest reason.
      if (state === ConnectionState.TransientDisconnect) this.reasons.set(login.id, message);
      if (state === ConnectionState.Connecting || this.timers.has(login.id)) return;
      const t = setTimeout(() => {
        this.timers.delete(login.id);
        this.told.add(login.id);
        const reason = this.reasons.get(login.id) ?? "disconnected";
        void this.tell(login, `${what}: the connection is down (${reason}); still trying.`);
      }, this.opts.graceMs ?? TRANSIENT_GRACE_MS);
      t.unref();
      this.timers.set(login.id, t);
      return;
    }
    clearTimeout(this.timers.get(login.id));
    this.timers.delete(login.id);
    this.reasons.delete(login.id);
    if (state === ConnectionState.LoggedOut || state === ConnectionState.BadCredentials) {
      this.told.add(login.id);
      void this.tell(login, `${what}: ${state}${message ? ` — ${message}` : ""}`);
    } else if (state === ConnectionState.Connected && this.told.delete(login.id)) {
      void this.tell(login, `${what}: connected again.`);
    }
  }

  private async tell(login: LoginRef, text: string): Promise<void> {
    try {
      const room = (await this.opts.store.getUser(login.ownerMxid))?.managementRoom;
      if (!room) return;
      await this.opts.bot.sendEvent(
        room,
        "m.room.message",
        { msgtype: "m.notice", body: text },
        txnIdFor("state", login.id, Date.now(), this.counter++),
      );
    } catch (err) {
      log.warn("could not tell the owner about the login's state", { login: login.id, err: String(err) });
    }
  }

  stop(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}
