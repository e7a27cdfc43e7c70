import { BridgeError } from "./core/errors";
import { MatrixError } from "./matrix/MatrixApi";

/**
 * The one line `clawbridge` prints when a command fails: what happened and, for the failures an
 * operator can fix, what to do. The stack stays in the debug log.
 */
export function failureText(err: unknown): string {
  if (err instanceof BridgeError) return err.userMessage;
  if (err instanceof MatrixError) {
    if (err.errcode === "M_UNKNOWN_TOKEN")
      return (
        `the homeserver does not know the bridge's as_token (${firstLine(err.message)}): add the registration file ` +
        "to its app_service_config_files (Synapse) and restart it; `clawbridge doctor` checks this"
      );
    if (err.status === 0)
      return `the homeserver stopped answering (${firstLine(err.message)}): check that it runs, then start again`;
  }
  return err instanceof Error ? firstLine(err.message) : String(err);
}

function firstLine(text: string): string {
  return text.split("\n")[0];
}
