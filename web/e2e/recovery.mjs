// A lost laptop loses nothing, in the browser (docs/protocol.md §6.7, §14–§17), on a server of
// its own: alice sets recovery up right after Create account (the key is shown once, in 12
// groups) and talks with bob; a fresh browser recovers alice from the login screen (a typo in the
// key is caught before anything is sent, a wrong key is refused and changes nothing), offers to
// revoke her other devices and shows the earlier messages from the server's archive; a second
// device bob approves in the browser gets his chains handed over and shows the earlier messages
// too; the retention is shown in the chat and set from the members panel, and the other side
// sees it. With the CLI built: a browser recovers an account whose recovery `sotto recovery
// setup` made, and shows what the CLI sent (backup items written in Rust, opened in TypeScript).
//
// Called by run.mjs with its harness; `E2E_ONLY=recovery node e2e/run.mjs` runs only this.

import { createHash, randomBytes } from "node:crypto";
import { join } from "node:path";

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** A well-formed recovery key (§14.1) that is nobody's: it passes the checksum, not the server. */
function strangerKey() {
  const label = Buffer.from("sotto/recovery-key");
  const domain = Buffer.concat([Buffer.from([label.length]), label, Buffer.from([1])]);
  const secret = randomBytes(28);
  const check = createHash("sha256").update(domain).update(secret).digest().subarray(0, 2);
  const key = Buffer.concat([secret, check]);
  let bits = 0;
  let acc = 0;
  let text = "";
  for (const byte of key) {
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      text += CROCKFORD[(acc >> bits) & 31];
    }
    acc &= (1 << bits) - 1;
  }
  return text.match(/.{4}/g).join("-");
}

/** The key with one character changed: a typo the checksum catches. */
function typo(key) {
  const i = key.indexOf("-") - 1;
  const c = key[i] === "7" ? "8" : "7";
  return key.slice(0, i) + c + key.slice(i + 1);
}

