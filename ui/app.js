// The clawbridge web page: plain ES module, no dependencies. Talks to the bridge's API below
// /_clawbridge/api with a session token in memory (never stored, no cookies).
const API = "/_clawbridge/api/v1";
const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);
let session;
let me;
let timers = [];

/** An element with text children only (never HTML from data). */
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

class ApiError extends Error {
  constructor(status, body) {
    super(body?.error ?? `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (session) headers.Authorization = `Bearer ${session}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(`${API}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit",
    cache: "no-store",
  });
  const data = await res.json().catch(() => ({}));
  if (res.status === 401 && session) signedOut("Your session ended: sign in again.");
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

function status(id, text, error = false) {
  const p = $(id);
  p.textContent = text;
  p.classList.toggle("error", error);
}

// ---- sign-in ---------------------------------------------------------------------------

async function signIn(openidToken) {
  const out = await api("POST", "/session", { openid_token: openidToken });
  session = out.session_token;
  me = await api("GET", "/me");
  $("who").textContent = `Signed in as ${me.user_id} (${me.level})`;
  $("signin").hidden = true;
  $("app").hidden = false;
  $("signout").hidden = false;
  start();
}

function signedOut(text) {
  session = undefined;
  me = undefined;
  for (const t of timers) clearInterval(t);
  timers = [];
  $("app").hidden = true;
  $("signout").hidden = true;
  $("signin").hidden = false;
  $("who").textContent = "";
  status("signin-status", text);
}

$("signin-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const hs = $("hs").value.replace(/\/+$/, "");
  const mxid = $("mxid").value.trim();
  const access = $("access").value;
  status("signin-status", "Signing in…");
  try {
    // The access token goes to the homeserver only; the bridge gets the OpenID token.
    const res = await fetch(`${hs}/_matrix/client/v3/user/${encodeURIComponent(mxid)}/openid/request_token`, {
      method: "POST",
      headers: { Authorization: `Bearer ${access}`, "Content-Type": "application/json" },
      body: "{}",
      credentials: "omit",
    });
    const data = await res.json().catch(() => ({}));
    if (!res.ok || typeof data.access_token !== "string")
      throw new Error(data.error ?? `the homeserver answered ${res.status}`);
    $("access").value = "";
    await signIn(data.access_token);
    status("signin-status", "");
    $("main").focus();
  } catch (err) {
    status("signin-status", `Sign-in failed: ${err.message}`, true);
  }
});

$("signout").addEventListener("click", async () => {
  await api("DELETE", "/session").catch(() => undefined);
  signedOut("Signed out.");
});

/**
 * Inside Element as a room widget: the widget API's get_openid gives the token. The client
 * opens with a capabilities request (none are needed); the token is asked for after it, or
 * after a moment when the client sends none.
 */
function widgetSignIn() {
  const widgetId = params.get("widgetId");
  if (!widgetId || window.parent === window) return false;
  $("signin-form").hidden = true;
  $("signin-widget").hidden = false;
  let asked = false;
  const ask = () => {
    if (asked) return;
    asked = true;
    window.parent.postMessage(
      { api: "fromWidget", widgetId, requestId: "clawbridge-openid", action: "get_openid", data: {} },
      "*",
    );
  };
  const credentials = (r) => {
    if (r?.state === "allowed" && typeof r.access_token === "string")
      signIn(r.access_token).catch((err) => status("signin-status", `Sign-in failed: ${err.message}`, true));
    else if (r?.state === "blocked")
      status("signin-status", "Your Matrix client refused to identify you.", true);
  };
  window.addEventListener("message", (ev) => {
    if (ev.source !== window.parent) return;
    const m = ev.data;
    if (!m || typeof m !== "object" || m.widgetId !== widgetId) return;
    if (m.api === "toWidget" && !m.response) {
      const response = m.action === "capabilities" ? { capabilities: [] } : {};
      window.parent.postMessage({ ...m, response }, ev.origin);
      if (m.action === "openid_credentials") credentials(m.data);
      if (m.action === "capabilities") setTimeout(ask, 0);
      return;
    }
    if (m.api === "fromWidget" && m.action === "get_openid" && m.response) credentials(m.response);
  });
  setTimeout(ask, 2000);
  return true;
}

// ---- sections --------------------------------------------------------------------------

function start() {
  const room = params.get("room");
  if (room) $("room-id").value = room;
  fillPlatforms();
  refreshLogins();
  refreshPortals();
  refreshHealth();
  refreshAi();
  if (room) showRoom().catch(() => undefined);
  timers.push(setInterval(refreshLogins, 15_000), setInterval(refreshHealth, 30_000));
}

function fillPlatforms() {
  const options = (list) => list.map((p) => el("option", { value: p.name }, p.name));
  const loginable = me.platforms.filter((p) => p.token_login || p.interactive_login);
  $("login-platform").replaceChildren(...options(loginable));
  $("login-form").hidden = loginable.length === 0;
  $("link-platform").replaceChildren(...options(me.platforms));
  $("pm-platform").replaceChildren(...options(me.platforms));
  $("pm-form").hidden = me.level === "relay" || me.platforms.length === 0;
  loginPlatformChanged();
}

function loginPlatformChanged() {
  const p = me.platforms.find((x) => x.name === $("login-platform").value);
  $("token-row").hidden = !p?.token_login;
  $("phone-row").hidden = !p?.interactive_login;
  $("login-submit").textContent = p?.interactive_login ? "Show QR code" : "Log in";
}
$("login-platform").addEventListener("change", loginPlatformChanged);
$("login-phone").addEventListener("input", () => {
  $("login-submit").textContent = $("login-phone").value.trim() ? "Get pairing code" : "Show QR code";
});

async function refreshLogins() {
  try {
    const { logins } = await api("GET", "/logins");
    const rows = logins.map((l) =>
      el(
        "tr",
        {},
        el("td", {}, l.platform),
        el("td", {}, l.remote_id ?? "—"),
        el("td", { class: `state-${l.state}` }, l.state.toLowerCase().replace(/_/g, " ")),
        el(
          "td",
          {},
          l.owner === me.user_id
            ? el("button", { type: "button", onclick: () => logout(l.platform) }, `Log out of ${l.platform}`)
            : l.shared
              ? "shared bot"
              : "",
        ),
      ),
    );
    $("logins-table").tBodies[0].replaceChildren(...rows);
    $("logins-empty").hidden = rows.length > 0;
  } catch {}
}

async function logout(platform) {
  if (!confirm(`Log out of ${platform}?`)) return;
  try {
    await api("DELETE", `/logins/${encodeURIComponent(platform)}`);
    await refreshLogins();
  } catch (err) {
    alert(err.message);
  }
}

$("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const platform = $("login-platform").value;
  const p = me.platforms.find((x) => x.name === platform);
  const log = $("login-log");
  log.replaceChildren();
  $("login-qr").hidden = true;
  try {
    if (p?.token_login && $("login-token").value) {
      const out = await api("POST", "/logins", { platform, token: $("login-token").value });
      $("login-token").value = "";
      log.append(el("li", {}, out.message));
      await refreshLogins();
      return;
    }
    const phone = $("login-phone").value.trim();
    const attempt = await api("POST", "/logins/interactive", phone ? { platform, phone } : { platform });
    await followLogin(attempt);
  } catch (err) {
    log.append(el("li", { class: "error" }, err.message));
  }
});

/** Shows an interactive login's steps as they come (long polling). */
async function followLogin(attempt) {
  let after = 0;
  let a = attempt;
  const img = $("login-qr");
  for (;;) {
    for (const s of a.steps) {
      if (s.n < after) continue;
      after = s.n + 1;
      if (s.kind === "text") $("login-log").append(el("li", {}, s.text));
      if (s.kind === "image") {
        img.src = s.image;
        img.alt = `QR code to scan: ${s.text}`;
        img.dataset.handle = s.handle;
        img.hidden = false;
      }
      if (s.kind === "retract" && img.dataset.handle === s.handle) img.hidden = true;
    }
    if (a.done) {
      img.hidden = true;
      await refreshLogins();
      await refreshPortals();
      return;
    }
    a = await api("GET", `/logins/interactive/${encodeURIComponent(a.attempt_id)}?after=${after}`);
  }
}

async function refreshPortals() {
  try {
    const { portals } = await api("GET", "/portals");
    const rows = portals.map((p) =>
      el(
        "tr",
        {},
        el("td", {}, p.platform),
        el("td", {}, p.name ? `${p.name} (${p.chat_id})` : p.chat_id),
        el("td", {}, p.room_id),
        el("td", {}, p.kind),
      ),
    );
    $("portals-table").tBodies[0].replaceChildren(...rows);
    $("portals-empty").hidden = rows.length > 0;
  } catch {}
}

$("pm-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  status("pm-status", "Starting…");
  try {
    const out = await api("POST", "/pm", { platform: $("pm-platform").value, user: $("pm-user").value });
    const link = el(
      "a",
      { href: `https://matrix.to/#/${encodeURIComponent(out.room_id)}`, rel: "noopener noreferrer" },
      `Open the chat with ${out.name}`,
    );
    const said = out.existing
      ? "You already have this chat; you are invited again."
      : "Started; you are invited.";
    $("pm-status").replaceChildren(`${said}${out.note ? ` ${out.note}` : ""} `, link);
    await refreshPortals();
  } catch (err) {
    status("pm-status", err.message, true);
  }
});

