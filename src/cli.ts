#!/usr/bin/env node
import "./requireSupportedNode";
import "./compileCache";
import { existsSync } from "node:fs";
import path from "node:path";
import { flushCompileCache } from "./compileCache";
import { ConfigError, loadConfig } from "./config/Config";
import { buildRegistration, loadRegistrationTokens, writeRegistration } from "./config/registration";
import type { BridgeConfig } from "./config/types";
import { Bridge } from "./core/Bridge";
import { BridgeError } from "./core/errors";
import { runDoctor } from "./doctor";
import { failureText } from "./failureText";
import { configureLogging, Logger, redact } from "./log/Logger";
import { DEFAULT_HOMESERVER_WAIT_SECONDS, waitForHomeserver } from "./matrix/waitForHomeserver";
import { openDatabase } from "./store/Database";
import { Migrator } from "./store/Migrator";
import { VERSION } from "./version";

const log = new Logger("cli");

const USAGE = `clawbridge ${VERSION} — Matrix bridge for Telegram, Discord, Slack and WhatsApp, with an AI user

Usage:
  clawbridge generate-registration -c config.yaml -f registration.yaml [--force [--keep-tokens]]
      Write the appservice registration for the homeserver (fresh tokens; with --keep-tokens
      those of the existing file, e.g. after enabling a platform).
  clawbridge start -c config.yaml [-r registration.yaml] [--wait-homeserver <seconds>]
      Run the bridge. Waits up to ${DEFAULT_HOMESERVER_WAIT_SECONDS} s (or <seconds>) for the homeserver to answer.
  clawbridge doctor -c config.yaml [-r registration.yaml]
      Check config, database, homeserver, appservice ping and connectors.
  clawbridge migrate -c config.yaml
      Apply database migrations.
  clawbridge version`;

interface Args {
  command?: string;
  config: string;
  registration?: string;
  file?: string;
  force: boolean;
  keepTokens: boolean;
  waitHomeserverSeconds: number;
}

function parseArgs(argv: string[]): Args {
  const args: Args = {
    config: "config.yaml",
    force: false,
    keepTokens: false,
    waitHomeserverSeconds: DEFAULT_HOMESERVER_WAIT_SECONDS,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value`);
      return v;
    };
    if (a === "-c" || a === "--config") args.config = value();
    else if (a === "-r" || a === "--registration") args.registration = value();
    else if (a === "-f" || a === "--file") args.file = value();
    else if (a === "--force") args.force = true;
    else if (a === "--keep-tokens") args.keepTokens = true;
    else if (a === "--wait-homeserver") {
      const seconds = Number(value());
      if (!Number.isFinite(seconds) || seconds < 0)
        throw new UsageError("--wait-homeserver needs a number of seconds (0 or more)");
      args.waitHomeserverSeconds = seconds;
    } else if (a === "-h" || a === "--help") args.command = "help";
    else if (a === "-v" || a === "--version") args.command = "version";
    else if (!a.startsWith("-") && !args.command) args.command = a;
    else throw new UsageError(`unknown option ${a}`);
  }
  return args;
}

class UsageError extends Error {}

/** The registration file: -r wins, then appservice.registration relative to the config file. */
function registrationPath(args: Args, config: BridgeConfig): string {
  if (args.registration) return args.registration;
  return path.resolve(path.dirname(args.config), config.appservice.registration);
}

function load(args: Args): BridgeConfig {
  const config = loadConfig(args.config);
  configureLogging(config.logging);
  // Relative data paths are relative to the config file, not to wherever the bridge was started.
  config.database.data_dir = path.resolve(path.dirname(args.config), config.database.data_dir);
  return config;
}

async function start(args: Args): Promise<void> {
  const config = load(args);
  const tokens = loadRegistrationTokens(registrationPath(args, config), { configPath: args.config });
  // The database starts while the homeserver is awaited (Bridge.start awaits it before the rest).
  const homeserver = waitForHomeserver(config.homeserver.url, args.waitHomeserverSeconds * 1000);
  homeserver.catch(() => undefined);
  /** A stop that has not finished by then is cut short (service managers send SIGKILL at ~10 s). */
  const SHUTDOWN_DEADLINE_MS = 9_000;
  let bridge: Bridge | undefined;
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("stopping", { signal });
    // Whatever hangs (a dead database, a homeserver or connector that does not answer), the
    // process is gone within SHUTDOWN_DEADLINE_MS: exit code 0 for a clean stop, 1 if forced.
    setTimeout(() => {
      log.error("did not stop in time; exiting anyway (undelivered messages stay queued)", {
        ms: SHUTDOWN_DEADLINE_MS,
      });
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS).unref();
    // Stopped while starting: the exit hook stops the embedded PostgreSQL; what was accepted is stored.
    if (!bridge) process.exit(0);
    bridge.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error("stop failed", { err });
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", () => shutdown("SIGINT"));
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  bridge = await Bridge.start({ config, tokens, homeserver });
  // Kept now rather than at exit: a bridge killed with SIGKILL would write none.
  flushCompileCache();
}

async function migrate(args: Args): Promise<void> {
  const config = load(args);
  const db = await openDatabase({
    url: config.database.url,
    dataDir: config.database.data_dir,
    embeddedPort: config.database.embedded_port,
    maxConnections: 2,
  });
  try {
    const migrator = new Migrator({ pool: db.pool });
    const applied = await migrator.migrate();
    const status = await migrator.status();
    console.log(
      applied.length
        ? `applied migrations ${applied.join(", ")}; database at ${status.applied}`
        : `database up to date (migration ${status.applied})`,
    );
  } finally {
    await db.close();
  }
}

function generateRegistration(args: Args): void {
  if (!args.file) throw new UsageError("generate-registration needs -f <registration file>");
  if (args.keepTokens && !args.force) throw new UsageError("--keep-tokens goes with --force");
  const config = load(args);
  if (existsSync(args.file) && !args.force) {
    throw new BridgeError(
      `${args.file} already exists: to replace it, run the same command with --force ` +
        "(add --keep-tokens to keep its tokens), give the homeserver the new file and restart the homeserver",
    );
  }
  const tokens = args.keepTokens ? loadRegistrationTokens(args.file, { configPath: args.config }) : {};
  const reg = buildRegistration(config, tokens);
  writeRegistration(args.file, reg, { force: args.force });
  console.log(
    `Wrote ${args.file}. Add its path to app_service_config_files in the homeserver config, restart the homeserver, ` +
      `then run: clawbridge start -c ${args.config} -r ${args.file}`,
  );
}

async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  switch (args.command) {
    case "generate-registration":
      generateRegistration(args);
      return 0;
    case "start":
      await start(args);
      return -1; // keeps running
    case "doctor": {
      const config = load(args);
      return (await runDoctor(config, registrationPath(args, config), args.config)) ? 0 : 1;
    }
    case "migrate":
      await migrate(args);
      return 0;
    case "version":
      console.log(`clawbridge ${VERSION}`);
      return 0;
    case "help":
    case undefined:
      console.log(USAGE);
      return args.command ? 0 : 2;
    default:
      throw new UsageError(`unknown command '${args.command}'`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    if (err instanceof UsageError) {
      console.error(`clawbridge: ${err.message}\n\n${USAGE}`);
      process.exit(2);
    }
    // Expected failures (homeserver down, a file in the way…) say what to do in one line; the
    // stack is for debugging only.
    console.error(`clawbridge: ${redact(failureText(err))}`);
    log.debug("failure details", { err });
    process.exit(1);
  },
);
