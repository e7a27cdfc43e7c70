/**
 * What the web page's suites share: the bridge with `web.enabled` on the shared Synapse, the
 * Telegram connector against its stand-in, the AI user (its provider is never asked here), and
 * a client of the web API that checks every answer against docs/web-api.openapi.yaml.
 */
import assert from "node:assert/strict";
import { randomBytes, randomInt } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import Ajv2020 from "ajv/dist/2020";
import { load } from "js-yaml";
import { MatrixTestClient } from "../../harness/MatrixTestClient";
import { RIG_DOMAIN } from "../../harness/synapse";
import { TelegramServer } from "../../standins/telegram/TelegramServer";
import { type CoreRig, startCoreRig } from "../core/coreRig";

export const API = "/_clawbridge/api";
export const OPENAPI_PATH = path.resolve(__dirname, "../../../docs/web-api.openapi.yaml");

type Spec = {
  paths: Record<
    string,
    Record<
      string,
      {
        responses?: Record<
          string,
          { $ref?: string; content?: { "application/json"?: { schema?: unknown } } }
        >;
      }
    >
  >;
  components: { responses: Record<string, { content: { "application/json": { schema: unknown } } }> };
};

export function loadSpec(): Spec {
  return load(readFileSync(OPENAPI_PATH, "utf8")) as Spec;
}

const spec = loadSpec();
const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
ajv.addSchema(spec as object, "openapi");

/** The documented template of a request path (`/v1/rooms/!x/links` → `/v1/rooms/{roomId}/links`). */
function templateOf(p: string): string | undefined {
  const segs = p.split("/");
  // A literal segment beats a parameter (`/v1/logins/interactive` over `/v1/logins/{platform}`).
  const params = (t: string) => t.split("{").length;
  return Object.keys(spec.paths)
    .filter((t) => {
      const parts = t.split("/");
      return (
        parts.length === segs.length && parts.every((part, i) => part.startsWith("{") || part === segs[i])
      );
    })
    .sort((a, b) => params(a) - params(b))[0];
}

/** Checks an answer against the documented response of its path, method and status. */
export function checkAgainstSpec(method: string, p: string, status: number, body: unknown): void {
  const template = templateOf(p);
  assert.ok(template, `${method} ${p} is not in the OpenAPI file`);
  const op = spec.paths[template]![method.toLowerCase()];
  assert.ok(op, `${method} ${template} is not in the OpenAPI file`);
  const response = op.responses?.[String(status)];
  assert.ok(
    response,
    `${method} ${template} answered ${status}, which the OpenAPI file does not document: ${JSON.stringify(body)}`,
  );
  const pointer = response.$ref
    ? `${response.$ref.replace(/^#/, "")}/content/application~1json/schema`
    : `/paths/${template.replace(/~/g, "~0").replace(/\//g, "~1")}/${method.toLowerCase()}/responses/${status}/content/application~1json/schema`;
  const validate = ajv.getSchema(`openapi#${pointer}`);
  assert.ok(validate, `no schema at ${pointer}`);
  assert.ok(
    validate(body),
    `${method} ${p} ${status}: ${ajv.errorsText(validate.errors)} in ${JSON.stringify(body).slice(0, 500)}`,
  );
}

export interface Answer<T = Record<string, unknown>> {
  status: number;
  body: T;
  headers: Headers;
}

/** A client of the web API as the page is one: session token in a header, no cookies. */
export class WebApi {
  session?: string;
  constructor(readonly base: string) {}

  async call<T = Record<string, unknown>>(
    method: string,
    p: string,
    body?: unknown,
    raw?: string,
  ): Promise<Answer<T>> {
    const headers: Record<string, string> = {};
    if (this.session) headers.Authorization = `Bearer ${this.session}`;
    if (body !== undefined || raw !== undefined) headers["Content-Type"] = "application/json";
    const res = await fetch(`${this.base}${API}${p}`, {
      method,
      headers,
      body: raw ?? (body === undefined ? undefined : JSON.stringify(body)),
    });
    const text = await res.text();
    const parsed = text ? JSON.parse(text) : {};
    checkAgainstSpec(method, p.split("?")[0]!, res.status, parsed);
    return { status: res.status, body: parsed as T, headers: res.headers };
  }

