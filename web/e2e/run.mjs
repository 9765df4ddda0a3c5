// Browser end-to-end tests: playwright-core drives Debian's Chromium against a real sotto-server.
//
// Usage: node e2e/run.mjs (from web/; web/scripts/e2e.sh builds what it needs and calls this).
// Env: SOTTO_SERVER_BIN (default ../target/debug/sotto-server), SOTTO_CLI_BIN (default
// ../target/debug/sotto; the CLI interop test runs only if it exists), CHROMIUM (default
// /usr/bin/chromium), E2E_OUT (screenshots; default a fresh temp folder), E2E_ONLY (run one
// scenario file alone: consent, recovery, shared, chaos, team, daily, v2; `main`: this file's own
// flow without them).

import { spawn } from "node:child_process";
import { createHash, X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import https from "node:https";

import { chromium } from "playwright-core";

import { chaos } from "./chaos.mjs";
import { consent } from "./consent.mjs";
import { daily } from "./daily.mjs";
import { recovery } from "./recovery.mjs";
import { sharedComputer } from "./shared-computer.mjs";
import { team } from "./team.mjs";
import { v2 } from "./v2.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const web = resolve(here, "..");
const repo = resolve(web, "..");
const serverBin = process.env.SOTTO_SERVER_BIN ?? join(repo, "target/debug/sotto-server");
const cliBin = process.env.SOTTO_CLI_BIN ?? join(repo, "target/debug/sotto");
const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const work = mkdtempSync(join(tmpdir(), "sotto-e2e-"));
const out = process.env.E2E_OUT ?? join(work, "screenshots");
mkdirSync(out, { recursive: true });

const results = [];
const serverProcs = [];
const browsers = [];
/** Bob's socket filter (set up in the tamper test): tamper with or withhold frames. */
const wsFilter = { tamper: false, dropDistribution: false, dropped: 0 };
const pagesForFailure = [];

function log(...args) {
  console.log("[e2e]", ...args);
}

async function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
    s.on("error", rej);
  });
}

function get(url, ca, headers = {}) {
  return new Promise((res, rej) => {
    const req = https.get(url, { ca, headers }, (r) => {
      let body = "";
      r.on("data", (c) => (body += c));
      r.on("end", () => res({ status: r.statusCode, body, headers: r.headers }));
    });
    req.on("error", rej);
  });
}

/**
 * Starts a sotto-server with a fresh data folder (`data<name>`) on a free loopback port. The
 * returned handle can be killed and started again on the same port and data (`spawnServer`).
 * `extra`: more lines for its config file (e.g. a `[limits]` table).
 */
async function startServer(name = "", extra = []) {
  const port = await freePort();
  const dataDir = join(work, `data${name}`);
  mkdirSync(dataDir);
  const origin = `https://127.0.0.1:${port}`;
  const config = join(work, `sotto${name}.toml`);
  writeFileSync(
    config,
    [
      `listen = "127.0.0.1:${port}"`,
      `data_dir = "${dataDir}"`,
      `public_origin = "${origin}"`,
      `log = "warn"`,
      "",
      "[argon2]",
      "memory_kib = 1024",
      "iterations = 1",
      "parallelism = 1",
      "",
      ...extra,
      "",
    ].join("\n"),
  );
  const srv = {
    origin,
    port,
    dataDir,
    config,
    logFile: join(work, `server${name}.log`),
    log: "",
    proc: undefined,
  };
  return spawnServer(srv);
}

/** (Re)starts the server process of `srv` and waits until it answers over TLS. */
async function spawnServer(srv) {
  const proc = spawn(serverBin, ["--config", srv.config], {
    env: { ...process.env, SOTTO_WEB_DIR: join(web, "dist") },
    stdio: ["ignore", "pipe", "pipe"],
  });
  srv.proc = proc;
  serverProcs.push(proc);
  proc.stdout.on("data", (d) => (srv.log += d));
  proc.stderr.on("data", (d) => (srv.log += d));
  proc.on("exit", (code) => {
    writeFileSync(srv.logFile, srv.log);
    if (code !== null && code !== 0) log(`server exited with ${code}; log in ${srv.logFile}`);
  });
  const certPath = join(srv.dataDir, "tls/cert.pem");
  for (let i = 0; i < 200; i++) {
    if (proc.exitCode !== null) break;
    if (existsSync(certPath)) {
      try {
        const ca = readFileSync(certPath);
        const r = await get(`${srv.origin}/healthz`, ca);
        if (r.status === 200) {
          const cert = new X509Certificate(ca);
          const spki = cert.publicKey.export({ type: "spki", format: "der" });
          const pin = createHash("sha256").update(spki).digest("base64");
          return Object.assign(srv, {
            ca,
            pin,
            csp: r.headers["content-security-policy"],
            fingerprint: cert.fingerprint256,
          });
        }
      } catch {
        // not up yet
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`server did not start:\n${srv.log}`);
}

/** Kills the server with SIGKILL (no graceful shutdown, nothing flushed) and waits until it is gone. */
async function killServer(srv) {
  const proc = srv.proc;
  if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
  const gone = new Promise((r) => proc.once("exit", r));
  proc.kill("SIGKILL");
  await gone;
}

async function launch(name, pin) {
  const profile = mkdtempSync(join(work, `profile-${name}-`));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    viewport: { width: 1100, height: 760 },
    args: [
      "--no-sandbox",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      `--ignore-certificate-errors-spki-list=${pin}`,
    ],
  });
  browsers.push(context);
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(30_000);
  const problems = [];
  page.on("console", (m) => {
    if (process.env.E2E_DEBUG && m.type() === "warning") log(`${name} console: ${m.text()}`);
    if (m.type() === "error") problems.push(m.text());
  });
  page.on("pageerror", (e) => problems.push(String(e)));
  page.on("response", (r) => {
    if (r.status() >= 400)
      problems.push(
        `${name}: HTTP ${r.status()} ${r.request().method()} ${new URL(r.url()).pathname}`,
      );
  });
  page.on("request", (r) => {
    const u = r.url();
    if (
      !u.startsWith("https://127.0.0.1") &&
      !u.startsWith("wss://127.0.0.1") &&
      !u.startsWith("blob:") &&
      !u.startsWith("data:") &&
      // The browser's own PDF viewer (a PDF attachment shown inline) loads its pages from
      // inside the browser; nothing of it reaches the network.
      !u.startsWith("chrome-extension://mhjfbmdgcfjbbpaeojofohoefgiehjai/") &&
      !u.startsWith("chrome://resources/")
    ) {
      problems.push(`external request: ${u}`);
    }
  });
  const handle = { context, page, problems, name };
  pagesForFailure.push(handle);
  return handle;
}

