// Protocol version 2 in the browser (protocol §18): two web users on a server of their
// own publish version-2 exchange-key certificates with last-resort prekeys and upload one-time
// prekeys; a 1:1 conversation both ways goes over version-2 distributions under one-time
// prekeys (the tab's counters, `globalThis.__sottoV2`, say which kind each distribution was);
// and, when the CLI is built, a CLI user and a web user exchange messages both ways in a group,
// the distributions from the CLI to the browser being version 2.
//
// Called by run.mjs with its harness; `E2E_ONLY=v2 node e2e/run.mjs` runs only this.

import { join } from "node:path";

/** The tab's version-2 counters. */
function stats(p) {
  return p.page.evaluate(() => ({ ...globalThis.__sottoV2 }));
}

async function waitFor(what, check, timeoutMs = 60_000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function v2(h) {
  const { log, test, assert, shot, launch, register, sendText, acceptRequest } = h;
  const srv = await h.startServer("-v2");
  log(`v2 server at ${srv.origin}`);
  const suffix = Math.random().toString(36).slice(2, 7);
  const alice = await launch("v2-alice", srv.pin);
  const bob = await launch("v2-bob", srv.pin);
  alice.user = `alice${suffix}`;
  bob.user = `bob${suffix}`;
  const shown = (p, text, timeout = 30_000) =>
    p.page.getByTestId("message-text").filter({ hasText: text }).first().waitFor({ timeout });

  await test("v2: two browsers register, publish v2 certificates and upload 100 one-time prekeys each", async () => {
    for (const p of [alice, bob]) await p.page.goto(srv.origin);
    for (const p of [alice, bob]) await register(p, p.user, "correct horse battery staple 42");
    for (const p of [alice, bob]) {
      const s = await waitFor(`${p.user}'s prekey upload`, async () => {
        const s = await stats(p);
        return s.uploaded >= 100 ? s : undefined;
      });
      assert(s.uploaded === 100, `${p.user} uploaded 100 one-time prekeys (got ${s.uploaded})`);
      // Chromium has ML-KEM-768 in WebCrypto: the library is only the fallback (D51).
      assert(s.backend === "webcrypto", `ML-KEM ran on WebCrypto (got ${s.backend})`);
    }
  });

  await test("v2: a 1:1 both ways goes over version-2 distributions under one-time prekeys", async () => {
    const a0 = await stats(alice);
    const b0 = await stats(bob);
    await alice.page.getByRole("button", { name: "New chat" }).click();
    await alice.page.getByRole("tab", { name: "1:1" }).click();
    await alice.page.getByLabel("Username").fill(bob.user);
    await alice.page.getByRole("button", { name: "Start" }).click();
    await alice.page.getByRole("heading", { name: bob.user, exact: true }).waitFor();
    await sendText(alice, "hybrid hello from alice");
    await acceptRequest(bob, alice.user);
    await shown(bob, "hybrid hello from alice");
    await sendText(bob, "hybrid reply from bob");
    await shown(alice, "hybrid reply from bob");
    const a1 = await waitFor("alice's counters", async () => {
      const s = await stats(alice);
      return s.receivedOneTime > a0.receivedOneTime ? s : undefined;
    });
    const b1 = await stats(bob);
    log(`  alice ${JSON.stringify(a1)}; bob ${JSON.stringify(b1)}`);
    assert(a1.sentOneTime > a0.sentOneTime, "alice sent under one of bob's one-time prekeys");
    assert(b1.receivedOneTime > b0.receivedOneTime, "bob took in a one-time prekey distribution");
    assert(b1.sentOneTime > b0.sentOneTime, "bob sent under one of alice's one-time prekeys");
    assert(a1.receivedOneTime > a0.receivedOneTime, "alice took in a one-time distribution");
    assert(a1.sentV1 === a0.sentV1 && b1.sentV1 === b0.sentV1, "no version-1 distribution");
    await shot(bob.page, "v2-01-direct");
  });

  if (!h.cliAvailable()) {
    log("v2: the CLI is not built: CLI interop skipped");
    return [...alice.problems, ...bob.problems];
  }

  const profile = join(h.work, "v2-cli-profile");
  const carol = `carol${suffix}`;
  let conv;
  let beforeCli;
  /** `sotto keys status` (a CLI that runs version 2), or undefined for an older CLI. */
  async function cliKeys() {
    const r = await h.cli(srv, profile, ["keys", "status"]);
    return r.code === 0 ? r.lines.find((l) => typeof l.version === "number") : undefined;
  }
  let cliV2 = false;
  let remaining0;
  await test("v2: a CLI user's group message reaches the browser over a version-2 distribution", async () => {
    const a0 = await stats(alice);
    beforeCli = a0;
    await h.cliOk(srv, profile, ["register", carol]);
    const k = await cliKeys();
    cliV2 = k?.version === 2;
    remaining0 = k?.server_remaining;
    log(`  CLI keys status: ${JSON.stringify(k)}`);
    assert(cliV2, "the CLI runs version 2");
    const created = await h.cliOk(srv, profile, ["group", "create", `V2 ${suffix}`, alice.user]);
    conv = created.lines.find((l) => typeof l.conversation === "string")?.conversation;
    assert(typeof conv === "string", `group create printed a conversation: ${created.stdout}`);
    await h.cliOk(srv, profile, ["send", conv, "hybrid hello from the cli"]);
    await alice.page
      .getByRole("button", { name: "Back to conversations" })
      .click({ timeout: 2000 })
      .catch(() => undefined);
    await acceptRequest(alice, carol);
    await shown(alice, "hybrid hello from the cli");
    const a1 = await stats(alice);
    log(`  alice after the CLI's message ${JSON.stringify(a1)}`);
    assert(
      a1.receivedOneTime + a1.receivedLastResort > a0.receivedOneTime + a0.receivedLastResort,
      "the CLI's distribution to the browser was version 2",
    );
    // A version-2 CLI claims one of the browser's one-time prekeys for its new chain.
    if (cliV2)
      assert(
        a1.receivedOneTime > a0.receivedOneTime,
        "the CLI's distribution used one of the browser's one-time prekeys",
      );
  });

  await test("v2: the browser's reply in the group is read by the CLI", async () => {
    // Since the group appeared: the browser's chain in it may have started with a receipt.
    const a0 = beforeCli ?? (await stats(alice));
    await sendText(alice, "hybrid reply to the cli");
    let seen = [];
    await waitFor(
      "the CLI to read the reply",
      async () => {
        const r = await h.cliOk(srv, profile, ["recv", "--wait", "3"]);
        seen = [...seen, ...r.lines];
        return seen.some((l) => l.text === "hybrid reply to the cli");
      },
      90_000,
    );
    const a1 = await stats(alice);
    log(`  alice after her reply ${JSON.stringify(a1)}`);
    const v2Sent = a1.sentOneTime + a1.sentLastResort - (a0.sentOneTime + a0.sentLastResort);
    // A CLI that publishes version-2 certificates gets a version-2 distribution; one that still
    // publishes version 1 gets version 1 (§18.7).
    log(`  to the CLI: ${v2Sent} version-2, ${a1.sentV1 - a0.sentV1} version-1 distributions`);
    if (cliV2) {
      assert(a1.sentOneTime > a0.sentOneTime, "the browser sent under a CLI one-time prekey");
      assert(a1.sentV1 === a0.sentV1, "no version-1 distribution to the CLI");
      const k = await cliKeys();
      log(`  CLI keys status after: ${JSON.stringify(k)}`);
      assert(
        typeof remaining0 === "number" &&
          typeof k?.server_remaining === "number" &&
          k.server_remaining < remaining0,
        `the server's count of the CLI's prekeys went down (${remaining0} → ${k?.server_remaining})`,
      );
    }
  });

  return [...alice.problems, ...bob.problems];
}
