// Browser chaos scenarios (the web side of docs/chaos.md), run by run.mjs: a server of their
// own that is SIGKILLed and restarted on the same data folder, browsers cut off the network,
// answers lost after the server stored a message, tab reloads with a full outbox. Each scenario
// ends with an audit printed to the log (sent, displayed, duplicated, lost, undecryptable, out of
// order, unsettled) that must show every message exactly once on every device, in each sender's
// order, decrypted.
//
// Random choices (delays, when the server dies, for how long) come from E2E_SEED (printed; set it
// to replay a run). `E2E_ONLY=chaos node e2e/run.mjs` runs only these scenarios.

import https from "node:https";

/** mulberry32: a small seeded generator, good enough for test timing. */
function seeded(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Sends one request to the server from Node (trusting exactly its certificate), as the browser would have. */
function forward(srv, request) {
  const url = new URL(request.url());
  const headers = { ...request.headers() };
  delete headers.origin; // Node is not a browser; the bearer token authorises it
  return new Promise((res, rej) => {
    const req = https.request(url, { method: request.method(), ca: srv.ca, headers }, (r) => {
      r.resume();
      r.on("end", () => res(r.statusCode));
    });
    req.on("error", rej);
    req.end(request.postDataBuffer() ?? undefined);
  });
}

/** Everything a page shows in the open conversation, in display order. */
async function shown(p) {
  return p.page.evaluate(() =>
    [...document.querySelectorAll('[data-testid="messages"] > li')].map((li) => ({
      kind: li.getAttribute("data-testid"),
      id: li.getAttribute("data-message-id"),
      status: li.getAttribute("data-status"),
      text: li.querySelector('[data-testid="message-text"]')?.textContent ?? null,
    })),
  );
}

/**
 * The audit: `sent` is every text each sender sent, in order. Counted on one page: displayed
 * (sent texts shown), duplicated (a text or a message id shown more than once), lost (sent, not
 * shown), undecryptable (shown as "could not be verified"), missing notices (gaps), out of order
 * (a sender's texts not in the order sent), unsettled (own messages still sending or waiting).
 */
function count(items, sent, me) {
  const all = [...sent.values()].flat();
  const texts = items.filter((i) => i.kind === "message" && i.text !== null).map((i) => i.text);
  const ids = items.filter((i) => i.id !== null && i.kind === "message").map((i) => i.id);
  const duplicated = texts.length - new Set(texts).size + (ids.length - new Set(ids).size);
  const displayed = all.filter((t) => texts.includes(t)).length;
  let outOfOrder = 0;
  for (const list of sent.values()) {
    const order = texts.filter((t) => list.includes(t));
    const expected = list.filter((t) => order.includes(t));
    outOfOrder += order.filter((t, i) => t !== expected[i]).length;
  }
  const mine = new Set(sent.get(me) ?? []);
  return {
    sent: all.length,
    displayed,
    duplicated,
    lost: all.length - displayed,
    undecryptable: items.filter((i) => i.kind === "message-unverified").length,
    gaps: items.filter((i) => i.kind === "gap-notice").length,
    outOfOrder,
    unsettled: items.filter(
      (i) =>
        i.kind === "message" &&
        mine.has(i.text) &&
        !["sent", "delivered", "read"].includes(i.status),
    ).length,
  };
}

export async function chaos(h) {
  const { log, test, assert, launch, register, sendText } = h;
  const seed = Number(process.env.E2E_SEED ?? Math.floor(Math.random() * 2 ** 31));
  log(`chaos: E2E_SEED=${seed}`);
  const rand = seeded(seed);
  const srv = await h.startServer("-chaos");
  const suffix = seed.toString(36).slice(0, 5);
  const a = await launch("chaos-alice", srv.pin);
  const b = await launch("chaos-bob", srv.pin);
  a.user = `ca${suffix}`;
  b.user = `cb${suffix}`;
  const pages = [a, b];
  /** Per conversation (its name as the pages show it to alice), per sender: the texts sent, in order. */
  const direct = b.user;
  const sentIn = new Map();
  const sentTo = (conv) => {
    if (!sentIn.has(conv)) sentIn.set(conv, new Map(pages.map((p) => [p.user, []])));
    return sentIn.get(conv);
  };
  const sent = sentTo(direct);
  let n = 0;
  async function say(p, tag, conv = direct) {
    const text = `${p.user} ${String(++n).padStart(3, "0")} ${tag}`;
    sentTo(conv).get(p.user).push(text);
    await sendText(p, text);
  }
  const badge = (p, state, text) =>
    p.page.locator(`[data-testid="connection"][data-state="${state}"]`).filter({ hasText: text });
  async function connected(p) {
    await badge(p, "open", "Connected").waitFor({ timeout: 60_000 });
  }
  async function open(p, conv = direct) {
    await p.page
      .getByRole("button", { name: "Back to conversations" })
      .click({ timeout: 1000 })
      .catch(() => undefined);
    // By its exact name: a message preview in another item may contain this name too.
    const name = conv === direct && p === b ? a.user : conv;
    const item = `[data-testid="conversation-item"]`;
    await p.page.locator(`${item}[aria-label="${name}"], ${item}[aria-label^="${name}, "]`).click();
    await p.page.getByRole("heading", { name, exact: true }).waitFor();
    await p.page.getByTestId("messages").waitFor();
  }

  /**
   * Waits until every page shows everything settled in the open conversation (or 60 s), then
   * prints and checks the audit.
   */
  async function audit(label, conv = direct) {
    const deadline = Date.now() + 60_000;
    let figures;
    for (;;) {
      figures = [];
      for (const p of pages) figures.push([p, count(await shown(p), sentTo(conv), p.user)]);
      const done = figures.every(([, f]) => f.lost === 0 && f.unsettled === 0);
      if (done || Date.now() > deadline) break;
      await sleep(300);
    }
    for (const [p, f] of figures) {
      log(
        `  audit ${label} @ ${p.name}: sent=${f.sent} displayed=${f.displayed} duplicated=${f.duplicated} lost=${f.lost} ` +
          `undecryptable=${f.undecryptable} missing-notices=${f.gaps} out-of-order=${f.outOfOrder} unsettled=${f.unsettled}`,
      );
    }
    for (const [p, f] of figures) {
      const bad = Object.entries(f).filter(
        ([k, v]) => !["sent", "displayed"].includes(k) && v !== 0,
      );
      assert(
        bad.length === 0 && f.displayed === f.sent,
        `${label}: ${p.name} shows everything exactly once, in order (${JSON.stringify(f)})`,
      );
    }
  }

  await test("chaos: two browsers register on a server of their own and start a 1:1", async () => {
    for (const p of pages) await p.page.goto(srv.origin);
    await Promise.all(pages.map((p) => register(p, p.user, "correct horse battery staple 42")));
    await a.page.getByRole("button", { name: "New chat" }).click();
    await a.page.getByLabel("Username").fill(b.user);
    await a.page.getByRole("button", { name: "Start" }).click();
    await a.page.getByRole("heading", { name: b.user }).waitFor();
    await say(a, "hello");
    // a is no contact of b's yet: the 1:1 is a request until b accepts it.
    await h.acceptRequest(b, a.user);
    await open(b);
    await say(b, "hello back");
    await audit("start");
  });

  await test("chaos: the server is SIGKILLed while both browsers send, then restarted on the same data", async () => {
    const killAt = 2 + Math.floor(rand() * 4); // after alice's killAt-th message
    const downMs = 1000 + Math.floor(rand() * 2000);
    const gaps = Array.from({ length: 16 }, () => 40 + Math.floor(rand() * 260));
    log(`  killing the server after alice's message ${killAt}, down for ${downMs} ms`);
    let outage;
    const loop = async (p, offset) => {
      for (let i = 0; i < 8; i++) {
        await say(p, "kill");
        if (p === a && i + 1 === killAt) {
          outage = (async () => {
            await h.killServer(srv);
            // The badge tells the truth while the server is gone (server down, network up).
            for (const q of pages)
              await badge(q, "waiting", "Reconnecting in").waitFor({ timeout: 15_000 });
            await sleep(downMs);
            await h.spawnServer(srv);
          })().then(
            () => undefined,
            (e) => e, // reported below, once both senders are done
          );
        }
        await sleep(gaps[offset + i]);
      }
    };
    await Promise.all([loop(a, 0), loop(b, 8)]);
    const failed = await outage;
    if (failed !== undefined) throw failed;
    for (const p of pages) await connected(p);
    await audit("server SIGKILL");
  });

  await test("chaos: a browser goes offline while sending, the other while receiving; both come back", async () => {
    await a.context.setOffline(true);
    await badge(a, "offline", "Offline").waitFor({ timeout: 10_000 });
    await a.page.getByRole("button", { name: "Retry now" }).waitFor();
    for (let i = 0; i < 3; i++) {
      await say(a, "offline");
      await say(b, "to-offline");
      await sleep(50 + Math.floor(rand() * 200));
    }
    await b.context.setOffline(true);
    await badge(b, "offline", "Offline").waitFor({ timeout: 10_000 });
    await say(b, "both-offline");
    await sleep(300 + Math.floor(rand() * 700));
    // Alice comes back first (her outbox drains by itself, no Retry pressed), then Bob.
    await a.context.setOffline(false);
    await connected(a);
    await sleep(Math.floor(rand() * 1000));
    await b.context.setOffline(false);
    await connected(b);
    await audit("offline");
  });

  await test("chaos: alice's socket goes half-open (nothing passes, no close frame); she notices, reconnects and shows what came meanwhile", async () => {
    // Every WebSocket of alice's page passes through this route; the ones open when the stall
    // begins stop passing anything in either direction, as when a NAT forgets the connection.
    let opened = 0;
    let stallBelow = 0;
    await a.page.routeWebSocket(/\/v1\/ws$/, (ws) => {
      const id = opened++;
      const server = ws.connectToServer();
      ws.onMessage((m) => {
        if (id >= stallBelow) server.send(m);
      });
      server.onMessage((m) => {
        if (id >= stallBelow) ws.send(m);
      });
    });
    await a.page.reload();
    await connected(a);
    await open(a);
    stallBelow = opened;
    const stalledAt = Date.now();
    for (let i = 0; i < 3; i++) {
      await say(b, "while half-open");
      await say(a, "from the half-open side");
      await sleep(200 + Math.floor(rand() * 800));
    }
    // No close frame ever comes: the heartbeat (a ping after 25 s of silence, 10 s for an answer)
    // must notice, and the next socket gets what the server kept.
    const deadline = Date.now() + 60_000;
    while (opened === stallBelow && Date.now() < deadline) await sleep(500);
    assert(opened > stallBelow, "alice opened a new socket after the stall");
    log(
      `  the half-open socket was replaced ${((Date.now() - stalledAt) / 1000).toFixed(1)} s after the stall began`,
    );
    await connected(a);
    await audit("half-open");
    await a.page.unrouteAll({ behavior: "ignoreErrors" });
  });

  await test("chaos: a tab restart with messages in the outbox (one stored by the server, its answer lost)", async () => {
    let answered = 0;
    let stored;
    const sends = "**/v1/conversations/*/messages";
    await a.page.route(sends, async (route) => {
      // The first send reaches the server and is stored, but the answer never comes back; the
      // rest fail before reaching it.
      if (answered++ === 0) stored = await forward(srv, route.request()).catch((e) => String(e));
      await route.abort("connectionreset");
    });
    const queued = [];
    for (let i = 0; i < 3; i++) {
      await say(a, "outbox");
      queued.push(sent.get(a.user).at(-1));
    }
    await say(b, "meanwhile");
    const status = (text) =>
      a.page.getByTestId("message").filter({ hasText: text }).getByTestId("message-status");
    // The first one is on the server: bob's receipt may say Delivered or Read before its answer
    // ever comes (a receipt is never taken back for a retry); the others wait.
    const unsent = (t) =>
      t === queued[0] ? /Waiting to send|Sending|Delivered|Read/ : /Waiting to send|Sending/;
    for (const t of queued)
      await status(t)
        .filter({ hasText: t === queued[0] ? unsent(t) : "Waiting to send" })
        .waitFor({ timeout: 15_000 });
    // Tab restart while sends still fail: the queued messages are shown again, from the store.
    await a.page.reload();
    await connected(a);
    await open(a);
    for (const t of queued)
      await status(t)
        .filter({ hasText: unsent(t) })
        .waitFor({ timeout: 15_000 });
    // The network heals: the outbox drains on its own (same ids: the stored one answers 409).
    const conflicts = () =>
      a.problems.filter((x) => /HTTP 409 POST \/v1\/conversations\/[^/]+\/messages/.test(x)).length;
    const conflictsBefore = conflicts();
    await a.page.unroute(sends);
    await audit("reload with outbox");
    assert(
      stored === 201,
      `the server stored the first message before its answer was lost (got ${stored})`,
    );
    assert(
      conflicts() > conflictsBefore,
      "its resend after the reload was answered 409 (already stored)",
    );
  });

  await test("chaos: a tab reload whose token refresh answer is lost stays signed in (no password asked)", async () => {
    const refreshes = "**/v1/auth/refresh";
    const forwarded = [];
    await a.page.route(refreshes, async (route) => {
      // The refresh reaches the server, which rotates the tokens; the answer never arrives.
      forwarded.push(await forward(srv, route.request()).catch((e) => String(e)));
      await route.abort("connectionreset");
    });
    await a.page.reload();
    await a.page
      .getByTestId("boot-status")
      .filter({ hasText: "Cannot reach the server" })
      .waitFor({ timeout: 15_000 });
    assert(
      (await a.page.locator('input[type="password"]').count()) === 0,
      "no password asked while the server cannot be reached",
    );
    await sleep(Math.floor(rand() * 1500));
    // The retry presents the spent token: refused until the device signs a fresh challenge, then a new pair.
    const proofRequired = a.page.waitForResponse(
      (r) => r.url().endsWith("/v1/auth/refresh") && r.status() === 401,
      { timeout: 40_000 },
    );
    const challenged = a.page.waitForResponse(
      (r) => r.url().endsWith("/v1/auth/refresh/challenge") && r.status() === 200,
      { timeout: 40_000 },
    );
    const renewed = a.page.waitForResponse(
      (r) => r.url().endsWith("/v1/auth/refresh") && r.status() === 200,
      { timeout: 40_000 },
    );
    await a.page.unroute(refreshes);
    await Promise.all([proofRequired, challenged, renewed]);
    await connected(a);
    assert(
      forwarded[0] === 200,
      `the server rotated the tokens before the answer was lost (got ${forwarded.join(", ")})`,
    );
    await open(a);
    await say(a, "after lost refresh");
    await say(b, "reply after lost refresh");
    await audit("lost refresh answer");
  });

  await test("chaos: the server fails sends and lookups (503) for a while, the sockets stay up", async () => {
    const flaky = { sends: true, lookups: true };
    const unavailable = {
      status: 503,
      contentType: "application/json",
      body: JSON.stringify({ error: "unavailable", message: "flaky" }),
    };
    await a.context.route("**/v1/conversations/*/messages", (route) =>
      flaky.sends ? route.fulfill(unavailable) : route.fallback(),
    );
    const lookup = (route) =>
      flaky.lookups && route.request().method() === "GET"
        ? route.fulfill(unavailable)
        : route.fallback();
    await b.context.route("**/v1/directory/**", lookup);
    await b.context.route("**/v1/conversations**", lookup);
    const group = `Flaky ${suffix}`;
    await a.page.getByRole("button", { name: "New chat" }).click();
    await a.page.getByRole("tab", { name: "Group" }).click();
    await a.page.getByLabel("Group name").fill(group);
    await a.page.getByLabel("Members").fill(b.user);
    await a.page.getByRole("button", { name: "Start" }).click();
    await a.page.getByRole("heading", { name: group }).waitFor();
    for (let i = 0; i < 3; i++) await say(a, "flaky", group);
    await a.page
      .getByTestId("message-status")
      .filter({ hasText: "Waiting to send" })
      .first()
      .waitFor({ timeout: 15_000 });
    // Sends work again: alice's outbox drains on its own (no reconnect, no Retry pressed).
    await sleep(500 + Math.floor(rand() * 1000));
    flaky.sends = false;
    // Bob gets the copies but cannot check them: held, never "could not be verified".
    await b.page.getByText(/\d+ waiting for keys/).waitFor({ timeout: 30_000 });
    await sleep(Math.floor(rand() * 1500));
    flaky.lookups = false;
    await b.page
      .getByTestId("conversation-item")
      .filter({ hasText: group })
      .waitFor({ timeout: 30_000 });
    await open(b, group);
    await say(b, "flaky reply", group);
    await audit("flaky server", group);
    await a.context.unroute("**/v1/conversations/*/messages");
    await b.context.unroute("**/v1/directory/**");
    await b.context.unroute("**/v1/conversations**");
  });

  await test("chaos: after a reload of both tabs, the history is the same and nothing is undecryptable", async () => {
    for (const p of pages) {
      await p.page.reload();
      await connected(p);
      await open(p);
    }
    await audit("after reload");
    for (const p of pages) await open(p, `Flaky ${suffix}`);
    await audit("after reload", `Flaky ${suffix}`);
    for (const p of pages) {
      await p.page.getByRole("button", { name: "Devices" }).click();
      const undecryptable = await p.page.getByTestId("undecryptable").innerText();
      assert(
        undecryptable === "0",
        `${p.name} counted no undecryptable message (got ${undecryptable})`,
      );
      await p.page.getByRole("button", { name: "Back" }).click();
    }
  });

  for (const p of pages) await p.context.close();
  await h.killServer(srv);
  return pages.flatMap((p) => p.problems);
}
