/**
 * baileys is an ES module whose own dependencies export only `import` entry points, so it is
 * loaded with a native dynamic `import()` (a `require` under a CommonJS loader cannot resolve
 * them). `loadBaileys()` once, then `baileys()` anywhere.
 */
export type Baileys = typeof import("@whiskeysockets/baileys");

let loaded: Baileys | undefined;
let loading: Promise<Baileys> | undefined;

export async function loadBaileys(): Promise<Baileys> {
  loading ??= import("@whiskeysockets/baileys").then((m) => {
    loaded = m;
    return m;
  });
  return loading;
}

/** The loaded module; throws when `loadBaileys()` has not finished. */
export function baileys(): Baileys {
  if (!loaded) throw new Error("baileys is not loaded yet: await loadBaileys() first");
  return loaded;
}
