import type { AiConfig } from "../config/types";
import { patternProblems } from "./redact";

/** Cross-key rules of the `ai` section that the JSON schema cannot express. */
export function aiConfigProblems(ai: AiConfig): string[] {
  const problems: string[] = [];
  const names = Object.keys(ai.providers);
  const known = names.length ? names.join(", ") : "none configured";
  if (ai.default_provider !== undefined && !names.includes(ai.default_provider)) {
    problems.push(
      `ai.default_provider: '${ai.default_provider}' is not in ai.providers (${known}); add it there or pick one of them`,
    );
  }
  ai.failover.forEach((n, i) => {
    if (!names.includes(n))
      problems.push(`ai.failover[${i}]: '${n}' is not in ai.providers (${known}); add it there or remove it`);
  });
  for (const [name, m] of Object.entries(ai.mcp_servers)) {
    if ((m.command === undefined) === (m.url === undefined))
      problems.push(
        `ai.mcp_servers.${name}: give either command (a program spoken to over stdio) or url (Streamable HTTP), not ${m.command ? "both" : "neither"}`,
      );
  }
  problems.push(...patternProblems(ai.redact.patterns, "ai.redact.patterns"));
  problems.push(...patternProblems(ai.ignore_users, "ai.ignore_users"));
  return problems;
}
