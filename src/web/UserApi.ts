import { AI_SETTINGS, type AiSettingName } from "../ai/AiCommands";
import type { AiService } from "../ai/AiService";
import { loginWithToken, logoutOwn, visibleLoginStates } from "../commands/accounts";
import type { CommandHandler } from "../commands/CommandHandler";
import type { StartedDirectChat } from "../commands/pm";
import type { PermissionLevel } from "../config/types";
import { type Audit, auditEntryJson } from "../core/Audit";
import type { ConnectorRegistry } from "../core/ConnectorRegistry";
import { canRelay } from "../core/connector";
import { BridgeError } from "../core/errors";
import { chatRefOf } from "../core/OutboundBridge";
import type { PortalService } from "../core/PortalService";
import type { Quarantine } from "../core/Quarantine";
import {
  idSegment,
  type ProvisioningHandler,
  type ProvisioningRequest,
  type ProvisioningResponse,
} from "../http/HttpServer";
import type { LatencyMinute } from "../http/LatencyWindow";
import { intParam } from "../http/Provisioning";
import { type Intent, MatrixError } from "../matrix/MatrixApi";
import type { Store } from "../store/Store";
import type { Portal } from "../store/types";
import type { HourlyStarts } from "./HourlyStarts";
import type { LoginAttempt, LoginAttempts } from "./LoginAttempts";
import type { WebSessions, WebUser } from "./WebSessions";

/** A request body that is not what the route takes: 400 M_BAD_JSON, `error` says what is. */
export class BadBody extends Error {}

const PLATFORM = /^[a-z][a-z0-9_-]{0,31}$/;
const ROOM_ID = { re: /^![\x21-\x7e]{1,254}$/, rule: "a Matrix room id (starting with !)" };
/** How long a long poll for login steps waits at most. */
const POLL_MS = 20_000;
const LIMIT = { min: 1, max: 1000, fallback: 100 };
const OFFSET = { min: 0, max: 1_000_000_000, fallback: 0 };

export interface UserApiDeps {
  prefix: string;
  /** Shown to the standalone page, which asks it for an OpenID token. */
  homeserverUrl: string;
  sessions: WebSessions;
  attempts: LoginAttempts;
  registry: ConnectorRegistry;
  commands: Pick<CommandHandler, "runAs" | "mayRun">;
  portals: Pick<PortalService, "forRoom">;
  store: Pick<Store, "listPortals" | "countPortals">;
  /** The bridge bot: reads room membership. */
  bot: Pick<Intent, "getState">;
  ai?: Pick<AiService, "roomView" | "userUsage" | "changeSetting">;
  queueDepth(): number;
  latency(): LatencyMinute[];
  quarantine: Pick<Quarantine, "list">;
  audit: Pick<Audit, "list">;
  /** The `pm` command's code (commands/pm.ts `startDirectChat`). */
  startDirectChat(
    who: { sender: string; level: PermissionLevel },
    platform: string,
    user: string,
  ): Promise<StartedDirectChat>;
  /** Direct chats started per user and hour. */
  chatStarts: Pick<HourlyStarts, "take">;
}

type Ctx = { req: ProvisioningRequest; user: WebUser; params: Record<string, string> };
type Handler = (ctx: Ctx) => Promise<ProvisioningResponse>;

interface Route {
  method: string;
  /** OpenAPI path template below the prefix: `/v1/rooms/{roomId}/links`. */
  template: string;
  admin?: boolean;
  /** Answered without a session (sign-in). */
  open?: boolean;
  run: Handler;
}

const ok = (body: unknown, status = 200): ProvisioningResponse => ({ status, body });
const fail = (status: number, errcode: string, error: string): ProvisioningResponse => ({
  status,
  body: { errcode, error },
});
const limited = (error: string, retryAfterMs: number): ProvisioningResponse => ({
  status: 429,
  body: { errcode: "M_LIMIT_EXCEEDED", error, retry_after_ms: retryAfterMs },
});

/** Status and errcode of a refused direct chat. */
const DIRECT_CHAT_REFUSALS: Record<Exclude<StartedDirectChat, { ok: true }>["reason"], [number, string]> = {
  "unknown-platform": [404, "M_NOT_FOUND"],
  "no-login": [403, "M_FORBIDDEN"],
  unsupported: [400, "M_UNRECOGNIZED"],
  refused: [400, "M_INVALID_PARAM"],
  unlinked: [409, "M_CONFLICT"],
};

