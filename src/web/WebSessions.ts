import { createHash, randomBytes } from "node:crypto";
import type { PermissionLevel } from "../config/types";
import { BoundedMap } from "../core/Bounded";
import type { Permissions } from "../core/Permissions";
import { Logger } from "../log/Logger";

const log = new Logger("WebSessions");

/** A signed-in user of the web page. */
export interface WebUser {
  userId: string;
  level: PermissionLevel;
}

/** How long a verified OpenID token (or a refused one) is remembered. */
const VERIFIED_MS = 60_000;

/** Why a sign-in was refused: `status` and `errcode` for the API's answer, `text` for the user. */
export interface SignInRefusal {
  status: 401 | 403;
  errcode: "M_UNKNOWN_TOKEN" | "M_FORBIDDEN";
  text: string;
}

/**
 * Sign-in for the web page: a Matrix OpenID token is checked with the homeserver
 * (`/_matrix/federation/v1/openid/userinfo`, the `openid` listener resource) and exchanged for a
 * short-lived bridge session token, random and kept in memory only (a restart signs everyone
 * out). The page sends it as `Authorization: Bearer`; no cookies. Verified tokens are
 * remembered briefly, so a page that signs in again does not cost a homeserver request.
 */
export class WebSessions {
  private readonly verified = new BoundedMap<string, { userId?: string; until: number }>(1_000);
  private readonly sessions = new BoundedMap<string, { user: WebUser; until: number }>(10_000);

  constructor(
    private readonly opts: {
      homeserverUrl: string;
      /** The homeserver's server name: a token of another server's user is refused. */
      domain: string;
      permissions: Pick<Permissions, "levelOf">;
      sessionMs: number;
      now?: () => number;
    },
  ) {}

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  /** Exchanges an OpenID token for a session; rejects only when the homeserver cannot be asked. */
  async signIn(
    openidToken: string,
  ): Promise<{ token: string; user: WebUser; expiresInMs: number } | SignInRefusal> {
    const userId = await this.verify(openidToken);
    if (!userId)
      return {
        status: 401,
        errcode: "M_UNKNOWN_TOKEN",
        text: "The homeserver does not know this OpenID token (it lasts about an hour): get a new one and sign in again.",
      };
    const level = this.opts.permissions.levelOf(userId);
    if (!level)
      return {
        status: 403,
        errcode: "M_FORBIDDEN",
        text: `${userId} may not use this bridge. Ask its administrator to add you to bridge.permissions.`,
      };
    const token = randomBytes(32).toString("base64url");
    const user = { userId, level };
    this.sessions.set(token, { user, until: this.now() + this.opts.sessionMs });
    log.info("web session started", { user: userId, level });
    return { token, user, expiresInMs: this.opts.sessionMs };
  }

  /** The user of a live session, from an `Authorization` header. Does no IO. */
  user(authorization: string | undefined): WebUser | undefined {
    if (!authorization?.startsWith("Bearer ")) return undefined;
    const token = authorization.slice(7);
    const s = this.sessions.get(token);
    if (!s) return undefined;
    if (s.until <= this.now()) {
      this.sessions.delete(token);
      return undefined;
    }
    return s.user;
  }

  /** Ends the session of an `Authorization` header. */
  end(authorization: string | undefined): void {
    if (authorization?.startsWith("Bearer ")) this.sessions.delete(authorization.slice(7));
  }

  /** The local user an OpenID token belongs to, or undefined when the homeserver refuses it. */
  private async verify(openidToken: string): Promise<string | undefined> {
    const key = createHash("sha256").update(openidToken).digest("base64url");
    const known = this.verified.get(key);
    if (known && known.until > this.now()) return known.userId;
    const url = new URL("/_matrix/federation/v1/openid/userinfo", this.opts.homeserverUrl);
    url.searchParams.set("access_token", openidToken);
    const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    let userId: string | undefined;
    if (res.ok) {
      const body = (await res.json().catch(() => ({}))) as { sub?: unknown };
      const sub = typeof body.sub === "string" ? body.sub : undefined;
      if (sub?.endsWith(`:${this.opts.domain}`) && sub.startsWith("@")) userId = sub;
      else log.warn("OpenID userinfo named no local user", { sub: String(sub).slice(0, 100) });
    } else if (res.status >= 500 || res.status === 404) {
      // 404: the homeserver serves no `openid` resource on this listener; not the user's fault.
      await res.body?.cancel();
      throw Object.assign(new Error(`OpenID userinfo answered ${res.status}`), { status: 503 });
    } else {
      await res.body?.cancel();
    }
    this.verified.set(key, { userId, until: this.now() + VERIFIED_MS });
    return userId;
  }
}
