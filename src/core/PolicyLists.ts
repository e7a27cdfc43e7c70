import { Logger } from "../log/Logger";
import type { RoomEvent } from "../matrix/MatrixApi";
import { BridgeError, userText } from "./errors";
import type { RemotePayload } from "./InboundBridge";
import { Lanes } from "./lanes";
import { isRoomEvent } from "./OutboundBridge";
import { type PolicyDeps, PolicyEnforcer, type PolicyMatch } from "./PolicyEnforcer";
import { chatKey } from "./PortalService";
import { RuleSet, ruleKindOf, rulesOfState } from "./policyRules";

export type { PolicyActionResult, PolicyAuditEntry, PolicyMatch } from "./PolicyEnforcer";

const log = new Logger("PolicyLists");

const SQL_SUBSCRIPTIONS = "SELECT room_id, list_room_id, list_ref FROM policy_subscription";
const SQL_SUBSCRIBE = `INSERT INTO policy_subscription (room_id, list_room_id, list_ref, added_by)
  VALUES ($1, $2, $3, $4) ON CONFLICT (room_id, list_room_id) DO UPDATE SET list_ref = EXCLUDED.list_ref`;
const SQL_UNSUBSCRIBE = "DELETE FROM policy_subscription WHERE room_id = $1 AND list_room_id = $2";
const SQL_PORTAL_ROOMS = "SELECT DISTINCT room_id FROM portal";

/** Event types whose senders' new messages a matching rule keeps in Matrix. */
const CONTENT_TYPES = new Set(["m.room.message", "m.sticker", "m.reaction"]);

interface PolicyList {
  roomId: string;
  /** As written in the config or the command (an alias or the id). */
  ref: string;
  rules: RuleSet;
  joined: boolean;
  /** Why the list is not followed, as shown to people. */
  problem?: string;
}

export interface ListInfo {
  ref: string;
  roomId: string;
  rules: number;
  joined: boolean;
  problem?: string;
}

/**
 * Policy lists (Mjolnir/Draupnir ban lists) for the bridge (`policy.lists`) and per room
 * (`!cb policy subscribe`). The bot joins each policy room, reads its state at start and again
 * whenever a rule event (or a redaction) arrives in it, as Mjolnir does: the room's current
 * state, not the order of the timeline, says which rules hold.
 *
 * A rule applies to user ids: ghosts of remote people and Matrix users alike. A matching ghost
 * is banned in the room (when the bot may) and on the room's linked chats of its platform (where
 * the connector can ban), once it is seen there (a member when the rule arrives, or at its next
 * message); its new messages are not bridged. A matching Matrix user's messages are not relayed
 * to the platforms (banning Matrix users in Matrix rooms is the job of the room's own
 * moderation bot). What the bridge did is recorded (`policy_ban`), so that removing the rule
 * undoes exactly that.
 */
export class PolicyLists {
  private readonly lists = new Map<string, PolicyList>();
  private readonly bridgeWide = new Set<string>();
  /** room → list room → ref */
  private readonly subscriptions = new Map<string, Map<string, string>>();
  private readonly refreshTimers = new Map<string, NodeJS.Timeout>();
  private readonly lanes = new Lanes();
  private readonly enforcer: PolicyEnforcer;
  private readonly pending = new Set<Promise<void>>();
  private stopped = false;

  constructor(
    private readonly opts: PolicyDeps & {
      /** How long a list waits for more rule events before it is read again. */
      refreshDelayMs?: number;
    },
  ) {
    this.enforcer = new PolicyEnforcer({
      ...opts,
      stillBanned: (mxid, roomId) => this.ruleFor(mxid, roomId) !== undefined,
    });
  }