async function test(name, fn) {
  const started = Date.now();
  try {
    await fn();
    results.push({ name, ok: true });
    log(`ok   ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    results.push({ name, ok: false, error: e });
    for (const p of pagesForFailure) {
      await p.page.screenshot({ path: join(out, `FAILED-${p.name}.png`) }).catch(() => undefined);
      const alerts = await p.page
        .getByRole("alert")
        .allInnerTexts()
        .catch(() => []);
      if (alerts.length > 0) log(`${p.name} shows: ${alerts.join(" | ")}`);
    }
    log(`FAIL ${name}: ${e?.stack ?? e}`);
    throw e;
  }
}

function assert(cond, message) {
  if (!cond) throw new Error(`assertion failed: ${message}`);
}

async function shot(page, name) {
  await page.screenshot({ path: join(out, `${name}.png`), fullPage: false });
}

async function register(p, username, password) {
  await p.page.getByRole("tab", { name: "Create account" }).click();
  await p.page.getByLabel("Username").fill(username);
  await p.page.getByLabel("Password", { exact: true }).fill(password);
  await p.page.getByLabel("Confirm password").fill(password);
  await p.page.getByRole("button", { name: "Create account" }).click();
  await p.page
    .getByTestId("connection")
    .filter({ hasText: "Connected" })
    .waitFor({ timeout: 60_000 });
}

/**
 * The list item of the conversation named `name`, by its accessible name ("bob" or "bob, 2
 * unread"): an item's text also holds its members line and last message, which may name others.
 */
function conversationItem(p, name) {
  const item = `[data-testid="conversation-item"]`;
  return p.page.locator(`${item}[aria-label="${name}"], ${item}[aria-label^="${name}, "]`);
}

async function openConversation(p, name) {
  await conversationItem(p, name).first().click();
}

async function sendText(p, text) {
  const box = p.page.getByLabel("Message", { exact: true });
  await box.fill(text);
  await box.press("Enter");
}

async function expectMessage(p, text, timeout = 30_000) {
  await p.page.getByTestId("message-text").filter({ hasText: text }).first().waitFor({ timeout });
}

async function safetyDigits(p) {
  await p.page.getByTestId("open-safety").click();
  const digits = p.page.getByTestId("safety-digits");
  await digits.waitFor();
  return (await digits.innerText()).replace(/\s+/g, "");
}

function cli(srv, profile, args, timeoutMs = 120_000) {
  return new Promise((res) => {
    const child = spawn(
      cliBin,
      ["--server", srv.origin, "--tls-pin", srv.fingerprint, "--profile", profile, ...args],
      {
        env: {
          ...process.env,
          SOTTO_PASSWORD: "cli password for interop 42",
          SOTTO_PASSPHRASE: "profile passphrase for interop",
        },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("exit", (code) => {
      clearTimeout(timer);
      res({
        code,
        stdout,
        stderr,
        lines: stdout
          .split("\n")
          .filter((l) => l.startsWith("{"))
          .map((l) => JSON.parse(l)),
      });
    });
  });
}

async function cliOk(srv, profile, args) {
  const r = await cli(srv, profile, args);
  if (r.code !== 0) throw new Error(`sotto ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return r;
}

/**
 * `p` accepts the request from `from` (someone who was not a contact yet): it leaves the Requests
 * list and opens as a conversation.
 */
async function acceptRequest(p, from) {
  await p.page.getByTestId("open-requests").click({ timeout: 30_000 });
  const item = p.page.getByTestId("request-item").filter({ hasText: from });
  await item.waitFor({ timeout: 30_000 });
  await item.getByRole("button", { name: "Accept" }).click();
  await item.waitFor({ state: "detached" });
}

/** Receives with the CLI until `pred` matches a message line (or gives up). */
const cliSeen = [];
async function cliReceive(srv, profile, pred, extra = []) {
  const seen = cliSeen;
  const earlier = seen.find(pred);
  if (earlier !== undefined) return earlier;
  const notes = [];
  for (let i = 0; i < 8; i++) {
    const r = await cliOk(srv, profile, ["recv", "--wait", "3", ...extra]);
    seen.push(...r.lines);
    if (r.stderr.trim() !== "") notes.push(r.stderr.trim());
    if (process.env.E2E_DEBUG) log(`recv: out=${r.stdout.trim()} err=${r.stderr.trim()}`);
    const hit = seen.find(pred);
    if (hit !== undefined) return hit;
  }
  const status = await cli(srv, profile, ["status"]);
  throw new Error(
    `the CLI did not receive the expected message; got ${JSON.stringify(seen)}; CLI notes: ${notes.join(" | ")}; status: ${status.stdout}`,
  );
}

async function cliInterop(srv, alice, bob, aliceName, bobName, suffix) {
  const profile = join(work, "cli-profile");
  const carolName = `carol${suffix}`;
  const groupName = `Interop ${suffix}`;
  let conv;
  await test("CLI user registers; creates a group with both web users; its message reaches the browsers", async () => {
    let t = Date.now();
    await cliOk(srv, profile, ["register", carolName]);
    log(`  sotto register: ${Date.now() - t} ms`);
    t = Date.now();
    const created = await cliOk(srv, profile, ["group", "create", groupName, aliceName, bobName]);
    conv = created.lines.find((l) => typeof l.conversation === "string")?.conversation;
    assert(
      typeof conv === "string" && conv.startsWith("conv:"),
      `group create printed a conversation: ${created.stdout}`,
    );
    log(`  sotto group create: ${Date.now() - t} ms`);
    t = Date.now();
    await cliOk(srv, profile, ["send", conv, "hello from the cli"]);
    log(`  sotto send: ${Date.now() - t} ms`);
    t = Date.now();
    for (const p of [alice, bob]) {
      await p.page
        .getByRole("button", { name: "Back to conversations" })
        .click({ timeout: 2000 })
        .catch(() => undefined);
      // carol is no contact of theirs yet: the group is a request until they accept it.
      await acceptRequest(p, carolName);
      // Accepted, it opens as a conversation (the list is hidden beside a chat at phone width).
      await p.page.getByRole("heading", { name: groupName }).waitFor();
      await p.page
        .getByTestId("conversation-item")
        .filter({ hasText: groupName })
        .waitFor({ state: "attached" });
      log(`  ${p.name} accepts the group: ${Date.now() - t} ms`);
      await expectMessage(p, "hello from the cli");
      log(`  ${p.name} shows the message: ${Date.now() - t} ms`);
    }
    log(`  browsers show it: ${Date.now() - t} ms`);
    await shot(bob.page, "14-cli-group");
  });

  await test("web messages in the CLI's group are read by the CLI", async () => {
    await sendText(alice, "hello cli, from alice's browser");
    await sendText(bob, "and from bob's browser");
    await cliReceive(srv, profile, (l) => l.text === "hello cli, from alice's browser");
    await cliReceive(srv, profile, (l) => l.text === "and from bob's browser");
  });

  await test("attachments between the CLI and the browser, both ways", async () => {
    const file = join(work, "from-cli.txt");
    writeFileSync(file, "attachment bytes from the cli\n");
    await cliOk(srv, profile, ["send", conv, "a file", "--file", file]);
    const att = alice.page.getByTestId("attachment").filter({ hasText: "from-cli.txt" });
    await att.waitFor({ timeout: 30_000 });
    await att.getByRole("button", { name: "Download" }).click();
    const [download] = await Promise.all([
      alice.page.waitForEvent("download"),
      att.getByRole("link", { name: "Download" }).click(),
    ]);
    const path = await download.path();
    assert(
      readFileSync(path, "utf8") === "attachment bytes from the cli\n",
      "the browser decrypted the CLI's attachment",
    );
    await alice.page.locator("#attach").setInputFiles({
      name: "from-web.txt",
      mimeType: "text/plain",
      buffer: Buffer.from("bytes from the browser"),
    });
    await alice.page.getByTestId("send-file").getByRole("button", { name: "Send" }).click();
    const dir = join(work, "cli-downloads");
    mkdirSync(dir, { recursive: true });
    const got = await cliReceive(srv, profile, (l) => l.attachment?.name === "from-web.txt", [
      "--download-dir",
      dir,
    ]);
    assert(
      readFileSync(got.attachment.path, "utf8") === "bytes from the browser",
      "the CLI decrypted the browser's attachment",
    );
  });

  await test("an admin adds the CLI user to a group and removes it again", async () => {
    await alice.page
      .getByRole("button", { name: "Back to conversations" })
      .click({ timeout: 2000 })
      .catch(() => undefined);
    await openConversation(alice, "Project Sotto");
    await alice.page.getByRole("button", { name: /Members/ }).click();
    await alice.page.getByLabel("Add a member (username)").fill(carolName);
    await alice.page.getByRole("button", { name: "Add", exact: true }).click();
    await alice.page.getByRole("cell", { name: carolName }).waitFor();
    await alice.page.getByRole("button", { name: "Back to chat" }).click();
    await sendText(alice, "welcome carol");
    await cliReceive(srv, profile, (l) => l.text === "welcome carol");
    await alice.page.getByRole("button", { name: /Members/ }).click();
    await alice.page
      .getByRole("row", { name: new RegExp(carolName) })
      .getByRole("button", { name: "Remove" })
      .click();
    await alice.page.getByRole("cell", { name: carolName }).waitFor({ state: "detached" });
    await alice.page.getByRole("button", { name: "Back to chat" }).click();
    await sendText(alice, "carol cannot read this");
    await bob.page
      .getByRole("button", { name: "Back to conversations" })
      .click({ timeout: 2000 })
      .catch(() => undefined);
    await openConversation(bob, "Project Sotto");
    await expectMessage(bob, "carol cannot read this");
    const r = await cliOk(srv, profile, ["recv", "--wait", "3"]);
    cliSeen.push(...r.lines);
    assert(
      !cliSeen.some((l) => l.text === "carol cannot read this"),
      "a removed member does not get new messages",
    );
  });

  await test("a 1:1 from the CLI shows in the browser and the reply reaches the CLI", async () => {
    await cliOk(srv, profile, ["send", aliceName, "direct from the cli"]);
    await alice.page
      .getByRole("button", { name: "Back to conversations" })
      .click({ timeout: 2000 })
      .catch(() => undefined);
    await conversationItem(alice, carolName).waitFor({ timeout: 30_000 });
    await openConversation(alice, carolName);
    await expectMessage(alice, "direct from the cli");
    await sendText(alice, "direct reply from the web");
    await cliReceive(srv, profile, (l) => l.text === "direct reply from the web");
    await shot(alice.page, "15-cli-direct");
  });
}

/** What the chaos scenarios (`chaos.mjs`) use from this harness. */
const harness = {
  work,
  cli,
  cliOk,
  cliAvailable: () => existsSync(cliBin),
  acceptRequest,
  log,
  test,
  assert,
  shot,
  launch,
  register,
  openConversation,
  conversationItem,
  sendText,
  startServer,
  spawnServer,
  killServer,
};

/** Scenario files run alone by `E2E_ONLY=<name>`, each on a server of its own. */
const scenarios = {
  consent: async () => consent(harness),
  recovery: async () => recovery(harness),
  shared: async () => sharedComputer(harness),
  chaos: async () => chaos(harness),
  team: async () => team(harness),
  daily: async () => daily(harness),
  v2: async () => v2(harness),
};

async function main() {
  log(`work dir ${work}`);
  const only = process.env.E2E_ONLY;
  if (only !== undefined && only !== "" && only !== "main") {
    const run = scenarios[only];
    if (run === undefined)
      throw new Error(`E2E_ONLY=${only}: one of ${Object.keys(scenarios).join(", ")}`);
    const problems = await run();
    await test(`no external requests (${only} pages)`, async () => {
      const external = problems.filter((p) => p.startsWith("external request"));
      assert(external.length === 0, external.join("\n"));
    });
    return;
  }
  const srv = await startServer();
  log(`server at ${srv.origin}; CSP: ${srv.csp}`);
  const suffix = Math.random().toString(36).slice(2, 7);
  const alice = await launch("alice", srv.pin);
  const bob = await launch("bob", srv.pin);
  const aliceName = `alice${suffix}`;
  const bobName = `bob${suffix}`;
  const password = "correct horse battery staple 42";

  await test("the app loads over TLS with a strict CSP and register screen", async () => {
    assert(typeof srv.csp === "string" && srv.csp.includes("script-src 'self'"), "CSP header");
    for (const p of [alice, bob]) {
      await p.page.goto(srv.origin);
      await p.page.getByRole("heading", { name: "Sotto" }).waitFor();
    }
    await alice.page.getByRole("tab", { name: "Create account" }).click();
    await alice.page.getByLabel("Password", { exact: true }).fill("abc");
    const weak = await alice.page.getByTestId("strength").innerText();
    assert(weak.includes("Too short"), `strength feedback for a short password: ${weak}`);
    await alice.page.getByLabel("Password", { exact: true }).fill(password);
    const strong = await alice.page.getByTestId("strength").innerText();
    assert(/Good|Strong/.test(strong), `strength feedback for a long password: ${strong}`);
    await shot(alice.page, "01-register");
  });

  await test("two browsers register (keys made in the browser, device certified, socket connected)", async () => {
    await Promise.all([register(alice, aliceName, password), register(bob, bobName, password)]);
    await shot(alice.page, "02-empty-home");
  });

  await test("alice starts a 1:1 and sends; bob receives it in real time", async () => {
    await alice.page.getByRole("button", { name: "New chat" }).click();
    await alice.page.getByLabel("Username").fill(bobName);
    await alice.page.getByRole("button", { name: "Start" }).click();
    await alice.page.getByRole("heading", { name: bobName }).waitFor();
    await sendText(alice, "hello bob, this is alice");
    await expectMessage(alice, "hello bob, this is alice");
    // alice is no contact of bob's yet: her 1:1 is a request, not a conversation, until he
    // accepts it (e2e/consent.mjs covers requests in depth).
    await bob.page.getByTestId("requests-count").filter({ hasText: "1" }).waitFor({
      timeout: 30_000,
    });
    assert(
      (await bob.page.getByTestId("conversation-item").count()) === 0,
      "a stranger's 1:1 is not listed among bob's conversations",
    );
    await shot(bob.page, "03-request");
    await acceptRequest(bob, aliceName);
    await bob.page.getByRole("heading", { name: aliceName }).waitFor();
    await expectMessage(bob, "hello bob, this is alice");
  });

  await test("both verify each other's safety number (same 60 digits) and mark verified", async () => {
    const a = await safetyDigits(alice);
    const b = await safetyDigits(bob);
    assert(/^\d{60}$/.test(a), `60 digits: ${a}`);
    assert(a === b, `safety numbers match: ${a} vs ${b}`);
    await alice.page.getByTestId("safety-qr").waitFor();
    await shot(alice.page, "04-safety-number");
    for (const p of [alice, bob]) {
      await p.page.getByRole("button", { name: "Mark as verified" }).click();
      await p.page.getByTestId("verified-state").filter({ hasText: "Verified" }).waitFor();
      await p.page.getByRole("button", { name: "Back" }).click();
      await p.page.getByTestId("open-safety").filter({ hasText: "Verified" }).waitFor();
    }
  });

  await test("messages both ways, typing indicator, and receipts", async () => {
    await bob.page.getByLabel("Message", { exact: true }).pressSequentially("typ", { delay: 30 });
    await alice.page
      .getByTestId("typing")
      .filter({ hasText: "typing" })
      .waitFor({ timeout: 15_000 });
    await bob.page.getByLabel("Message", { exact: true }).fill("");
    await sendText(bob, "hi alice, bob here");
    await expectMessage(alice, "hi alice, bob here");
    await sendText(alice, "how are you?");
    await expectMessage(bob, "how are you?");
    // bob has the chat open: alice's message shows a read receipt
    const status = alice.page
      .getByTestId("message")
      .filter({ hasText: "how are you?" })
      .getByTestId("message-status");
    await status.filter({ hasText: /Delivered|Read/ }).waitFor({ timeout: 30_000 });
    await status.filter({ hasText: "Read" }).waitFor({ timeout: 30_000 });
    await shot(alice.page, "05-chat-receipts");
    await shot(bob.page, "05-chat-bob");
  });

  await test("F1: markup and script in a message body show as text and never run", async () => {
    const payloads = [
      `<img src=x onerror="window.__sottoPwned='img'">`,
      `<script>window.__sottoPwned='script'</script>`,
      `<a href="javascript:window.__sottoPwned='link'">click</a>`,
    ];
    for (const text of payloads) {
      await sendText(alice, text);
      await expectMessage(bob, text);
    }
    for (const p of [alice, bob]) {
      for (const text of payloads) {
        const shown = await p.page
          .getByTestId("message-text")
          .filter({ hasText: text })
          .first()
          .innerText();
        assert(shown === text, `shown verbatim as text: ${shown}`);
      }
      await p.page.getByTestId("message-text").filter({ hasText: "click" }).first().click();
      const found = await p.page.evaluate(() => ({
        pwned: window.__sottoPwned ?? null,
        markup: document.querySelectorAll(
          '[data-testid="message-text"] img, [data-testid="message-text"] script, [data-testid="message-text"] a[href^="javascript"]',
        ).length,
      }));
      assert(found.pwned === null, `no payload ran (got ${found.pwned})`);
      assert(found.markup === 0, `no element made from a message (got ${found.markup})`);
    }
  });

  await test("an attachment: upload with progress, image preview and download on the other side", async () => {
    const png = Buffer.from(
      "iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAYAAAAf8/9hAAAAKUlEQVR4nGNgGAWjYBSMglEwCkbBKBgFo2AUjIJRMApGwSgYBaNgFIwCAFr/ABGjZCbVAAAAAElFTkSuQmCC",
      "base64",
    );
    await alice.page
      .locator("#attach")
      .setInputFiles({ name: "square.png", mimeType: "image/png", buffer: png });
    await alice.page.getByTestId("send-file").getByRole("button", { name: "Send" }).click();
    const att = bob.page.getByTestId("attachment").filter({ hasText: "square.png" });
    await att.waitFor({ timeout: 30_000 });
    const img = att.locator("img");
    await img.waitFor({ timeout: 30_000 });
    const width = await img.evaluate((el) => el.naturalWidth);
    assert(width === 16, `decrypted image preview is 16 px wide (got ${width})`);
    await att.getByRole("link", { name: "Download" }).waitFor();
    await alice.page
      .getByTestId("attachment")
      .filter({ hasText: "square.png" })
      .locator("img")
      .waitFor({ timeout: 15_000 });
    await shot(bob.page, "06-attachment");
  });

  await test("a reload keeps the session and the history", async () => {
    await bob.page.reload();
    await bob.page
      .getByTestId("connection")
      .filter({ hasText: "Connected" })
      .waitFor({ timeout: 30_000 });
    await openConversation(bob, aliceName);
    await expectMessage(bob, "hello bob, this is alice");
    await expectMessage(bob, "how are you?");
    const img = bob.page.getByTestId("attachment").locator("img");
    await img.waitFor({ timeout: 15_000 });
    await sendText(alice, "after your reload");
    await expectMessage(bob, "after your reload");
  });

  await test("offline: visible connection state, a failed message, retry after reconnecting", async () => {
    await alice.context.setOffline(true);
    await alice.page
      .getByTestId("connection")
      .filter({ hasText: "Offline" })
      .waitFor({ timeout: 30_000 });
    await sendText(alice, "sent while offline");
    const status = alice.page
      .getByTestId("message")
      .filter({ hasText: "sent while offline" })
      .getByTestId("message-status");
    await status.filter({ hasText: "Waiting to send" }).waitFor({ timeout: 30_000 });
    await shot(alice.page, "07-offline-failed");
    await alice.context.setOffline(false);
    await alice.page
      .getByRole("button", { name: "Retry now" })
      .click({ timeout: 5000 })
      .catch(() => undefined);
    await alice.page
      .getByTestId("connection")
      .filter({ hasText: "Connected" })
      .waitFor({ timeout: 60_000 });
    await alice.page
      .getByTestId("message")
      .filter({ hasText: "sent while offline" })
      .getByRole("button", { name: "Retry" })
      .click({ timeout: 2000 })
      .catch(() => undefined);
    await status.filter({ hasText: /Sent|Delivered|Read/ }).waitFor({ timeout: 30_000 });
    await expectMessage(bob, "sent while offline");
  });

  await test("a tampered envelope shows as 'could not be verified', never as text", async () => {
    let tampered = 0;
    await bob.context.routeWebSocket(/\/v1\/ws$/, (ws) => {
      const upstream = ws.connectToServer();
      ws.onMessage((m) => upstream.send(m));
      upstream.onMessage((m) => {
        if (typeof m === "string" && wsFilter.dropDistribution) {
          const frame = JSON.parse(m);
          if (frame.type === "envelope") {
            const bytes = Buffer.from(frame.envelope, "base64");
            if (bytes.subarray(5, 5 + bytes[4]).toString("latin1") === "sotto/kdm") {
              wsFilter.dropDistribution = false;
              wsFilter.dropped += 1;
              return; // withheld: never reaches the page (and is never acknowledged)
            }
          }
        }
        if (wsFilter.tamper && typeof m === "string") {
          const frame = JSON.parse(m);
          if (frame.type === "envelope") {
            const bytes = Buffer.from(frame.envelope, "base64");
            const label = bytes.subarray(5, 5 + bytes[4]).toString("latin1");
            if (label === "sotto/msg") {
              bytes[bytes.length - 40] ^= 0x01; // inside the signature
              frame.envelope = bytes.toString("base64");
              wsFilter.tamper = false;
              tampered += 1;
              ws.send(JSON.stringify(frame));
              return;
            }
          }
        }
        ws.send(m);
      });
    });
    await bob.page.reload();
    await bob.page
      .getByTestId("connection")
      .filter({ hasText: "Connected" })
      .waitFor({ timeout: 30_000 });
    await openConversation(bob, aliceName);
    wsFilter.tamper = true;
    await sendText(alice, "TAMPERED-SECRET-TEXT");
    await bob.page.getByTestId("message-unverified").first().waitFor({ timeout: 30_000 });
    assert(tampered === 1, "one envelope was tampered with");
    const text = await bob.page.getByTestId("messages").innerText();
    assert(!text.includes("TAMPERED-SECRET-TEXT"), "the tampered text is never shown");
    assert(text.includes("could not be verified"), "shown as could not be verified");
    await sendText(alice, "next one is fine");
    await expectMessage(bob, "next one is fine");
    // The refused message's index never arrived: shown as a gap, not silently skipped.
    await bob.page
      .getByTestId("gap-notice")
      .filter({ hasText: `1 message from ${aliceName} is missing` })
      .waitFor();
    await shot(bob.page, "07-tampered");
  });

  await test("a message whose key distribution is withheld is held, its key re-requested, then shown", async () => {
    wsFilter.dropDistribution = true;
    await alice.page.getByRole("button", { name: "New chat" }).click();
    await alice.page.getByRole("tab", { name: "Group" }).click();
    await alice.page.getByLabel("Group name").fill("Held keys");
    await alice.page.getByLabel("Members").fill(bobName);
    await alice.page.getByRole("button", { name: "Start" }).click();
    await alice.page.getByRole("heading", { name: "Held keys" }).waitFor();
    await sendText(alice, "this one waits for its key");
    await bob.page
      .getByTestId("conversation-item")
      .filter({ hasText: "Held keys" })
      .waitFor({ timeout: 30_000 });
    assert(wsFilter.dropped === 1, "the distribution was withheld");
    await openConversation(bob, "Held keys");
    await expectMessage(bob, "this one waits for its key", 30_000);
    const text = await bob.page.getByTestId("messages").innerText();
    assert(
      !text.includes("could not be verified"),
      "a held message is not counted as undecryptable",
    );
  });

  await test("group: create, members panel, message reaches the member", async () => {
    await alice.page.getByRole("button", { name: "New chat" }).click();
    await alice.page.getByRole("tab", { name: "Group" }).click();
    await alice.page.getByLabel("Group name").fill("Project Sotto");
    await alice.page.getByLabel("Members").fill(bobName);
    await alice.page.getByRole("button", { name: "Start" }).click();
    await alice.page.getByRole("heading", { name: "Project Sotto" }).waitFor();
    await sendText(alice, "welcome to the group");
    await bob.page
      .getByTestId("conversation-item")
      .filter({ hasText: "Project Sotto" })
      .waitFor({ timeout: 30_000 });
    await openConversation(bob, "Project Sotto");
    await expectMessage(bob, "welcome to the group");
    await alice.page.getByRole("button", { name: /Members/ }).click();
    await alice.page.getByRole("heading", { name: /Members of/ }).waitFor();
    await shot(alice.page, "08-group-members");
    await alice.page.getByRole("button", { name: "Back to chat" }).click();
  });

  await test("devices screen lists this device; undecryptable counter shows", async () => {
    await bob.page.getByRole("button", { name: "Devices" }).click();
    await bob.page.getByTestId("device-row").first().waitFor();
    const n = await bob.page.getByTestId("undecryptable").innerText();
    assert(n === "1", `bob counted one message it could not verify (got ${n})`);
    await shot(bob.page, "09-devices");
  });

  await test("a second device is approved with its code, then revoked", async () => {
    const second = await launch("alice-2", srv.pin);
    await second.page.goto(srv.origin);
    await second.page.getByRole("tab", { name: "Log in" }).click();
    await second.page.getByLabel("Username").fill(aliceName);
    await second.page.getByLabel("Password", { exact: true }).fill(password);
    await second.page.getByLabel("Device name").fill("Second browser");
    await second.page.getByRole("button", { name: "Log in" }).click();
    const code = (await second.page.getByTestId("approval-code").innerText()).trim();
    assert(/^\d{6}$/.test(code), `approval code: ${code}`);
    await shot(second.page, "10-new-device-code");
    await alice.page.getByRole("button", { name: "Devices" }).click();
    const row = alice.page.getByTestId("device-row").filter({ hasText: "Second browser" });
    await row
      .getByLabel("Code shown on the new device")
      .fill(code === "000000" ? "111111" : "000000");
    await row.getByRole("button", { name: "Approve" }).click();
    await alice.page.getByRole("alert").filter({ hasText: "does not match" }).waitFor();
    await row.getByLabel("Code shown on the new device").fill(code);
    await row.getByRole("button", { name: "Approve" }).click();
    await alice.page.getByRole("status").filter({ hasText: "Device approved" }).waitFor();
    await second.page
      .getByTestId("connection")
      .filter({ hasText: "Connected" })
      .waitFor({ timeout: 60_000 });
    await row.filter({ hasText: "active" }).waitFor({ timeout: 15_000 });
    await shot(alice.page, "11-devices-approved");
    alice.page.once("dialog", (d) => void d.accept());
    await row.getByRole("button", { name: "Revoke" }).click();
    await alice.page.getByRole("status").filter({ hasText: "Device revoked" }).waitFor();
    await row.filter({ hasText: "revoked" }).waitFor({ timeout: 15_000 });
    // The revoked device's session ends: it is back at the login screen.
    await second.page.getByRole("tab", { name: "Log in" }).waitFor({ timeout: 60_000 });
    await second.context.close();
    await alice.page.getByRole("button", { name: "Back" }).click();
  });

  await test("phone width and dark theme render", async () => {
    // The theme choice is in the top bar at desktop width (in Settings at phone width).
    await alice.page.getByLabel("Theme").selectOption("dark");
    await alice.page.setViewportSize({ width: 390, height: 800 });
    await alice.page
      .getByRole("button", { name: "Back to conversations" })
      .click({ timeout: 2000 })
      .catch(() => undefined);
    await shot(alice.page, "12-phone-dark-list");
    await openConversation(alice, bobName);
    await expectMessage(alice, "next one is fine");
    await shot(alice.page, "13-phone-dark-chat");
  });

  if (existsSync(cliBin)) {
    await cliInterop(srv, alice, bob, aliceName, bobName, suffix);
  } else {
    log(`CLI not found at ${cliBin}: CLI interop test skipped`);
    results.push({ name: "CLI interop (skipped: no sotto binary)", ok: true });
  }

  await test("a second tab waits for the first one's socket and takes over when it closes", async () => {
    const tab = await bob.context.newPage();
    await tab.goto(srv.origin);
    await tab
      .getByTestId("connection")
      .filter({ hasText: "Open in another tab" })
      .waitFor({ timeout: 30_000 });
    await shot(tab, "16-second-tab");
    await bob.page.close();
    await tab
      .getByTestId("connection")
      .filter({ hasText: "Connected" })
      .waitFor({ timeout: 30_000 });
    bob.page = tab;
  });

  await test("log out removing this account's data deletes its keys and history from the browser", async () => {
    await bob.page.getByRole("button", { name: "Log out" }).click();
    const dialog = bob.page.getByRole("alertdialog", { name: "Log out" });
    await dialog.getByRole("radio", { name: /^Remove/ }).check();
    await dialog.getByRole("button", { name: "Log out", exact: true }).click();
    await bob.page.getByRole("tab", { name: "Create account" }).waitFor({ timeout: 30_000 });
    // bob's namespace (keys, sealed state, session) is deleted; the next start opens none.
    const left = await bob.page.evaluate(async () => ({
      databases: (await indexedDB.databases()).map((d) => d.name),
      index: localStorage.getItem("sotto-accounts") ?? "",
    }));
    assert(
      !left.databases.some((n) => n === "sotto" || n.startsWith("sotto:")),
      `no database of bob's is left (${left.databases.join(",")})`,
    );
    assert(!left.index.includes(bobName), `bob is not listed (${left.index})`);
    const username = await bob.page.getByLabel("Username").inputValue();
    assert(username === "", "no username is remembered");
  });

  await test("a contact whose identity changes raises a blocking warning; nothing is started with it", async () => {
    // A malicious server now maps bob's username to another account (mallory's keys).
    const mallory = await launch("mallory", srv.pin);
    const malloryName = `mallory${suffix}`;
    await mallory.page.goto(srv.origin);
    await register(mallory, malloryName, password);
    await alice.context.route(`**/v1/directory/${bobName}`, async (route) => {
      const auth = route.request().headers()["authorization"];
      const real = await get(`${srv.origin}/v1/directory/${malloryName}`, srv.ca, {
        Authorization: auth,
      });
      const json = JSON.parse(real.body);
      json.username = bobName;
      await route.fulfill({
        status: real.status,
        contentType: "application/json",
        body: JSON.stringify(json),
      });
    });
    await alice.page.setViewportSize({ width: 1100, height: 760 });
    await alice.page.getByRole("button", { name: "New chat" }).click();
    await alice.page.getByRole("tab", { name: "1:1" }).click();
    await alice.page.getByLabel("Username").fill(bobName);
    await alice.page.getByRole("button", { name: "Start" }).click();
    const dialog = alice.page.getByRole("alertdialog", { name: `${bobName}'s identity changed` });
    await dialog.waitFor({ timeout: 30_000 });
    assert(
      (await dialog.innerText()).includes(`You had verified ${bobName}`),
      "the warning says bob had been verified",
    );
    assert(
      (await alice.page.locator("#app-shell[inert]").count()) === 1,
      "the rest of the app is blocked while the warning shows",
    );
    await shot(alice.page, "17-identity-changed");
    await dialog.getByRole("button", { name: "Accept the new identity" }).click();
    await alice.page.getByRole("heading", { name: `Safety number with ${bobName}` }).waitFor();
    await alice.page.getByTestId("verified-state").filter({ hasText: "Not verified" }).waitFor();
    assert(
      (await alice.page.locator("#app-shell[inert]").count()) === 0,
      "the app is usable again",
    );
    await mallory.context.close();
  });

  // `E2E_ONLY=main`: this file's own flow, without the scenario files.
  const all = only !== "main";
  const consentProblems = all ? await consent(harness) : [];
  const recoveryProblems = all ? await recovery(harness) : [];
  const sharedProblems = all ? await sharedComputer(harness) : [];
  const chaosProblems = all ? await chaos(harness) : [];
  const teamProblems = all ? await team(harness) : [];
  const dailyProblems = all ? await daily(harness) : [];
  const v2Problems = all ? await v2(harness) : [];
  const problems = [
    ...alice.problems,
    ...bob.problems,
    ...consentProblems,
    ...recoveryProblems,
    ...sharedProblems,
    ...chaosProblems,
    ...teamProblems,
    ...dailyProblems,
    ...v2Problems,
  ].filter((p) => !p.includes("favicon"));
  await test("no external requests and no page errors", async () => {
    const external = problems.filter((p) => p.startsWith("external request"));
    assert(external.length === 0, external.join("\n"));
    if (problems.length > 0) log(`console errors (not failing):\n  ${problems.join("\n  ")}`);
  });
}

let failed = false;
try {
  await main();
} catch {
  failed = true;
} finally {
  for (const b of browsers) await b.close().catch(() => undefined);
  // Wait (at most 10 s) for the servers to stop, so their logs are written (server*.log).
  const running = serverProcs.filter((proc) => proc.exitCode === null && proc.signalCode === null);
  const stopped = running.map((proc) => new Promise((r) => proc.once("exit", r)));
  for (const proc of running) proc.kill("SIGTERM");
  await Promise.race([Promise.all(stopped), new Promise((r) => setTimeout(r, 10_000))]);
  const passed = results.filter((r) => r.ok).length;
  log(`${passed} passed, ${results.length - passed} failed`);
  log(`screenshots: ${out}`);
  if (!failed && process.env.E2E_KEEP === undefined) {
    for (const p of [
      "data",
      "sotto.toml",
      "data-chaos",
      "sotto-chaos.toml",
      "data-consent",
      "sotto-consent.toml",
      "data-recovery",
      "sotto-recovery.toml",
      "data-shared",
      "sotto-shared.toml",
      "data-team",
      "sotto-team.toml",
      "data-daily",
      "sotto-daily.toml",
    ])
      rmSync(join(work, p), { recursive: true, force: true });
  }
}
process.exit(failed ? 1 : 0);
