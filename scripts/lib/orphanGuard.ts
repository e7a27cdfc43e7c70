import { type ChildProcess, spawn } from "node:child_process";

/**
 * Child processes of the dev stack and the test harness (Synapse, the bridge with its embedded
 * PostgreSQL) each run in their own process group, so a terminal's Ctrl-C reaches only the
 * parent, which stops them in order. If the parent dies without doing so (SIGKILL, a crash),
 * a small watchdog process notices (its stdin pipe from the parent closes) and terminates every
 * group still registered: SIGTERM, then SIGKILL after 10 s.
 */
const WATCHDOG = `
const groups = new Set();
let buf = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => {
  buf += chunk;
  for (let i = buf.indexOf("\\n"); i >= 0; i = buf.indexOf("\\n")) {
    const [op, id] = buf.slice(0, i).split(" ");
    buf = buf.slice(i + 1);
    const pgid = Number(id);
    if (!(pgid > 1)) continue;
    if (op === "+") groups.add(pgid);
    else groups.delete(pgid);
  }
});
const signal = (pgid, sig) => { try { process.kill(-pgid, sig); return true; } catch { return false; } };
process.stdin.on("end", () => {
  let left = [...groups].filter((g) => signal(g, "SIGTERM"));
  const deadline = Date.now() + 10000;
  const timer = setInterval(() => {
    left = left.filter((g) => signal(g, 0));
    if (left.length && Date.now() < deadline) return;
    for (const g of left) signal(g, "SIGKILL");
    clearInterval(timer);
  }, 200);
});
`;

let watchdog: ChildProcess | undefined;

function ensureWatchdog(): ChildProcess {
  if (watchdog?.stdin?.writable) return watchdog;
  const child = spawn(process.execPath, ["-e", WATCHDOG], {
    detached: true,
    stdio: ["pipe", "ignore", "ignore"],
  });
  // Neither the process nor its pipe may keep this process alive.
  child.unref();
  (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  child.stdin?.on("error", () => undefined);
  watchdog = child;
  return child;
}

/**
 * Puts the group led by `child` (spawned with `detached: true`) under the watchdog and kills
 * the group when this process exits without having stopped it. Returns the release to call
 * once the child has exited.
 */
export function guardGroup(child: ChildProcess): () => void {
  const pgid = child.pid;
  if (pgid === undefined) return () => undefined;
  ensureWatchdog().stdin?.write(`+ ${pgid}\n`);
  // On exit only synchronous work is possible: the leader is killed at once, the rest of its
  // group (the bridge's PostgreSQL) asked to stop cleanly.
  const onExit = () => {
    for (const [target, sig] of [
      [-pgid, "SIGTERM"],
      [pgid, "SIGKILL"],
    ] as const) {
      try {
        process.kill(target, sig);
      } catch {
        // already gone
      }
    }
  };
  process.on("exit", onExit);
  return () => {
    process.off("exit", onExit);
    if (watchdog?.stdin?.writable) watchdog.stdin.write(`- ${pgid}\n`);
  };
}

/** Sends `signal` to the whole process group led by `child` (falls back to the child alone). */
export function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    child.kill(signal);
  }
}
