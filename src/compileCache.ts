/**
 * Imported by the CLI right after the Node.js version check, for its effect: the built bridge
 * (`dist/`) keeps V8's compiled code of the modules it loads in `dist/.compile-cache`, so a
 * later start skips compiling them again. Node.js checks every entry against its source (a
 * rebuilt file is compiled afresh) and keeps going without a cache where the directory cannot
 * be written. The cache sits with the code it is made from, so it is as trusted as that code.
 * The sources run under tsx (`.ts`) keep none.
 */
import module from "node:module";
import path from "node:path";

/** Where the cache of a build is; undefined when not running from a build. */
export function compileCacheDir(file = __filename): string | undefined {
  return path.extname(file) === ".js" ? path.resolve(path.dirname(file), "..", ".compile-cache") : undefined;
}

const dir = compileCacheDir();
if (dir && !process.env.NODE_COMPILE_CACHE) module.enableCompileCache(dir);

/** Writes what this process compiled so far to the cache (Node.js writes it at exit too). */
export function flushCompileCache(): void {
  if (module.getCompileCacheDir()) module.flushCompileCache();
}
