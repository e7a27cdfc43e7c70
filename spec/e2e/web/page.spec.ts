import assert from "node:assert/strict";
import type { Browser, Page } from "playwright-core";
import { BOT } from "../core/coreRig";
import { launchChromium, screenshot, watchProblems } from "./browser";
import { startWebRig, type WebRig } from "./webRig";

const GROUP = -1001500078001;

/** WCAG contrast ratio of two CSS rgb() colours. */
function contrast(a: string, b: string): number {
  const lum = (c: string) => {
    const [r, g, bl] = (c.match(/[\d.]+/g) ?? []).slice(0, 3).map((v) => {
      const x = Number(v) / 255;
      return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r! + 0.7152 * g! + 0.0722 * bl!;
  };
  const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
  return (hi! + 0.05) / (lo! + 0.05);
}
const WRITER = 7801;
const PAL = 7802;

/**
 * The web page in Chromium against the real bridge and Synapse: sign in the way a standalone
 * page does (the access token goes to the homeserver only, for an OpenID token), link a room
 * to a Telegram stand-in chat and see its message arrive in Matrix, and do it all again by
 * keyboard alone.
 */
describe("web page in Chromium: sign in, link a room, see a message arrive (real Synapse)", function () {
  this.timeout(180_000);
  let rig: WebRig;
  let browser: Browser;
  let room: string;
  const bridgeRequests: string[] = [];

  const open = async (): Promise<{ page: Page; problems: string[] }> => {
    const page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
    const problems = watchProblems(page);
    page.on("request", (r) => {
      if (r.url().startsWith(rig.base))
        bridgeRequests.push(`${r.method()} ${r.url()} ${r.postData() ?? ""} ${JSON.stringify(r.headers())}`);
    });
    await page.goto(
      `${rig.base}/_clawbridge/ui/?room=${encodeURIComponent(room)}&user=${encodeURIComponent(rig.admin.userId)}`,
    );
    return { page, problems };
  };

  before(async () => {
    rig = await startWebRig("page", (tg) => {
      tg.addUser({ id: WRITER, first_name: "Pia", last_name: "Page" });
      tg.addChat({ id: PAL, type: "private", first_name: "Pal" });
      tg.addChat({
        id: GROUP,
        type: "supergroup",
        title: "Web page group",
        members: { [WRITER]: "creator" },
      });
    });
    room = await rig.admin.createRoom({ name: "Room linked from the page", invite: [BOT] });
    await rig.admin.waitFor(
      (e) =>
        e.room_id === room &&
        e.type === "m.room.member" &&
        e.state_key === BOT &&
        e.content.membership === "join",
      { timeoutMs: 30_000 },
    );
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await rig?.stop();
  });

  it("is served with a strict Content-Security-Policy and no cookies", async () => {
    const res = await fetch(`${rig.base}/_clawbridge/ui/`);
    assert.equal(res.status, 200);
    const csp = res.headers.get("content-security-policy") ?? "";
    for (const d of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"])
      assert.ok(csp.includes(d), `${d} in ${csp}`);
    assert.ok(csp.includes(`connect-src 'self' ${new URL(rig.core.rig.synapse.url).origin}`), csp);
    assert.equal(res.headers.get("set-cookie"), null);
    const html = await res.text();
    assert.doesNotMatch(
      html,
      /<script(?![^>]*\bsrc=)[^>]*>|\sstyle=|\son[a-z]+=/i,
      "no inline script, style or handler",
    );
    assert.equal((await fetch(`${rig.base}/_clawbridge/ui/../../etc/passwd`)).status, 404);
    assert.equal((await fetch(`${rig.base}/_clawbridge/ui/nope.js`)).status, 404);
  });

  it("signs in, links the room to a Telegram chat, and the chat's message arrives in Matrix", async () => {
    const { page, problems } = await open();
    assert.equal(await page.inputValue("#hs"), rig.core.rig.synapse.url);
    await page.fill("#access", rig.admin.accessToken);
    await page.click("#signin-form button[type=submit]");
    await page.waitForSelector("#app:not([hidden])");
    assert.match(
      (await page.textContent("#who")) ?? "",
      new RegExp(`Signed in as ${rig.admin.userId.replace(/[.$]/g, "\\$&")} \\(admin\\)`),
    );
    assert.equal(await page.inputValue("#access"), "", "the access token is cleared");
    await page.waitForSelector("#logins-table tbody tr");
    assert.match((await page.textContent("#logins-table tbody")) ?? "", /telegram/);
    assert.equal(await page.inputValue("#room-id"), room, "the room comes from the URL");
    await screenshot(page, "signed-in");

    await page.selectOption("#link-platform", "telegram");
    await page.fill("#link-chat", String(GROUP));
    await page.click("#link-form button[type=submit]");
    await page.waitForSelector("#link-status:has-text('Linked this room')");
    await page.waitForSelector("#room-links li button");
    assert.match((await page.textContent("#room-links")) ?? "", /Web page group/);

    rig.tg.injectMessage({ chat: GROUP, from: WRITER, text: "hello, page" });
    await rig.admin.waitFor((e) => e.room_id === room && e.content.body === "hello, page", {
      timeoutMs: 30_000,
    });
    await page.click("text=Portals");
    await page.reload();
    await page.fill("#access", rig.admin.accessToken);
    await page.click("#signin-form button[type=submit]");
    await page.waitForSelector("#portals-table td:has-text('Web page group')");
    await page.waitForSelector("#latency-chart svg");
    await screenshot(page, "linked");

    // The access token never went to the bridge; the session travels as a header, not a cookie.
    const leaked = bridgeRequests.filter((r) => r.includes(rig.admin.accessToken));
    assert.deepEqual(leaked, []);
    assert.ok(bridgeRequests.some((r) => r.includes('"authorization":"Bearer ')));
    assert.ok(!bridgeRequests.some((r) => /"cookie":/.test(r)));
    assert.deepEqual(problems, []);
    await page.close();
  });

  it("starts a direct chat from its form by keyboard, and shows a matrix.to link to the room", async () => {
    const { page, problems } = await open();
    await page.fill("#access", rig.admin.accessToken);
    await page.click("#signin-form button[type=submit]");
    await page.waitForSelector("#app:not([hidden])");
    assert.equal(await page.isVisible("#pm-form"), true);
    await page.selectOption("#pm-platform", "telegram");
    await page.focus("#pm-user");
    await page.keyboard.type("424242");
    await page.keyboard.press("Enter");
    await page.waitForSelector("#pm-status.error");
    assert.match((await page.textContent("#pm-status")) ?? "", /knows no person 424242/);
    await page.fill("#pm-user", "");
    await page.focus("#pm-user");
    await page.keyboard.type(String(PAL));
    await page.keyboard.press("Enter");
    const link = await page.waitForSelector("#pm-status a");
    assert.equal(
      await page.evaluate<boolean>('document.querySelector("#pm-status").classList.contains("error")'),
      false,
    );
    assert.match((await link.textContent()) ?? "", /Open the chat with Pal/);
    const href = (await page.getAttribute("#pm-status a", "href")) ?? "";
    assert.match(href, /^https:\/\/matrix\.to\/#\/!/, await page.innerHTML("#pm-status"));
    const roomId = decodeURIComponent(href.slice("https://matrix.to/#/".length));
    await rig.admin.waitForInvite((i) => i.roomId === roomId, 30_000);
    await page.waitForSelector("#portals-table td:has-text('Pal')");
    // Again: the same room, said to exist already.
    await page.click("#pm-form button[type=submit]");
    await page.waitForSelector("#pm-status:has-text('already have this chat')");
    assert.equal(await page.getAttribute("#pm-status a", "href"), href);
    await screenshot(page, "direct-chat");
    // The refusal above is the one answer of 400 (and the browser's console line about it).
    const refusal = (p: string) => p.includes("400");
    assert.equal(problems.filter((p) => p.startsWith("400 for POST") && p.endsWith("/pm")).length, 1);
    assert.deepEqual(
      problems.filter((p) => !refusal(p)),
      [],
    );
    await page.close();
  });

  it("works by keyboard alone, and every control has a name", async () => {
    const { page, problems } = await open();
    // Every form control is labelled and every button says what it does.
    const unnamed = await page.evaluate<string[]>(`[...document.querySelectorAll("input, select, button")]
      .filter((el) => (el.tagName === "BUTTON" ? !el.textContent.trim() : !el.labels?.length))
      .map((el) => el.outerHTML)`);
    assert.deepEqual(unnamed, []);
    const focused = () =>
      page.evaluate<string>('document.activeElement?.id || document.activeElement?.textContent || ""');
    await page.keyboard.press("Tab");
    assert.equal(await focused(), "Skip to content");
    const focusOrder: string[] = [];
    for (let i = 0; i < 6; i++) {
      await page.keyboard.press("Tab");
      focusOrder.push(await focused());
      if (focusOrder.at(-1) === "access") break;
    }
    assert.deepEqual(focusOrder.slice(-3), ["hs", "mxid", "access"]);
    await page.keyboard.type(rig.admin.accessToken);
    await page.keyboard.press("Enter");
    await page.waitForSelector("#app:not([hidden])");
    // Focus moved into the page's content; the section links take Tab and Enter.
    for (let i = 0; i < 20; i++) {
      await page.keyboard.press("Tab");
      if ((await focused()) === "Health") break;
    }
    assert.equal(await focused(), "Health");
    // A control focused by keyboard shows it: the outline is drawn.
    assert.equal(
      await page.evaluate<string>("getComputedStyle(document.activeElement).outlineStyle"),
      "solid",
    );
    await page.keyboard.press("Enter");
    assert.equal(await page.evaluate<string>("location.hash"), "#health");
    await page.waitForSelector("#latency-chart svg");
    await screenshot(page, "keyboard");
    // Text stands out from the page: WCAG AA contrast (4.5:1) for every kind of text shown.
    const colours = await page.evaluate<Array<[string, string]>>(`[
      "body", "#who", "nav a", "h2", "label", "th", "td", "button", "#health-facts dd", "#latency-chart text"
    ].map((sel) => [sel, ((s) => (sel.includes("text") ? s.fill : s.color))(getComputedStyle(document.querySelector(sel)))]).concat([["background", getComputedStyle(document.body).backgroundColor]])`);
    const background = colours.pop()![1];
    for (const [sel, colour] of colours) {
      const ratio = contrast(colour, background);
      assert.ok(ratio >= 4.5, `${sel}: ${colour} on ${background} is ${ratio.toFixed(2)}:1`);
    }
    assert.deepEqual(problems, []);
    await page.close();
  });
});
