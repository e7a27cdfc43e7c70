/**
 * Start-up and memory of the bridge on the real Synapse: the bridge is stopped, 10k portals
 * and 100k ghosts are written into its database with SQL, and it is started again, compiled
 * and under tsx, timing spawn → /health 200 and reading its RSS once it has been idle a while.
 */
import type { Entry } from "./BenchBridge";
import { progress, type Rig } from "./rig";
import { seedDatabase } from "./seed";

export interface StartSample {
  entry: Entry;
  readyMs: number;
  rssIdleMiB: number;
  /** PSS of the bridge and of its embedded PostgreSQL, MiB. */
  pssIdle: { bridge: number; postgres: number };
}

export interface MemoryResult {
  portals: number;
  ghosts: number;
  seedMs: number;
  starts: StartSample[];
}

export async function runMemory(
  rig: Rig,
  o: { portals: number; ghosts: number; repeats: number; idleMs: number },
): Promise<MemoryResult> {
  await rig.bridge.stop();
  progress(`memory: seeding ${o.portals} portals and ${o.ghosts} ghosts into the bridge's database`);
  const seed = await seedDatabase({
    dataDir: rig.dataDir,
    owner: rig.alice.userId,
    botToken: rig.tg.token,
    portals: o.portals,
    ghosts: o.ghosts,
  });
  const starts: StartSample[] = [];
  for (let i = 0; i < o.repeats; i++) {
    for (const entry of ["compiled", "tsx"] as const) {
      const bridge = await rig.restartBridge(entry);
      await new Promise((r) => setTimeout(r, o.idleMs));
      starts.push({ entry, readyMs: bridge.readyMs, rssIdleMiB: bridge.rss() ?? 0, pssIdle: bridge.pss() });
      progress(
        `memory: ${entry} ready in ${bridge.readyMs.toFixed(0)} ms, RSS ${(bridge.rss() ?? 0).toFixed(1)} MiB`,
      );
    }
  }
  // Leave the bridge running as the rig started it.
  await rig.restartBridge(rig.entry);
  return { portals: o.portals, ghosts: o.ghosts, seedMs: seed.ms, starts };
}
