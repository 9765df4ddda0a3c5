// A team's daily chat in the browser, on a server of its own, with three real users: a group
// invitee sees the new group before any message; the document title counts unread messages; a
// notification fires for a page in the background (and says who, not what, until the user
// chooses otherwise); addresses survive a reload and Back/Forward, an unknown one says
// "Conversation not found"; a second tab takes over with "Use here"; Ctrl+K switches
// conversations; arrow keys move between the list's tabs; search finds a message after a reload
// and opens the conversation at it; the members panel renames, promotes, demotes, removes (the
// removed member sees it and cannot send) and leaves with "choose a new admin" first, and the
// others see each change in the timeline. axe-core finds no serious or critical violation on
// any screen, desktop and phone; screenshots of the main screens in light and dark.
//
// Called by run.mjs with its harness; `E2E_ONLY=team node e2e/run.mjs` runs only this.

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
/** axe-core's browser bundle, evaluated in the page (the app's CSP forbids injected <script>s). */
const AXE_SOURCE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

/** Records every Notification the page constructs (installed before the app's own scripts). */
function notificationSpy() {
  window.__sottoNotes = [];
  const Real = window.Notification;
  if (Real === undefined) return;
  class Spy extends Real {
    constructor(title, options) {
      window.__sottoNotes.push({ title, body: options?.body ?? "", tag: options?.tag ?? "" });
      super(title, options);
    }
  }
  window.Notification = Spy;
}