/** The JSON object body of a request, or a {@link BadBody}. */
function object(body: unknown): Record<string, unknown> {
  if (typeof body !== "object" || body === null || Array.isArray(body))
    throw new BadBody("the body must be a JSON object");
  return body as Record<string, unknown>;
}

/** A string field of at most `max` characters without control characters (`optional`: may be absent). */
function text(o: Record<string, unknown>, name: string, max: number, optional = false): string | undefined {
  const v = o[name];
  if (v === undefined && optional) return undefined;
  if (typeof v !== "string" || !v.trim() || v.length > max || /\p{Cc}|\p{Cs}/u.test(v))
    throw new BadBody(
      `${name} must be a non-empty string of at most ${max} characters, without control characters`,
    );
  return v;
}

function platformField(o: Record<string, unknown>): string {
  const p = text(o, "platform", 32)!;
  if (!PLATFORM.test(p))
    throw new BadBody("platform must be a connector name (lower-case letters, digits, _ or -)");
  return p;
}

function portalJson(p: Portal) {
  return {
    platform: p.platform,
    chat_id: p.chatId,
    room_id: p.roomId,
    kind: p.kind,
    name: p.name ?? null,
    linked: p.linked,
    login_id: p.loginId,
  };
}

function attemptJson(a: LoginAttempt, after: number) {
  return {
    attempt_id: a.id,
    platform: a.platform,
    steps: a.steps.filter((s) => s.n >= after),
    done: a.outcome !== undefined,
    logged_in: a.outcome?.ok ?? null,
    login_id: a.outcome?.loginId ?? null,
  };
}

/**
 * The web page's API below `/_clawbridge/api`: a Matrix user's own logins, portals, links,
 * relaying and AI settings; for bridge admins also everyone's, and the bridge's health. Signed
 * in with a Matrix OpenID token ({@link WebSessions}). Every action runs the code the
 * management-room command runs (`CommandHandler.runAs`, `commands/accounts.ts`,
 * `AiService.changeSetting`): the API is another way to ask, not a second implementation.
 */
export class UserApi implements ProvisioningHandler {
  readonly prefix: string;
  readonly routes: Route[];

  constructor(private readonly deps: UserApiDeps) {
    this.prefix = deps.prefix;
    this.routes = this.table();
  }

  authenticate(authorization: string | undefined, path: string): ProvisioningResponse | undefined {
    if (path === "/v1/session" || path === "/v1/info") return undefined;
    if (!authorization?.startsWith("Bearer "))
      return fail(401, "M_MISSING_TOKEN", "Sign in first: send Authorization: Bearer <session token>");
    if (!this.deps.sessions.user(authorization))
      return fail(401, "M_UNKNOWN_TOKEN", "The session has ended or is unknown: sign in again");
    return undefined;
  }

  async handle(req: ProvisioningRequest): Promise<ProvisioningResponse> {
    const segments = req.path.split("/");
    let methodMismatch = false;
    for (const route of this.routes) {
      const params = match(route.template, segments);
      if (!params) continue;
      if (route.method !== req.method) {
        methodMismatch = true;
        continue;
      }
      const user = this.deps.sessions.user(req.authorization);
      if (!route.open && !user)
        return fail(401, "M_UNKNOWN_TOKEN", "The session has ended or is unknown: sign in again");
      if (route.admin && user?.level !== "admin")
        return fail(403, "M_FORBIDDEN", "Only bridge admins may see this.");
      try {
        return await route.run({ req, user: user!, params });
      } catch (err) {
        if (err instanceof BadBody) return fail(400, "M_BAD_JSON", err.message);
        if (err instanceof MatrixError && (err.status === 403 || err.status === 404))
          return fail(
            403,
            "M_FORBIDDEN",
            "The bridge bot cannot see this room: invite it to the room first.",
          );
        if (err instanceof BridgeError) return fail(400, "M_INVALID_PARAM", err.userMessage);
        throw err;
      }
    }
    return methodMismatch
      ? fail(405, "M_UNRECOGNIZED", `${req.method} is not allowed on ${req.path}`)
      : fail(404, "M_UNRECOGNIZED", `No route ${req.method} ${req.path}`);
  }

