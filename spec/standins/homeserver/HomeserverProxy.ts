/**
 * A reverse proxy in front of a real homeserver (the shared Synapse), for tests of how the
 * bridge treats a homeserver that refuses one event while it answers everything else. Every
 * request is forwarded as it is; a rule set with {@link HomeserverProxy.refuse} answers the
 * requests it matches itself (a 500, a 400 M_UNKNOWN…). {@link HomeserverProxy.stopListening}
 * makes connections fail (ECONNREFUSED) until {@link HomeserverProxy.listenAgain}, on the same
 * port; when the homeserver behind it is down, the proxy answers 502 as nginx would.
 * {@link HomeserverProxy.hold} keeps matching requests waiting until it is released.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** One request the proxy received, with how it was answered. */
export interface ProxiedCall {
  method: string;
  /** Path without the query string. */
  path: string;
  /** Parsed JSON body, `undefined` when there was none or it was not JSON. */
  body: unknown;
  /** `Date.now()` when the request arrived. */
  time: number;
  status?: number;
  /** True when a refusal rule answered instead of the homeserver. */
  refused: boolean;
}

/** How a refusal answers. */
export interface Refusal {
  status: number;
  errcode?: string;
  error?: string;
}

interface Rule {
  match: (call: ProxiedCall) => boolean;
  answer: Refusal;
  hits: number;
}

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "transfer-encoding",
  "upgrade",
  "host",
  "content-length",
]);

/** The proxy plus its driver API. Start with {@link HomeserverProxy.start}. */
export class HomeserverProxy {
  /** Every request received, in arrival order. */
  readonly calls: ProxiedCall[] = [];
  private readonly rules: Rule[] = [];
  private readonly gates: Array<{
    match: (call: ProxiedCall) => boolean;
    open: Promise<void>;
    waiting: number;
  }> = [];
  private server: Server | undefined;

  private constructor(
    private readonly target: string,
    readonly port: number,
    server: Server,
  ) {
    this.server = server;
  }

  /** Listens on 127.0.0.1 (a free port) and forwards to `target` (e.g. the shared Synapse's URL). */
  static async start(opts: { target: string }): Promise<HomeserverProxy> {
    let self: HomeserverProxy | undefined;
    const server = createServer((req, res) => void self?.handle(req, res));
    await listen(server, 0);
    self = new HomeserverProxy(
      opts.target.replace(/\/+$/, ""),
      (server.address() as AddressInfo).port,
      server,
    );
    return self;
  }

  /** Base URL, for `homeserver.url` in the bridge's config. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /**
   * Answers every request matching `match` with `answer` instead of forwarding it, until the
   * returned function is called. Returns that function; `hits()` on it counts the refusals.
   */
  refuse(match: (call: ProxiedCall) => boolean, answer: Refusal): (() => void) & { hits(): number } {
    const rule: Rule = { match, answer, hits: 0 };
    this.rules.push(rule);
    const remove = () => {
      const i = this.rules.indexOf(rule);
      if (i >= 0) this.rules.splice(i, 1);
    };
    return Object.assign(remove, { hits: () => rule.hits });
  }

  /**
   * Holds every request matching `match` (it is forwarded only once the returned function is
   * called), to keep the bridge at one point of what it does; `held()` counts the requests
   * waiting.
   */
  hold(match: (call: ProxiedCall) => boolean): (() => void) & { held(): number } {
    let release!: () => void;
    const gate = { match, open: new Promise<void>((r) => (release = r)), waiting: 0 };
    this.gates.push(gate);
    const open = () => {
      const i = this.gates.indexOf(gate);
      if (i >= 0) this.gates.splice(i, 1);
      release();
    };
    return Object.assign(open, { held: () => gate.waiting });
  }

  /** Closes the listening socket and every open connection: new connections are refused. */
  async stopListening(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Listens again on the same port after {@link stopListening}. */
  async listenAgain(): Promise<void> {
    if (this.server) return;
    const server = createServer((req, res) => void this.handle(req, res));
    await listen(server, this.port);
    this.server = server;
  }

  async close(): Promise<void> {
    await this.stopListening();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    try {
      for await (const c of req) chunks.push(c as Buffer);
    } catch {
      return;
    }
    const raw = Buffer.concat(chunks);
    const url = new URL(req.url ?? "/", this.url);
    let body: unknown;
    try {
      body = raw.length ? JSON.parse(raw.toString("utf8")) : undefined;
    } catch {
      body = undefined;
    }
    const call: ProxiedCall = {
      method: req.method ?? "GET",
      path: url.pathname,
      body,
      time: Date.now(),
      refused: false,
    };
    this.calls.push(call);
    const rule = this.rules.find((r) => r.match(call));
    if (rule) {
      rule.hits++;
      call.refused = true;
      call.status = rule.answer.status;
      const { status, errcode = "M_UNKNOWN", error = `refused by the test proxy (${status})` } = rule.answer;
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify({ errcode, error }));
      return;
    }
    const gate = this.gates.find((g) => g.match(call));
    if (gate) {
      gate.waiting++;
      await gate.open;
      gate.waiting--;
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (!HOP_BY_HOP.has(k) && typeof v === "string") headers[k] = v;
    }
    let upstream: Response;
    try {
      upstream = await fetch(`${this.target}${url.pathname}${url.search}`, {
        method: call.method,
        headers,
        body: raw.length && call.method !== "GET" && call.method !== "HEAD" ? raw : undefined,
        redirect: "manual",
      });
    } catch {
      call.status = 502;
      if (res.destroyed) return;
      res.writeHead(502, { "content-type": "text/html" });
      res.end("<html><body><h1>502 Bad Gateway</h1></body></html>");
      return;
    }
    const out = Buffer.from(await upstream.arrayBuffer());
    call.status = upstream.status;
    if (res.destroyed) return;
    const outHeaders: Record<string, string> = {};
    upstream.headers.forEach((v, k) => {
      if (!HOP_BY_HOP.has(k) && k !== "content-encoding") outHeaders[k] = v;
    });
    res.writeHead(upstream.status, outHeaders);
    res.end(out);
  }
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
}