export async function recovery(h) {
  const { log, test, assert, shot, launch, register, sendText, openConversation, acceptRequest } =
    h;
  const srv = await h.startServer("-recovery");
  log(`recovery server at ${srv.origin}`);
  const suffix = Math.random().toString(36).slice(2, 7);
  const password = "correct horse battery staple 42";
  const aliceName = `alice${suffix}`;
  const bobName = `bob${suffix}`;
  const alice = await launch("recovery-alice", srv.pin);
  const bob = await launch("recovery-bob", srv.pin);
  const pages = [alice, bob];

  const expectMessage = (p, text, timeout = 60_000) =>
    p.page.getByTestId("message-text").filter({ hasText: text }).first().waitFor({ timeout });
  async function startDirect(p, who) {
    await p.page.getByRole("button", { name: "New chat" }).click();
    await p.page.getByRole("tab", { name: "1:1" }).click();
    await p.page.getByLabel("Username").fill(who);
    await p.page.getByRole("button", { name: "Start" }).click();
    await p.page.getByRole("heading", { name: who, exact: true }).waitFor();
  }
  async function loginNewDevice(p, user, deviceName) {
    await p.page.goto(srv.origin);
    await p.page.getByRole("tab", { name: "Log in" }).click();
    await p.page.getByLabel("Username").fill(user);
    await p.page.getByLabel("Password", { exact: true }).fill(password);
    await p.page.getByLabel("Device name").fill(deviceName);
    await p.page.getByRole("button", { name: "Log in" }).click();
    return (await p.page.getByTestId("approval-code").innerText()).trim();
  }

  let recoveryKey;
  await test("recovery: offered right after Create account; the key is shown once in 12 groups and needs 'I have saved it'", async () => {
    for (const p of pages) await p.page.goto(srv.origin);
    await register(alice, aliceName, password);
    await register(bob, bobName, password);
    // Bob declines the offer: the banner goes and does not come back.
    await bob.page.getByTestId("recovery-offer").getByRole("button", { name: "Not now" }).click();
    await bob.page.getByTestId("recovery-offer").waitFor({ state: "detached" });
    const offer = alice.page.getByTestId("recovery-offer");
    await offer.getByRole("button", { name: "Set up recovery" }).click();
    // Argon2id is WebAssembly: the passphrase is offered where the server's CSP lets the page
    // compile it ('wasm-unsafe-eval'), and where it does not the page says so instead of
    // offering a passphrase it could not derive.
    const passphrase = alice.page.getByRole("radio", { name: /A passphrase you choose/ });
    await passphrase.waitFor();
    // The page probes WebAssembly once the dialog opens; the choice waits for the answer.
    if (!srv.csp.includes("wasm-unsafe-eval")) {
      await alice.page.getByText("security policy does not allow").waitFor();
      assert(await passphrase.isDisabled(), "no passphrase where WebAssembly may not run");
    } else {
      const deadline = Date.now() + 10_000;
      while ((await passphrase.isDisabled()) && Date.now() < deadline) {
        await alice.page.waitForTimeout(50);
      }
      assert(!(await passphrase.isDisabled()), "a passphrase where WebAssembly may run");
      assert(
        (await alice.page.getByText("security policy does not allow").count()) === 0,
        "no 'not in this browser' hint where WebAssembly may run",
      );
    }
    await alice.page.getByRole("button", { name: "Set up recovery" }).click();
    const shown = alice.page.getByTestId("recovery-key");
    await shown.waitFor({ timeout: 60_000 });
    recoveryKey = (await shown.innerText()).replace(/\s/g, "");
    assert(
      /^([0-9A-HJKMNP-TV-Z]{4}-){11}[0-9A-HJKMNP-TV-Z]{4}$/.test(recoveryKey),
      `12 groups of 4 Crockford characters: ${recoveryKey}`,
    );
    await shot(alice.page, "40-recovery-key");
    const done = alice.page.getByRole("button", { name: "Done" });
    assert(await done.isDisabled(), "Done waits for 'I have saved it'");
    await alice.page.getByTestId("recovery-saved").check();
    await done.click();
    await shown.waitFor({ state: "detached" });
    await offer.waitFor({ state: "detached" });
    await alice.page.getByRole("button", { name: "Devices" }).click();
    await alice.page
      .getByTestId("recovery-status")
      .filter({ hasText: "Set up with a recovery key" })
      .waitFor();
  });

  await test("recovery: alice and bob talk; retention is shown in the chat and set from the members panel, and bob sees it", async () => {
    await startDirect(alice, bobName);
    await sendText(alice, "before the laptop was lost");
    await acceptRequest(bob, aliceName);
    await openConversation(bob, aliceName);
    await expectMessage(bob, "before the laptop was lost");
    await sendText(bob, "bob answers before the loss");
    await expectMessage(alice, "bob answers before the loss");
    await alice.page.getByRole("button", { name: /^Members/ }).click();
    await alice.page.getByTestId("retention-current").waitFor();
    await alice.page.getByTestId("retention-choice").selectOption({ label: "30 days" });
    await alice.page
      .getByTestId("retention-current")
      .filter({ hasText: "For 30 days" })
      .waitFor({ timeout: 30_000 });
    await shot(alice.page, "41-retention");
    await alice.page.getByRole("button", { name: "Back to chat" }).click();
    await alice.page.getByTestId("retention-badge").filter({ hasText: "30 days" }).waitFor();
    // Bob's device reads the new log entry (on its next sync) and shows it too.
    await bob.page
      .getByTestId("retention-badge")
      .filter({ hasText: "30 days" })
      .waitFor({ timeout: 60_000 });
    // Let alice's backup take the chains of this conversation (its writer flushes after 2 s).
    await new Promise((r) => setTimeout(r, 5000));
  });

  const fresh = await launch("recovery-alice-new", srv.pin);
  pages.push(fresh);
  async function fillRecover(key) {
    await fresh.page.getByLabel("Username").fill(aliceName);
    await fresh.page.getByLabel("Password", { exact: true }).fill(password);
    await fresh.page.getByLabel("Recovery key", { exact: true }).fill(key);
    await fresh.page.getByRole("button", { name: "Recover account" }).click();
  }

  await test("recovery: on the login screen, a typo and a wrong key are refused with a clear message and nothing changes", async () => {
    await fresh.page.goto(srv.origin);
    await fresh.page.getByRole("button", { name: "Recover account" }).click();
    await fresh.page.getByRole("heading", { name: "Recover your account" }).waitFor();
    await fillRecover(typo(recoveryKey));
    await fresh.page.getByRole("alert").filter({ hasText: "typo" }).waitFor();
    await fillRecover(strangerKey());
    await fresh.page.getByRole("alert").filter({ hasText: "Nothing was changed" }).waitFor({
      timeout: 60_000,
    });
    await shot(fresh.page, "42-recovery-wrong-key");
    await alice.page.getByRole("button", { name: "Devices" }).click();
    await alice.page.getByTestId("device-row").first().waitFor();
    assert(
      (await alice.page.getByTestId("device-row").count()) === 1,
      "a refused recovery added no device",
    );
  });

  await test("recovery: the right key makes the fresh browser alice's device, offers to revoke the others, and shows the earlier messages", async () => {
    await fillRecover(recoveryKey.toLowerCase().replaceAll("-", " "));
    const dialog = fresh.page.getByRole("alertdialog");
    await dialog.filter({ hasText: "Account recovered" }).waitFor({ timeout: 120_000 });
    assert(
      (await fresh.page.getByTestId("other-devices").innerText()).includes("web"),
      "the other device is listed",
    );
    await shot(fresh.page, "43-recovered");
    await dialog.getByRole("button", { name: "Keep them" }).click();
    await fresh.page.getByTestId("connection").filter({ hasText: "Connected" }).waitFor();
    await openConversation(fresh, bobName);
    await expectMessage(fresh, "before the laptop was lost");
    await expectMessage(fresh, "bob answers before the loss");
    await fresh.page.getByTestId("retention-badge").filter({ hasText: "30 days" }).waitFor();
    await shot(fresh.page, "44-recovered-history");
    // And the conversation goes on from the recovered device.
    await sendText(fresh, "back from the recovery");
    await expectMessage(bob, "back from the recovery");
  });

  await test("recovery: a second device bob approves in the browser is handed his chains and shows the earlier messages", async () => {
    const second = await launch("recovery-bob-2", srv.pin);
    pages.push(second);
    const code = await loginNewDevice(second, bobName, "Bob's second browser");
    await bob.page.getByRole("button", { name: "Devices" }).click();
    const row = bob.page.getByTestId("device-row").filter({ hasText: "Bob's second browser" });
    await row.getByLabel("Code shown on the new device").fill(code);
    await row.getByRole("button", { name: "Approve" }).click();
    await bob.page.getByRole("status").filter({ hasText: "Device approved" }).waitFor();
    await second.page
      .getByTestId("connection")
      .filter({ hasText: "Connected" })
      .waitFor({ timeout: 60_000 });
    await openConversation(second, aliceName);
    await expectMessage(second, "before the laptop was lost");
    await expectMessage(second, "bob answers before the loss");
    await expectMessage(second, "back from the recovery");
    await shot(second.page, "45-handover-history");
  });

  if (h.cliAvailable()) {
    await test("recovery: the browser recovers an account whose recovery the CLI set up, revokes the lost CLI device after reading the archive, and shows what it sent", async () => {
      const profile = join(h.work, "cli-recovery-profile");
      const daveName = `dave${suffix}`;
      await h.cliOk(srv, profile, ["register", daveName]);
      await h.cliOk(srv, profile, ["send", bobName, "sent from dave's lost laptop"]);
      await acceptRequest(bob, daveName);
      await expectMessage(bob, "sent from dave's lost laptop");
      const setup = await h.cliOk(srv, profile, ["recovery", "setup"]);
      const key = setup.stdout.match(/([0-9A-HJKMNP-TV-Z]{4}-){11}[0-9A-HJKMNP-TV-Z]{4}/)?.[0];
      assert(key !== undefined, `the CLI printed a recovery key: ${setup.stdout}`);
      // What the set-up could not back up yet goes with the next command.
      await h.cliOk(srv, profile, ["recv"]);
      const laptop = await launch("recovery-dave-web", srv.pin);
      pages.push(laptop);
      await laptop.page.goto(srv.origin);
      await laptop.page.getByRole("button", { name: "Recover account" }).click();
      await laptop.page.getByLabel("Username").fill(daveName);
      // The CLI's account password (run.mjs's `cli` sets SOTTO_PASSWORD).
      await laptop.page.getByLabel("Password", { exact: true }).fill("cli password for interop 42");
      await laptop.page.getByLabel("Recovery key", { exact: true }).fill(key);
      await laptop.page.getByRole("button", { name: "Recover account" }).click();
      const dialog = laptop.page.getByRole("alertdialog");
      await dialog.filter({ hasText: "Account recovered" }).waitFor({ timeout: 120_000 });
      // The lost laptop is revoked, after the archive is read: what it sent stays readable.
      await dialog.getByRole("button", { name: "Revoke the other devices" }).click();
      await dialog.waitFor({ state: "detached", timeout: 120_000 });
      await openConversation(laptop, bobName);
      await expectMessage(laptop, "sent from dave's lost laptop");
      await laptop.page.getByRole("button", { name: "Devices" }).click();
      await laptop.page
        .getByTestId("device-row")
        .filter({ hasText: "revoked" })
        .waitFor({ timeout: 30_000 });
      await shot(laptop.page, "46-recovered-cli-account");
    });
  }

  return pages.flatMap((p) => p.problems);
}
