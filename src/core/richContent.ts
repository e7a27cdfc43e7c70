/**
 * Matrix content for the message kinds beyond text and media: shared places (`m.location`) and
 * polls (MSC3381). Pure functions over the connector model; nothing platform-specific.
 */
import type { RemoteLocation, RemotePoll } from "./connector";
import { geoUri, validPoint } from "./geo";

/** The event type of a poll start (MSC3381, as Element sends and shows it). */
export const POLL_START = "org.matrix.msc3381.poll.start";
const TEXT = "org.matrix.msc1767.text";

/** MSC3381's limits: at most 20 answers; lengths kept to what a client shows sensibly. */
export const MAX_POLL_ANSWERS = 20;
export const MAX_POLL_TEXT = 1000;

type Content = Record<string, unknown>;

/**
 * An `m.location` with `body` as its text, or undefined when the point is not one (a connector
 * bug): the caller then sends the text alone.
 */
export function locationContent(body: string, loc: RemoteLocation): Content | undefined {
  if (!validPoint(loc.lat, loc.lon)) return undefined;
  const accuracyM =
    typeof loc.accuracyM === "number" && loc.accuracyM >= 0 && loc.accuracyM < 1e9
      ? loc.accuracyM
      : undefined;
  const uri = geoUri({ lat: loc.lat, lon: loc.lon, accuracyM });
  const description =
    typeof loc.description === "string" ? loc.description.slice(0, MAX_POLL_TEXT) : undefined;
  return {
    msgtype: "m.location",
    body,
    geo_uri: uri,
    // MSC3488, which Element reads first.
    "org.matrix.msc3488.location": description ? { uri, description } : { uri },
  };
}

/**
 * A poll start event's content with `fallback` as its text for clients without polls, or
 * undefined when the poll has fewer than one answer or no question (then text alone is sent).
 */
export function pollStartContent(fallback: string, poll: RemotePoll): Content | undefined {
  if (typeof poll.question !== "string" || !poll.question.trim()) return undefined;
  const seen = new Set<string>();
  const answers: Content[] = [];
  for (const a of Array.isArray(poll.answers) ? poll.answers : []) {
    if (answers.length >= MAX_POLL_ANSWERS) break;
    if (typeof a?.id !== "string" || typeof a.text !== "string") continue;
    const id = a.id.slice(0, 100);
    if (id === "" || seen.has(id)) continue;
    seen.add(id);
    answers.push({ id, [TEXT]: a.text.slice(0, MAX_POLL_TEXT) });
  }
  if (answers.length === 0) return undefined;
  const max = Number.isInteger(poll.maxSelections) ? poll.maxSelections : 1;
  return {
    [POLL_START]: {
      question: { [TEXT]: poll.question.slice(0, MAX_POLL_TEXT) },
      kind: poll.disclosed ? "org.matrix.msc3381.poll.disclosed" : "org.matrix.msc3381.poll.undisclosed",
      max_selections: Math.min(Math.max(1, max), answers.length),
      answers,
    },
    [TEXT]: fallback,
    body: fallback,
  };
}

/** Poll start event types: MSC3381's (what Element sends) and the stable one. */
export const POLL_START_TYPES = new Set([POLL_START, "m.poll.start"]);

/** A text of a Matrix poll for platforms that get it as a message: the question and numbered answers. */
export function pollText(content: Content): string {
  const poll = (content[POLL_START] ?? content["m.poll"]) as Content | undefined;
  const textOf = (v: unknown): string => {
    if (typeof v === "string") return v;
    const o = (v ?? {}) as Content;
    const t = o[TEXT] ?? o["m.text"] ?? o.body;
    if (typeof t === "string") return t;
    // The stable form: an array of { body, mimetype } representations.
    if (Array.isArray(t))
      return String((t as Content[]).find((r) => typeof r?.body === "string")?.body ?? "");
    return "";
  };
  const question = textOf(poll?.question).trim().slice(0, MAX_POLL_TEXT);
  const answers = (Array.isArray(poll?.answers) ? (poll.answers as unknown[]) : [])
    .slice(0, MAX_POLL_ANSWERS)
    .map((a) => textOf(a).trim().slice(0, MAX_POLL_TEXT))
    .filter((a) => a !== "");
  if (question && answers.length)
    return [`Poll: ${question}`, ...answers.map((a, i) => `${i + 1}. ${a}`)].join("\n");
  const fallback = textOf(content);
  return fallback.trim() ? fallback.slice(0, 4 * MAX_POLL_TEXT) : "[a poll]";
}
