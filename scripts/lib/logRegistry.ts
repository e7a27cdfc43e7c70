/**
 * Log files of the child processes started by the dev stack and the test harness (Synapse, the
 * bridge), registered so that the test setup (spec/setup.ts) can print, for a failed test, what
 * those processes wrote while it ran. Shared through a global so that every copy of this module
 * (tsx may load it more than once) sees the same list.
 */
export interface RegisteredLog {
  /** Says which process, e.g. "bridge (pid 123)". */
  label: string;
  /** File the process's output goes to. */
  path: string;
}

const KEY = Symbol.for("clawbridge.registeredLogs");
const store = globalThis as typeof globalThis & { [KEY]?: RegisteredLog[] };

/** Adds a log file to the list (a file registered twice is listed once). */
export function registerLog(label: string, path: string): void {
  store[KEY] ??= [];
  const logs = store[KEY];
  const existing = logs.find((l) => l.path === path);
  if (existing) existing.label = label;
  else logs.push({ label, path });
}

/** Every log file registered so far, oldest first. */
export function registeredLogs(): readonly RegisteredLog[] {
  return store[KEY] ?? [];
}
