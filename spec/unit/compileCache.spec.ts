import { strict as assert } from "node:assert";
import { compileCacheDir } from "../../src/compileCache";

describe("compile cache", () => {
  it("a build keeps it in dist/.compile-cache", () => {
    assert.equal(
      compileCacheDir("/opt/clawbridge/dist/src/compileCache.js"),
      "/opt/clawbridge/dist/.compile-cache",
    );
  });

  it("the sources under tsx keep none", () => {
    assert.equal(compileCacheDir("/opt/clawbridge/src/compileCache.ts"), undefined);
  });
});
