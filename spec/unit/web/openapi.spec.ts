import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { load } from "js-yaml";
import { UserApi, type UserApiDeps } from "../../../src/web/UserApi";

const SPEC = path.resolve(__dirname, "../../../docs/web-api.openapi.yaml");
const METHODS = ["get", "put", "post", "delete", "patch", "head", "options"];

describe("web API: the OpenAPI file and the served routes agree", () => {
  const doc = load(readFileSync(SPEC, "utf8")) as { paths: Record<string, Record<string, unknown>> };
  const documented = new Set(
    Object.entries(doc.paths).flatMap(([p, ops]) =>
      Object.keys(ops)
        .filter((m) => METHODS.includes(m))
        .map((m) => `${m.toUpperCase()} ${p}`),
    ),
  );
  // The route table is built without touching its dependencies.
  const served = new Set(
    new UserApi({ prefix: "/_clawbridge/api" } as UserApiDeps).routes.map((r) => `${r.method} ${r.template}`),
  );

  it("every served route is documented", () => {
    assert.deepEqual(
      [...served].filter((r) => !documented.has(r)),
      [],
    );
  });

  it("every documented route is served", () => {
    assert.deepEqual(
      [...documented].filter((r) => !served.has(r)),
      [],
    );
    assert.ok(served.size >= 20, `${served.size} routes`);
  });

  it("every documented path parameter is declared, and every operation documents its success", () => {
    for (const [p, ops] of Object.entries(doc.paths)) {
      const names = [...p.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      const shared = (ops.parameters ?? []) as Array<{ $ref?: string; name?: string }>;
      for (const [m, op] of Object.entries(ops)) {
        if (!METHODS.includes(m)) continue;
        const o = op as {
          parameters?: Array<{ $ref?: string; name?: string }>;
          responses: Record<string, unknown>;
        };
        const declared = [...shared, ...(o.parameters ?? [])].map((x) => x.name ?? x.$ref?.split("/").pop());
        for (const n of names) assert.ok(declared.includes(n), `${m} ${p}: {${n}} is not declared`);
        assert.ok(
          Object.keys(o.responses).some((s) => s.startsWith("2")),
          `${m} ${p} documents no success`,
        );
      }
    }
  });
});
