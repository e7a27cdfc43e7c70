import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Browser } from "playwright-core";
import { BOT } from "../core/coreRig";
import { launchChromium, screenshot, watchProblems } from "./browser";
import { openIdToken, startWebRig, type WebRig } from "./webRig";

/**
 * The client side of the widget API as Element speaks it, for the page in an iframe: a
 * capabilities request first, then get_openid answered with the OpenID token of `TOKEN`.
 */
function parentPage(widgetUrl: string, openid: Record<string, unknown>): string {
  return `<!doctype html><html><body><h1>Stand-in Matrix client</h1>
<iframe id="w" title="clawbridge widget" src="${widgetUrl}" width="900" height="700"></iframe>
<script>
const frame = document.getElementById("w");
const origin = new URL(${JSON.stringify(widgetUrl)}).origin;
window.seen = [];
frame.addEventListener("load", () => {
  frame.contentWindow.postMessage({ api: "toWidget", widgetId: "w1", requestId: "caps", action: "capabilities", data: {} }, origin);
});
window.addEventListener("message", (ev) => {
  if (ev.origin !== origin) return;
  const m = ev.data;
  window.seen.push(m.action + (m.response ? ":response" : ""));
  if (m.api === "fromWidget" && m.action === "get_openid" && !m.response)
    frame.contentWindow.postMessage({ ...m, response: ${JSON.stringify({ state: "allowed", ...openid })} }, origin);
});
</script></body></html>`;
}

describe("web page as a room widget: signs in through the widget API's get_openid (real Synapse)", function () {
  this.timeout(120_000);
  let rig: WebRig;
  let browser: Browser;
  let parent: http.Server;
  let page = "";

  before(async () => {
    parent = http.createServer((_req, res) => {
      res.writeHead(200, { "Content-Type": "text/html" });
      res.end(page);
    });
    await new Promise<void>((resolve) => parent.listen(0, "127.0.0.1", resolve));
    const origin = `http://127.0.0.1:${(parent.address() as AddressInfo).port}`;
    rig = await startWebRig("widget", () => undefined, {
      sections: { web: { enabled: true, widget_origins: [origin] } },
    });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await rig?.stop();
    parent?.close();
  });

  it("framed by an allowed client, it gets the OpenID token from it and opens on the room", async () => {
    const room = await rig.member.createRoom({ name: "Widget room", invite: [BOT] });
    const token = await openIdToken(rig.member);
    const widgetUrl = `${rig.base}/_clawbridge/ui/?room=${encodeURIComponent(room)}&widgetId=w1`;
    page = parentPage(widgetUrl, {
      access_token: token,
      token_type: "Bearer",
      matrix_server_name: "localhost",
      expires_in: 3600,
    });
    const tab = await browser.newPage({ viewport: { width: 1000, height: 800 } });
    const problems = watchProblems(tab);
    await tab.goto(`http://127.0.0.1:${(parent.address() as AddressInfo).port}/`);
    const frame = tab.frameLocator("#w");
    await frame.locator("#app:not([hidden])").waitFor({ timeout: 30_000 });
    assert.match(
      (await frame.locator("#who").textContent()) ?? "",
      /Signed in as @webuserwidget\d+:localhost \(user\)/,
    );
    assert.equal(await frame.locator("#room-id").inputValue(), room);
    await frame.locator("#room-links li").first().waitFor();
    assert.match((await frame.locator("#room-links").textContent()) ?? "", /This room is not linked/);
    const seen = await tab.evaluate<string[]>("window.seen");
    assert.ok(seen.includes("capabilities:response"), seen.join(","));
    assert.ok(seen.includes("get_openid"), seen.join(","));
    await screenshot(tab, "widget");
    assert.deepEqual(problems, []);
    await tab.close();
  });

  it("a client whose origin is not allowed cannot frame it", async () => {
    const res = await fetch(`${rig.base}/_clawbridge/ui/`);
    const csp = res.headers.get("content-security-policy") ?? "";
    assert.match(csp, /frame-ancestors http:\/\/127\.0\.0\.1:\d+(;|$)/);
    // The same page from another origin (another port): Chromium refuses to show the frame.
    const other = http.createServer((_req, r) => {
      r.writeHead(200, { "Content-Type": "text/html" });
      r.end(page);
    });
    await new Promise<void>((resolve) => other.listen(0, "127.0.0.1", resolve));
    try {
      const tab = await browser.newPage();
      const refused = tab.waitForEvent("console", {
        predicate: (m) => /frame-ancestors/.test(m.text()),
        timeout: 30_000,
      });
      await tab.goto(`http://127.0.0.1:${(other.address() as AddressInfo).port}/`);
      assert.match(
        (await refused).text(),
        /violates the following Content Security Policy directive: "frame-ancestors http:\/\/127\.0\.0\.1:\d+". The request has been blocked/,
      );
      assert.equal(await tab.frameLocator("#w").locator("#who").count(), 0);
      await tab.close();
    } finally {
      other.close();
    }
  });
});