  /** Signs `client` in: an OpenID token from the homeserver, exchanged for a session. */
  async signIn(client: MatrixTestClient): Promise<void> {
    const token = await openIdToken(client);
    const out = await this.call<{ session_token: string }>("POST", "/v1/session", { openid_token: token });
    assert.equal(out.status, 200, JSON.stringify(out.body));
    this.session = out.body.session_token;
  }
}

export async function openIdToken(client: MatrixTestClient): Promise<string> {
  const r = await client.request<{ access_token: string }>(
    "POST",
    `/user/${encodeURIComponent(client.userId)}/openid/request_token`,
    {},
  );
  return r.access_token;
}

export interface WebRig {
  core: CoreRig;
  tg: TelegramServer;
  base: string;
  /** Users of this suite only (names unique to the run): an admin, a user, one without access. */
  admin: MatrixTestClient;
  member: MatrixTestClient;
  stranger: MatrixTestClient;
  /** Bridge level `relay`: may be relayed, may not act. */
  relayed: MatrixTestClient;
  stop(): Promise<void>;
}

/** Starts the rig; `tgSetup` adds the stand-in's users and chats. */
export async function startWebRig(
  tag: string,
  tgSetup: (tg: TelegramServer) => void = () => undefined,
  more: {
    sections?: Record<string, unknown>;
    /** More platform sections; a function gets the suite's user ids (the admin owns the bots). */
    platforms?:
      | Record<string, Record<string, unknown>>
      | ((users: { admin: string }) => Record<string, Record<string, unknown>>);
    env?: Record<string, string>;
  } = {},
): Promise<WebRig> {
  const botId = randomInt(100000, 999999);
  const tg = await TelegramServer.start({
    token: `${botId}:${randomBytes(24).toString("base64url")}`,
    botUser: { id: botId, is_bot: true, first_name: "Web bridge", username: `web${tag}bot` },
  });
  tgSetup(tg);
  const suffix = `${tag}${process.pid}`;
  const names = {
    admin: `webadmin${suffix}`,
    member: `webuser${suffix}`,
    stranger: `webnobody${suffix}`,
    relayed: `webrelay${suffix}`,
  };
  const core = await startCoreRig({
    permissions: {
      [`@${names.admin}:${RIG_DOMAIN}`]: "admin",
      [`@${names.member}:${RIG_DOMAIN}`]: "user",
      [`@${names.relayed}:${RIG_DOMAIN}`]: "relay",
    },
    bridge: { link_approval_timeout_seconds: 30 },
    ai: {
      enabled: true,
      providers: {
        primary: { kind: "openai", base_url: "http://127.0.0.1:9/v1", api_key: "sk-unused", model: "m" },
      },
      default_provider: "primary",
    },
    sections: { web: { enabled: true, login_starts_per_hour: 3 }, ...more.sections },
    env: more.env,
    platforms: {
      telegram: {
        enabled: true,
        bot_token: tg.token,
        owner: `@${names.admin}:${RIG_DOMAIN}`,
        api_root: tg.url,
        backoff_initial_ms: 50,
        backoff_max_ms: 500,
      },
      ...(typeof more.platforms === "function"
        ? more.platforms({ admin: `@${names.admin}:${RIG_DOMAIN}` })
        : more.platforms),
    },
  });
  const synapse = core.rig.synapse;
  const [admin, member, stranger, relayed] = await Promise.all([
    MatrixTestClient.register(synapse, names.admin),
    MatrixTestClient.register(synapse, names.member),
    MatrixTestClient.register(synapse, names.stranger),
    MatrixTestClient.register(synapse, names.relayed),
  ]);
  return {
    core,
    tg,
    base: `http://127.0.0.1:${core.rig.bridgePort}`,
    admin,
    member,
    stranger,
    relayed,
    async stop() {
      for (const u of [admin, member, stranger, relayed]) u.stop();
      await core.stop();
      await tg.close();
    },
  };
}
