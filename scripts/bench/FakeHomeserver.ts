/**
 * A homeserver stand-in for the bridge-side processing benchmark: it answers every
 * client-server call the bridge makes at once (sends get an event id, profiles and member
 * state are empty or a name), so what is measured is the bridge, not Synapse. It is not a
 * Matrix server and is used for nothing else.
 */
import { createServer, type Server } from "node:http";

export class FakeHomeserver {
  /** Calls by route ("PUT send", "GET state", …). */
  readonly calls = new Map<string, number>();
  private seq = 0;

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<FakeHomeserver> {
    let self: FakeHomeserver | undefined;
    const server = createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        const { status, body, route } = self!.answer(req.method ?? "GET", req.url ?? "/");
        self!.calls.set(route, (self!.calls.get(route) ?? 0) + 1);
        const text = JSON.stringify(body);
        res.writeHead(status, {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(text),
        });
        res.end(text);
      });
    });
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    self = new FakeHomeserver(server, `http://127.0.0.1:${port}`);
    return self;
  }

  private answer(method: string, url: string): { status: number; body: unknown; route: string } {
    const path = url.split("?")[0]!;
    if (path === "/_matrix/client/versions")
      return { status: 200, body: { versions: ["v1.11"] }, route: "versions" };
    if (path.includes("/appservice/") && path.endsWith("/ping"))
      return { status: 200, body: { duration_ms: 1 }, route: "ping" };
    if (/\/rooms\/[^/]+\/(send|redact)\//.test(path))
      return { status: 200, body: { event_id: `$fake${++this.seq}` }, route: `${method} send` };
    if (/\/rooms\/[^/]+\/state\/m\.room\.member\//.test(path))
      return { status: 200, body: { membership: "join", displayname: "Bench User" }, route: "GET member" };
    if (path.endsWith("/createRoom"))
      return { status: 200, body: { room_id: `!fake${++this.seq}:localhost` }, route: "createRoom" };
    if (path.includes("/join/"))
      return { status: 200, body: { room_id: "!joined:localhost" }, route: "join" };
    if (path.endsWith("/register"))
      return { status: 400, body: { errcode: "M_USER_IN_USE", error: "taken" }, route: "register" };
    if (method === "GET" && path.includes("/profile/"))
      return { status: 200, body: {}, route: "GET profile" };
    return { status: 200, body: {}, route: `${method} other` };
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