  /** Joins and reads every list; the rooms are brought in line in the background. */
  async start(): Promise<void> {
    const rows = await this.opts.store.query<{ room_id: string; list_room_id: string; list_ref: string }>(
      SQL_SUBSCRIPTIONS,
    );
    for (const r of rows) this.subscribedBy(r.room_id).set(r.list_room_id, r.list_ref);
    for (const ref of this.opts.config.policy.lists) {
      const id = await this.open(ref);
      if (id) this.bridgeWide.add(id);
    }
    for (const r of rows) if (!this.lists.has(r.list_room_id)) await this.open(r.list_ref, r.list_room_id);
    const rules = [...this.lists.values()].reduce((n, l) => n + l.rules.size, 0);
    log.info("policy lists read", { lists: this.lists.size, rules });
    this.background(this.reconcileAll());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.refreshTimers.values()) clearTimeout(t);
    this.refreshTimers.clear();
    await Promise.allSettled([...this.pending]);
  }

  /** The rule of a list followed in `roomId` (or by the whole bridge) that bans `mxid`. */
  ruleFor(mxid: string, roomId?: string): PolicyMatch | undefined {
    for (const id of this.listsOf(roomId)) {
      const list = this.lists.get(id);
      const rule = list?.rules.match(mxid);
      if (list && rule) return { rule, list };
    }
    return undefined;
  }

  /**
   * Platform → Matrix: true when the event is from (or, for a join, about) a person a rule
   * bans, and is dropped. A message also bans them where they spoke, if that is not done yet.
   */
  async dropRemote(payload: RemotePayload): Promise<boolean> {
    const { platform, event } = payload;
    if (!this.hasRules() || !event.chat || event.fromSelf) return false;
    let who: string | undefined;
    if (event.kind === "member") who = event.membership === "join" ? event.target.id : undefined;
    else if (event.kind !== "delete" && event.kind !== "chat-info") who = event.sender.id;
    if (who === undefined) return false;
    const mxid = this.opts.ghosts.mxidFor(platform, who);
    const portal = await this.opts.portals.get(platform, chatKey(event.chat));
    const match = this.ruleFor(mxid, portal?.roomId);
    if (!match) return false;
    log.info("dropped: a policy rule bans the sender", {
      platform,
      chat: event.chat.id,
      kind: event.kind,
      mxid,
      list: match.list.ref,
    });
    if (portal && event.kind === "message")
      this.background(this.enforcer.enforce(portal.roomId, mxid, match));
    return true;
  }

  /** Matrix → platforms: true when a rule followed in the room bans the sender of this message. */
  blocksMatrix(ev: RoomEvent): boolean {
    if (!CONTENT_TYPES.has(ev.type) || !this.hasRules()) return false;
    const match = this.ruleFor(ev.sender, ev.room_id);
    if (!match) return false;
    log.info("not relayed: a policy rule bans the sender", {
      room: ev.room_id,
      event: ev.event_id,
      sender: ev.sender,
      list: match.list.ref,
    });
    return true;
  }

  /**
   * Every Matrix event, before anything else sees it: rule changes in a policy room make it be
   * read again; an invite of the bot into a list it could not join is taken (true: consumed).
   */
  async observe(ev: unknown): Promise<boolean> {
    if (!isRoomEvent(ev)) return false;
    const list = this.lists.get(ev.room_id);
    if (!list) return false;
    if (ev.type === "m.room.member" && ev.state_key === this.opts.bot.userId) {
      const membership = ev.content.membership;
      if (membership === "invite" && !list.joined) {
        this.background(this.rejoin(list));
        return true;
      }
      if (membership === "leave" || membership === "ban") {
        list.joined = false;
        list.problem = "the bridge bot was removed from it; its rules stay as last read";
        log.warn("the bot was removed from a policy room", { list: list.ref });
      }
      return false;
    }
    if ((typeof ev.state_key === "string" && ruleKindOf(ev.type)) || ev.type === "m.room.redaction")
      this.scheduleRefresh(list.roomId);
    return false;
  }

  /** `!cb policy subscribe`: the room follows the list from now on. */
  async subscribe(roomId: string, ref: string, by: string): Promise<ListInfo> {
    let listRoomId: string;
    try {
      listRoomId = await this.opts.bot.join(ref);
    } catch (err) {
      throw new BridgeError(
        `I cannot join ${ref} (${userText(err)}): invite me to it, or make it public, then subscribe again`,
        err,
      );
    }
    const list = this.lists.get(listRoomId);
    if (list) {
      list.joined = true;
      list.problem = undefined;
      await this.load(list);
    } else {
      await this.open(ref, listRoomId);
    }
    await this.opts.store.query(SQL_SUBSCRIBE, [roomId, listRoomId, ref, by]);
    this.subscribedBy(roomId).set(listRoomId, ref);
    this.background(this.reconcile([roomId]));
    return this.info(this.lists.get(listRoomId)!);
  }

  /** `!cb policy unsubscribe`: false when the room does not follow that list. */
  async unsubscribe(roomId: string, ref: string): Promise<boolean> {
    const mine = this.subscriptions.get(roomId);
    const listRoomId = [...(mine ?? [])].find(([id, r]) => id === ref || r === ref)?.[0];
    if (!mine || !listRoomId) return false;
    await this.opts.store.query(SQL_UNSUBSCRIBE, [roomId, listRoomId]);
    mine.delete(listRoomId);
    if (!this.bridgeWide.has(listRoomId) && ![...this.subscriptions.values()].some((s) => s.has(listRoomId)))
      this.lists.delete(listRoomId);
    this.background(this.reconcile([roomId]));
    return true;
  }

  /** The lists the whole bridge follows and those this room follows. */
  describe(roomId: string): { bridge: ListInfo[]; room: ListInfo[] } {
    const info = (id: string, ref: string): ListInfo =>
      this.lists.has(id)
        ? this.info(this.lists.get(id)!)
        : { ref, roomId: id, rules: 0, joined: false, problem: "not read yet" };
    return {
      bridge: [...this.bridgeWide].map((id) => info(id, id)),
      room: [...(this.subscriptions.get(roomId) ?? [])].map(([id, ref]) => info(id, ref)),
    };
  }

  private info(l: PolicyList): ListInfo {
    return { ref: l.ref, roomId: l.roomId, rules: l.rules.size, joined: l.joined, problem: l.problem };
  }

  private hasRules(): boolean {
    for (const l of this.lists.values()) if (l.rules.size) return true;
    return false;
  }

  private subscribedBy(roomId: string): Map<string, string> {
    let m = this.subscriptions.get(roomId);
    if (!m) {
      m = new Map();
      this.subscriptions.set(roomId, m);
    }
    return m;
  }

  /** The list rooms followed in a room: the bridge's, then the room's own. */
  private listsOf(roomId?: string): string[] {
    const own = roomId ? [...(this.subscriptions.get(roomId)?.keys() ?? [])] : [];
    return [...this.bridgeWide, ...own];
  }

  /**
   * Joins a list and reads it; a list the bot may not join yet is kept (by id, so that an
   * invite later is recognised) with the reason. Returns the list's room id when known.
   */
  private async open(ref: string, knownId?: string): Promise<string | undefined> {
    let roomId = knownId;
    let joined = false;
    let problem: string | undefined;
    try {
      roomId = await this.opts.bot.join(knownId ?? ref);
      joined = true;
    } catch (err) {
      problem = `the bridge bot cannot join it (${userText(err)}): invite it, or make the room public`;
      log.warn("cannot join a policy room: invite the bridge bot to it, or make it public", {
        list: ref,
        err: String(err),
      });
      roomId ??= await this.resolve(ref);
    }
    if (!roomId) return undefined;
    const list: PolicyList = { roomId, ref, rules: new RuleSet([]), joined, problem };
    this.lists.set(roomId, list);
    if (joined) await this.load(list).catch((err: unknown) => this.unreadable(list, err));
    return roomId;
  }

  private unreadable(list: PolicyList, err: unknown): void {
    list.problem = `its rules could not be read (${userText(err)})`;
    log.warn("cannot read a policy room", { list: list.ref, err: String(err) });
  }

  private async resolve(ref: string): Promise<string | undefined> {
    if (ref.startsWith("!")) return ref;
    try {
      const res = await this.opts.api.request<{ room_id?: string }>(
        "GET",
        `/_matrix/client/v3/directory/room/${encodeURIComponent(ref)}`,
      );
      return typeof res.room_id === "string" ? res.room_id : undefined;
    } catch {
      return undefined;
    }
  }

  /** Reads the list's current rules; true when they changed. */
  private async load(list: PolicyList): Promise<boolean> {
    const state = await this.opts.api.request<unknown>(
      "GET",
      `/_matrix/client/v3/rooms/${encodeURIComponent(list.roomId)}/state`,
      { userId: this.opts.bot.userId },
    );
    const before = list.rules.keys();
    list.rules = new RuleSet(rulesOfState(Array.isArray(state) ? state : []));
    const after = list.rules.keys();
    return before.size !== after.size || [...after].some((k) => !before.has(k));
  }

  private async rejoin(list: PolicyList): Promise<void> {
    await this.opts.bot.join(list.roomId);
    list.joined = true;
    list.problem = undefined;
    log.info("joined a policy room on invite", { list: list.ref });
    await this.refresh(list.roomId);
  }

  private scheduleRefresh(listRoomId: string): void {
    if (this.stopped || this.refreshTimers.has(listRoomId)) return;
    const timer = setTimeout(() => {
      this.refreshTimers.delete(listRoomId);
      this.background(this.refresh(listRoomId));
    }, this.opts.refreshDelayMs ?? 200);
    timer.unref();
    this.refreshTimers.set(listRoomId, timer);
  }

  /** Reads a list again and brings every room that follows it in line with what changed. */
  private async refresh(listRoomId: string): Promise<void> {
    await this.lanes.run(`list\n${listRoomId}`, async () => {
      const list = this.lists.get(listRoomId);
      if (!list) return;
      let changed: boolean;
      try {
        changed = await this.load(list);
      } catch (err) {
        this.unreadable(list, err);
        return;
      }
      if (!changed) return;
      log.info("policy list changed", { list: list.ref, rules: list.rules.size });
      await this.reconcile(await this.roomsFollowing(listRoomId));
    });
  }

  private async roomsFollowing(listRoomId: string): Promise<string[]> {
    const rooms = new Set<string>();
    for (const [room, lists] of this.subscriptions) if (lists.has(listRoomId)) rooms.add(room);
    if (this.bridgeWide.has(listRoomId)) {
      for (const r of await this.opts.store.query<{ room_id: string }>(SQL_PORTAL_ROOMS))
        rooms.add(r.room_id);
      // Rooms unlinked since a ban still get it lifted.
      for (const r of await this.enforcer.rooms()) rooms.add(r);
    }
    return [...rooms];
  }

  private async reconcileAll(): Promise<void> {
    const rooms = new Set<string>(this.subscriptions.keys());
    for (const r of await this.enforcer.rooms()) rooms.add(r);
    if (this.bridgeWide.size)
      for (const r of await this.opts.store.query<{ room_id: string }>(SQL_PORTAL_ROOMS))
        rooms.add(r.room_id);
    await this.reconcile([...rooms]);
  }

  /** Lifts the bans no rule holds any more, then bans the members a rule matches. */
  private async reconcile(rooms: string[]): Promise<void> {
    for (const roomId of rooms) {
      if (this.stopped) return;
      await this.enforcer.liftStale(roomId);
      if (!this.listsOf(roomId).some((id) => this.lists.get(id)?.rules.size)) continue;
      let members: string[];
      try {
        members = Object.keys(await this.opts.bot.joinedMembers(roomId));
      } catch (err) {
        log.debug("members of a room not readable; its bans wait for the next message", {
          room: roomId,
          err: String(err),
        });
        continue;
      }
      for (const mxid of members) {
        if (!this.opts.ghosts.isGhost(mxid)) continue;
        const match = this.ruleFor(mxid, roomId);
        if (match) await this.enforcer.enforce(roomId, mxid, match);
      }
    }
  }

  private background(p: Promise<void>): void {
    const tracked = p.catch((err: unknown) => log.warn("policy enforcement failed", { err: String(err) }));
    this.pending.add(tracked);
    void tracked.finally(() => this.pending.delete(tracked));
  }
}
