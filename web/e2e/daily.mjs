// A team's daily chat in the browser (protocol §8.4–8.6, issue "a team's daily chat"), with two
// real users on a server of their own (attachments limited to 1 MiB) and, when the CLI has the
// commands, a third one in the CLI: a reply seen by the other side; an edit (with its history)
// and a delete seen by the other side; a forged edit of someone else's message refused by the
// receiver; reactions; a mention highlighted; a link that opens safely; day separators; the
// "New messages" marker and a view that does not jump; a file dropped and an image pasted, each
// with a caption; an image in a lightbox and a PDF inline; a file over the limit and a text over
// the body limit refused before anything is sent; and every new body kind between the CLI and
// the browser, both ways.
//
// Called by run.mjs with its harness; `E2E_ONLY=daily node e2e/run.mjs` runs only this.

import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

/** axe-core's browser bundle, evaluated in the page (the app's CSP forbids injected scripts). */
const AXE_SOURCE = readFileSync(
  createRequire(import.meta.url).resolve("axe-core/axe.min.js"),
  "utf8",
);

/** The daily server's attachment limit: small, so "over the limit" needs no large file. */
const MAX_ATTACHMENT = 1024 * 1024;

/** A 16×16 PNG. */
const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAYAAAAf8/9hAAAAKUlEQVR4nGNgGAWjYBSMglEwCkbBKBgFo2AUjIJRMApGwSgYBaNgFIwCAFr/ABGjZCbVAAAAAElFTkSuQmCC",
  "base64",
);