const roomPath = () => `/rooms/${encodeURIComponent($("room-id").value.trim())}`;

async function showRoom() {
  try {
    const { portals } = await api("GET", `${roomPath()}/links`);
    $("room-links").replaceChildren(
      ...(portals.length
        ? portals.map((p) =>
            el(
              "li",
              {},
              `Linked to ${p.platform} chat ${p.name ? `"${p.name}" ` : ""}(${p.chat_id}) `,
              el("button", { type: "button", onclick: () => unlink(p.platform) }, `Unlink ${p.platform}`),
            ),
          )
        : [el("li", {}, "This room is not linked.")]),
    );
    const { relay } = await api("GET", `${roomPath()}/relay`);
    $("relay-box").hidden = relay.length === 0;
    $("relay-on").checked = relay.some((r) => r.enabled);
    if (me.ai) await showRoomAi();
  } catch (err) {
    status("link-status", err.message, true);
  }
}

$("room-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  status("link-status", "");
  showRoom();
});

$("link-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    const out = await api("POST", `${roomPath()}/links`, {
      platform: $("link-platform").value,
      chat: $("link-chat").value,
    });
    status("link-status", out.messages.join(" "));
    await showRoom();
    await refreshPortals();
  } catch (err) {
    status("link-status", err.message, true);
  }
});

