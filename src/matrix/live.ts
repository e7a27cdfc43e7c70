/**
 * MSC4357 live messages: a message still being written (an AI answer streaming in) carries this
 * key, and so does each of its edits until the last one, which does not. Matrix clients that know
 * it show the message as in progress; the outbound bridge relays the first message and only the
 * final edit, so a platform sees one edit per answer instead of one per second.
 */
export const LIVE_KEY = "org.matrix.msc4357.live";

/** True for an event (or edit) whose content says more edits follow. */
export function isLive(content: Record<string, unknown>): boolean {
  return content[LIVE_KEY] !== undefined;
}