/** A one-page PDF saying "Hello PDF". */
function pdfBytes() {
  const objects = [
    "<</Type/Catalog/Pages 2 0 R>>",
    "<</Type/Pages/Kids[3 0 R]/Count 1>>",
    "<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]/Contents 4 0 R/Resources<</Font<</F1 5 0 R>>>>>>",
    "<</Length 44>>\nstream\nBT /F1 24 Tf 20 100 Td (Hello PDF) Tj ET\nendstream",
    "<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>",
  ];
  let out = "%PDF-1.4\n";
  const offsets = [];
  objects.forEach((o, i) => {
    offsets.push(out.length);
    out += `${i + 1} 0 obj\n${o}\nendobj\n`;
  });
  const xref = out.length;
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const off of offsets) out += `${String(off).padStart(10, "0")} 00000 n \n`;
  out += `trailer\n<</Size ${objects.length + 1}/Root 1 0 R>>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, "latin1");
}

/**
 * Runs in alice's page before the app: when `window.__sottoForge = { from, to }` (message ids as
 * hex), the next AES-GCM plaintext holding the Edit body (kind 0x06) of message `from` is sealed
 * naming message `to` instead. The envelope is then sealed and signed by alice's device as
 * usual: exactly the forged edit a malicious client of a member could send.
 */
const FORGE_SCRIPT = `(() => {
  const hex = (h) => Uint8Array.from(h.match(/../g).map((x) => parseInt(x, 16)));
  const orig = SubtleCrypto.prototype.encrypt;
  SubtleCrypto.prototype.encrypt = function (alg, key, data) {
    const f = window.__sottoForge;
    if (f && alg && alg.name === "AES-GCM") {
      const b = new Uint8Array(ArrayBuffer.isView(data) ? data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) : data.slice(0));
      const from = hex(f.from);
      for (let i = 1; i + 16 <= b.length; i++) {
        if (b[i - 1] !== 6) continue;
        let same = true;
        for (let j = 0; j < 16 && same; j++) same = b[i + j] === from[j];
        if (same) {
          b.set(hex(f.to), i);
          window.__sottoForge = undefined;
          window.__sottoForged = (window.__sottoForged || 0) + 1;
          return orig.call(this, alg, key, b);
        }
      }
    }
    return orig.call(this, alg, key, data);
  };
})();`;

export async function daily(h) {
  const { log, test, assert, shot, launch, register, sendText } = h;
  const srv = await h.startServer("-daily", ["[limits]", `max_attachment = ${MAX_ATTACHMENT}`]);
  log(`daily server at ${srv.origin} (max_attachment = ${MAX_ATTACHMENT}); CSP: ${srv.csp}`);
  const suffix = Math.random().toString(36).slice(2, 7);
  const alice = await launch("daily-alice", srv.pin);
  const bob = await launch("daily-bob", srv.pin);
  alice.user = `alice${suffix}`;
  bob.user = `bob${suffix}`;
  const password = "correct horse battery staple 42";
  const group = `Daily ${suffix}`;
  await alice.context.addInitScript(FORGE_SCRIPT);

  // Requests alice's page makes to upload attachments (the over-limit file must make none).
  const uploads = [];
  alice.page.on("request", (r) => {
    if (r.method() === "POST" && new URL(r.url()).pathname.includes("attachment"))
      uploads.push(r.url());
  });

  const row = (p, text) => p.page.getByTestId("message").filter({ hasText: text }).first();
  const count = (p, n) => p.page.locator(`.reaction-count[data-count="${n}"]`);
  /** axe-core on what `p` shows now: a serious or critical violation fails the test. */
  async function axe(p, screen) {
    if (!(await p.page.evaluate(() => typeof window.axe !== "undefined")))
      await p.page.evaluate(AXE_SOURCE);
    const bad = await p.page.evaluate(async () => {
      const r = await window.axe.run(document, { resultTypes: ["violations"] });
      return r.violations
        .filter((v) => v.impact === "serious" || v.impact === "critical")
        .map((v) => `${v.impact} ${v.id}: ${v.help} at ${v.nodes[0]?.html.slice(0, 200)}`);
    });
    assert(bad.length === 0, `axe on ${screen}: ${bad.join("; ")}`);
  }
  const shown = (p, text, timeout = 30_000) =>
    p.page.getByTestId("message-text").filter({ hasText: text }).first().waitFor({ timeout });
  const composer = (p) => p.page.getByLabel("Message", { exact: true });
  async function home(p) {
    await p.page
      .getByRole("button", { name: "Back to conversations" })
      .click({ timeout: 2000 })
      .catch(() => undefined);
  }
  async function open(p, name) {
    await home(p);
    await p.page.getByTestId("conversation-item").filter({ hasText: name }).first().click();
    await p.page.getByRole("heading", { name }).waitFor();
  }
  async function menu(p, text, action) {
    const r = row(p, text);
    await r.hover();
    await r.getByRole("button", { name: "More actions" }).click();
    await p.page.getByRole("menuitem", { name: action }).click();
    if (action === "Edit") {
      // Edit puts the message's text in the composer as the next render commits; typing before
      // that would land beside it, so wait for it as a person would see it.
      await p.page.getByTestId("editing").waitFor();
      await p.page.waitForFunction(
        (t) => document.querySelector("#composer")?.value.includes(t) === true,
        text,
      );
    }
  }
  /** A file handed to the page as a DataTransfer (for drop and paste events). */
  async function transfer(p, name, type, bytes) {
    return p.page.evaluateHandle(
      ([n, t, b]) => {
        const dt = new DataTransfer();
        dt.items.add(new File([Uint8Array.from(b)], n, { type: t }));
        return dt;
      },
      [name, type, [...bytes]],
    );
  }
  async function sendFileDialog(p, caption) {
    const dialog = p.page.getByTestId("send-file");
    await dialog.waitFor();
    if (caption !== undefined) await dialog.getByLabel("Caption (optional)").fill(caption);
    await dialog.getByRole("button", { name: "Send" }).click();
    await dialog.waitFor({ state: "detached" });
  }

  await test("daily: two users register; alice's group reaches bob", async () => {
    for (const p of [alice, bob]) await p.page.goto(srv.origin);
    await Promise.all([register(alice, alice.user, password), register(bob, bob.user, password)]);
    await alice.page.getByRole("button", { name: "New chat" }).click();
    await alice.page.getByRole("tab", { name: "Group" }).click();
    await alice.page.getByLabel("Group name").fill(group);
    await alice.page.getByLabel("Members").fill(bob.user);
    await alice.page.getByRole("button", { name: "Start" }).click();
    await alice.page.getByRole("heading", { name: group }).waitFor();
    await sendText(alice, "good morning team");
    await h.acceptRequest(bob, alice.user);
    await bob.page.getByRole("heading", { name: group }).waitFor();
    await shown(bob, "good morning team");
  });

  await test("daily: a day separator heads today's messages", async () => {
    const sep = bob.page.getByTestId("day-separator").filter({ hasText: "Today" });
    await sep.first().waitFor();
  });

  await test("daily: messages that came while away open at a 'New messages' marker; the view does not jump", async () => {
    await home(bob);
    for (let i = 1; i <= 24; i++) await sendText(alice, `standup note ${i}`);
    await shown(alice, "standup note 24");
    await bob.page
      .getByTestId("conversation-item")
      .filter({ hasText: "standup note 24" })
      .first()
      .waitFor({ timeout: 30_000 })
      .catch(() => undefined);
    await open(bob, group);
    const marker = bob.page.getByTestId("new-messages-marker");
    await marker.waitFor();
    const after = await marker.evaluate((el) => el.nextElementSibling?.textContent ?? "");
    assert(after.includes("standup note 1"), `the marker is before the first unread: ${after}`);
    // Opened at the marker, not at the bottom: a new message does not move the view.
    const list = bob.page.getByTestId("messages");
    await bob.page.waitForTimeout(300);
    const before = await list.evaluate((el) => el.scrollTop);
    const atBottom = await list.evaluate(
      (el) => el.scrollHeight - el.scrollTop - el.clientHeight < 48,
    );
    assert(!atBottom, "opened at the marker, above the bottom");
    await sendText(alice, "one more while you read");
    await bob.page.getByTestId("jump-new").filter({ hasText: "1 new message" }).waitFor();
    const still = await list.evaluate((el) => el.scrollTop);
    assert(Math.abs(still - before) < 2, `the view stayed put (${before} → ${still})`);
    await shot(bob.page, "daily-01-new-messages");
    await bob.page.getByTestId("jump-new").click();
    await bob.page.getByTestId("jump-new").waitFor({ state: "detached" });
    const bottom = await list.evaluate(
      (el) => el.scrollHeight - el.scrollTop - el.clientHeight < 48,
    );
    assert(bottom, "the button scrolls to the newest message");
  });

  await test("daily: messages are a list moved through with ↑/↓; R replies; the reply is seen with its quote", async () => {
    const last = row(bob, "one more while you read");
    await last.focus();
    await bob.page.keyboard.press("ArrowUp");
    const focused = await bob.page.evaluate(() => document.activeElement?.textContent ?? "");
    assert(focused.includes("standup note 24"), `↑ moves to the previous message: ${focused}`);
    await bob.page.keyboard.press("r");
    const bar = bob.page.getByTestId("replying-to");
    await bar.filter({ hasText: "standup note 24" }).waitFor();
    await composer(bob).fill("on it, reply from bob");
    await composer(bob).press("Enter");
    await bar.waitFor({ state: "detached" });
    const reply = row(alice, "on it, reply from bob");
    await reply.waitFor();
    const quote = reply.getByTestId("reply-quote");
    await quote.filter({ hasText: "standup note 24" }).waitFor();
    await quote.click();
    await alice.page.locator(".msg.highlight").filter({ hasText: "standup note 24" }).waitFor();
    await shot(alice.page, "daily-02-reply");
  });

  await test("daily: Esc cancels a reply", async () => {
    await menu(bob, "good morning team", "Reply");
    await bob.page.getByTestId("replying-to").waitFor();
    await composer(bob).press("Escape");
    await bob.page.getByTestId("replying-to").waitFor({ state: "detached" });
  });

  await test("daily: an edit is seen by the other side, with its earlier text", async () => {
    await sendText(alice, "meeting at 10");
    await shown(bob, "meeting at 10");
    // ↑ in the empty composer edits the last own message.
    await composer(alice).click();
    await composer(alice).press("ArrowUp");
    await alice.page.getByTestId("editing").waitFor();
    await alice.page.waitForFunction(
      () => document.querySelector("#composer")?.value === "meeting at 10",
    );
    await composer(alice).fill("meeting at 11");
    await composer(alice).press("Enter");
    await shown(bob, "meeting at 11");
    const edited = row(bob, "meeting at 11");
    await edited.getByTestId("message-edited").click();
    const history = bob.page.getByTestId("edit-history");
    await history.filter({ hasText: "meeting at 10" }).waitFor();
    await shot(bob.page, "daily-03-edit-history");
    await history.getByRole("button", { name: "Close" }).first().click();
    assert(
      (await bob.page.getByTestId("messages").getByText("meeting at 10").count()) === 0,
      "the old text is gone",
    );
    // The menu edits too.
    await menu(alice, "meeting at 11", "Edit");
    await composer(alice).fill("meeting at 11:30");
    await composer(alice).press("Enter");
    await shown(bob, "meeting at 11:30");
  });

  await test("daily: a forged edit of someone else's message leaves it unchanged at the receiver", async () => {
    await sendText(bob, "bob's own words");
    await shown(alice, "bob's own words");
    await sendText(alice, "alice's text to amend");
    await shown(bob, "alice's text to amend");
    const target = await row(alice, "bob's own words").getAttribute("data-message-id");
    const mine = await row(alice, "alice's text to amend").getAttribute("data-message-id");
    await alice.page.evaluate(
      ([from, to]) => {
        window.__sottoForge = { from, to };
      },
      [mine.slice(4), target.slice(4)],
    );
    await menu(alice, "alice's text to amend", "Edit");
    await composer(alice).fill("FORGED by alice");
    await composer(alice).press("Enter");
    await alice.page.waitForFunction(() => window.__sottoForged === 1, null, { timeout: 15_000 });
    // A later honest message arrives: the forged edit was processed before it.
    await sendText(alice, "after the forgery");
    await shown(bob, "after the forgery");
    await bob.page.waitForTimeout(1500);
    assert(
      (await bob.page.getByTestId("messages").getByText("FORGED by alice").count()) === 0,
      "no forged text shown",
    );
    await shown(bob, "bob's own words");
    assert(
      (await row(bob, "bob's own words").getByTestId("message-edited").count()) === 0,
      "bob's message is not marked edited",
    );
  });

  await test("daily: a delete (Delete key, confirmed) is seen by the other side", async () => {
    await sendText(alice, "oops, wrong chat");
    await shown(bob, "oops, wrong chat");
    await row(alice, "oops, wrong chat").focus();
    await alice.page.keyboard.press("Delete");
    const confirm = alice.page.getByTestId("confirm-delete");
    await confirm.getByRole("button", { name: "Delete" }).click();
    await bob.page
      .getByTestId("messages")
      .getByText("oops, wrong chat")
      .waitFor({ state: "detached", timeout: 30_000 });
    await bob.page.getByTestId("message-deleted").first().waitFor();
    assert(
      (await alice.page.getByTestId("messages").getByText("oops, wrong chat").count()) === 0,
      "the sender's copy is gone too",
    );
    await shot(bob.page, "daily-04-deleted");
  });

  await test("daily: a reaction from the menu is seen with who gave it; a chip click adds mine", async () => {
    await menu(bob, "good morning team", "React");
    await bob.page
      .getByTestId("reaction-picker")
      .getByRole("button", { name: "React with 👍" })
      .click();
    const chip = row(alice, "good morning team").getByTestId("reaction");
    await chip.filter({ has: count(alice, 1) }).waitFor();
    const label = await chip.getAttribute("aria-label");
    assert(label === `👍 reacted by ${bob.user}`, `the chip names who reacted: ${label}`);
    await chip.click();
    await row(bob, "good morning team")
      .getByTestId("reaction")
      .filter({ has: count(bob, 2) })
      .waitFor();
    await shot(bob.page, "daily-05-reaction");
  });

  await test("daily: an @mention picked from the completion is highlighted for the one named", async () => {
    await composer(alice).click();
    await composer(alice).pressSequentially(`can you check @${bob.user.slice(0, 4)}`, {
      delay: 10,
    });
    const option = alice.page.getByRole("option", { name: `@${bob.user}` });
    await option.waitFor();
    await composer(alice).press("Enter");
    const value = await composer(alice).inputValue();
    assert(value === `can you check @${bob.user} `, `the mention was inserted: ${value}`);
    await composer(alice).pressSequentially("the build", { delay: 10 });
    await composer(alice).press("Enter");
    const msg = row(bob, "the build");
    await msg.getByTestId("mention-me").waitFor();
    assert((await msg.getAttribute("data-mentions-me")) === "true", "the row is marked");
    // bob scrolled up to react: the view waited with "↓ N new messages" instead of jumping.
    await bob.page
      .getByTestId("jump-new")
      .click({ timeout: 2000 })
      .catch(() => undefined);
    await shot(bob.page, "daily-06-mention");
  });

  await test("daily: an http(s) link is clickable and opens safely; a javascript: text is not a link", async () => {
    await sendText(alice, "docs at https://example.com/docs?x=1. and javascript:alert(1)");
    const msg = row(bob, "docs at");
    await msg.waitFor();
    const link = msg.getByRole("link", { name: "https://example.com/docs?x=1" });
    assert((await link.getAttribute("href")) === "https://example.com/docs?x=1", "href");
    assert((await link.getAttribute("target")) === "_blank", "opens in a new tab");
    const rel = (await link.getAttribute("rel")) ?? "";
    assert(rel.includes("noopener") && rel.includes("noreferrer"), `rel: ${rel}`);
    assert((await msg.getByRole("link").count()) === 1, "javascript: is not a link");
  });

  await test("daily: a text over the body limit is refused before sending, with the limit in words", async () => {
    const long = "x".repeat(70_000);
    await composer(alice).fill(long);
    await alice.page.getByTestId("composer-counter").waitFor();
    await composer(alice).press("Enter");
    await alice.page
      .getByRole("alert")
      .filter({ hasText: /the limit is 6\d KB/ })
      .waitFor();
    assert((await composer(alice).inputValue()).length === 70_000, "the text stays to shorten");
    await composer(alice).fill("");
  });

  await test("daily: a dropped file goes through the send dialog with its caption", async () => {
    const dt = await transfer(alice, "notes.txt", "text/plain", Buffer.from("meeting notes\n"));
    await alice.page.locator(".chat").dispatchEvent("drop", { dataTransfer: dt });
    await sendFileDialog(alice, "notes from today");
    const att = bob.page.getByTestId("attachment").filter({ hasText: "notes.txt" });
    await att.waitFor({ timeout: 30_000 });
    await att.getByTestId("attachment-caption").filter({ hasText: "notes from today" }).waitFor();
    // One click saves it.
    const [download] = await Promise.all([
      bob.page.waitForEvent("download"),
      att.getByRole("button", { name: "Download" }).click(),
    ]);
    assert(download.suggestedFilename() === "notes.txt", "saved under its name");
  });

  await test("daily: a pasted image shows a preview, then inline for the other side and in a lightbox", async () => {
    const dt = await transfer(alice, "screenshot.png", "image/png", PNG);
    await composer(alice).evaluate((el, data) => {
      el.dispatchEvent(new ClipboardEvent("paste", { clipboardData: data, bubbles: true }));
    }, dt);
    await alice.page.getByTestId("send-file").getByRole("img").waitFor();
    await sendFileDialog(alice, "the bug");
    const att = bob.page.getByTestId("attachment").filter({ hasText: "screenshot.png" });
    const thumb = att.getByTestId("attachment-image");
    await thumb.waitFor({ timeout: 30_000 });
    await thumb.click();
    const box = bob.page.getByTestId("lightbox");
    const w = await box.locator("img").evaluate((el) => el.naturalWidth);
    assert(w === 16, `the lightbox shows the decrypted image (${w} px)`);
    await shot(bob.page, "daily-07-lightbox");
    await bob.page.keyboard.press("Escape");
    await box.waitFor({ state: "detached" });
  });

  await test("daily: a file over the limit is refused in words before any upload", async () => {
    const before = uploads.length;
    await alice.page.locator("#attach").setInputFiles({
      name: "video.bin",
      mimeType: "application/octet-stream",
      buffer: Buffer.alloc(MAX_ATTACHMENT + 512 * 1024),
    });
    const dialog = alice.page.getByTestId("send-file");
    await dialog
      .getByTestId("send-file-error")
      .filter({ hasText: "is 1.5 MB, the limit is 1 MB" })
      .waitFor();
    assert(await dialog.getByRole("button", { name: "Send" }).isDisabled(), "Send is disabled");
    await dialog.getByRole("button", { name: "Cancel" }).click();
    assert(uploads.length === before, "nothing was uploaded");
  });

  await test("daily: axe finds no serious violation in a busy timeline, its menus and dialogs", async () => {
    // Replies, edits, a deleted message, reactions, a mention, links, files and an image.
    await axe(bob, "daily timeline");
    await menu(bob, "good morning team", "React");
    await bob.page.getByTestId("reaction-picker").waitFor();
    await axe(bob, "reaction picker");
    await bob.page.keyboard.press("Escape");
    const r = row(bob, "good morning team");
    await r.hover();
    await r.getByRole("button", { name: "More actions" }).click();
    await bob.page.getByRole("menu").waitFor();
    await axe(bob, "message menu");
    await bob.page.keyboard.press("Escape");
    await row(bob, "meeting at 11:30").getByTestId("message-edited").click();
    await bob.page.getByTestId("edit-history").waitFor();
    await axe(bob, "edit history");
    await bob.page.keyboard.press("Escape");
    await composer(bob).click();
    await composer(bob).pressSequentially("@a", { delay: 10 });
    await bob.page.getByRole("listbox").waitFor();
    await axe(bob, "mention completion");
    await composer(bob).fill("");
    await bob.page
      .locator("#attach")
      .setInputFiles({ name: "a.png", mimeType: "image/png", buffer: PNG });
    await bob.page.getByTestId("send-file").waitFor();
    await axe(bob, "send-file dialog");
    await bob.page.getByTestId("send-file").getByRole("button", { name: "Cancel" }).click();
  });

  await test("daily: at phone width the composer fits one row with the short placeholder", async () => {
    await bob.page.setViewportSize({ width: 390, height: 760 });
    await bob.page.getByLabel("Message", { exact: true }).waitFor();
    await bob.page.waitForFunction(
      () => document.querySelector("#composer")?.getAttribute("placeholder") === "Message",
    );
    const fits = await bob.page.locator("form.composer").evaluate((el) => {
      const parts = [
        el.querySelector("button[aria-label='Attach a file']"),
        el.querySelector("textarea"),
        el.querySelector("button[type=submit]"),
      ].map((x) => x.getBoundingClientRect());
      const middles = parts.map((r) => r.top + r.height / 2);
      return {
        overflow: el.scrollWidth > el.clientWidth,
        right: Math.max(...parts.map((r) => r.right)),
        oneRow: Math.max(...middles) - Math.min(...middles) < 12,
        textarea: parts[1].width,
      };
    });
    assert(
      !fits.overflow && fits.right <= 390 && fits.oneRow && fits.textarea >= 150,
      `the composer fits one row: ${JSON.stringify(fits)}`,
    );
    await shot(bob.page, "daily-09-phone");
    await bob.page.emulateMedia({ colorScheme: "dark" });
    await shot(bob.page, "daily-10-phone-dark");
    await bob.page.emulateMedia({ colorScheme: "light" });
    await bob.page.setViewportSize({ width: 1100, height: 760 });
  });

  await cliInterop(h, srv, alice, bob, suffix);

  // Last: it needs the server's CSP to allow framing blob: URLs (frame-src blob:).
  await test("daily: a PDF opens inline in a dialog", async () => {
    await alice.page
      .locator("#attach")
      .setInputFiles({ name: "agenda.pdf", mimeType: "application/pdf", buffer: pdfBytes() });
    await sendFileDialog(alice, "agenda");
    const att = bob.page.getByTestId("attachment").filter({ hasText: "agenda.pdf" });
    await att.waitFor({ timeout: 30_000 });
    await att.getByTestId("attachment-open").click();
    const viewer = bob.page.getByTestId("pdf-viewer");
    await viewer.locator("iframe, [data-testid=pdf-blocked]").first().waitFor();
    // A CSP violation (no frame-src blob:) replaces the frame with a note: give it the time.
    await bob.page.waitForTimeout(1500);
    const blocked = await viewer.getByTestId("pdf-blocked").count();
    const frames = bob.page.frames().map((f) => f.url());
    assert(
      blocked === 0 &&
        frames.some((u) => u.startsWith("blob:")) &&
        !frames.some((u) => u.startsWith("chrome-error:")),
      `the PDF frame loaded (the server's CSP must allow framing blob: URLs, frame-src blob:; ` +
        `it is ${srv.csp}); frames: ${frames.join(", ")}`,
    );
    const src = await viewer.locator("iframe").getAttribute("src");
    assert(src?.startsWith("blob:"), `framed from a blob: URL (${src})`);
    await shot(bob.page, "daily-08-pdf");
    await viewer.getByRole("button", { name: "Close" }).first().click();
    await viewer.waitFor({ state: "detached" });
  });

  return [...alice.problems, ...bob.problems];
}