async function unlink(platform) {
  try {
    const out = await api("DELETE", `${roomPath()}/links/${encodeURIComponent(platform)}`);
    status("link-status", out.messages.join(" "));
    await showRoom();
    await refreshPortals();
  } catch (err) {
    status("link-status", err.message, true);
  }
}

$("relay-on").addEventListener("change", async () => {
  try {
    const out = await api("PUT", `${roomPath()}/relay`, { enabled: $("relay-on").checked });
    status("link-status", out.messages.join(" "));
  } catch (err) {
    status("link-status", err.message, true);
  }
});

async function refreshAi() {
  if (!me.ai) {
    $("ai-usage").textContent = "The AI user is not enabled on this bridge.";
    return;
  }
  try {
    const u = await api("GET", "/ai/usage");
    $("ai-usage").textContent =
      `You used ${u.today.tokens} tokens in ${u.today.answers} answers today (UTC)${u.daily_limit ? ` of ${u.daily_limit}` : ""}, ${u.total.tokens} in total.`;
  } catch {}
}

async function showRoomAi() {
  const s = await api("GET", `${roomPath()}/ai`).catch(() => undefined);
  $("ai-form").hidden = !s;
  if (!s) return;
  $("ai-mode").value = s.mode ?? s.defaults.mode;
  $("ai-provider").replaceChildren(...s.providers.map((p) => el("option", { value: p }, p)));
  $("ai-provider").value = s.provider ?? s.defaults.provider ?? "";
  $("ai-model").value = s.model ?? "";
  $("ai-room-usage").textContent =
    `This room: ${s.usage.today.tokens} tokens today, ${s.usage.total.tokens} in total.`;
}

