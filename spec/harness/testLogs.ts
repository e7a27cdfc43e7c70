import {
  closeSync,
  existsSync,
  fstatSync,
  mkdtempSync,
  openSync,
  readSync,
  rmSync,
  writeSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { registeredLogs, registerLog } from "../../scripts/lib/logRegistry";

/**
 * Keeps the test report readable: log lines of the test process itself (the project's Logger,
 * in pretty or JSON form) and the Signal library's session chatter go to a file instead of the
 * terminal; child processes already log to their own files (scripts/lib/logRegistry). When a
 * test fails, {@link printLogsOfFailedTest} prints what every registered log received while it ran.
 */

/** Lines of the project's Logger: `2026-…Z INFO [Module] …` or a JSON object with a module. */
const LOGGER_LINE = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z (DEBUG|INFO|WARN|ERROR) \[|\{.*"module":)/;
/** libsignal (baileys' and the WhatsApp stand-in's) logs whole session objects with console.info/warn. */
const SIGNAL_CHATTER =
  /^(Closing session|Closing open session|Opening session|Removing old closed session|Session already (open|closed)|Decrypted message with closed session|Migrating session to)/;
const TAIL_LINES = 80;
const TAIL_BYTES = 256 * 1024;

let dir: string | undefined;
let fd: number | undefined;
let failures = 0;
const startOffsets = new Map<string, number>();

function size(file: string): number {
  try {
    const f = openSync(file, "r");
    try {
      return fstatSync(f).size;
    } finally {
      closeSync(f);
    }
  } catch {
    return 0;
  }
}

/** Routes the test process's own log lines and library chatter to `<scratch>/test-process.log`. */
export function captureTestProcessLogs(): void {
  if (fd !== undefined) return;
  dir = mkdtempSync(path.join(os.tmpdir(), "clawbridge-testlogs-"));
  const file = path.join(dir, "test-process.log");
  fd = openSync(file, "a", 0o600);
  registerLog("test process (in-process loggers, libsignal)", file);
  for (const stream of [process.stdout, process.stderr]) {
    const original = stream.write.bind(stream) as (...a: unknown[]) => boolean;
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      const text =
        typeof chunk === "string" ? chunk : Buffer.isBuffer(chunk) ? chunk.toString("utf8") : undefined;
      if (fd !== undefined && text !== undefined && (LOGGER_LINE.test(text) || SIGNAL_CHATTER.test(text))) {
        writeSync(fd, text.endsWith("\n") ? text : `${text}\n`);
        const cb = rest.find((r) => typeof r === "function") as (() => void) | undefined;
        cb?.();
        return true;
      }
      return original(chunk, ...rest);
    }) as typeof stream.write;
  }
}

/** Remembers where every registered log ends, so a failure shows only what came after. */
export function markTestStart(): void {
  startOffsets.clear();
  for (const log of registeredLogs()) startOffsets.set(log.path, size(log.path));
}

/** What `file` received since `from`, as its last {@link TAIL_LINES} lines. */
function since(file: string, from: number): string {
  const end = size(file);
  const start = Math.max(from, end - TAIL_BYTES);
  if (end <= start) return "";
  const f = openSync(file, "r");
  try {
    const buf = Buffer.alloc(end - start);
    readSync(f, buf, 0, buf.length, start);
    const lines = buf.toString("utf8").split("\n");
    if (lines.at(-1) === "") lines.pop();
    return lines.slice(-TAIL_LINES).join("\n");
  } finally {
    closeSync(f);
  }
}

/** For a failed test: the tail of what each registered log received while it ran. */
export function printLogsOfFailedTest(title: string): void {
  failures++;
  const parts: string[] = [];
  for (const log of registeredLogs()) {
    if (!existsSync(log.path)) continue;
    const text = since(log.path, startOffsets.get(log.path) ?? 0);
    if (text)
      parts.push(
        `  ── ${log.label}: ${log.path} (last ${TAIL_LINES} lines written during the test)\n${text}`,
      );
  }
  if (!parts.length) return;
  process.stdout.write(`\n  ══ logs while "${title}" ran ══\n${parts.join("\n")}\n  ══ end of logs ══\n\n`);
}

/** Closes the test process's log; removes it unless a test failed or KEEP_TEST_DIRS is set. */
export function finishTestLogs(): void {
  if (fd === undefined || dir === undefined) return;
  closeSync(fd);
  fd = undefined;
  if (failures > 0 || process.env.KEEP_TEST_DIRS)
    process.stderr.write(`[logs] test process log kept in ${dir}\n`);
  else rmSync(dir, { recursive: true, force: true });
}
