// Consent and never-silent delivery in the browser (docs/api.md: requests, blocks and the send
// answer's `undelivered`), with real users on a server of their own whose request limit is low: a
// stranger's conversation is a request, not a conversation; what it holds shows only when opened,
// and opening sends no receipt; a message past the request limit says "Not delivered to alice
// (waiting for them to accept)" and Retry after she accepts delivers it once; a block stops a user
// (their UI says so) and an unblock lets a retry through; a declined request is listed nowhere and
// its sender told; a block from a request declines it.
//
// Called by run.mjs with its harness; `E2E_ONLY=consent node e2e/run.mjs` runs only this.

/** Envelopes a request may route to its recipient on this server (distributions count). */
const REQUEST_LIMIT = 4;

export async function consent(h) {
  const { log, test, assert, shot, launch, register, sendText } = h;
  const srv = await h.startServer("-consent", [
    "[limits]",
    `max_request_envelopes = ${REQUEST_LIMIT}`,
  ]);
  log(`consent server at ${srv.origin} (max_request_envelopes = ${REQUEST_LIMIT})`);
  const suffix = Math.random().toString(36).slice(2, 7);
  const alice = await launch("consent-alice", srv.pin);
  const mallory = await launch("consent-mallory", srv.pin);
  const eve = await launch("consent-eve", srv.pin);
  const dan = await launch("consent-dan", srv.pin);
  alice.user = `alice${suffix}`;
  mallory.user = `mallory${suffix}`;
  eve.user = `eve${suffix}`;
  dan.user = `dan${suffix}`;
  const pages = [alice, mallory, eve, dan];

  const message = (p, text) => p.page.getByTestId("message").filter({ hasText: text });
  const shownCount = (p, text) =>
    p.page
      .getByTestId("message-text")
      .filter({ hasText: new RegExp(`^${text}$`) })
      .count();
  const undelivered = (p, text) => message(p, text).getByTestId("message-undelivered");
  async function home(p) {
    await p.page
      .getByRole("button", { name: "Back to conversations" })
      .click({ timeout: 1000 })
      .catch(() => undefined);
  }
  async function startDirect(p, who) {
    await p.page.getByRole("button", { name: "New chat" }).click();
    await p.page.getByRole("tab", { name: "1:1" }).click();
    await p.page.getByLabel("Username").fill(who);
    await p.page.getByRole("button", { name: "Start" }).click();
    await p.page.getByRole("heading", { name: who, exact: true }).waitFor();
  }
  /** Sends numbered messages until one is refused; returns the texts sent, the last refused. */
  async function sendUntilRefused(p, prefix, max) {
    const sent = [];
    for (let i = 1; i <= max; i++) {
      const text = `${prefix} ${i}`;
      sent.push(text);
      await sendText(p, text);
      const status = message(p, text).getByTestId("message-status");
      const note = undelivered(p, text);
      // Wait until the server answered: either a plain status or a note.
      for (let t = 0; t < 300; t++) {
        if ((await note.count()) > 0) return sent;
        if ((await status.filter({ hasText: /Sent|Delivered|Read/ }).count()) > 0) break;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    throw new Error(`no message was refused within ${max}`);
  }

  let mallorySent = [];
  await test("consent: a stranger's 1:1 is a request, not a conversation; opening it shows what it holds and sends no receipt", async () => {
    for (const p of pages) await p.page.goto(srv.origin);
    for (const p of pages) await register(p, p.user, "correct horse battery staple 42");
    await startDirect(mallory, alice.user);
    await sendText(mallory, "hello alice, you do not know me");
    await alice.page.getByTestId("requests-count").filter({ hasText: "1" }).waitFor({
      timeout: 30_000,
    });
    assert(
      (await alice.page.getByTestId("conversation-item").count()) === 0,
      "the request is not among alice's conversations",
    );
    await alice.page.getByTestId("open-requests").click();
    const item = alice.page.getByTestId("request-item").filter({ hasText: mallory.user });
    await item.filter({ hasText: "wants to start a conversation" }).waitFor();
    const listed = await alice.page.locator("#content").innerText();
    assert(
      !listed.includes("you do not know me"),
      "the request list does not show what the request holds",
    );
    await shot(alice.page, "30-requests");
    await item.getByRole("button", { name: "Open" }).click();
    await alice.page.getByTestId("request-banner").waitFor();
    await alice.page
      .getByTestId("message-text")
      .filter({ hasText: "hello alice, you do not know me" })
      .waitFor({ timeout: 30_000 });
    assert(
      (await alice.page.getByLabel("Message", { exact: true }).count()) === 0,
      "no composer in a request",
    );
    await shot(alice.page, "31-request-open");
    // Reading is not accepting: no receipt reaches mallory.
    await new Promise((r) => setTimeout(r, 2000));
    const status = await message(mallory, "hello alice, you do not know me")
      .getByTestId("message-status")
      .innerText();
    assert(status === "Sent", `mallory gets no receipt while it is a request (got ${status})`);
    mallorySent = ["hello alice, you do not know me"];
  });

  let refused;
  await test("consent: a message past the request limit shows 'Not delivered to alice (waiting for them to accept)' with Retry", async () => {
    mallorySent.push(...(await sendUntilRefused(mallory, "from mallory", REQUEST_LIMIT + 2)));
    refused = mallorySent[mallorySent.length - 1];
    const note = await undelivered(mallory, refused).innerText();
    assert(
      note.includes(`Not delivered to ${alice.user} (waiting for them to accept)`),
      `the note names alice and the reason: ${note}`,
    );
    assert(
      (await message(mallory, refused).getByTestId("message-status").count()) === 0,
      "a message delivered to nobody is not shown as Sent",
    );
    await undelivered(mallory, refused).getByRole("button", { name: "Retry" }).waitFor();
    await shot(mallory.page, "32-not-delivered-request-limit");
    // Still a request: a Retry now changes nothing.
    await undelivered(mallory, refused).getByRole("button", { name: "Retry" }).click();
    await new Promise((r) => setTimeout(r, 1000));
    assert((await undelivered(mallory, refused).count()) === 1, "still not delivered");
    assert((await shownCount(alice, refused)) === 0, "alice did not get it");
  });

  await test("consent: accepting moves the request into the conversations; Retry then delivers the refused message once", async () => {
    await alice.page.getByTestId("request-banner").getByRole("button", { name: "Accept" }).click();
    await alice.page.getByRole("heading", { name: mallory.user, exact: true }).waitFor();
    await alice.page.getByTestId("open-requests").waitFor({ state: "detached" });
    await alice.page.getByTestId("conversation-item").filter({ hasText: mallory.user }).waitFor();
    await undelivered(mallory, refused).getByRole("button", { name: "Retry" }).click();
    await undelivered(mallory, refused).waitFor({ state: "detached", timeout: 30_000 });
    await alice.page.getByTestId("message-text").filter({ hasText: refused }).waitFor({
      timeout: 30_000,
    });
    // Once accepted, receipts flow: alice has the chat open.
    await message(mallory, refused)
      .getByTestId("message-status")
      .filter({ hasText: "Read" })
      .waitFor({ timeout: 30_000 });
    // Each message shows once: the retry delivered only what was missing.
    await new Promise((r) => setTimeout(r, 1000));
    for (const text of mallorySent)
      assert((await shownCount(alice, text)) === 1, `alice shows "${text}" exactly once`);
    await shot(mallory.page, "33-delivered-after-accept");
    // Unread counts work for the accepted conversation.
    await home(alice);
    await sendText(mallory, "now we are contacts");
    await alice.page
      .getByTestId("conversation-item")
      .filter({ hasText: mallory.user })
      .getByTestId("unread")
      .filter({ hasText: "1" })
      .waitFor({ timeout: 30_000 });
  });

  await test("consent: a blocked user's message is not delivered (their UI says blocked); after an unblock a Retry delivers it", async () => {
    await alice.page.getByRole("button", { name: "Blocked users" }).click();
    await alice.page.getByTestId("no-blocked").waitFor();
    await alice.page.getByLabel("Block a user (username)").fill(mallory.user);
    await alice.page.getByRole("button", { name: "Block", exact: true }).click();
    await alice.page.getByTestId("blocked-row").filter({ hasText: mallory.user }).waitFor();
    await shot(alice.page, "34-blocked-users");
    await sendText(mallory, "after the block");
    const note = undelivered(mallory, "after the block");
    await note.filter({ hasText: `Not delivered to ${alice.user} (blocked)` }).waitFor({
      timeout: 30_000,
    });
    await shot(mallory.page, "35-not-delivered-blocked");
    await new Promise((r) => setTimeout(r, 1000));
    assert((await shownCount(alice, "after the block")) === 0, "alice did not get it");
    await alice.page
      .getByTestId("blocked-row")
      .filter({ hasText: mallory.user })
      .getByRole("button", { name: "Unblock" })
      .click();
    await alice.page.getByTestId("no-blocked").waitFor();
    await note.getByRole("button", { name: "Retry" }).click();
    await note.waitFor({ state: "detached", timeout: 30_000 });
    await alice.page.getByRole("button", { name: "Back", exact: true }).click();
    await alice.page.getByTestId("conversation-item").filter({ hasText: mallory.user }).click();
    await alice.page
      .getByTestId("message-text")
      .filter({ hasText: "after the block" })
      .waitFor({ timeout: 30_000 });
    assert((await shownCount(alice, "after the block")) === 1, "delivered once");
  });

  await test("consent: a declined group request is listed nowhere and its sender is told 'declined'", async () => {
    await home(alice);
    const group = `Eve's group ${suffix}`;
    await eve.page.getByRole("button", { name: "New chat" }).click();
    await eve.page.getByRole("tab", { name: "Group" }).click();
    await eve.page.getByLabel("Group name").fill(group);
    await eve.page.getByLabel("Members").fill(`${alice.user}, ${mallory.user}`);
    await eve.page.getByRole("button", { name: "Start" }).click();
    await eve.page.getByRole("heading", { name: group }).waitFor();
    await sendText(eve, "join my group");
    await alice.page.getByTestId("open-requests").click({ timeout: 30_000 });
    const item = alice.page.getByTestId("request-item").filter({ hasText: eve.user });
    await item.filter({ hasText: "(3 members)" }).waitFor({ timeout: 30_000 });
    await item.getByRole("button", { name: "Decline" }).click();
    await item.waitFor({ state: "detached" });
    await alice.page.getByTestId("no-requests").waitFor();
    assert(
      (await alice.page.getByTestId("conversation-item").filter({ hasText: group }).count()) === 0,
      "a declined group is not among the conversations",
    );
    await sendText(eve, "are you there?");
    await undelivered(eve, "are you there?")
      .filter({ hasText: `Not delivered to ${alice.user} (declined)` })
      .waitFor({ timeout: 30_000 });
    await shot(eve.page, "36-not-delivered-declined");
  });

  await test("consent: blocking from a request declines it and lists the sender as blocked", async () => {
    await home(eve);
    await startDirect(eve, alice.user);
    await sendText(eve, "one more try");
    await alice.page.getByTestId("open-requests").click({ timeout: 30_000 });
    const item = alice.page.getByTestId("request-item").filter({ hasText: eve.user });
    await item.getByRole("button", { name: `Block ${eve.user}` }).click();
    await alice.page.getByTestId("no-requests").waitFor({ timeout: 30_000 });
    await alice.page.getByRole("button", { name: "Blocked users" }).click();
    await alice.page.getByTestId("blocked-row").filter({ hasText: eve.user }).waitFor();
    await sendText(eve, "still trying");
    await undelivered(eve, "still trying")
      .filter({ hasText: `Not delivered to ${alice.user} (blocked)` })
      .waitFor({ timeout: 30_000 });
  });

  await test("consent: starting a 1:1 with someone whose request is waiting accepts it", async () => {
    await startDirect(dan, alice.user);
    await sendText(dan, "hi from dan");
    await alice.page.getByTestId("requests-count").filter({ hasText: "1" }).waitFor({
      timeout: 30_000,
    });
    await startDirect(alice, dan.user);
    await alice.page.getByTestId("message-text").filter({ hasText: "hi from dan" }).waitFor();
    await alice.page.getByTestId("open-requests").waitFor({ state: "detached" });
    // The same conversation, accepted: dan's message is read and alice's reply reaches him.
    await message(dan, "hi from dan")
      .getByTestId("message-status")
      .filter({ hasText: "Read" })
      .waitFor({ timeout: 30_000 });
    await sendText(alice, "hi dan");
    await dan.page.getByTestId("message-text").filter({ hasText: "hi dan" }).waitFor({
      timeout: 30_000,
    });
    assert(
      (await dan.page.getByTestId("conversation-item").count()) === 1,
      "one conversation between them",
    );
  });

  for (const p of pages) await p.context.close();
  return pages.flatMap((p) => p.problems);
}
