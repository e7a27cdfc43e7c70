import type { PermissionLevel } from "../config/types";
import type { ConnectorRegistry } from "../core/ConnectorRegistry";
import type { LoginPrompt, LoginRef, NetworkConnector } from "../core/connector";

/**
 * Logging in and out, shared by the management-room commands and the web API: one code path,
 * two ways to ask. Each answers with the text the user is shown.
 */

/** The outcome of a token login; `reason` tells a refusal's kind apart (the API's status). */
export type TokenLoginResult =
  | { ok: true; login: LoginRef; text: string }
  | { ok: false; reason: "unknown-platform" | "no-token-login" | "not-admin" | "refused"; text: string };

/** A platform account connected with a bot token (bridge admins only). */
export async function loginWithToken(
  registry: ConnectorRegistry,
  who: { sender: string; level: PermissionLevel },
  platform: string,
  token: string,
): Promise<TokenLoginResult> {
  const connector = registry.connectors.get(platform);
  if (!connector)
    return { ok: false, reason: "unknown-platform", text: `There is no '${platform}' connector enabled.` };
  if (!connector.loginWithToken)
    return { ok: false, reason: "no-token-login", text: `'${platform}' has no token login.` };
  if (who.level !== "admin")
    return { ok: false, reason: "not-admin", text: "Only bridge admins may connect a bot token." };
  let login: Omit<LoginRef, "id">;
  try {
    login = await connector.loginWithToken(who.sender, token);
  } catch (err) {
    return {
      ok: false,
      reason: "refused",
      text: `${platform} refused the token: ${(err as Error).message}.`,
    };
  }
  const stored = await registry.addLogin(login);
  return { ok: true, login: stored, text: `Logged in to ${platform} as ${login.remoteId ?? "the account"}.` };
}

/**
 * An interactive login (a QR code to scan, a pairing code to type) through `prompt`, which
 * shows its steps; the outcome is said through it too. Resolves with the login, or undefined
 * when it did not complete. May take minutes.
 */
export async function runInteractiveLogin(
  registry: ConnectorRegistry,
  owner: string,
  platform: string,
  connector: NetworkConnector,
  args: string[],
  prompt: LoginPrompt,
): Promise<LoginRef | undefined> {
  try {
    const login = await connector.loginInteractive!(owner, args, prompt);
    const stored = await registry.addLogin(login);
    await prompt.say(`Logged in to ${platform} as ${login.remoteId ?? "your account"}.`);
    return stored;
  } catch (err) {
    await prompt.say(`The ${platform} login did not complete: ${(err as Error).message}`);
    return undefined;
  }
}

/** Logs `sender` out of their own logins of `platform`; returns the logins removed. */
export async function logoutOwn(
  registry: ConnectorRegistry,
  sender: string,
  platform: string,
): Promise<LoginRef[]> {
  const mine = registry.logins().filter((l) => l.platform === platform && l.ownerMxid === sender);
  for (const l of mine) await registry.removeLogin(l.id);
  return mine;
}

/** The logins `sender` may see: their own; bridge admins see all. */
export function visibleLoginStates(
  registry: ConnectorRegistry,
  who: { sender: string; level: PermissionLevel },
) {
  return registry.loginStates().filter((s) => who.level === "admin" || s.login.ownerMxid === who.sender);
}
