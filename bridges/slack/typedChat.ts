/**
 * The Slack channel a person names in `link slack <channel>`: its id (`C0123ABCD`), a channel
 * mention as Slack writes it (`<#C0123ABCD|general>`), or a link to the channel or one of its
 * messages (`https://team.slack.com/archives/C0123ABCD[/p…]`,
 * `https://app.slack.com/client/T…/C0123ABCD`). Pure.
 */
import { BridgeError } from "../../src/core/errors";

const FORMS =
  "give the channel's id (C0123ABCD, at the bottom of the channel's details), its link (https://<workspace>.slack.com/archives/C0123ABCD) or its mention (<#C0123ABCD>)";

/** Public (C) and private (G) channels, direct messages (D): uppercase letters and digits. */
const CHANNEL = /^[CGD](?=[A-Z0-9]*\d)[A-Z0-9]{6,20}$/;

/** The channel id `typed` names; throws a BridgeError listing the forms understood. */
export function typedChannelId(typed: string): string {
  const t = typed.trim();
  const shown = t.length > 80 ? `${t.slice(0, 80)}…` : t;
  const mention = /^<#([A-Za-z0-9]+)(?:\|[^>]*)?>$/.exec(t);
  const archive =
    /^(?:https?:\/\/)?[a-z0-9-]+(?:\.enterprise)?\.slack\.com\/archives\/([A-Za-z0-9]+)(?:\/p\d+)?\/?(?:[?#].*)?$/i.exec(
      t,
    );
  const client = /^(?:https?:\/\/)?app\.slack\.com\/client\/[A-Za-z0-9]+\/([A-Za-z0-9]+)(?:\/.*)?$/i.exec(t);
  const id = mention?.[1] ?? archive?.[1] ?? client?.[1] ?? t;
  if (CHANNEL.test(id)) return id;
  const named = /^#\S/.test(t) ? " (Slack needs the channel's id, not its name)" : "";
  throw new BridgeError(`'${shown}' is not a Slack channel${named}: ${FORMS}.`);
}
