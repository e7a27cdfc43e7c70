/**
 * baileys logs through a pino-shaped logger; this one forwards warnings and errors to the
 * bridge's logger (with the login's context) and drops its chatter.
 */
import type { UserFacingSocketConfig } from "@whiskeysockets/baileys";
import type { Logger } from "../../src/log/Logger";

type ILogger = NonNullable<UserFacingSocketConfig["logger"]>;

function text(obj: unknown, msg?: string): { message: string; detail?: string } {
  if (typeof obj === "string") return { message: obj };
  const o = obj as { err?: unknown; msg?: string } | undefined;
  const err = o?.err instanceof Error ? o.err.message : undefined;
  return { message: msg ?? o?.msg ?? "baileys", detail: err ?? JSON.stringify(obj)?.slice(0, 300) };
}

export function baileysLogger(log: Logger, level = "warn"): ILogger {
  const self: ILogger = {
    level,
    child: () => self,
    trace: () => undefined,
    debug: () => undefined,
    info: (obj: unknown, msg?: string) => {
      const t = text(obj, msg);
      log.debug(`baileys: ${t.message}`, t.detail ? { detail: t.detail } : undefined);
    },
    warn: (obj: unknown, msg?: string) => {
      const t = text(obj, msg);
      log.warn(`baileys: ${t.message}`, t.detail ? { detail: t.detail } : undefined);
    },
    error: (obj: unknown, msg?: string) => {
      const t = text(obj, msg);
      log.error(`baileys: ${t.message}`, t.detail ? { detail: t.detail } : undefined);
    },
  };
  return self;
}
