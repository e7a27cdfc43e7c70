/**
 * The Discord channel a person names in `link discord <channel>`: its id, a channel mention
 * (`<#123…>`, as Discord writes it when copied from a message), or a link to the channel or one
 * of its messages (`https://discord.com/channels/<server>/<channel>[/<message>]`). Pure.
 */
import { BridgeError } from "../../src/core/errors";

const FORMS =
  "give the channel's id (Copy Channel ID, with developer mode on), its link (https://discord.com/channels/<server>/<channel>) or its mention (<#id>)";

/** Snowflakes: 17 to 20 digits today; a little room either way. */
const SNOWFLAKE = /^[1-9]\d{14,20}$/;

/** The channel id `typed` names; throws a BridgeError listing the forms understood. */
export function typedChannelId(typed: string): string {
  const t = typed.trim();
  const shown = t.length > 80 ? `${t.slice(0, 80)}…` : t;
  const mention = /^<#(\d+)>$/.exec(t);
  const link =
    /^(?:https?:\/\/)?(?:(?:www|ptb|canary)\.)?discord(?:app)?\.com\/channels\/(?:@me|\d+)\/(\d+)(?:\/\d+)?\/?(?:[?#].*)?$/i.exec(
      t,
    );
  const id = mention?.[1] ?? link?.[1] ?? t;
  if (SNOWFLAKE.test(id)) return id;
  const named = /^#\S/.test(t) ? " (a channel's name is not unique; Discord needs its id)" : "";
  throw new BridgeError(`'${shown}' is not a Discord channel${named}: ${FORMS}.`);
}
