import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import net from "node:net";

/**
 * Asks the kernel for a free TCP port on 127.0.0.1 and releases it again.
 * Another process could take the port between this call and its use; on a test machine that race is rare
 * enough to accept.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      if (address === null || typeof address === "string") {
        server.close();
        reject(new Error("could not read the address of a probe socket"));
        return;
      }
      const { port } = address;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once nothing listens on 127.0.0.1:port any more (or after timeoutMs, then rejects). */
export async function waitPortFree(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const inUse = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: "127.0.0.1", port });
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (!inUse) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`port ${port} is still in use after ${timeoutMs} ms`);
}

/** True when something listens on `port` (binding 127.0.0.1:port fails with EADDRINUSE). */
export function portBusy(port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "EADDRINUSE" || err.code === "EACCES") resolve(true);
      else reject(err);
    });
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(false)));
  });
}

/** A process listening on a TCP port, as far as /proc tells (Linux; undefined elsewhere or when not visible). */
export interface Listener {
  pid: number;
  command: string;
}

/** Which process listens on `port` (IPv4 or IPv6), read from /proc/net/tcp* and /proc/<pid>/fd. */
export function whoListens(port: number): Listener | undefined {
  const inodes = new Set<string>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address is HEXIP:HEXPORT; state 0A is LISTEN; field 9 is the socket inode.
      if (f.length > 9 && f[3] === "0A" && Number.parseInt(f[1].split(":")[1] ?? "", 16) === port)
        inodes.add(f[9]);
    }
  }
  if (!inodes.size) return undefined;
  let pids: string[];
  try {
    pids = readdirSync("/proc").filter((d) => /^\d+$/.test(d));
  } catch {
    return undefined;
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (m && inodes.has(m[1])) {
        let command = "?";
        try {
          command = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean).join(" ");
        } catch {
          // gone meanwhile
        }
        return { pid: Number(pid), command };
      }
    }
  }
  return undefined;
}