$("ai-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const body = { mode: $("ai-mode").value, model: $("ai-model").value.trim() || "reset" };
  if ($("ai-provider").value) body.provider = $("ai-provider").value;
  try {
    const out = await api("PUT", `${roomPath()}/ai`, body);
    status("ai-status", out.messages.join(" "));
  } catch (err) {
    status("ai-status", err.message, true);
  }
});

async function refreshHealth() {
  try {
    const h = await api("GET", "/health");
    const facts = [
      ["Connections", `${h.connections.connected} of ${h.connections.total} connected`],
      ["Queued deliveries", String(h.queue_depth)],
      ["Deliveries in the last hour", String(h.latency.reduce((n, m) => n + m.count, 0))],
    ];
    $("health-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
    drawLatency(h.latency);
    if (me.level === "admin") await refreshAdmin();
  } catch {}
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

/** A small line chart of the mean latency per minute (minutes without deliveries are gaps). */
function drawLatency(minutes) {
  const W = 600;
  const H = 160;
  const pad = 30;
  const max = Math.max(1, ...minutes.map((m) => m.mean_ms));
  const x = (i) => pad + (i * (W - 2 * pad)) / Math.max(1, minutes.length - 1);
  const y = (v) => H - pad - (v * (H - 2 * pad)) / max;
  const chart = svg("svg", {
    viewBox: `0 0 ${W} ${H}`,
    role: "img",
    "aria-labelledby": "latency-caption latency-summary",
  });
  const desc = svg("desc", { id: "latency-summary" });
  const active = minutes.filter((m) => m.count > 0);
  desc.textContent = active.length
    ? `Highest mean ${Math.round(max)} ms; latest ${Math.round(active[active.length - 1].mean_ms)} ms.`
    : "No deliveries in the last hour.";
  chart.append(desc);
  chart.append(svg("line", { class: "axis", x1: pad, y1: H - pad, x2: W - pad, y2: H - pad }));
  chart.append(svg("line", { class: "axis", x1: pad, y1: pad, x2: pad, y2: H - pad }));
  let d = "";
  minutes.forEach((m, i) => {
    if (!m.count) return;
    d += `${d && minutes[i - 1]?.count ? "L" : "M"}${x(i).toFixed(1)},${y(m.mean_ms).toFixed(1)}`;
  });
  if (d) chart.append(svg("path", { class: "line", d }));
  for (const m of active) {
    const i = minutes.indexOf(m);
    chart.append(svg("circle", { cx: x(i), cy: y(m.mean_ms), r: 2, fill: "currentColor" }));
  }
  const label = (tx, ty, t) => {
    const e = svg("text", { x: tx, y: ty });
    e.textContent = t;
    chart.append(e);
  };
  label(2, pad, `${Math.round(max)} ms`);
  label(pad, H - 8, "−60 min");
  label(W - pad - 20, H - 8, "now");
  $("latency-chart").replaceChildren(chart);
}

async function refreshAdmin() {
  $("admin").hidden = false;
  const [c, f, a] = await Promise.all([
    api("GET", "/admin/connections"),
    api("GET", "/admin/failures?limit=10"),
    api("GET", "/admin/audit?limit=10"),
  ]);
  $("admin-connections").replaceChildren(
    ...c.connections.map((x) =>
      el("li", {}, `${x.platform} (${x.owner}): ${x.state.toLowerCase().replace(/_/g, " ")}`),
    ),
  );
  $("admin-failures").replaceChildren(
    ...(f.failures.length
      ? f.failures.map((x) => el("li", {}, `#${x.id} ${x.kind}: ${x.reason}`))
      : [el("li", {}, "None.")]),
  );
  $("admin-audit").replaceChildren(
    ...(a.entries.length
      ? a.entries.map((x) =>
          el(
            "li",
            {},
            `${x.created_at} ${x.actor} ${x.action} ${x.target}${x.reason ? ` (${x.reason})` : ""}`,
          ),
        )
      : [el("li", {}, "Empty.")]),
  );
}

// ---- boot ------------------------------------------------------------------------------

api("GET", "/info")
  .then((info) => {
    if (!$("hs").value) $("hs").value = info.homeserver_url;
  })
  .catch(() => undefined);
if (params.get("user")) $("mxid").value = params.get("user");
widgetSignIn();
