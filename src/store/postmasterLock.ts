import { readFileSync } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import type { Logger } from "../log/Logger";

/**
 * A bridge killed with SIGKILL leaves its PostgreSQL running, orphaned, and the next start
 * would fail on the lock file. Stop such an orphan; refuse if its bridge is still alive. A
 * lock file whose pid is gone (or a zombie) is removed once no old backend uses the shared
 * memory; one whose pid now belongs to an unrelated process (pid reuse after a container
 * restart) is removed too, since PostgreSQL would refuse to start on either.
 */
export async function clearLeftoverPostmaster(
  dataDir: string,
  clusterDir: string,
  ownerFile: string,
  log: Logger,
): Promise<{ runningPort?: number }> {
  const pidFile = path.join(clusterDir, "postmaster.pid");
  let text: string;
  try {
    text = await fs.readFile(pidFile, "utf8");
  } catch {
    return {};
  }
  const lines = text.split("\n");
  const pid = Number.parseInt(lines[0] ?? "", 10);
  const proc = Number.isInteger(pid) && pid > 0 ? inspectProcess(pid) : { alive: false };
  if (!proc.alive) {
    // PostgreSQL would replace this file itself, but not while the pid is an unreaped zombie
    // (containers whose init does not reap). Its own safety check is that no old backend is
    // still attached to the shared memory named in the file: make the same check first.
    const shmid = Number(lines[6]?.trim().split(/\s+/)[1]);
    for (let waited = 0; shmAttachments(shmid) > 0; waited += 100) {
      if (waited >= 10_000) {
        throw new Error(
          `Processes of a previous PostgreSQL still use ${clusterDir}; stop them before starting.`,
        );
      }
      await sleep(100);
    }
    log.warn("removing postmaster.pid left by a PostgreSQL that was killed; it will recover", { pid });
    await fs.rm(pidFile, { force: true });
    return {};
  }
  if (proc.cmdline === undefined) return {}; // no /proc: PostgreSQL decides
  if (!proc.cmdline.includes(clusterDir)) {
    log.warn("removing a stale postmaster.pid whose pid now belongs to another process", { pid });
    await fs.rm(pidFile, { force: true });
    return {};
  }
  const owner = Number.parseInt(await fs.readFile(ownerFile, "utf8").catch(() => ""), 10);
  if (proc.ppid === process.pid)
    throw new Error(`The database in ${dataDir} is already open in this process.`);
  if (proc.ppid === owner && inspectProcess(owner).alive) {
    // A running bridge owns it: `doctor` and `migrate` connect to that server as clients.
    const port = Number.parseInt(lines[3] ?? "", 10);
    if (Number.isInteger(port) && port > 0) return { runningPort: port };
    throw new Error(`Another clawbridge (pid ${owner}) is running on ${dataDir} and its port is unknown.`);
  }
  log.warn("stopping a PostgreSQL left running by a clawbridge that was killed", { pid });
  for (const [signal, waitMs] of [
    ["SIGINT", 30_000],
    ["SIGQUIT", 5_000],
  ] as const) {
    process.kill(pid, signal);
    const deadline = Date.now() + waitMs;
    while (inspectProcess(pid).alive && Date.now() < deadline) await sleep(100);
    if (!inspectProcess(pid).alive) return {};
  }
  throw new Error(
    `Could not stop the leftover PostgreSQL (pid ${pid}) using ${clusterDir}. Stop it by hand.`,
  );
}

/** How many processes are attached to a System V shared memory segment; 0 when unknown or gone. */
function shmAttachments(shmid: number): number {
  if (!Number.isInteger(shmid)) return 0;
  try {
    for (const row of readFileSync("/proc/sysvipc/shm", "utf8").split("\n").slice(1)) {
      const cols = row.trim().split(/\s+/);
      if (Number(cols[1]) === shmid) return Number(cols[6]) || 0;
    }
  } catch {
    // not Linux: PostgreSQL makes the same check when it starts
  }
  return 0;
}

/** Liveness from kill(pid, 0), and on Linux the command line and parent; zombies count as dead. */
function inspectProcess(pid: number): { alive: boolean; cmdline?: string; ppid?: number } {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return { alive: false };
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // "pid (comm) state ppid …"; comm may itself contain ") ".
    const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (state === "Z" || state === "X") return { alive: false };
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
    return { alive: true, cmdline, ppid: Number(ppid) };
  } catch {
    return { alive: true };
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
