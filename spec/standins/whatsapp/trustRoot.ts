/**
 * Preloaded into a bridge process under test (`NODE_OPTIONS=--require …/trustRoot.ts`): makes
 * baileys trust the WhatsApp stand-in's certificate root, given in hex by
 * `CLAWBRIDGE_TEST_WA_CERT_ROOT`. WhatsApp's real root stays in place without the variable.
 *
 * A preload keeps this out of the product: no config key can switch certificate checks off.
 * baileys is an ES module, so it is imported; the bridge imports the same module instance
 * only later (after its database is up), and reads the root only during a handshake.
 */
const root = process.env.CLAWBRIDGE_TEST_WA_CERT_ROOT;
if (root) {
  void import("@whiskeysockets/baileys").then((b) => {
    b.WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(root, "hex");
  });
}
