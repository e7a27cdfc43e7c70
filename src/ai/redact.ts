/** Replaces configured patterns in text that leaves for a model provider. */
export type Redactor = (text: string) => string;

const EMAIL = /[\p{L}\p{N}._%+-]+@[\p{L}\p{N}.-]+\.[\p{L}]{2,}/gu;
// International or local numbers with at least 7 digits, separated by spaces, dots, dashes or
// parentheses; lone long digit runs (ids, timestamps) need a leading + or a separator.
const PHONE =
  /(?<![\p{L}\p{N}])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,4}\)[\s.-]?)?\d{2,4}(?:[\s.-]\d{2,4}){1,4}(?![\p{L}\p{N}])/gu;

/** Builds the redactor of `ai.redact`; invalid patterns are rejected at config load. */
export function makeRedactor(opts: { email: boolean; phone: boolean; patterns: string[] }): Redactor {
  const rules: Array<[RegExp, string]> = [];
  if (opts.email) rules.push([EMAIL, "[email]"]);
  for (const p of opts.patterns) rules.push([new RegExp(p, "gu"), "[redacted]"]);
  if (opts.phone) rules.push([PHONE, "[phone]"]);
  if (!rules.length) return (t) => t;
  return (text) => {
    let out = text;
    for (const [re, replacement] of rules) {
      out = out.replace(re, (m) => (m.replace(/\D/g, "").length >= 7 || re !== PHONE ? replacement : m));
    }
    return out;
  };
}

/** Problems with `ai.redact.patterns`, named by key. */
export function patternProblems(patterns: string[], key: string): string[] {
  const out: string[] = [];
  patterns.forEach((p, i) => {
    try {
      new RegExp(p, "gu");
    } catch (err) {
      out.push(`${key}[${i}]: not a valid regular expression (${(err as Error).message}); fix or remove it`);
    }
  });
  return out;
}