export async function team(h) {
  const { log, test, assert, shot, launch, register, sendText } = h;
  const srv = await h.startServer("-team");
  log(`team server at ${srv.origin}`);
  const suffix = Math.random().toString(36).slice(2, 7);
  const password = "correct horse battery staple 42";
  const ann = await launch("team-ann", srv.pin);
  const ben = await launch("team-ben", srv.pin);
  const cat = await launch("team-cat", srv.pin);
  ann.user = `ann${suffix}`;
  ben.user = `ben${suffix}`;
  cat.user = `cat${suffix}`;
  const pages = [ann, ben, cat];
  const group = `Team ${suffix}`;
  const renamed = `Daily ${suffix}`;
  let conv; // the group's id, from ann's address bar

  const axeFindings = [];
  /** Runs axe-core on what `p` shows now; serious and critical violations fail the test. */
  async function axe(p, screen) {
    const has = await p.page.evaluate(() => typeof window.axe !== "undefined");
    if (!has) await p.page.evaluate(AXE_SOURCE);
    const violations = await p.page.evaluate(async () => {
      const r = await window.axe.run(document, { resultTypes: ["violations"] });
      return r.violations.map((v) => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        nodes: v.nodes.slice(0, 3).map((n) => `${n.target.join(" ")} ${n.html.slice(0, 300)}`),
      }));
    });
    const bad = violations.filter((v) => v.impact === "serious" || v.impact === "critical");
    for (const v of violations)
      if (!bad.includes(v)) axeFindings.push(`${screen}: ${v.impact} ${v.id} (${v.help})`);
    assert(
      bad.length === 0,
      `axe on ${screen}: ${bad.map((v) => `${v.impact} ${v.id}: ${v.help} at ${v.nodes.join(", ")}`).join("; ")}`,
    );
  }
  const notes = (p) => p.page.evaluate(() => window.__sottoNotes ?? []);
  const hash = (p) => p.page.evaluate(() => location.hash);
  const heading = (p, name) => p.page.getByRole("heading", { name, exact: true });
  const timeline = (p) => p.page.getByTestId("messages");
  async function setHidden(p, hidden) {
    await p.page.evaluate((hide) => {
      if (hide) {
        Object.defineProperty(document, "visibilityState", {
          configurable: true,
          get: () => "hidden",
        });
        Object.defineProperty(document, "hidden", { configurable: true, get: () => true });
      } else {
        delete document.visibilityState;
        delete document.hidden;
      }
      document.dispatchEvent(new Event("visibilitychange"));
    }, hidden);
  }
  async function openGroup(p, name) {
    await p.page.getByTestId("conversation-item").filter({ hasText: name }).first().click();
    await heading(p, name).waitFor();
  }
  /** Chooses the theme as the app stores it, and reloads (main.tsx applies it before painting). */
  async function theme(p, value) {
    await p.page.evaluate((t) => {
      localStorage.setItem("sotto-theme", t);
    }, value);
    await p.page.reload();
    await p.page.getByTestId("connection").filter({ hasText: "Connected" }).waitFor({
      timeout: 30_000,
    });
  }

  await test("team: the sign-in screens pass axe; no notification permission is asked on load", async () => {
    await ben.context.grantPermissions(["notifications"], { origin: srv.origin });
    for (const p of pages) {
      await p.page.addInitScript(notificationSpy);
      await p.page.setViewportSize(DESKTOP);
      await p.page.goto(srv.origin);
    }
    await heading(ann, "Sotto").waitFor();
    await axe(ann, "auth");
    await ann.page.getByRole("tab", { name: "Log in" }).click();
    await ann.page.getByRole("button", { name: "Recover account" }).click();
    await axe(ann, "recover account");
    await ann.page.getByRole("button", { name: "Back to log in" }).click();
    await ann.page.getByRole("tab", { name: "Create account" }).click();
    await axe(ann, "auth (create account)");
    for (const p of pages) await register(p, p.user, password);
    const perm = await cat.page.evaluate(() => Notification.permission);
    assert(perm === "default", `nothing asked the browser on load (cat's permission: ${perm})`);
    assert((await cat.page.getByTestId("notify-offer").count()) === 0, "no offer on load");
    await axe(ann, "conversation list (empty, recovery offer)");
    await ann.page
      .getByTestId("recovery-offer")
      .getByRole("button", { name: "Set up recovery" })
      .click();
    await ann.page.getByRole("radio", { name: /A passphrase you choose/ }).waitFor();
    await axe(ann, "recovery setup");
    await ann.page.getByRole("button", { name: "Set up recovery" }).click();
    await ann.page.getByTestId("recovery-key").waitFor({ timeout: 60_000 });
    await axe(ann, "recovery key shown");
    await ann.page.getByTestId("recovery-saved").check();
    await ann.page.getByRole("button", { name: "Done" }).click();
    for (const p of [ben, cat])
      await p.page.getByTestId("recovery-offer").getByRole("button", { name: "Not now" }).click();
  });

  await test("team: an invitee sees a new group at once, before any message", async () => {
    await ann.page.getByRole("button", { name: "New chat" }).click();
    await ann.page.getByRole("tab", { name: "Group" }).click();
    await ann.page.getByLabel("Group name").fill(group);
    await ann.page.getByLabel("Members").fill(`${ben.user}, ${cat.user}`);
    await ann.page.getByRole("button", { name: "Start" }).click();
    await heading(ann, group).waitFor();
    const at = await hash(ann);
    assert(at.startsWith("#/c/"), `the group has an address of its own: ${at}`);
    conv = decodeURIComponent(at.slice("#/c/".length));
    // ann is no contact of theirs: the group is a request, shown without any message sent.
    for (const p of [ben, cat]) {
      await p.page.getByTestId("requests-count").filter({ hasText: "1" }).waitFor({
        timeout: 30_000,
      });
    }
    await ben.page.getByTestId("open-requests").click();
    await ben.page.getByTestId("request-item").filter({ hasText: ann.user }).waitFor();
    await axe(ben, "requests");
    await shot(ben.page, "60-team-requests");
    for (const p of [ben, cat]) {
      await p.page.getByTestId("open-requests").click();
      const item = p.page.getByTestId("request-item").filter({ hasText: ann.user });
      await item.getByRole("button", { name: "Accept" }).click();
      await heading(p, group).waitFor();
    }
  });

  await test("team: the title counts unread messages; a background page gets a notification that names the sender, not the text", async () => {
    // ben looks at the list, cat has the group open.
    await ben.page.getByRole("button", { name: "Back to conversations" }).click();
    await ben.page.getByTestId("conversation-item").filter({ hasText: group }).waitFor();
    await sendText(ann, "good morning team");
    await ben.page.waitForFunction(() => document.title.startsWith("(1) "), null, {
      timeout: 30_000,
    });
    assert((await ben.page.title()) === "(1) Sotto", `title: ${await ben.page.title()}`);
    const item = ben.page.getByTestId("conversation-item").filter({ hasText: group });
    const label = await item.getAttribute("aria-label");
    assert(label.includes("1 unread"), `the item's name says how many are unread: ${label}`);
    assert(label.includes("good morning team"), `the name has the last message: ${label}`);
    // The members line names ann (cat's name may not be known to ben's browser yet).
    assert(label.includes(ann.user), `the name has the members line: ${label}`);
    // ben opens the group: the count goes, and the group's name stays out of the title (the
    // browser's history keeps titles unencrypted).
    await openGroup(ben, group);
    await ben.page.waitForFunction(() => document.title === "Sotto", null, {
      timeout: 30_000,
    });
    // The page goes to the background: the next message notifies, without its text.
    await setHidden(ben, true);
    const before = (await notes(ben)).length;
    await sendText(ann, "the secret plan for today");
    await ben.page.waitForFunction((n) => window.__sottoNotes.length > n, before, {
      timeout: 30_000,
    });
    const note = (await notes(ben)).at(-1);
    assert(
      note.body === `New message from ${ann.user} in ${group}` && !note.body.includes("secret"),
      `the notification names the sender only: ${JSON.stringify(note)}`,
    );
    // In front again, with that conversation open: nothing.
    await setHidden(ben, false);
    const shown = (await notes(ben)).length;
    await sendText(ann, "seen directly");
    await ben.page.getByTestId("message-text").filter({ hasText: "seen directly" }).waitFor();
    await new Promise((r) => setTimeout(r, 500));
    assert((await notes(ben)).length === shown, "no notification for the open conversation");
    // cat never granted anything: after a message arrived, the app offers (never asked on load).
    await cat.page.getByTestId("notify-offer").waitFor({ timeout: 30_000 });
    await cat.page.getByTestId("notify-offer").getByRole("button", { name: "Not now" }).click();
  });

  await test("team: 'Show message content in notifications' puts the text in the notification", async () => {
    await ben.page.getByRole("button", { name: "Settings" }).click();
    await heading(ben, "Settings").waitFor();
    await axe(ben, "settings");
    await shot(ben.page, "71-settings");
    await ben.page.getByLabel("Show message content in notifications").check();
    await setHidden(ben, true);
    const before = (await notes(ben)).length;
    await sendText(ann, "lunch at noon");
    await ben.page.waitForFunction((n) => window.__sottoNotes.length > n, before, {
      timeout: 30_000,
    });
    const note = (await notes(ben)).at(-1);
    assert(note.body === "lunch at noon", `the text is shown when chosen: ${JSON.stringify(note)}`);
    await setHidden(ben, false);
    const stored = await ben.page.evaluate(() => JSON.stringify({ ...localStorage }));
    assert(
      !stored.includes("lunch") && !stored.includes("secret"),
      "no message text in localStorage",
    );
    await ben.page.getByLabel("Show message content in notifications").uncheck();
    // The logout dialog, opened and left.
    await ben.page.getByRole("button", { name: "Log out" }).click();
    const logout = ben.page.getByRole("alertdialog", { name: "Log out" });
    await logout.waitFor();
    await axe(ben, "log out dialog");
    await logout.getByRole("button", { name: "Cancel" }).click();
    await logout.waitFor({ state: "detached" });
  });

  await test("team: addresses survive a reload and Back/Forward; an unknown one says 'Conversation not found'", async () => {
    await openGroup(ben, group);
    const chat = await hash(ben);
    assert(chat === `#/c/${encodeURIComponent(conv)}`, `one address per conversation: ${chat}`);
    await axe(ben, "chat");
    await ben.page.reload();
    await heading(ben, group).waitFor({ timeout: 30_000 });
    await ben.page.getByTestId("message-text").filter({ hasText: "lunch at noon" }).waitFor();
    await ben.page.getByRole("button", { name: "Devices" }).click();
    await ben.page.getByTestId("device-row").first().waitFor();
    assert((await hash(ben)) === "#/devices", "the devices screen has its address");
    await axe(ben, "devices");
    await ben.page.goBack();
    await heading(ben, group).waitFor();
    await ben.page.goForward();
    await ben.page.getByTestId("device-row").first().waitFor();
    await ben.page.goBack();
    await heading(ben, group).waitFor();
    await ben.page.goto(`${srv.origin}/#/c/${encodeURIComponent("conv:nobody-has-this-one")}`);
    await heading(ben, "Conversation not found").waitFor({ timeout: 30_000 });
    await axe(ben, "conversation not found");
    await ben.page.goBack();
    await heading(ben, group).waitFor({ timeout: 30_000 });
  });

  await test("team: Ctrl+K opens the switcher (filter, arrows, Enter, Esc); '?' shows the shortcuts", async () => {
    // A second conversation to switch to.
    await ben.page.getByRole("button", { name: "New chat" }).click();
    await ben.page.getByRole("tab", { name: "Group" }).click();
    await ben.page.getByLabel("Group name").fill(`Side ${suffix}`);
    await ben.page.getByLabel("Members").fill(cat.user);
    await ben.page.getByRole("button", { name: "Start" }).click();
    await heading(ben, `Side ${suffix}`).waitFor();
    await ben.page.keyboard.press("Control+k");
    const dialog = ben.page.getByRole("dialog", { name: "Go to a conversation" });
    await dialog.waitFor();
    await axe(ben, "switcher");
    await shot(ben.page, "61-switcher");
    const box = dialog.getByRole("combobox");
    assert(await box.evaluate((el) => el === document.activeElement), "focus is in the box");
    const options = dialog.getByRole("option");
    assert((await options.count()) === 2, `both conversations listed: ${await options.count()}`);
    const selected = () => dialog.getByRole("option", { selected: true }).innerText();
    const first = await selected();
    await box.press("ArrowDown");
    const second = await selected();
    assert(first !== second, `ArrowDown moves the selection (${first} → ${second})`);
    await box.press("Escape");
    await dialog.waitFor({ state: "detached" });
    await ben.page.keyboard.press("Control+k");
    await box.fill(group.split(" ")[0]);
    assert((await options.count()) === 1, "the filter leaves the matching conversation");
    await box.press("Enter");
    await dialog.waitFor({ state: "detached" });
    await heading(ben, group).waitFor();
    // Back and Forward move between the two conversations.
    const teamHash = await hash(ben);
    await ben.page.goBack();
    await ben.page.waitForFunction((h) => location.hash !== h, teamHash);
    assert((await hash(ben)).startsWith("#/c/"), "Back returns to the other conversation");
    await ben.page.goForward();
    await heading(ben, group).waitFor();
    // Outside any field, "?" opens the help.
    await ben.page.getByTestId("messages").click();
    await ben.page.keyboard.press("?");
    const help = ben.page.getByRole("dialog", { name: "Keyboard shortcuts" });
    await help.waitFor();
    await axe(ben, "shortcut help");
    await shot(ben.page, "72-shortcuts");
    await ben.page.keyboard.press("Escape");
    await help.waitFor({ state: "detached" });
  });

  await test("team: the list's tabs answer the arrow keys", async () => {
    const chats = ben.page.getByRole("tab", { name: "Chats" });
    await chats.click();
    await chats.press("ArrowRight");
    const unread = ben.page.getByRole("tab", { name: /^Unread/ });
    assert((await unread.getAttribute("aria-selected")) === "true", "ArrowRight selects Unread");
    assert(await unread.evaluate((el) => el === document.activeElement), "and focuses it");
    await unread.press("ArrowLeft");
    assert((await chats.getAttribute("aria-selected")) === "true", "ArrowLeft goes back");
    await chats.press("End");
    assert((await unread.getAttribute("aria-selected")) === "true", "End selects the last tab");
    await unread.press("Home");
    await ben.page.getByTestId("conversation-item").filter({ hasText: group }).waitFor();
  });

  await test("team: search finds a message after a reload and opens the conversation at it", async () => {
    await ben.page.getByTestId("messages").click();
    await ben.page.keyboard.press("/");
    const box = ben.page.getByLabel("Search messages on this device");
    await box.waitFor();
    await box.fill("lunch");
    const hit = ben.page.getByTestId("search-hit").filter({ hasText: "lunch at noon" });
    await hit.waitFor({ timeout: 30_000 });
    assert((await hit.locator("mark").innerText()).toLowerCase() === "lunch", "the term is marked");
    await axe(ben, "search");
    await shot(ben.page, "62-search");
    assert(!(await hash(ben)).includes("lunch"), "the search words stay out of the address");
    await ben.page.reload();
    await box.waitFor();
    assert((await box.inputValue()) === "", "the words are not kept across a reload");
    // The index is: it is built again from the sealed store.
    await box.fill("lunch");
    await hit.waitFor({ timeout: 30_000 });
    await hit.click();
    await heading(ben, group).waitFor();
    const at = await hash(ben);
    assert(at.includes("?m="), `the address names the message: ${at}`);
    const marked = ben.page.locator('[data-highlight="true"]');
    await marked.filter({ hasText: "lunch at noon" }).waitFor();
    assert(await marked.isVisible(), "the message is scrolled into view");
    // Ctrl+F opens search too, even from the composer.
    await ben.page.getByLabel("Message", { exact: true }).focus();
    await ben.page.keyboard.press("Control+f");
    await ben.page.getByRole("heading", { name: "Search messages" }).waitFor();
    await ben.page.goBack();
    await heading(ben, group).waitFor();
  });

  await test("team: the members panel renames, promotes and demotes; the others see it in the timeline", async () => {
    await ann.page.getByRole("button", { name: /^Members/ }).click();
    await heading(ann, `Members of ${group}`).waitFor();
    await axe(ann, "members panel");
    await shot(ann.page, "63-members");
    await ann.page.getByLabel("Group name").fill(renamed);
    await ann.page.getByRole("button", { name: "Rename" }).click();
    await heading(ann, `Members of ${renamed}`).waitFor({ timeout: 30_000 });
    await heading(ben, renamed).waitFor({ timeout: 30_000 });
    await timeline(ben)
      .filter({ hasText: `${ann.user} renamed the group to “${renamed}”` })
      .waitFor({ timeout: 30_000 });
    const benRow = ann.page.getByRole("row", { name: new RegExp(ben.user) });
    await benRow.getByRole("button", { name: "Make admin" }).click();
    await benRow
      .getByTestId("member-role")
      .filter({ hasText: "Admin" })
      .waitFor({ timeout: 30_000 });
    await timeline(cat)
      .filter({ hasText: `${ann.user} made ${ben.user} an admin` })
      .waitFor({ timeout: 30_000 });
    await benRow.getByRole("button", { name: "Revoke admin" }).click();
    await benRow
      .getByTestId("member-role")
      .filter({ hasText: "Member" })
      .waitFor({ timeout: 30_000 });
    await timeline(cat)
      .filter({ hasText: `${ann.user} removed ${ben.user} as an admin` })
      .waitFor({ timeout: 30_000 });
  });

  await test("team: a removed member sees it and cannot send; the count follows at once", async () => {
    await ann.page
      .getByRole("row", { name: new RegExp(cat.user) })
      .getByRole("button", { name: "Remove" })
      .click();
    await ann.page.getByTestId("member-count").filter({ hasText: "2 members" }).waitFor();
    await timeline(ben)
      .filter({ hasText: `${ann.user} removed ${cat.user}` })
      .waitFor({ timeout: 30_000 });
    // cat learns it without any further message: the panel says so and offers nothing.
    await cat.page.getByRole("button", { name: /^Members/ }).click();
    await cat.page.getByTestId("removed-notice").filter({ hasText: "You were removed" }).waitFor({
      timeout: 30_000,
    });
    assert(
      (await cat.page
        .getByRole("button", { name: /^(Remove|Make admin|Leave group|Add|Rename)$/ })
        .count()) === 0,
      "no actions for a removed member",
    );
    await axe(cat, "members panel (removed)");
    await shot(cat.page, "75-removed");
    await cat.page.getByRole("button", { name: "Back to chat" }).click();
    const composer = cat.page.getByLabel("Message", { exact: true });
    assert(
      (await composer.count()) === 0 || (await composer.isDisabled()),
      "the removed member's composer is disabled",
    );
  });

  await test("team: the last admin leaving names a new admin first; the other sees both", async () => {
    await ann.page.getByRole("button", { name: "Leave group" }).click();
    const dialog = ann.page.getByRole("dialog", { name: `Leave ${renamed}?` });
    await dialog.waitFor();
    await dialog.getByLabel("New admin").waitFor();
    await axe(ann, "leave dialog (choose a new admin)");
    await shot(ann.page, "74-leave-choose-admin");
    await dialog.getByLabel("New admin").selectOption({ label: ben.user });
    await dialog.getByRole("button", { name: "Make admin and leave" }).click();
    await dialog.waitFor({ state: "detached", timeout: 30_000 });
    await ann.page.getByTestId("removed-notice").filter({ hasText: "You left" }).waitFor({
      timeout: 30_000,
    });
    await timeline(ben)
      .filter({ hasText: new RegExp(`${ann.user}.*left`) })
      .waitFor({
        timeout: 30_000,
      });
    await ben.page.getByRole("button", { name: /^Members/ }).click();
    await ben.page
      .getByRole("row", { name: new RegExp(ben.user) })
      .getByTestId("member-role")
      .filter({ hasText: "Admin" })
      .waitFor();
    await ben.page.getByRole("button", { name: "Back to chat" }).click();
  });

  await test("team: a second tab says Sotto is open in another tab; 'Use here' takes over and the first steps aside", async () => {
    const tab = await ben.context.newPage();
    await tab.goto(`${srv.origin}/#/c/${encodeURIComponent(conv)}`);
    const notice = tab.getByText("Sotto is open in another tab");
    await notice.waitFor({ timeout: 30_000 });
    await axe({ page: tab }, "second tab notice");
    await shot(tab, "73-other-tab");
    await tab.getByRole("button", { name: "Use here" }).click();
    await tab
      .getByTestId("connection")
      .filter({ hasText: "Connected" })
      .waitFor({ timeout: 30_000 });
    await tab.getByRole("heading", { name: renamed, exact: true }).waitFor();
    await ben.page.getByText("Sotto is open in another tab").waitFor({ timeout: 30_000 });
    await ben.page.getByRole("button", { name: "Use here" }).click();
    await ben.page.getByTestId("connection").filter({ hasText: "Connected" }).waitFor({
      timeout: 30_000,
    });
    await tab.getByText("Sotto is open in another tab").waitFor({ timeout: 30_000 });
    await tab.close();
  });

  await test("team: phone width (two panes, one-row top bar) passes axe; screenshots light and dark", async () => {
    for (const mode of ["light", "dark"]) {
      await theme(ben, mode);
      await ben.page.setViewportSize(DESKTOP);
      await ben.page.goto(`${srv.origin}/#/`);
      await ben.page.getByTestId("conversation-item").first().waitFor({ timeout: 30_000 });
      await shot(ben.page, `64-desktop-${mode}-list`);
      await openGroup(ben, renamed);
      await shot(ben.page, `65-desktop-${mode}-chat`);
      await ben.page.getByRole("button", { name: /^Members/ }).click();
      await shot(ben.page, `66-desktop-${mode}-members`);
      await ben.page.goto(`${srv.origin}/#/search`);
      await ben.page.getByLabel("Search messages on this device").fill("lunch");
      await ben.page.getByTestId("search-hit").first().waitFor({ timeout: 30_000 });
      await shot(ben.page, `67-desktop-${mode}-search`);

      await ben.page.setViewportSize(PHONE);
      await ben.page.goto(`${srv.origin}/#/`);
      await ben.page.getByTestId("conversation-item").first().waitFor({ timeout: 30_000 });
      const bar = await ben.page.locator(".topbar").boundingBox();
      assert(bar.height < 60, `the top bar is one row at phone width (${bar.height} px)`);
      const overflow = await ben.page.evaluate(
        () => document.documentElement.scrollWidth > window.innerWidth,
      );
      assert(!overflow, "nothing overflows sideways at phone width");
      await axe(ben, `phone list (${mode})`);
      await shot(ben.page, `68-phone-${mode}-list`);
      await openGroup(ben, renamed);
      assert(
        !(await ben.page.getByTestId("conversation-item").first().isVisible()),
        "the chat takes the whole width at phone size",
      );
      await axe(ben, `phone chat (${mode})`);
      await shot(ben.page, `69-phone-${mode}-chat`);
      await ben.page.getByRole("button", { name: "Back to conversations" }).click();
      await ben.page.getByTestId("conversation-item").first().waitFor();
      await ben.page.getByRole("button", { name: "Search" }).click();
      await axe(ben, `phone search (${mode})`);
      await shot(ben.page, `70-phone-${mode}-search`);
    }
    await axe(ben, "dark theme");
    await theme(ben, "system");
    await ben.page.setViewportSize(DESKTOP);
    if (axeFindings.length > 0)
      log(`axe (moderate/minor, not failing):\n  ${axeFindings.join("\n  ")}`);
  });

  for (const p of pages) await p.context.close();
  return pages.flatMap((p) => p.problems);
}