/** Every new body kind between the CLI and the browser, both ways (when the CLI has them). */
async function cliInterop(h, srv, alice, bob, suffix) {
  const { log, test, assert, cli, cliOk, sendText } = h;
  if (!h.cliAvailable()) {
    log("SKIP daily CLI interop: the sotto CLI binary is not built");
    return;
  }
  const help = await cli(srv, join(h.work, "cli-daily-help"), ["edit", "--help"]);
  if (help.code !== 0) {
    log(`SKIP daily CLI interop: \`sotto edit --help\` is unavailable (exit ${help.code})`);
    return;
  }
  const profile = join(h.work, "cli-daily");
  const carol = `carol${suffix}`;
  const groupName = `Interop daily ${suffix}`;
  const seen = [];
  async function recv(pred, what) {
    const hit = seen.find(pred);
    if (hit !== undefined) return hit;
    for (let i = 0; i < 10; i++) {
      const r = await cliOk(srv, profile, ["recv", "--wait", "3"]);
      seen.push(...r.lines);
      const found = seen.find(pred);
      if (found !== undefined) return found;
    }
    throw new Error(`the CLI did not receive ${what}; got ${JSON.stringify(seen)}`);
  }
  const row = (p, text) => p.page.getByTestId("message").filter({ hasText: text }).first();
  const count = (p, n) => p.page.locator(`.reaction-count[data-count="${n}"]`);
  const composer = (p) => p.page.getByLabel("Message", { exact: true });
  async function menu(p, text, action) {
    const r = row(p, text);
    await r.hover();
    await r.getByRole("button", { name: "More actions" }).click();
    await p.page.getByRole("menuitem", { name: action }).click();
    if (action === "Edit") {
      // Edit puts the message's text in the composer as the next render commits; typing before
      // that would land beside it, so wait for it as a person would see it.
      await p.page.getByTestId("editing").waitFor();
      await p.page.waitForFunction(
        (t) => document.querySelector("#composer")?.value.includes(t) === true,
        text,
      );
    }
  }
  let conv;
  let cliMsg;

  await test("daily interop: the CLI user's group reaches both browsers", async () => {
    await cliOk(srv, profile, ["register", carol]);
    const created = await cliOk(srv, profile, ["group", "create", groupName, alice.user, bob.user]);
    conv = created.lines.find((l) => typeof l.conversation === "string")?.conversation;
    assert(typeof conv === "string", `group create printed a conversation: ${created.stdout}`);
    const sent = await cliOk(srv, profile, ["send", conv, "cli says hello"]);
    cliMsg = sent.lines.find((l) => typeof l.id === "string")?.id;
    for (const p of [alice, bob]) {
      await p.page
        .getByRole("button", { name: "Back to conversations" })
        .click({ timeout: 2000 })
        .catch(() => undefined);
      await h.acceptRequest(p, carol);
      await p.page.getByRole("heading", { name: groupName }).waitFor();
      await p.page.getByTestId("message-text").filter({ hasText: "cli says hello" }).waitFor();
    }
  });

  await test("daily interop: a browser reply, edit, reaction, mention and delete in `sotto recv` JSON", async () => {
    await menu(alice, "cli says hello", "Reply");
    // The mention is not at the end: Enter right after "@name" would pick the completion.
    await composer(alice).fill(`answer from the browser, @${carol} please look`);
    await composer(alice).press("Enter");
    const reply = await recv((l) => l.text?.startsWith("answer from the browser"), "the reply");
    assert(reply.reply_to === cliMsg, `reply_to names the CLI's message: ${JSON.stringify(reply)}`);
    assert(
      Array.isArray(reply.mentions) && reply.mentions.includes(carol),
      `mentions lists carol: ${JSON.stringify(reply)}`,
    );
    await menu(alice, "answer from the browser", "Edit");
    await composer(alice).fill("answer, edited in the browser");
    await composer(alice).press("Enter");
    const edit = await recv((l) => l.edit_of === reply.id, "the edit");
    assert(edit.text === "answer, edited in the browser", `edit text: ${JSON.stringify(edit)}`);
    await menu(alice, "cli says hello", "React");
    await alice.page
      .getByTestId("reaction-picker")
      .getByRole("button", { name: "React with 🎉" })
      .click();
    const reaction = await recv((l) => l.reaction?.message === cliMsg, "the reaction");
    assert(
      reaction.reaction.emoji === "🎉" && reaction.reaction.added === true,
      `reaction: ${JSON.stringify(reaction)}`,
    );
    await row(alice, "answer, edited in the browser").focus();
    await alice.page.keyboard.press("Delete");
    await alice.page.getByTestId("confirm-delete").getByRole("button", { name: "Delete" }).click();
    await recv((l) => l.deleted === reply.id, "the delete");
  });

  await test("daily interop: an edit forged in the browser to name the CLI user's message is refused by the CLI", async () => {
    await sendText(alice, "alice's line to forge from");
    const own = await recv((l) => l.text === "alice's line to forge from", "alice's line");
    const forged = (await alice.page.evaluate(() => window.__sottoForged)) ?? 0;
    await alice.page.evaluate(
      ([from, to]) => {
        window.__sottoForge = { from, to };
      },
      [own.id.slice(4), cliMsg.slice(4)],
    );
    await menu(alice, "alice's line to forge from", "Edit");
    await composer(alice).fill("FORGED for the cli");
    await composer(alice).press("Enter");
    await alice.page.waitForFunction((n) => window.__sottoForged === n + 1, forged);
    await sendText(alice, "honest line after the forgery");
    await recv((l) => l.text === "honest line after the forgery", "the later honest line");
    assert(
      !seen.some((l) => l.edit_of === cliMsg || l.text === "FORGED for the cli"),
      `the CLI shows no forged edit: ${JSON.stringify(seen.filter((l) => l.edit_of))}`,
    );
    await bob.page
      .getByTestId("message-text")
      .filter({ hasText: "honest line after the forgery" })
      .waitFor();
    assert(
      (await row(bob, "cli says hello").getByTestId("message-edited").count()) === 0,
      "the browser receiver refuses it too",
    );
  });

  await test("daily interop: a CLI reply, edit, reaction, mention, delete and caption in the browser", async () => {
    await sendText(bob, "bob asks the cli");
    const bobMsg = await recv((l) => l.text === "bob asks the cli", "bob's message");
    const r = await cliOk(srv, profile, [
      "send",
      conv,
      `cli answers @${bob.user}`,
      "--reply-to",
      bobMsg.id,
    ]);
    const cliReply = r.lines.find((l) => typeof l.id === "string")?.id;
    const shownReply = row(bob, "cli answers");
    await shownReply.getByTestId("reply-quote").filter({ hasText: "bob asks the cli" }).waitFor();
    await shownReply.getByTestId("mention-me").waitFor();
    await cliOk(srv, profile, ["edit", cliReply, `cli answers again @${bob.user}`]);
    await row(bob, "cli answers again").getByTestId("message-edited").waitFor();
    await cliOk(srv, profile, ["react", bobMsg.id, "👍"]);
    const chip = row(bob, "bob asks the cli").getByTestId("reaction");
    await chip.filter({ has: count(bob, 1) }).waitFor();
    assert(
      (await chip.getAttribute("aria-label")) === `👍 reacted by ${carol}`,
      "the CLI's reaction names carol",
    );
    await cliOk(srv, profile, ["react", bobMsg.id, "👍", "--remove"]);
    await chip.waitFor({ state: "detached" });
    await cliOk(srv, profile, ["delete", cliReply]);
    await bob.page
      .getByTestId("messages")
      .getByText("cli answers again")
      .waitFor({ state: "detached" });
    const file = join(h.work, "daily-cli.txt");
    writeFileSync(file, "from the cli\n");
    await cliOk(srv, profile, ["send", conv, "caption from the cli", "--file", file]);
    await bob.page
      .getByTestId("attachment")
      .filter({ hasText: "daily-cli.txt" })
      .getByTestId("attachment-caption")
      .filter({ hasText: "caption from the cli" })
      .waitFor({ timeout: 30_000 });
  });
}
