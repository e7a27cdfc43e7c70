import assert from "node:assert/strict";
import path from "node:path";
import jsQR from "jsqr";
import type { Browser } from "playwright-core";
import { PNG } from "pngjs";
import { WhatsAppServer } from "../../standins/whatsapp/WhatsAppServer";
import { launchChromium, screenshot, watchProblems } from "./browser";
import { startWebRig, WebApi, type WebRig } from "./webRig";

const TRUST_ROOT = path.resolve(__dirname, "../../standins/whatsapp/trustRoot.ts");
/** The phone number of this suite's WhatsApp account (unique to it). */
const PHONE = "15557780001";

/** The text of the QR code in a PNG data URL. */
function qrText(dataUrl: string): string {
  const png = PNG.sync.read(Buffer.from(dataUrl.replace(/^data:image\/png;base64,/, ""), "base64"));
  const code = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
  assert.ok(code, "the page shows a readable QR code");
  return code.data;
}

/**
 * A WhatsApp login from the web page: the connector's own QR login streams its codes to the
 * page, and the WhatsApp stand-in's phone scans the code read off the page's image.
 */
describe("web page in Chromium: WhatsApp login by QR code (real Synapse, WhatsApp stand-in)", function () {
  this.timeout(180_000);
  let rig: WebRig;
  let wa: WhatsAppServer;
  let browser: Browser;

  before(async () => {
    wa = await WhatsAppServer.start();
    rig = await startWebRig("qr", () => undefined, {
      platforms: {
        whatsapp: {
          enabled: true,
          websocket_url: wa.url,
          backoff_initial_ms: 100,
          backoff_max_ms: 500,
          connect_timeout_ms: 10_000,
          query_timeout_ms: 10_000,
          qr_refresh_seconds: 3,
        },
      },
      env: {
        NODE_OPTIONS: `--require ${require.resolve("tsx/cjs")} --require ${TRUST_ROOT}`,
        CLAWBRIDGE_TEST_WA_CERT_ROOT: wa.certRootHex,
      },
    });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await rig?.stop();
    await wa?.close();
  });

  it("shows the QR code live, the phone scans it off the page, and the account is the user's alone", async () => {
    const page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
    const problems = watchProblems(page);
    await page.goto(`${rig.base}/_clawbridge/ui/?user=${encodeURIComponent(rig.member.userId)}`);
    await page.fill("#access", rig.member.accessToken);
    await page.click("#signin-form button[type=submit]");
    await page.waitForSelector("#app:not([hidden])");
    await page.selectOption("#login-platform", "whatsapp");
    assert.equal(await page.textContent("#login-submit"), "Show QR code");
    await page.click("#login-submit");
    await page.waitForSelector("#login-qr:not([hidden])");
    const first = (await page.getAttribute("#login-qr", "src"))!;
    const firstQr = qrText(first);
    assert.match(firstQr, /^https:\/\/wa\.me\/settings\/linked_devices#/);
    assert.match((await page.getAttribute("#login-qr", "alt"))!, /QR code to scan/);
    await screenshot(page, "whatsapp-qr");
    // WhatsApp rotates the code: the page shows the new one in place of the old.
    const deadline = Date.now() + 30_000;
    while ((await page.getAttribute("#login-qr", "src")) === first && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 250));
    const shown = (await page.getAttribute("#login-qr", "src"))!;
    assert.notEqual(shown, first, "the QR code was refreshed");
    const qr = qrText(shown);
    assert.notEqual(qr, firstQr);

    wa.scan(qr, PHONE);
    await page.waitForSelector(`#login-log li:has-text('Logged in to whatsapp as ${PHONE}')`, {
      timeout: 60_000,
    });
    await page.waitForSelector("#login-qr[hidden]", { state: "attached" });
    await page.waitForSelector(`#logins-table td:has-text('${PHONE}')`, { timeout: 30_000 });
    await screenshot(page, "whatsapp-logged-in");
    assert.deepEqual(problems, []);

    // The login is the member's: the admin sees it only when asking for everyone's.
    const asAdmin = new WebApi(rig.base);
    await asAdmin.signIn(rig.admin);
    const own = await asAdmin.call<{ logins: Array<{ remote_id: string | null }> }>("GET", "/v1/logins");
    assert.ok(!own.body.logins.some((l) => l.remote_id === PHONE));
    const all = await asAdmin.call<{ logins: Array<{ remote_id: string | null; owner: string }> }>(
      "GET",
      "/v1/logins?all=1",
    );
    assert.equal(all.body.logins.find((l) => l.remote_id === PHONE)?.owner, rig.member.userId);
    await page.close();
  });

  it("a second start while one runs is refused; another user cannot read the attempt", async () => {
    const asMember = new WebApi(rig.base);
    await asMember.signIn(rig.member);
    const started = await asMember.call<{ attempt_id: string }>("POST", "/v1/logins/interactive", {
      platform: "whatsapp",
    });
    assert.equal(started.status, 202);
    const again = await asMember.call("POST", "/v1/logins/interactive", { platform: "whatsapp" });
    assert.equal(again.status, 409);
    const asAdmin = new WebApi(rig.base);
    await asAdmin.signIn(rig.admin);
    const peek = await asAdmin.call("GET", `/v1/logins/interactive/${started.body.attempt_id}?wait_ms=0`);
    assert.equal(peek.status, 404);
    const steps = await asMember.call<{ steps: Array<{ kind: string }> }>(
      "GET",
      `/v1/logins/interactive/${started.body.attempt_id}?after=0`,
    );
    assert.equal(steps.status, 200);
    assert.ok(steps.body.steps.some((s) => s.kind === "image"));
  });
});
