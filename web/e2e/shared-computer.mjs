// Shared computers (one browser, several accounts): each account's keys and data live in a
// namespace of their own. M talks with a peer and logs out keeping the data; erin creates an
// account in the same browser profile and sees nothing of M's; M logs in there again without
// approval, finds the conversation and can send. Removing an account's data wipes its namespace
// only. A browser holding the single database of earlier versions keeps its device: the database
// becomes the namespace of the account it holds.
//
// Called by run.mjs with its harness; `E2E_ONLY=shared node e2e/run.mjs` runs only this.

/** The names of this origin's IndexedDB databases. */
async function databases(page) {
  return page.evaluate(async () => (await indexedDB.databases()).map((d) => d.name).sort());
}

export async function sharedComputer(h) {
  const { log, test, assert, shot, launch, register, openConversation, sendText } = h;
  const srv = await h.startServer("-shared");
  log(`shared-computer server at ${srv.origin}`);
  const suffix = Math.random().toString(36).slice(2, 7);
  const password = "correct horse battery staple 42";
  const shared = await launch("shared-computer", srv.pin);
  const peer = await launch("shared-peer", srv.pin);
  const mName = `m${suffix}`;
  const erinName = `erin${suffix}`;
  const peerName = `peer${suffix}`;
  const legacyName = `legacy${suffix}`;

  const expectText = (p, text) =>
    p.page.getByTestId("message-text").filter({ hasText: text }).first().waitFor({
      timeout: 30_000,
    });
  const connected = (p) =>
    p.page.getByTestId("connection").filter({ hasText: "Connected" }).waitFor({ timeout: 60_000 });
  async function home(p) {
    await p.page
      .getByRole("button", { name: "Back to conversations" })
      .click({ timeout: 1000 })
      .catch(() => undefined);
  }
  /** `p` starts a 1:1 with the peer and sends `text`; the peer accepts it and replies `reply`. */
  async function talkWithPeer(p, me, text, reply) {
    await p.page.getByRole("button", { name: "New chat" }).click();
    await p.page.getByRole("tab", { name: "1:1" }).click();
    await p.page.getByLabel("Username").fill(peerName);
    await p.page.getByRole("button", { name: "Start" }).click();
    await p.page.getByRole("heading", { name: peerName, exact: true }).waitFor();
    await sendText(p, text);
    await home(peer);
    await peer.page.getByTestId("open-requests").click({ timeout: 30_000 });
    const item = peer.page.getByTestId("request-item").filter({ hasText: me });
    await item.getByRole("button", { name: "Accept" }).click({ timeout: 30_000 });
    await peer.page.getByRole("heading", { name: me, exact: true }).waitFor();
    await expectText(peer, text);
    await sendText(peer, reply);
    await expectText(p, reply);
  }
  /** Logs out of the shared browser; `remove`: this account's data leaves the browser too. */
  async function logOut(p, remove) {
    await p.page.getByRole("button", { name: "Log out" }).click();
    const dialog = p.page.getByRole("alertdialog", { name: "Log out" });
    await dialog.waitFor();
    await dialog.getByRole("radio", { name: remove ? /^Remove/ : /^Keep/ }).check();
    await dialog.getByRole("button", { name: "Log out", exact: true }).click();
    await p.page.getByRole("tab", { name: "Log in" }).waitFor({ timeout: 30_000 });
  }
  async function logIn(p, username) {
    await p.page.getByRole("tab", { name: "Log in" }).click();
    await p.page.getByLabel("Username").fill(username);
    await p.page.getByLabel("Password", { exact: true }).fill(password);
    await p.page.getByRole("button", { name: "Log in" }).click();
    await connected(p);
  }

  await test("shared computer: M logs out keeping the data, erin creates an account in the same browser and sees nothing of M's; M logs in there again and sends", async () => {
    await shared.page.goto(srv.origin);
    await peer.page.goto(srv.origin);
    await register(peer, peerName, password);
    await register(shared, mName, password);
    await talkWithPeer(shared, mName, "M's private note to the peer", "peer's answer to M");
    await logOut(shared, false);
    await shot(shared.page, "shared-01-logged-out");

    // Anything of M's that the page shows from now on, even for a moment, is recorded.
    const secrets = [peerName, "M's private note", "peer's answer to M"];
    await shared.page.evaluate((needles) => {
      window.__leaked = [];
      new MutationObserver(() => {
        const text = document.body.innerText;
        for (const n of needles)
          if (text.includes(n) && !window.__leaked.includes(n)) window.__leaked.push(n);
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    }, secrets);
    await register(shared, erinName, password);
    await shared.page.getByTestId("me").filter({ hasText: erinName }).waitFor();
    // Give the conversation list time to fill (it would, from the store and the server).
    await new Promise((r) => setTimeout(r, 3000));
    const leaked = await shared.page.evaluate(() => window.__leaked);
    assert(leaked.length === 0, `erin's screens never showed M's data (shown: ${leaked})`);
    await shared.page.getByText("Select a conversation, or start a new one.").waitFor({
      timeout: 1000,
    });
    const items = await shared.page.getByTestId("conversation-item").allInnerTexts();
    assert(items.length === 0, `erin's list shows none of M's conversations (got ${items})`);
    const body = await shared.page.locator("body").innerText();
    assert(
      !body.includes(peerName) && !body.includes("M's private note") && !body.includes(mName),
      `nothing of M's is shown to erin: ${body}`,
    );
    await shot(shared.page, "shared-02-erin");
    await logOut(shared, false);

    await logIn(shared, mName);
    await shared.page.getByTestId("me").filter({ hasText: mName }).waitFor();
    await openConversation(shared, peerName);
    await expectText(shared, "M's private note to the peer");
    await expectText(shared, "peer's answer to M");
    await sendText(shared, "M is back on the shared computer");
    await expectText(peer, "M is back on the shared computer");
    await shot(shared.page, "shared-03-m-again");
  });

  await test("shared computer: two accounts in two tabs of one browser each hold a socket; a second tab of one account waits", async () => {
    // A tab of M's opens M's namespace (the last signed in) and waits for the first tab's socket.
    const sameAccount = await shared.context.newPage();
    await sameAccount.goto(srv.origin);
    await sameAccount
      .getByTestId("connection")
      .filter({ hasText: "Open in another tab" })
      .waitFor({ timeout: 30_000 });
    await sameAccount.close();
    // A tab that is erin's (its session storage names her) connects while M's tab stays connected.
    const erinTab = await shared.context.newPage();
    await erinTab.addInitScript((name) => sessionStorage.setItem("sotto-account", name), erinName);
    await erinTab.goto(srv.origin);
    await erinTab.getByLabel("Username").fill(erinName);
    await erinTab.getByLabel("Password", { exact: true }).fill(password);
    await erinTab.getByRole("button", { name: "Log in" }).click();
    await erinTab
      .getByTestId("connection")
      .filter({ hasText: "Connected" })
      .waitFor({ timeout: 60_000 });
    await erinTab.getByTestId("me").filter({ hasText: erinName }).waitFor();
    await shared.page.getByTestId("connection").filter({ hasText: "Connected" }).waitFor();
    await sendText(shared, "M writes while erin is open in another tab");
    await expectText(peer, "M writes while erin is open in another tab");
    // erin leaves the shared computer as one should: logged out (her data kept).
    await logOut({ page: erinTab }, false);
    await erinTab.close();
  });

  await test("shared computer: removing M's data deletes M's namespace only; erin logs in again without approval", async () => {
    await shared.page.getByRole("button", { name: "Log out" }).click();
    const dialog = shared.page.getByRole("alertdialog", { name: "Log out" });
    await dialog.waitFor();
    // M has one device and no recovery key: the dialog says removing loses the account.
    await dialog.getByText("only device").first().waitFor({ timeout: 15_000 });
    await shot(shared.page, "shared-04-logout-dialog");
    await dialog.getByRole("button", { name: "Cancel" }).click();
    await logOut(shared, true);
    const names = await databases(shared.page);
    assert(!names.includes(`sotto:${mName}`), `M's database is gone: ${names}`);
    assert(names.includes(`sotto:${erinName}`), `erin's database is kept: ${names}`);
    const listed = await shared.page.getByTestId("known-account").allInnerTexts();
    assert(
      listed.some((t) => t.includes(erinName)) && !listed.some((t) => t.includes(mName)),
      `accounts on this browser: ${listed}`,
    );
    await logIn(shared, erinName);
    await shared.page.getByTestId("me").filter({ hasText: erinName }).waitFor();
    assert(
      (await shared.page.getByTestId("conversation-item").count()) === 0,
      "erin still sees none of M's conversations",
    );
  });

  await test("an earlier version's single database becomes its account's namespace: the device, session and history stay", async () => {
    const old = await launch("shared-legacy", srv.pin);
    await old.page.goto(srv.origin);
    await register(old, legacyName, password);
    await talkWithPeer(old, legacyName, "written before the upgrade", "answered before it");
    // Lay the data out as earlier versions did: one database named "sotto", no account index.
    // On a page of the same origin without the app, so nothing of it holds the databases open.
    await old.page.route("**/e2e-blank", (route) =>
      route.fulfill({ contentType: "text/html", body: "<!doctype html><title>blank</title>" }),
    );
    await old.page.goto(`${srv.origin}/e2e-blank`);
    await old.page.evaluate(async (name) => {
      const open = (n) =>
        new Promise((res, rej) => {
          const r = indexedDB.open(n, 1);
          r.onupgradeneeded = () => {
            for (const s of ["keys", "state"])
              if (!r.result.objectStoreNames.contains(s)) r.result.createObjectStore(s);
          };
          r.onsuccess = () => res(r.result);
          r.onerror = () => rej(r.error);
        });
      const from = await open(`sotto:${name}`);
      const to = await open("sotto");
      for (const store of ["keys", "state"]) {
        const rows = await new Promise((res) => {
          const tx = from.transaction(store, "readonly");
          const keys = tx.objectStore(store).getAllKeys();
          const values = tx.objectStore(store).getAll();
          tx.oncomplete = () => res(keys.result.map((k, i) => [k, values.result[i]]));
        });
        await new Promise((res, rej) => {
          const tx = to.transaction(store, "readwrite");
          for (const [k, v] of rows) tx.objectStore(store).put(v, k);
          tx.oncomplete = res;
          tx.onerror = () => rej(tx.error);
        });
      }
      from.close();
      to.close();
      await new Promise((res, rej) => {
        const r = indexedDB.deleteDatabase(`sotto:${name}`);
        r.onsuccess = res;
        r.onerror = () => rej(r.error);
      });
      localStorage.clear();
      sessionStorage.clear();
    }, legacyName);
    await old.page.unroute("**/e2e-blank");
    await old.page.goto(srv.origin);
    await connected(old);
    await old.page.getByTestId("me").filter({ hasText: legacyName }).waitFor();
    await openConversation(old, peerName);
    await expectText(old, "written before the upgrade");
    await expectText(old, "answered before it");
    await sendText(old, "written after the upgrade");
    await expectText(peer, "written after the upgrade");
    const names = await databases(old.page);
    assert(!names.includes("sotto"), `the old database is gone: ${names}`);
    assert(names.includes(`sotto:${legacyName}`), `the namespace holds it: ${names}`);
    await old.context.close();
  });

  const problems = [...shared.problems, ...peer.problems];
  await shared.context.close();
  await peer.context.close();
  return problems;
}