  /** Refuses a room the user is not joined to (bridge admins may act on any room the bot sees). */
  private async room(ctx: Ctx): Promise<{ roomId: string } | ProvisioningResponse> {
    const roomId = ctx.params.roomId!;
    if (ctx.user.level === "admin") return { roomId };
    const member = await this.deps.bot.getState<{ membership?: unknown }>(
      roomId,
      "m.room.member",
      ctx.user.userId,
    );
    if (member?.membership !== "join") return fail(403, "M_FORBIDDEN", "You are not in this room.");
    return { roomId };
  }

  private myLoginIds(user: WebUser): Set<string> {
    return new Set(
      this.deps.registry
        .logins()
        .filter((l) => l.ownerMxid === user.userId)
        .map((l) => l.id),
    );
  }

  private table(): Route[] {
    const d = this.deps;
    const r = (method: string, template: string, run: Handler, extra: Partial<Route> = {}): Route => ({
      method,
      template,
      run,
      ...extra,
    });
    return [
      r("GET", "/v1/info", async () => ok({ homeserver_url: d.homeserverUrl }), { open: true }),
      r(
        "POST",
        "/v1/session",
        async ({ req }) => {
          const token = text(object(req.body), "openid_token", 2048)!;
          const out = await d.sessions.signIn(token);
          if ("errcode" in out) return fail(out.status, out.errcode, out.text);
          return ok({
            session_token: out.token,
            user_id: out.user.userId,
            level: out.user.level,
            expires_in_ms: out.expiresInMs,
          });
        },
        { open: true },
      ),
      r("DELETE", "/v1/session", async ({ req }) => {
        d.sessions.end(req.authorization);
        return ok({});
      }),
      r("GET", "/v1/me", async ({ user }) =>
        ok({
          user_id: user.userId,
          level: user.level,
          platforms: [...d.registry.connectors.values()].map((c) => ({
            name: c.name,
            token_login: typeof c.loginWithToken === "function",
            interactive_login: typeof c.loginInteractive === "function",
            flows: c.loginFlows?.() ?? [],
          })),
          ai: d.ai !== undefined,
        }),
      ),
      r("GET", "/v1/logins", async ({ user, req }) => {
        const all = req.query.get("all") === "1" && user.level === "admin";
        const states = visibleLoginStates(d.registry, { sender: user.userId, level: all ? "admin" : "user" });
        return ok({
          logins: states.map((s) => ({
            id: s.login.id,
            platform: s.login.platform,
            owner: s.login.ownerMxid,
            remote_id: s.login.remoteId ?? null,
            state: s.state,
            message: s.message ?? null,
            shared: d.registry.isShared(s.login.id),
          })),
        });
      }),
      r("POST", "/v1/logins", async ({ user, req }) => {
        const o = object(req.body);
        const platform = platformField(o);
        const token = text(o, "token", 4096)!;
        const result = await loginWithToken(
          d.registry,
          { sender: user.userId, level: user.level },
          platform,
          token,
        );
        if (result.ok) return ok({ login_id: result.login.id, message: result.text });
        const status = { "unknown-platform": 404, "no-token-login": 400, "not-admin": 403, refused: 400 }[
          result.reason
        ];
        const errcode = {
          "unknown-platform": "M_NOT_FOUND",
          "no-token-login": "M_UNRECOGNIZED",
          "not-admin": "M_FORBIDDEN",
          refused: "M_INVALID_PARAM",
        }[result.reason];
        return fail(status, errcode, result.text);
      }),
      r("DELETE", "/v1/logins/{platform}", async ({ user, params }) => {
        const gone = await logoutOwn(d.registry, user.userId, params.platform!);
        if (!gone.length) return fail(404, "M_NOT_FOUND", `You have no ${params.platform} login.`);
        return ok({ removed: gone.map((l) => l.id) });
      }),
      r("POST", "/v1/logins/interactive", async ({ user, req }) => {
        const o = object(req.body);
        const platform = platformField(o);
        const phone = text(o, "phone", 32, true);
        if (phone !== undefined && !/^\+?[0-9 ()-]{5,31}$/.test(phone))
          throw new BadBody("phone must be a phone number in international form (+ and digits)");
        if (!d.commands.mayRun("login", user.userId))
          return fail(403, "M_FORBIDDEN", "Your bridge permission level may not log in to platforms.");
        const a = d.attempts.start(user.userId, platform, phone ? [phone] : []);
        if ("refused" in a) {
          if (a.refused === "no-interactive")
            return fail(400, "M_UNRECOGNIZED", `'${platform}' has no QR or pairing-code login here.`);
          if (a.refused === "running")
            return fail(
              409,
              "M_CONFLICT",
              `A ${platform} login of yours is already running: finish it, or wait until it expires.`,
            );
          return limited("You started too many logins this hour; try again later.", a.retryAfterMs ?? 60_000);
        }
        return ok(attemptJson(a, 0), 202);
      }),
      r("GET", "/v1/logins/interactive/{attemptId}", async ({ user, params, req }) => {
        const a = d.attempts.get(params.attemptId!, user.userId);
        if (!a) return fail(404, "M_NOT_FOUND", "No such login attempt of yours (it may have expired).");
        const after = intParam(req.query, "after", { min: 0, max: 10_000, fallback: 0 });
        const wait = intParam(req.query, "wait_ms", { min: 0, max: POLL_MS, fallback: POLL_MS });
        return ok(attemptJson(await d.attempts.wait(a, after, wait), after));
      }),
      r("GET", "/v1/portals", async ({ user, req }) => {
        const all = req.query.get("all") === "1" && user.level === "admin";
        const limit = intParam(req.query, "limit", LIMIT);
        const offset = intParam(req.query, "offset", OFFSET);
        if (all) {
          const [portals, total] = await Promise.all([
            d.store.listPortals({ limit, offset }),
            d.store.countPortals(),
          ]);
          return ok({ total, portals: portals.map(portalJson) });
        }
        const mine = this.myLoginIds(user);
        const portals = mine.size ? await d.store.listPortals({ loginIds: [...mine] }) : [];
        return ok({ total: portals.length, portals: portals.slice(offset, offset + limit).map(portalJson) });
      }),
      r("POST", "/v1/pm", async ({ user, req }) => {
        const o = object(req.body);
        const platform = platformField(o);
        const typed = text(o, "user", 255)!.trim();
        if (!d.commands.mayRun("pm", user.userId))
          return fail(403, "M_FORBIDDEN", "Your bridge permission level may not start direct chats.");
        const started = d.chatStarts.take(user.userId);
        if (!started.ok)
          return limited(
            "You started too many direct chats this hour; try again later.",
            started.retryAfterMs,
          );
        const out = await d.startDirectChat({ sender: user.userId, level: user.level }, platform, typed);
        if (!out.ok) return fail(...DIRECT_CHAT_REFUSALS[out.reason], out.text);
        return ok({
          room_id: out.roomId,
          name: out.name,
          existing: out.existing,
          note: out.note ?? null,
          message: out.text,
        });
      }),
      r("GET", "/v1/rooms/{roomId}/links", async (ctx) => {
        const room = await this.room(ctx);
        if ("status" in room) return room;
        return ok({ room_id: room.roomId, portals: (await d.portals.forRoom(room.roomId)).map(portalJson) });
      }),
      r("POST", "/v1/rooms/{roomId}/links", async (ctx) => {
        const o = object(ctx.req.body);
        const platform = platformField(o);
        const chat = text(o, "chat", 255)!;
        const room = await this.room(ctx);
        if ("status" in room) return room;
        return this.command(ctx.user, room.roomId, "link", [platform, ...chat.trim().split(/\s+/)]);
      }),
      r("DELETE", "/v1/rooms/{roomId}/links/{platform}", async (ctx) => {
        const room = await this.room(ctx);
        if ("status" in room) return room;
        return this.command(ctx.user, room.roomId, "unlink", [ctx.params.platform!]);
      }),
      r("PUT", "/v1/rooms/{roomId}/relay", async (ctx) => {
        const v = object(ctx.req.body).enabled;
        if (typeof v !== "boolean") throw new BadBody("enabled must be true or false");
        const room = await this.room(ctx);
        if ("status" in room) return room;
        return this.command(ctx.user, room.roomId, "relay", [v ? "on" : "off"]);
      }),
      r("GET", "/v1/rooms/{roomId}/relay", async (ctx) => {
        const room = await this.room(ctx);
        if ("status" in room) return room;
        const out = [];
        for (const p of await d.portals.forRoom(room.roomId)) {
          const entry = d.registry.client(p.loginId);
          if (!entry || !canRelay(entry.client)) continue;
          out.push({
            platform: p.platform,
            enabled: await entry.client.relayEnabled(chatRefOf(p)),
            owner: entry.login.ownerMxid,
          });
        }
        return ok({ relay: out });
      }),
      r("GET", "/v1/rooms/{roomId}/ai", async (ctx) => {
        if (!d.ai) return fail(404, "M_NOT_FOUND", "The AI user is not enabled on this bridge.");
        const room = await this.room(ctx);
        if ("status" in room) return room;
        return ok({ room_id: room.roomId, ...(await d.ai.roomView(room.roomId)) });
      }),
      r("PUT", "/v1/rooms/{roomId}/ai", async (ctx) => {
        const ai = d.ai;
        if (!ai) return fail(404, "M_NOT_FOUND", "The AI user is not enabled on this bridge.");
        const o = object(ctx.req.body);
        const changes: Array<[AiSettingName, string]> = [];
        for (const key of Object.keys(o)) {
          if (!AI_SETTINGS.includes(key as AiSettingName))
            throw new BadBody(`unknown setting '${key.slice(0, 40)}'; settings: ${AI_SETTINGS.join(", ")}`);
          changes.push([key as AiSettingName, text(o, key, key === "prompt" ? 4000 : 200)!]);
        }
        if (!changes.length) throw new BadBody(`give at least one of ${AI_SETTINGS.join(", ")}`);
        const room = await this.room(ctx);
        if ("status" in room) return room;
        const messages: string[] = [];
        for (const [name, value] of changes) {
          const out = await ai.changeSetting(room.roomId, ctx.user.userId, name, value);
          if (!out)
            return fail(403, "M_FORBIDDEN", "Your bridge permission level may not change the AI settings.");
          if (out.refused) return fail(400, "M_INVALID_PARAM", out.text);
          messages.push(out.text);
        }
        return ok({ room_id: room.roomId, messages, ...(await ai.roomView(room.roomId)) });
      }),
      r("GET", "/v1/ai/usage", async ({ user }) => {
        if (!d.ai) return fail(404, "M_NOT_FOUND", "The AI user is not enabled on this bridge.");
        return ok(await d.ai.userUsage(user.userId));
      }),
      r("GET", "/v1/health", async () => {
        const states = d.registry.loginStates();
        return ok({
          queue_depth: d.queueDepth(),
          connections: {
            total: states.length,
            connected: states.filter((s) => s.state === "CONNECTED").length,
          },
          latency: d.latency(),
        });
      }),
      r(
        "GET",
        "/v1/admin/connections",
        async () =>
          ok({
            connections: d.registry.loginStates().map((s) => ({
              login_id: s.login.id,
              platform: s.login.platform,
              owner: s.login.ownerMxid,
              state: s.state,
              message: s.message ?? null,
            })),
            queue_depth: d.queueDepth(),
          }),
        { admin: true },
      ),
      r(
        "GET",
        "/v1/admin/failures",
        async ({ req }) => {
          const { total, items } = await d.quarantine.list({
            limit: intParam(req.query, "limit", LIMIT),
            offset: 0,
          });
          return ok({
            total,
            failures: items.map((i) => ({
              id: i.id,
              kind: i.kind,
              room_id: i.roomId ?? null,
              reason: i.reason,
              attempts: i.attempts,
              created_at: i.createdAt.toISOString(),
            })),
          });
        },
        { admin: true },
      ),
      r(
        "GET",
        "/v1/admin/audit",
        async ({ req }) => {
          const entries = await d.audit.list({ limit: intParam(req.query, "limit", LIMIT) });
          return ok({ entries: entries.map(auditEntryJson) });
        },
        { admin: true },
      ),
    ];
  }

  /** Runs a management command for the user in a room; its answers come back as `messages`. */
  private async command(
    user: WebUser,
    roomId: string,
    name: string,
    args: string[],
  ): Promise<ProvisioningResponse> {
    const out = await this.deps.commands.runAs(name, { roomId, sender: user.userId, args, postInRoom: true });
    if (!out.ran) return fail(403, "M_FORBIDDEN", out.replies.join("\n"));
    return ok({ messages: out.replies, portals: (await this.deps.portals.forRoom(roomId)).map(portalJson) });
  }
}

/** The decoded parameters of `segments` (a request path split at /) if `template` matches it. */
function match(template: string, segments: string[]): Record<string, string> | undefined {
  const parts = template.split("/");
  if (parts.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    const m = /^\{(\w+)\}$/.exec(part);
    if (!m) {
      if (part !== segments[i]) return undefined;
      continue;
    }
    const name = m[1]!;
    const shape =
      name === "roomId"
        ? ROOM_ID
        : name === "platform"
          ? { re: PLATFORM, rule: "a connector name" }
          : undefined;
    params[name] = idSegment(segments[i]!, name, shape);
  }
  return params;
}
