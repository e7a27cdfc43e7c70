/**
 * Loaded first in every mocha run (.mocharc.json `file`).
 * - Loopback guard: any TCP connect from the test process to a host other than 127.0.0.1 / ::1 / localhost throws,
 *   so a forgotten base URL fails loudly instead of reaching the internet. Unix sockets (Postgres) pass.
 * - Root hook: stops the shared Synapse (spec/harness/synapse.ts) after all suites, if one was started.
 * - Quiet report: the test process's own log lines and library chatter go to a file; when a test
 *   fails, what the child processes (Synapse, bridges) and that file received while it ran is
 *   printed after it (spec/harness/testLogs.ts).
 */
import net from "node:net";
import { stopSharedRig } from "./harness/synapse";
import {
  captureTestProcessLogs,
  finishTestLogs,
  markTestStart,
  printLogsOfFailedTest,
} from "./harness/testLogs";

captureTestProcessLogs();

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost", "::ffff:127.0.0.1", "[::1]"]);

/** Host a `Socket#connect` call would reach, or undefined for a unix socket path. */
function targetHost(args: unknown[]): string | undefined {
  // net.connect() passes its already-normalized arguments as an array in the first slot.
  const first = Array.isArray(args[0]) ? args[0][0] : args[0];
  if (first !== null && typeof first === "object") {
    const opts = first as { path?: unknown; host?: unknown };
    if (typeof opts.path === "string") return undefined;
    return typeof opts.host === "string" && opts.host !== "" ? opts.host : "localhost";
  }
  if (typeof first === "string" && Number.isNaN(Number(first))) return undefined; // a path
  const second = Array.isArray(args[0]) ? undefined : args[1];
  return typeof second === "string" && second !== "" ? second : "localhost";
}

const guardMark = Symbol.for("clawbridge.loopbackGuard");
type Connect = typeof net.Socket.prototype.connect;
const proto = net.Socket.prototype as net.Socket & { [guardMark]?: boolean };
if (!proto[guardMark]) {
  const original: Connect = proto.connect;
  const guarded = function (this: net.Socket, ...args: unknown[]): net.Socket {
    const host = targetHost(args);
    if (host !== undefined && !LOOPBACK.has(host.toLowerCase())) {
      throw new Error(`test tried to reach non-loopback host ${host}`);
    }
    return (original as (...a: unknown[]) => net.Socket).apply(this, args);
  };
  proto.connect = guarded as Connect;
  proto[guardMark] = true;
}

async function afterAllSuites(): Promise<void> {
  await stopSharedRig();
  finishTestLogs();
}

/** Root hooks for mocha's `--require` style loading. */
export const mochaHooks = { afterAll: afterAllSuites };

// Loaded with `--file` (as .mocharc.json does), mocha ignores `mochaHooks`; a top-level `after` is a root hook.
if (typeof beforeEach === "function" && typeof afterEach === "function") {
  beforeEach(() => markTestStart());
  afterEach(function () {
    if (this.currentTest?.state === "failed") printLogsOfFailedTest(this.currentTest.fullTitle());
  });
}
if (typeof after === "function") {
  after(async function () {
    this.timeout(30_000);
    await afterAllSuites();
  });
}
