/**
 * The Sotto client: wires the API, the socket, the sealed store, the directory, conversations
 * and messaging together, and exposes an immutable {@link AppView} plus actions to the UI. It
 * holds no UI state; the UI subscribes with `useSyncExternalStore`.
 *
 * A client holds one account's namespace (`storage/namespaces.ts`), or none before an account is
 * chosen, and never opens another's: to act for another account (Log in, Create account) it
 * hands over to a new client of that account's namespace, which replaces it (`onReplace`) once
 * signed in or awaiting approval, so no screen, cache or key of one account reaches another.
 */

import {
  AccountId,
  ConversationId,
  DeviceId,
  type Member,
  type CreateKind,
  type NameReveal,
  NAME_SALT_LEN,
  checkGroupName,
  nameCommitment,
  SafetyNumber,
  AccountIdentity,
  decodeSignedIdentity,
  decryptAttachment,
  encryptAttachment,
  systemEnv,
  systemRandom,
  type VerifiedDevice,
} from "../../crypto";
import { ApiClient } from "../api";
import { fromB64 } from "../b64";
import type {
  BlockedView,
  DeviceView,
  RecoveryStatus,
  RegistrationMode,
  ServerFrame,
} from "../schemas";
import { type ConnectionState, SocketClient } from "../ws";
import { Database } from "../../storage/db";
import {
  AccountIndex,
  foldUsername,
  migrateLegacyDatabase,
  namespaceName,
} from "../../storage/namespaces";
import { SealedStore } from "../../storage/sealed";
import { Leadership, broadcastChannel } from "../../storage/leader";
import {
  type Deps,
  type PendingDevice,
  approveDevice,
  completeNewDevice,
  loginExisting,
  normalizeInvite,
  register,
  registrationRefusal,
  revokeDevice,
  rotateExchangeKeyIfDue,
  startNewDevice,
} from "./account";
import { BackupWriter } from "./backup";
import { Consent, type ConsentSnapshot, requestInfo } from "./consent";
import { Continuity, SWEEP_MS } from "./continuity";
import { Conversations, type Signer, UNNAMED_GROUP } from "./conversations";
import {
  directDuplicates,
  directPeer,
  findDirect,
  isDirectWith,
  mergedMessages,
  shownWith,
} from "./direct";
import { isContent } from "./amend";
import { removalOf } from "./events";
import { attachmentProblem } from "./limits";
import { leavePlan } from "./groupops";
import { SearchIndex } from "./search";
import { compareMessages } from "./timeline";
import { type ViewContext, conversationPreview, messageView } from "./view";
import { Directory } from "./directory";
import { type LoadedKeys, loadKeys } from "./keystore";
import { replenishPrekeys } from "./prekeys";
import type { StoredMessage } from "./stored";
import { BlockedError, Messaging } from "./messaging";
import { checkBody } from "./outbox";
import type {
  AppView,
  ChatMessage,
  ConversationView,
  SearchHit,
  IdentityAlert,
  MemberView,
  OtherDevice,
  Phase,
  RecoverySecret,
  RequestEntry,
} from "./model";
import {
  type RecoveryChoice,
  passphraseSupported,
  recoverAccount,
  recoveryMessage,
  setUpRecovery,
} from "./recovery";
import { isExpired } from "./retention";
import { retryDelay } from "./delivery";
import { Session } from "./session";

const TYPING_MS = 6000;

export class SottoClient {
  private phase: Phase = { kind: "loading" };
  private connection: ConnectionState = { kind: "idle" };
  private secondaryTab = false;
  private keys_: LoadedKeys | undefined;
  private self: VerifiedDevice | undefined;
  private socket: SocketClient | undefined;
  private pending: PendingDevice | undefined;
  private pendingName = "";
  private typing = new Map<string, Map<string, number>>();
  /** One per account whose identity changed (from the pins); the held count is added per view. */
  private alerts: Omit<IdentityAlert, "held">[] = [];
  private error: string | undefined;
  private view: AppView | undefined;
  private listeners = new Set<() => void>();
  private visible: string | undefined;
  private timers: ReturnType<typeof setInterval>[] = [];
  /** Which tab holds the device's socket (`storage/leader.ts`). */
  private leadership: Leadership | undefined;
  /** Accepted conversations and requests, as the server last listed them (`consent.ts`). */
  private consent = new Consent();
  /** Bumped by every local accept, decline or block: a list fetched before it is stale. */
  private consentVersion = 0;
  /**
   * A master key made in this session, readable once for the recovery backup (protocol §15.2):
   * wiped when recovery is set up or declined. Never stored.
   */
  private masterPkcs8: Uint8Array | undefined;
  /** The offer shows until the user is done with it (the key it made is still on screen). */
  private recoveryOffer = false;
  /** Set after a recovery: the account's other devices, to offer revoking them. */
  private recoveredOthers: readonly OtherDevice[] | undefined;
  /** After a recovery: the whole archive read, which revoking the lost devices waits for. */
  private archiveRead: Promise<void> = Promise.resolve();

  readonly api: ApiClient;
  private readonly session: Session;
  private readonly directory: Directory;
  private readonly convs: Conversations;
  private readonly messaging: Messaging;
  private readonly continuity: Continuity;
  private readonly searchIndex: SearchIndex;
  private incomingListeners = new Set<(conv: string, message: ChatMessage) => void>();
  /** Duplicate 1:1s (§6.4) → the one shown for the pair (`direct.ts`), as of the last view. */
  private duplicates = new Map<string, string>();

  private replaceListeners = new Set<(next: SottoClient) => void>();

  private constructor(
    private readonly db: Database,
    private readonly store: SealedStore,
    private readonly origin: string,
    /** The (folded) username whose namespace this client holds; none before one is chosen. */
    readonly accountName: string | undefined,
  ) {
    this.session = new Session(store, origin);
    this.api = new ApiClient(origin, this.session);
    this.session.api = this.api;
    this.session.prover = () =>
      this.keys_ === undefined
        ? undefined
        : { keys: this.keys_.device, username: this.keys_.record.username };
    this.session.onEnded = () => {
      this.stopSocket();
      this.setPhase({
        kind: "signed-out",
        ...(this.keys_ ? { knownUsername: this.keys_.record.username } : {}),
      });
    };
    this.directory = new Directory(this.api, store, () => BigInt(Date.now()));
    this.directory.onChange = () => {
      void this.refreshAlerts();
    };
    this.convs = new Conversations(this.api, store, this.directory);
    // Built from the records as the sealed store loads them, and kept current by their changes.
    this.searchIndex = SearchIndex.over(this.convs);
    this.messaging = new Messaging(this.api, store, this.directory, this.convs, {
      keys: () => this.keys(),
      selfDevice: () => this.selfDevice(),
      changed: () => {
        this.changed();
      },
      ack: (ids) => {
        this.socket?.ack(ids);
      },
      isVisible: (conv) =>
        this.visible !== undefined &&
        this.shownAs(conv) === this.visible &&
        typeof document !== "undefined" &&
        document.visibilityState === "visible",
      isRequest: (conv) => this.consent.standing(conv) !== "accepted",
      conversationAppeared: async (conv) => {
        if (this.consent.standing(conv) !== "unknown") return;
        // Not known yet whether it is a request: it stays hidden until the lists say.
        await this.refreshConsent().catch(() => undefined);
      },
      historyKey: (record) => this.continuity.keep(record),
      incoming: (conv, id) => {
        this.announce(conv, id);
      },
      maxBodyBytes: () => this.continuity.limits.maxBodyBytes,
      prekeyConsumed: () => {
        void this.topUpPrekeys();
      },
    });
    this.continuity = new Continuity(this.api, store, this.directory, this.convs, this.messaging, {
      keys: () => this.keys(),
      changed: () => {
        this.changed();
      },
    });
  }

  static async start(origin: string): Promise<SottoClient> {
    const index = AccountIndex.browser();
    // A failure leaves the earlier version's database for the next start; it is never deleted
    // before its account's namespace holds it.
    await migrateLegacyDatabase(index).catch(() => undefined);
    // A namespace that cannot be opened (or holds another account's data) keeps no one out:
    // the start shows the login screen, and other accounts open by name.
    const client = await SottoClient.open(origin, index.atStart()).catch(() =>
      SottoClient.open(origin, undefined),
    );
    // Not awaited: while the server cannot be reached the page shows that it keeps trying.
    void client.boot().catch((e: unknown) => {
      client.error = `Sotto could not start: ${e instanceof Error ? e.message : String(e)}`;
      client.setPhase({
        kind: "signed-out",
        ...(client.keys_ ? { knownUsername: client.keys_.record.username } : {}),
      });
    });
    return client;
  }

  /**
   * A client of `username`'s namespace with its stored keys loaded (not signed in), or of none:
   * then its database lives in memory and nothing is written to disk.
   */
  private static async open(origin: string, username: string | undefined): Promise<SottoClient> {
    const db =
      username === undefined
        ? Database.memory("sotto-none")
        : await Database.open(namespaceName(username));
    const store = await SealedStore.open(db);
    const client = new SottoClient(
      db,
      store,
      origin,
      username === undefined ? undefined : foldUsername(username),
    );
    db.onClosedByOtherTab = () => {
      // Another tab removed this account's data from the browser: start over without it.
      client.stopSocket();
      if (typeof location !== "undefined") location.reload();
    };
    try {
      client.keys_ = await loadKeys(db, store);
    } catch {
      client.keys_ = undefined;
    }
    if (client.keys_ !== undefined && client.keys_.record.username !== client.accountName) {
      db.close();
      throw new Error(`the data stored for ${String(username)} is another account's`);
    }
    return client;
  }

  /** Calls `listener` with the client that replaces this one (another account's). */
  onReplace = (listener: (next: SottoClient) => void): (() => void) => {
    this.replaceListeners.add(listener);
    return () => this.replaceListeners.delete(listener);
  };

  /** The accounts whose data this browser holds. */
  accountsOnThisBrowser(): readonly string[] {
    return AccountIndex.browser().list();
  }

  // ------------------------------------------------------------------ view & subscription

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getView = (): AppView => {
    this.view ??= this.buildView();
    return this.view;
  };

  private changed(): void {
    this.view = undefined;
    for (const l of this.listeners) l();
  }

  private setPhase(p: Phase): void {
    this.phase = p;
    this.changed();
  }

  private fail(e: unknown): never {
    this.error = e instanceof Error ? e.message : String(e);
    this.changed();
    throw e instanceof Error ? e : new Error(String(e));
  }

  clearError(): void {
    this.error = undefined;
    this.changed();
  }

  /** How a stored message of `conv` is shown: names, reply quotes and reactions as they are now. */
  private viewContext(conv: string): ViewContext {
    const rec = this.convs.records.get(conv);
    let byId: Map<string, StoredMessage> | undefined;
    return {
      me: this.keys_?.record.account ?? "",
      name: (account) => this.directory.pinnedName(account) ?? account,
      find: (id) => {
        byId ??= new Map(rec?.messages.map((m) => [m.id, m]));
        return byId.get(id);
      },
      nameAt: (epoch) => this.convs.nameAt(conv, epoch),
    };
  }

  /**
   * Views of stored messages, by the stored object (every change replaces it): a view is rebuilt
   * only when its message, or the message it quotes, changed, or names did (`refreshAlerts`).
   */
  private viewCache = new WeakMap<
    StoredMessage,
    { readonly view: ChatMessage; readonly quoted: StoredMessage | undefined }
  >();

  private cachedView(m: StoredMessage, ctx: ViewContext): ChatMessage {
    // Events name a group name learned later: cheap, and never cached.
    if (m.content.type === "event") return messageView(m, ctx);
    const quoted = m.replyTo === undefined ? undefined : ctx.find(m.replyTo);
    const hit = this.viewCache.get(m);
    if (hit !== undefined && hit.quoted === quoted) return hit.view;
    const view = messageView(m, ctx);
    this.viewCache.set(m, { view, quoted });
    return view;
  }

  /** The conversation `conv` is shown in: itself, or the 1:1 a duplicate of it is merged into. */
  private shownAs(conv: string): string {
    return this.duplicates.get(conv) ?? conv;
  }

  /** `conv` and the duplicate 1:1s shown in it. */
  private shownIn(conv: string): string[] {
    return shownWith(conv, this.duplicates);
  }

  /** The conversation of `conv`'s view that holds `messageId` (a duplicate's, when merged). */
  private home(conv: string, messageId: string): string {
    return (
      this.shownIn(conv).find((c) =>
        this.convs.records.get(c)?.messages.some((m) => m.id === messageId),
      ) ?? conv
    );
  }

  private buildView(): AppView {
    const k = this.keys_;
    const now = Date.now();
    const conversations: ConversationView[] = [];
    const byId = new Map<string, ConversationView>();
    const accepted = [...this.convs.records.keys()].flatMap((id) => {
      const state = this.convs.state(id);
      return state === undefined || this.consent.standing(id) !== "accepted"
        ? []
        : [[id, state] as const];
    });
    this.duplicates =
      k === undefined ? new Map<string, string>() : directDuplicates(accepted, k.account);
    for (const rec of this.convs.records.values()) {
      const state = this.convs.state(rec.id);
      if (state === undefined) continue;
      const members: MemberView[] = state.members().map((m) => {
        const acct = AccountId.toText(m.account);
        const alert = this.alerts.find((a) => a.account === acct);
        return {
          account: acct,
          // The log carries no names: the directory's pinned one (protocol §6.6).
          username: this.directory.pinnedName(acct) ?? acct,
          admin: m.admin,
          trust: alert ? "changed" : this.trustOf(acct),
        };
      });
      const others = members.filter((m) => m.account !== k?.record.account);
      const direct = k !== undefined && directPeer(state, k.account) !== undefined;
      const typingMap = this.typing.get(rec.id);
      const typing = typingMap
        ? [...typingMap]
            .filter(([, until]) => until > now)
            .map(([acct]) => members.find((m) => m.account === acct)?.username ?? acct)
        : [];
      const amAdmin =
        k !== undefined && members.some((m) => m.account === k.record.account && m.admin);
      // A duplicate 1:1's messages show in the kept one (§6.4), in one order.
      const shownIn = shownWith(rec.id, this.duplicates);
      const parts = mergedMessages(
        rec.id,
        this.duplicates,
        (c) => {
          const r = this.convs.records.get(c);
          if (r === undefined) return [];
          const retention = this.continuity.retention(c);
          const ctx = this.viewContext(c);
          // Without messages not yet in the sealed store nor any past the retention the sweep
          // has not reached yet (§6.7).
          return r.messages
            .filter(
              (m) => !this.messaging.unsaved.has(m.id) && !isExpired(m.sentAt, retention, now),
            )
            .map((m) => ({ sentAt: m.sentAt, stored: m, view: this.cachedView(m, ctx) }));
        },
        (a, b) => compareMessages(a.stored, b.stored),
      );
      const records = shownIn.flatMap((c) => this.convs.records.get(c) ?? []);
      const lastContent = [...parts].reverse().find((p) => isContent(p.stored));
      const me = k?.record.account;
      const removed =
        me === undefined || state.isMember(AccountId.parse(me))
          ? undefined
          : (removalOf(rec.messages, me) ?? { left: false });
      const firstUnread = rec.firstUnread;
      const retention = this.continuity.retention(rec.id);
      const preview = conversationPreview(
        parts.map((p) => p.stored),
        this.viewContext(rec.id),
      );
      const built: ConversationView = {
        id: rec.id,
        // A group whose current name has not arrived shows a placeholder (§6.5 rule 4).
        name: direct
          ? (others[0]?.username ?? UNNAMED_GROUP)
          : (this.convs.currentName(rec.id)?.name ?? UNNAMED_GROUP),
        direct,
        members,
        epoch: Number(state.epoch),
        messages: parts.map((p) => p.view),
        unread: records.reduce((n, r) => n + r.unread, 0),
        mentions: records.reduce((n, r) => n + (r.mentions ?? 0), 0),
        typing,
        ...(rec.alarm !== undefined ? { alarm: rec.alarm } : {}),
        blockedBy: members.filter((m) => m.trust === "changed").map((m) => m.username),
        amAdmin,
        // Either member of a 1:1 may set it; in a group, admins (§6.3).
        canSetRetention: (amAdmin || direct) && removed === undefined,
        retention,
        history: this.continuity.archive.cursor(rec.id),
        ...(removed !== undefined
          ? {
              removed: {
                left: removed.left,
                ...(removed.by !== undefined
                  ? { by: this.directory.pinnedName(removed.by) ?? removed.by }
                  : {}),
              },
            }
          : {}),
        ...(preview !== undefined ? { preview } : {}),
        ...(lastContent !== undefined ? { lastActivity: lastContent.stored.sentAt } : {}),
        ...(firstUnread !== undefined ? { firstUnread } : {}),
      };
      byId.set(rec.id, built);
      // Requests and conversations not known to be accepted are not listed with the others;
      // nor a duplicate 1:1, shown in the kept one.
      if (this.consent.standing(rec.id) === "accepted" && !this.duplicates.has(rec.id))
        conversations.push(built);
    }
    const requests: RequestEntry[] = this.consent.requests().map((info) => {
      const c = byId.get(info.conversation);
      return c === undefined ? { info } : { info, conversation: c };
    });
    const last = (c: ConversationView): number =>
      c.lastActivity ?? c.messages[c.messages.length - 1]?.sentAt ?? 0;
    conversations.sort((a, b) => last(b) - last(a));
    return {
      phase: this.phase,
      connection: this.connection,
      secondaryTab: this.secondaryTab,
      ...(k
        ? {
            me: {
              username: k.record.username,
              account: k.record.account,
              device: DeviceId.toText(k.device.device),
              hasMaster: k.master !== undefined,
            },
          }
        : {}),
      conversations,
      requests,
      undecryptable: this.messaging.undecryptable,
      held: this.messaging.held.filter((h) => h.waitingFor === undefined).length,
      alerts: this.alerts.map((a) => ({ ...a, held: this.messaging.heldFor(a.account) })),
      recovery: {
        offer: this.recoveryOffer,
        ...(this.recoveredOthers !== undefined ? { recovered: this.recoveredOthers } : {}),
      },
      limits: this.continuity.limits,
      ...(this.error !== undefined ? { error: this.error } : {}),
    };
  }

  private trustCache = new Map<string, "unverified" | "verified" | "changed">();
  private trustOf(account: string): "unverified" | "verified" | "changed" {
    return this.trustCache.get(account) ?? "unverified";
  }

  private async refreshAlerts(): Promise<void> {
    const pins = await this.directory.pinsList();
    // Names may have changed: every message view is built again.
    this.viewCache = new WeakMap();
    this.trustCache = new Map(
      pins.map((p) => [
        p.account,
        p.pendingSpki !== undefined || p.replaces !== undefined
          ? "changed"
          : p.verified
            ? "verified"
            : "unverified",
      ]),
    );
    this.alerts = pins
      .filter((p) => p.pendingSpki !== undefined || p.replaces !== undefined)
      .map((p) => ({
        account: p.account,
        username: p.username,
        wasVerified: p.wasVerified === true,
      }));
    this.changed();
  }

  // ------------------------------------------------------------------ boot & session

  private deps(): Deps {
    return {
      db: this.db,
      store: this.store,
      api: this.api,
      session: this.session,
      now: () => BigInt(Date.now()),
    };
  }

  keys(): LoadedKeys {
    if (this.keys_ === undefined) throw new Error("not signed in");
    return this.keys_;
  }

  selfDevice(): VerifiedDevice {
    if (this.self === undefined) throw new Error("not signed in");
    return this.self;
  }

  private async boot(): Promise<void> {
    if (this.keys_ === undefined) {
      // The browser dropped this namespace's data (or never had it): no account to list.
      if (this.accountName !== undefined) AccountIndex.browser().removed(this.accountName);
      this.setPhase({ kind: "signed-out" });
      return;
    }
    // A server that cannot be reached right now (down, restarting, the network gone, an answer
    // lost) says nothing about the session: keep trying instead of asking for the password.
    for (let attempt = 1; ; attempt++) {
      const outcome = await this.session.resume();
      if (outcome === "renewed") {
        this.error = undefined;
        await this.enter();
        return;
      }
      if (outcome !== "unreachable") break;
      this.error = "Cannot reach the server; trying again…";
      this.changed();
      await new Promise((r) => setTimeout(r, retryDelay(attempt)));
    }
    this.error = undefined;
    this.setPhase({ kind: "signed-out", knownUsername: this.keys_.record.username });
  }

  /** After a device login: verify our own certificate, load state, connect. */
  private async enter(): Promise<void> {
    const k = this.keys();
    AccountIndex.browser().signedIn(k.record.username);
    await this.directory.pinSelf(k.record.account, k.record.username, k.record.masterSpki);
    const identity = await AccountIdentity.fromMasterSpki(k.record.masterSpki);
    const mine = (await this.api.devices()).find(
      (d) => d.device === DeviceId.toText(k.device.device),
    );
    if (mine?.certificate === undefined || mine.certificate === null)
      throw new Error("this device is not certified");
    this.self = await identity.verifyDevice(decodeSignedIdentity(fromB64(mine.certificate)), []);
    if (await rotateExchangeKeyIfDue(this.deps(), k)) {
      this.keys_ = (await loadKeys(this.db, this.store)) ?? k;
    }
    void this.topUpPrekeys();
    await this.convs.load();
    await this.messaging.load();
    await this.continuity.load(await BackupWriter.load(this.db, this.store));
    await this.continuity.sweep();
    const consent = await this.store.get<ConsentSnapshot>("consent");
    // Conversations stored before requests existed were all accepted ones.
    this.consent = new Consent(
      consent ?? { accepted: [...this.convs.records.keys()], requests: [] },
    );
    await this.refreshAlerts();
    this.setPhase({ kind: "ready" });
    this.startSocket();
    void this.refreshConversations().catch(() => undefined);
    void this.continuity.refreshPolicy().catch(() => undefined);
    void this.takeHandovers();
    this.timers.push(
      setInterval(() => {
        void this.messaging.requestMissingKeys();
        this.changed(); // typing indicators expire
      }, 2000),
      setInterval(() => {
        void this.refreshConversations()
          .then(() => this.messaging.retryHeld())
          .then(() => {
            this.changed();
          })
          .catch(() => undefined);
      }, 15_000),
      setInterval(() => {
        void this.rotateKeys();
      }, 3_600_000),
      setInterval(() => {
        void this.continuity.sweep().catch(() => undefined);
        void this.continuity.flushBackup().catch(() => undefined);
      }, SWEEP_MS),
    );
  }

  /** Daily exchange-key rotation for tabs that stay open. */
  private async rotateKeys(): Promise<void> {
    const k = this.keys_;
    if (k === undefined) return;
    try {
      if (await rotateExchangeKeyIfDue(this.deps(), k))
        this.keys_ = (await loadKeys(this.db, this.store)) ?? k;
    } catch {
      // next hour
    }
    await this.topUpPrekeys();
  }

  private prekeyTopUp: Promise<void> | undefined;

  /**
   * Keeps this device's one-time prekeys on the server between 20 and 100 (§18.4): at sign-in,
   * hourly, and when a distribution consumed one. One top-up at a time; a failure waits for the
   * next occasion, senders meanwhile using the last-resort prekey.
   */
  private topUpPrekeys(): Promise<void> {
    const k = this.keys_;
    if (k === undefined) return Promise.resolve();
    this.prekeyTopUp ??= replenishPrekeys(this.deps(), k)
      .then(() => undefined)
      .catch((e: unknown) => {
        console.warn(`sotto: prekeys not uploaded: ${e instanceof Error ? e.message : "error"}`);
      })
      .finally(() => {
        this.prekeyTopUp = undefined;
      });
    return this.prekeyTopUp;
  }

  /**
   * Fetches which conversations are accepted and which are requests (a fetch that fails leaves
   * its half as it was), unless a local accept, decline or block happened meanwhile.
   */
  private async refreshConsent(): Promise<void> {
    const version = this.consentVersion;
    const [accepted, requests] = await Promise.all([
      this.api.conversations().catch(() => undefined),
      this.api.requests().catch(() => undefined),
    ]);
    if (accepted === undefined && requests === undefined) throw new Error("server unreachable");
    if (version !== this.consentVersion) return;
    // No longer listed: removed or left (the server answers a former member the log up to its
    // removal, which is verified here), or declined on another device.
    if (accepted !== undefined)
      for (const conv of this.consent.droppedBy(accepted))
        await this.convs.sync(conv).catch(() => false);
    if (version !== this.consentVersion) return;
    this.consent.update(accepted, requests?.map(requestInfo), (conv) => this.isFormer(conv));
    await this.saveConsent();
    this.changed();
  }

  /** Whether the verified log says this account was a member of `conv` and is no longer. */
  private isFormer(conv: string): boolean {
    const state = this.convs.state(conv);
    const me = this.keys_?.account;
    return state !== undefined && me !== undefined && !state.isMember(me);
  }

  private async saveConsent(): Promise<void> {
    await this.store.put([["consent", this.consent.snapshot()]]);
  }

  /** The lists, then every accepted conversation's and request's group log. */
  private async refreshConversations(): Promise<void> {
    await this.refreshConsent();
    const { accepted, requests } = this.consent.snapshot();
    await this.convs.syncEach([...accepted, ...requests.map((r) => r.conversation)]);
    await this.continuity.takeNames();
    await this.acceptDuplicateRequests();
    this.changed();
  }

  /**
   * A 1:1 request from someone this account already has an accepted 1:1 with (both started one
   * at once, §6.4) is accepted: the user chose to talk to them, and both ends then keep the
   * same one (`direct.ts`) with the other's messages shown in it.
   */
  private async acceptDuplicateRequests(): Promise<void> {
    const me = this.keys_?.account;
    if (me === undefined) return;
    const accepted = [...this.convs.records.keys()].flatMap((id) => {
      const state = this.convs.state(id);
      return state === undefined || this.consent.standing(id) !== "accepted" ? [] : [state];
    });
    for (const info of this.consent.requests()) {
      const state = this.convs.state(info.conversation);
      const peer = state === undefined ? undefined : directPeer(state, me);
      if (peer === undefined || !accepted.some((s) => isDirectWith(s, me, peer))) continue;
      await this.acceptRequest(info.conversation).catch(() => undefined);
    }
  }

  private startSocket(): void {
    const k = this.keys();
    const url = `${this.origin.replace(/^http/, "ws")}/v1/ws`;
    this.socket = new SocketClient(url, {
      ticket: () => this.session.ticket(k.device, k.record.username),
      frame: (f) => {
        this.onFrame(f);
      },
      state: (s) => {
        this.connection = s;
        if (s.kind === "open") {
          // Back online: send what queued up, and retry what was held because the server could
          // not be reached. Unacknowledged copies come again by themselves (the server replays
          // the device's queue after `ready`), and replays are refused.
          this.messaging.kick();
          this.messaging.redeliverNow();
          void this.messaging.retryHeld().catch(() => undefined);
          void this.refreshConsent().catch(() => undefined);
        }
        this.changed();
      },
    });
    // One socket per device: the first tab leads; others wait for it to close, or take over.
    const locks =
      typeof navigator !== "undefined" && "locks" in navigator ? navigator.locks : undefined;
    const socket = this.socket;
    if (locks === undefined || typeof BroadcastChannel === "undefined") {
      socket.start();
      return;
    }
    this.leadership = new Leadership(
      this.store.lockName("socket"),
      {
        lead: () => {
          const followed = this.secondaryTab;
          this.secondaryTab = false;
          // What the leading tab changed meanwhile is in the store: read it first.
          const ready = followed ? this.reloadFromStore() : Promise.resolve();
          void ready
            .catch(() => undefined)
            .then(() => {
              socket.start();
              this.changed();
            });
        },
        follow: () => {
          this.secondaryTab = true;
          socket.stop();
          this.changed();
        },
      },
      locks,
      broadcastChannel,
    );
    this.leadership.start();
  }

  /**
   * Another tab leads: asks it to step back, and leads here once it has (it then shows the
   * secondary state with its own "Use here").
   */
  async takeOver(): Promise<void> {
    await this.leadership?.takeOver();
  }

  /**
   * Conversations, receiver state and outbox as the store holds them (another tab led
   * meanwhile), in turn with the frames coming in.
   */
  private async reloadFromStore(): Promise<void> {
    await this.messaging.whenIdle();
    await this.messaging.inTurn(async () => {
      await this.convs.load();
      await this.messaging.load();
    });
    this.changed();
  }

  private stopSocket(): void {
    this.messaging.stop();
    this.socket?.stop();
    this.socket = undefined;
    this.leadership?.stop();
    this.leadership = undefined;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }

  /**
   * The server says `conv`'s group log changed (a `conversation` frame): it is fetched and
   * verified at once, so an invitee sees a new group before anyone writes in it and a removed
   * member learns it now (the server answers a former member the log up to its removal). Then
   * the lists say whether it is a conversation, a request, or one this account left.
   */
  private async conversationChanged(conv: string): Promise<void> {
    await this.messaging.inTurn(() => this.convs.sync(conv)).catch(() => false);
    await this.refreshConsent().catch(() => undefined);
    await this.continuity.takeNames().catch(() => undefined);
    this.changed();
  }

  retryConnection(): void {
    this.socket?.retryNow();
  }

  private onFrame(f: ServerFrame): void {
    switch (f.type) {
      case "envelope":
        this.messaging.onFrame(f);
        break;
      case "signal": {
        let m = this.typing.get(f.conversation);
        if (m === undefined) {
          m = new Map();
          this.typing.set(f.conversation, m);
        }
        if (f.kind === "typing") m.set(f.from_account, Date.now() + TYPING_MS);
        else if (f.kind === "stopped") m.delete(f.from_account);
        this.changed();
        break;
      }
      case "handover":
        void this.takeHandovers();
        break;
      case "conversation":
        void this.conversationChanged(f.conversation);
        break;
      case "ready":
      case "sent":
      case "acked":
      case "pong":
      case "error":
        break;
      default: {
        const unhandled: never = f;
        throw new Error(`unhandled frame ${String(unhandled)}`);
      }
    }
  }

  // ------------------------------------------------------------------ account actions

  /**
   * Acts for another account than this client's: in a client of that account's namespace, which
   * replaces this one if `act` succeeds. This client's namespace is neither read nor written;
   * a namespace opened for nothing (a refused name or password) is deleted again.
   */
  private async handOff(username: string, act: (next: SottoClient) => Promise<void>) {
    let next: SottoClient;
    try {
      this.error = undefined;
      next = await SottoClient.open(this.origin, username);
    } catch (e) {
      this.fail(e);
    }
    try {
      await act(next);
    } catch (e) {
      await next.discard();
      this.fail(e);
    }
    this.stopSocket();
    this.db.close();
    for (const l of this.replaceListeners) l(next);
  }

  /** Closes a client that did not take over; its namespace goes if it holds no keys. */
  private async discard(): Promise<void> {
    this.pending = undefined;
    this.stopSocket();
    const keys = await this.db.entries("keys").catch(() => undefined);
    this.db.close();
    const empty = keys?.every(([name]) => name === "store-key") ?? false;
    const listed =
      this.accountName !== undefined && this.accountsOnThisBrowser().includes(this.accountName);
    if (empty && !listed) await Database.wipe(this.db.name).catch(() => undefined);
  }

  /** How the server accepts new accounts (`GET /v1/registration`), for the sign-up form. */
  async registrationMode(): Promise<RegistrationMode> {
    return (await this.api.registration()).mode;
  }

  /** Creates an account and this first device, in a namespace of its own (never another's). */
  async register(
    username: string,
    password: string,
    deviceName: string,
    invite?: string,
  ): Promise<void> {
    if (this.accountName !== foldUsername(username)) {
      await this.handOff(username, (next) => next.register(username, password, deviceName, invite));
      return;
    }
    try {
      this.error = undefined;
      if (this.keys_ !== undefined)
        throw new Error(
          `This browser already holds ${this.accountName}'s keys: log in instead (or remove that account's data from this browser first).`,
        );
      let registered;
      try {
        registered = await register(this.deps(), username, password, deviceName, invite);
      } catch (e) {
        const refusal = registrationRefusal(e, normalizeInvite(invite) !== undefined);
        throw refusal === undefined ? e : new Error(refusal);
      }
      this.keys_ = registered.keys;
      // Offered once the account is in ("Set up recovery"): the only time it can be backed up.
      this.masterPkcs8 = registered.masterPkcs8;
      this.recoveryOffer = true;
      await this.enter();
    } catch (e) {
      this.fail(e);
    }
  }

  /**
   * Logs in: with the device keys of this account's namespace when this browser holds them,
   * else as a new device waiting for approval. Other accounts' namespaces are left alone.
   */
  async login(username: string, password: string, deviceName: string): Promise<void> {
    if (this.accountName !== foldUsername(username)) {
      await this.handOff(username, (next) => next.login(username, password, deviceName));
      return;
    }
    try {
      this.error = undefined;
      const k = this.keys_;
      if (k !== undefined) {
        await loginExisting(this.deps(), k, password);
        await this.enter();
        return;
      }
      this.pending = await startNewDevice(this.deps(), username, password, deviceName);
      this.pendingName = deviceName;
      this.setPhase({
        kind: "awaiting-approval",
        code: this.pending.code,
        device: this.pending.deviceText,
      });
      void this.pollApproval();
    } catch (e) {
      this.fail(e);
    }
  }

  private async pollApproval(): Promise<void> {
    while (this.pending !== undefined && this.phase.kind === "awaiting-approval") {
      try {
        const loaded = await completeNewDevice(this.deps(), this.pending, this.pendingName);
        if (loaded !== undefined) {
          this.pending = undefined;
          this.keys_ = loaded;
          await this.enter();
          return;
        }
      } catch (e) {
        this.error = e instanceof Error ? e.message : String(e);
        this.changed();
      }
      await new Promise((r) => setTimeout(r, 2000));
    }
  }

  cancelApproval(): void {
    this.pending = undefined;
    this.setPhase({ kind: "signed-out" });
  }

  /**
   * Logs out. `remove`: this account's namespace (keys, history, session) leaves the browser;
   * other accounts' data stays. Otherwise it is kept, sealed, for the next login here.
   */
  async logout(remove: boolean): Promise<void> {
    this.stopSocket();
    await this.session.logout();
    const index = AccountIndex.browser();
    if (remove) {
      this.db.onClosedByOtherTab = () => undefined;
      this.db.close();
      await Database.wipe(this.db.name);
      if (this.accountName !== undefined) index.removed(this.accountName);
      location.reload();
      return;
    }
    if (this.accountName !== undefined) index.signedOut(this.accountName);
    this.setPhase({
      kind: "signed-out",
      ...(this.keys_ ? { knownUsername: this.keys_.record.username } : {}),
    });
  }

  /**
   * What removing this account's data from the browser would leave: its other active devices,
   * and whether a recovery key is set up (`undefined`: the server could not say).
   */
  async logoutAdvice(): Promise<{ otherDevices: number; recovery: boolean | undefined }> {
    const me = this.keys_ === undefined ? undefined : DeviceId.toText(this.keys_.device.device);
    const [devices, recovery] = await Promise.all([
      this.api.devices(),
      this.api.recovery().then(
        (r) => r.configured,
        () => undefined,
      ),
    ]);
    const otherDevices = devices.filter((d) => d.state === "active" && d.device !== me).length;
    return { otherDevices, recovery };
  }

  async listDevices(): Promise<DeviceView[]> {
    return this.api.devices();
  }

  async approve(device: string, code: string): Promise<void> {
    const approved = await approveDevice(this.deps(), this.keys(), device, code);
    this.directory.invalidate();
    // The new device gets the chains this one holds, so it reads what was sent before it (§16).
    try {
      await this.continuity.handOver(device, approved);
    } catch (e) {
      this.error = `Approved, but its keys could not be handed over: ${e instanceof Error ? e.message : String(e)}`;
      this.changed();
    }
  }

  // ------------------------------------------------------------------ recovery and history

  /** Hand-overs waiting for this device: taken, then the archive read with the keys they gave. */
  private async takeHandovers(): Promise<void> {
    try {
      // The conversations first (a new device may not have verified them yet): a chain is
      // introduced into the receiver state only against its conversation's verified state.
      await this.refreshConversations().catch(() => undefined);
      if ((await this.continuity.receiveHandovers()) === 0) return;
      await this.loadAllHistory();
    } catch {
      // tried again at the next start or `handover` frame
    }
  }

  /** The first page of every conversation's archive (after a recovery or a hand-over). */
  private async loadAllHistory(): Promise<void> {
    for (const conv of this.convs.records.keys())
      await this.continuity.archive.loadEarlier(conv).catch(() => undefined);
  }

  /**
   * Every page of every conversation's archive: what a recovered device reads before it revokes
   * the lost one, whose archived envelopes no longer open once it is revoked (protocol §17.2).
   */
  private async readWholeArchive(): Promise<void> {
    for (const conv of this.convs.records.keys()) {
      while (this.continuity.archive.cursor(conv).more) {
        const page = await this.continuity.archive.loadEarlier(conv).catch(() => undefined);
        if (page === undefined) break;
      }
    }
  }

  /** The next page of the conversation's archive ("Load earlier messages"). */
  async loadEarlier(conv: string): Promise<void> {
    await this.continuity.archive.loadEarlier(conv);
  }

  /** Sets how long the conversation's messages are kept (a signed group-log entry, §6.7). */
  async setRetention(conv: string, seconds: number): Promise<void> {
    await this.convs.change(
      conv,
      { type: "set-retention", seconds: BigInt(seconds) },
      this.me(),
      BigInt(Date.now()),
    );
    await this.continuity.sweep();
    this.changed();
  }

  /** Whether this page can use a recovery passphrase (Argon2id needs WebAssembly). */
  passphraseSupported(): Promise<boolean> {
    return passphraseSupported();
  }

  recoveryStatus(): Promise<RecoveryStatus> {
    return this.api.recovery();
  }

  /**
   * Sets recovery up while this session still holds the new master key's PKCS#8 (right after
   * Create account). Returns the recovery key's text, to show once, for a key set-up.
   */
  async setUpRecovery(choice: RecoveryChoice): Promise<{ keyText: string | undefined }> {
    const pkcs8 = this.masterPkcs8;
    if (pkcs8 === undefined)
      throw new Error("This browser cannot back up the account key: use `sotto recovery setup`.");
    const made = await setUpRecovery(
      this.deps(),
      this.keys(),
      await this.continuity.ownCertificate(),
      choice,
      new Uint8Array(pkcs8),
      await this.continuity.sources(),
    );
    this.continuity.useWriter(made.writer);
    pkcs8.fill(0);
    this.masterPkcs8 = undefined;
    return { keyText: made.keyText };
  }

  /** The recovery offer is over (set up, or declined): the key's bytes are wiped. */
  finishRecoveryOffer(): void {
    this.masterPkcs8?.fill(0);
    this.masterPkcs8 = undefined;
    this.recoveryOffer = false;
    this.changed();
  }

  /**
   * "Recover account": this browser becomes a device of `username` with the recovery key (or
   * passphrase), then takes the backup's keys and reads every conversation's archive.
   */
  async recover(
    username: string,
    password: string,
    secret: RecoverySecret,
    deviceName: string,
  ): Promise<void> {
    if (this.accountName !== foldUsername(username)) {
      await this.handOff(username, (next) => next.recover(username, password, secret, deviceName));
      return;
    }
    this.error = undefined;
    if (this.keys_ !== undefined)
      throw new Error(
        `This browser already holds ${this.accountName}'s keys: log in instead (recovery is for a browser without them).`,
      );
    let recovered;
    try {
      recovered = await recoverAccount(this.deps(), username, password, secret, deviceName);
    } catch (e) {
      throw new Error(recoveryMessage(e));
    }
    this.keys_ = recovered.keys;
    this.recoveredOthers = recovered.others.length > 0 ? recovered.others : undefined;
    await this.enter();
    this.continuity.useWriter(recovered.writer);
    await this.refreshConversations().catch(() => undefined);
    await this.continuity.take(recovered.records);
    this.archiveRead = this.readWholeArchive();
  }

  /** After a recovery: revokes the devices the user lost, once the archive is read (§17.2). */
  async revokeOtherDevices(devices: readonly string[]): Promise<void> {
    await this.archiveRead;
    for (const d of devices) await this.revoke(d);
    this.recoveredOthers = undefined;
    this.changed();
  }

  dismissRecovered(): void {
    this.recoveredOthers = undefined;
    this.changed();
  }

  async revoke(device: string): Promise<void> {
    const k = this.keys();
    const contact = await this.directory.contact(k.record.account, true);
    const record = await revokeDevice(this.deps(), k, device, contact.highestRevocationSerial);
    this.keys_ = { ...k, record };
    this.directory.invalidate();
  }

  // ------------------------------------------------------------------ verification

  async safetyNumber(account: string): Promise<{
    digits: string[];
    qr: Uint8Array;
    username: string;
    verified: boolean;
    changed: boolean;
  }> {
    const k = this.keys();
    const pin = await this.directory.pin(account);
    if (pin === undefined) await this.directory.contact(account);
    const p = await this.directory.pin(account);
    if (p === undefined) throw new Error("unknown contact");
    const spki = p.pendingSpki ?? p.masterSpki;
    const n = await SafetyNumber.compute(k.record.masterSpki, spki);
    return {
      digits: n.groups(),
      qr: n.qrPayload,
      username: p.username,
      verified: p.verified,
      changed: p.pendingSpki !== undefined || p.replaces !== undefined,
    };
  }

  async markVerified(account: string, verified: boolean): Promise<void> {
    if (verified) await this.directory.markVerified(account);
    else await this.directory.unmarkVerified(account);
    await this.refreshAlerts();
  }

  /**
   * Accepts a contact's new identity (after the blocking warning). Unverified from then on; what
   * was held from it is checked and shown now.
   */
  async acceptIdentity(account: string): Promise<void> {
    await this.messaging.acceptIdentity(account);
    await this.refreshAlerts();
    this.messaging.kick();
  }

  /** Looks a user up (pins their key on first use) and refreshes alerts. */
  async lookup(username: string): Promise<{ account: string; username: string }> {
    const c = await this.directory.contact(username.trim().toLowerCase(), true);
    await this.refreshAlerts();
    return { account: c.accountText, username: c.username };
  }

  // ------------------------------------------------------------------ conversations

  private me(): Signer {
    const k = this.keys();
    return { account: k.account, keys: k.device, device: this.selfDevice() };
  }

  /**
   * Creates a group named `name` (the server sees a salted commitment, protocol §6.5), or the
   * 1:1 with the one username when `name` is `undefined` (§6.4).
   */
  async createConversation(
    name: string | undefined,
    usernames: readonly string[],
  ): Promise<string> {
    const k = this.keys();
    const members: Member[] = [{ account: k.account, admin: true }];
    for (const u of usernames) {
      const c = await this.directory.contact(u.trim().toLowerCase(), true);
      if (c.trust === "changed") {
        await this.refreshAlerts();
        throw new Error(`${c.username}'s identity changed: review the warning first`);
      }
      if (
        c.accountText === k.record.account ||
        members.some((m) => AccountId.toText(m.account) === c.accountText)
      )
        continue;
      members.push({ account: c.account, admin: false });
    }
    await this.refreshAlerts();
    if (members.length < 2) throw new Error("add at least one other person");
    const id = ConversationId.fromBytes(systemRandom(16));
    let kind: CreateKind = { type: "direct" };
    let reveal: NameReveal | undefined;
    if (name !== undefined) {
      reveal = { epoch: 0n, salt: systemRandom(NAME_SALT_LEN), name: checkGroupName(name) };
      kind = { type: "group", nameCommitment: await nameCommitment(id, reveal) };
    }
    const conv = await this.convs.create(kind, members, this.me(), BigInt(Date.now()), id);
    this.consent.created(conv);
    await this.saveConsent();
    if (reveal !== undefined) {
      this.convs.remember(conv, reveal);
      await this.convs.save(conv);
      await this.sendName(conv);
    }
    this.changed();
    return conv;
  }

  /**
   * Sends the group's current name to its members (protocol §6.5): after creating or renaming
   * it, and after adding a member, who gets chain keys from then on only.
   */
  private async sendName(conv: string): Promise<void> {
    const known = this.convs.currentName(conv);
    if (known === undefined) return;
    await this.messaging.send(conv, {
      type: "group-name",
      epoch: known.epoch.toString(),
      salt: [...known.salt],
      name: known.name,
    });
  }

  /** A 1:1 conversation with `username` (an existing one if there is). */
  async direct(username: string): Promise<string> {
    const c = await this.lookup(username);
    if (this.trustOf(c.account) === "changed")
      throw new Error(`${c.username}'s identity changed: review the warning first`);
    // Declined ones and those not known yet are left out; a pending request from them counts.
    const states = [...this.convs.records.keys()].flatMap((id) => {
      const state = this.convs.state(id);
      return state === undefined || this.consent.standing(id) === "unknown"
        ? []
        : [[id, state] as const];
    });
    const found = findDirect(states, this.keys().account, AccountId.parse(c.account));
    // Starting a chat with someone whose request is waiting is answering it.
    if (found !== undefined && this.consent.standing(found) === "request")
      await this.acceptRequest(found);
    if (found !== undefined) return found;
    return this.createConversation(undefined, [c.username]);
  }

  async addMember(conv: string, username: string): Promise<void> {
    const c = await this.directory.contact(username.trim().toLowerCase(), true);
    if (c.trust === "changed") {
      await this.refreshAlerts();
      throw new Error(`${c.username}'s identity changed: review the warning first`);
    }
    await this.convs.change(
      conv,
      { type: "add-member", member: { account: c.account, admin: false } },
      this.me(),
      BigInt(Date.now()),
    );
    await this.sendName(conv);
    this.changed();
  }

  /** Renames a group: a Rename in the log, then the name to the members (§6.5). */
  async renameGroup(conv: string, name: string): Promise<void> {
    await this.convs.rename(conv, name, this.me(), BigInt(Date.now()), systemRandom(NAME_SALT_LEN));
    await this.sendName(conv);
    this.changed();
  }

  /** Makes a member an admin, or takes it back (§6.3). */
  async setAdmin(conv: string, account: string, admin: boolean): Promise<void> {
    await this.convs.change(
      conv,
      { type: "set-admin", account: AccountId.parse(account), admin },
      this.me(),
      BigInt(Date.now()),
    );
    this.changed();
  }

  /**
   * Leaves a conversation (a RemoveMember of this account, §6.3). The last admin names another
   * member first (`newAdmin`, promoted before leaving); without one it is refused here, as the
   * log would refuse it (`group/last-admin`).
   */
  async leaveGroup(conv: string, newAdmin?: string): Promise<void> {
    await this.convs.sync(conv).catch(() => false);
    const state = this.convs.state(conv);
    if (state === undefined) throw new Error("unknown conversation");
    const me = this.keys().record.account;
    const members = state
      .members()
      .map((m) => ({ account: AccountId.toText(m.account), admin: m.admin }));
    const plan = leavePlan(members, me, newAdmin);
    if (plan.promote !== undefined) await this.setAdmin(conv, plan.promote, true);
    await this.convs.change(
      conv,
      { type: "remove-member", account: AccountId.parse(me) },
      this.me(),
      BigInt(Date.now()),
    );
    this.changed();
  }

  async removeMember(conv: string, account: string): Promise<void> {
    await this.convs.change(
      conv,
      { type: "remove-member", account: AccountId.parse(account) },
      this.me(),
      BigInt(Date.now()),
    );
    this.changed();
  }

  // ------------------------------------------------------------------ requests and blocks

  /** Accepts a request: it becomes a conversation, and its sender a contact. */
  async acceptRequest(conv: string): Promise<void> {
    await this.api.acceptConversation(conv);
    this.consentVersion += 1;
    this.consent.accept(conv);
    await this.saveConsent();
    if (!this.convs.records.has(conv)) await this.convs.sync(conv).catch(() => false);
    this.changed();
    // Open now and accepted: what was read gets its receipts.
    if (this.visible === conv) void this.messaging.markRead(conv);
  }

  /** Declines a request: no further copies reach this account; it is listed nowhere. */
  async declineRequest(conv: string): Promise<void> {
    await this.api.declineConversation(conv);
    this.consentVersion += 1;
    this.consent.decline(conv);
    await this.saveConsent();
    this.changed();
  }

  /** Blocks a user: nothing they send reaches this account, and their requests are declined. */
  async block(username: string): Promise<void> {
    const name = username.trim().toLowerCase();
    await this.api.block(name);
    this.consentVersion += 1;
    const blocked = (await this.api.blocks()).find((b) => b.username === name);
    if (blocked !== undefined) this.consent.blocked(blocked.account);
    await this.saveConsent();
    this.changed();
  }

  async unblock(username: string): Promise<void> {
    await this.api.unblock(username);
    this.changed();
  }

  blocks(): Promise<BlockedView[]> {
    return this.api.blocks();
  }

  /** Stops retrying a message some member device did not get; its note stays. */
  dismissUndelivered(conv: string, messageId: string): Promise<void> {
    return this.messaging.dismissUndelivered(conv, messageId);
  }

  setVisible(conv: string | undefined): void {
    this.visible = conv;
    if (conv === undefined) return;
    void this.messaging.markRead(conv);
    // Opening a conversation reads the newest page of its archive once (§17).
    if (!this.continuity.archive.started(conv))
      void this.continuity.archive.loadEarlier(conv).catch(() => undefined);
  }

  /**
   * Sends text: a Message body when it replies or mentions (account ids, members only), a Text
   * body otherwise (§8.2, §8.4). Throws, with nothing sealed or queued, what the server would
   * refuse for sure (too long, not a member, a member's identity changed).
   */
  async sendText(
    conv: string,
    text: string,
    opts?: { readonly replyTo?: string; readonly mentions?: readonly string[] },
  ): Promise<void> {
    try {
      this.socket?.signal(conv, "stopped");
      const mentions = this.memberMentions(conv, opts?.mentions);
      const replyTo = opts?.replyTo;
      // A reply goes where its target is (a duplicate 1:1's message stays in its conversation).
      const target = replyTo === undefined ? conv : this.home(conv, replyTo);
      await this.messaging.send(
        target,
        replyTo === undefined && mentions.length === 0
          ? { type: "text", text }
          : { type: "message", text, mentions, ...(replyTo !== undefined ? { replyTo } : {}) },
      );
    } catch (e) {
      this.sendFailed(e);
    }
  }

  /** The mentioned accounts that are members, each once, at most 64 (§8.2). */
  private memberMentions(conv: string, mentions: readonly string[] | undefined): string[] {
    const state = this.convs.state(conv);
    if (mentions === undefined || state === undefined) return [];
    const members = new Set(state.members().map((m) => AccountId.toText(m.account)));
    return [...new Set(mentions)].filter((a) => members.has(a)).slice(0, 64);
  }

  private sendFailed(e: unknown): never {
    if (e instanceof BlockedError)
      this.fail(new Error("a member's identity changed: review it before sending"));
    this.fail(e);
  }

  /** Replaces the text (or caption) of one of this account's messages (§8.5). */
  async editMessage(
    conv: string,
    messageId: string,
    text: string,
    mentions?: readonly string[],
  ): Promise<void> {
    const home = this.home(conv, messageId);
    try {
      await this.messaging.amend(home, {
        type: "edit",
        target: messageId,
        text,
        mentions: this.memberMentions(home, mentions),
      });
    } catch (e) {
      this.sendFailed(e);
    }
  }

  /** Deletes one of this account's messages, here and for every member (§8.5). */
  async deleteMessage(conv: string, messageId: string): Promise<void> {
    try {
      await this.messaging.amend(this.home(conv, messageId), { type: "delete", target: messageId });
    } catch (e) {
      this.sendFailed(e);
    }
  }

  /** Adds (or takes back) a reaction to a message (§8.6). */
  async react(conv: string, messageId: string, emoji: string, added: boolean): Promise<void> {
    try {
      await this.messaging.amend(this.home(conv, messageId), {
        type: "reaction",
        target: messageId,
        emoji,
        added,
      });
    } catch (e) {
      this.sendFailed(e);
    }
  }

  /** Removes a message that could not be sent from the conversation. */
  dismissRefused(conv: string, messageId: string): Promise<void> {
    return this.messaging.dismissRefused(this.home(conv, messageId), messageId);
  }

  /** Why `file` cannot be sent (`"larger than 25 MB"`), or `undefined` when it can. */
  checkAttachment(file: File): string | undefined {
    return attachmentProblem(file.size, this.continuity.limits);
  }

  /** Uploads and sends a file with an optional caption; refused before the upload if too large. */
  async sendFile(
    conv: string,
    file: File,
    onProgress: (fraction: number) => void,
    caption = "",
  ): Promise<void> {
    const problem = this.checkAttachment(file);
    if (problem !== undefined) throw new Error(`${file.name} is ${problem}`);
    // A caption too long is refused before the upload, not after it.
    checkBody({ type: "text", text: caption }, this.continuity.limits.maxBodyBytes);
    const state = this.convs.state(conv);
    if (state !== undefined && !state.isMember(this.keys().account))
      throw new Error("You are no longer a member of this conversation");
    const plain = new Uint8Array(await file.arrayBuffer());
    const enc = await encryptAttachment(plain, systemEnv());
    const blobId = await this.api.uploadAttachment(conv, enc.blob, onProgress);
    try {
      await this.messaging.send(conv, {
        type: "attachment",
        caption,
        attachment: {
          blobId,
          fileName: file.name.trim() === "" ? "file" : file.name.slice(0, 200),
          mediaType: file.type === "" ? "application/octet-stream" : file.type.slice(0, 127),
          size: plain.length,
          secret: enc.secret,
          blobSha256: enc.blobSha256,
        },
      });
    } catch (e) {
      this.sendFailed(e);
    }
  }

  /**
   * Messages of the local decrypted history holding every word of `query` (the last as a
   * prefix), in `conv` (and the duplicate 1:1s shown in it) when given; newest first.
   */
  search(query: string, conv?: string): Promise<SearchHit[]> {
    const only = conv === undefined ? undefined : new Set(this.shownIn(conv));
    const view = this.getView();
    const hits = this.searchIndex
      .query(query)
      // The user's own history: not a stranger's request, not a declined conversation.
      .filter((h) => this.consent.standing(h.conv) === "accepted")
      .filter((h) => only === undefined || only.has(h.conv))
      .map((h) => {
        const shown = this.shownAs(h.conv);
        const c = view.conversations.find((x) => x.id === shown);
        return {
          conv: shown,
          convName: c?.name ?? UNNAMED_GROUP,
          messageId: h.message.id,
          fromUsername: this.directory.pinnedName(h.message.from) ?? h.message.fromUsername,
          sentAt: h.message.sentAt,
          text: h.text,
        };
      });
    return Promise.resolve(hits);
  }

  /** Calls `listener` with each new content message from someone else (notifications). */
  onIncoming = (listener: (conv: string, message: ChatMessage) => void): (() => void) => {
    this.incomingListeners.add(listener);
    return () => this.incomingListeners.delete(listener);
  };

  private announce(conv: string, messageId: string): void {
    if (this.incomingListeners.size === 0 || this.consent.standing(conv) !== "accepted") return;
    const m = this.convs.records.get(conv)?.messages.find((x) => x.id === messageId);
    if (m === undefined) return;
    const view = messageView(m, this.viewContext(conv));
    for (const l of this.incomingListeners) l(this.shownAs(conv), view);
  }

  /** Downloads and decrypts an attachment (hash and commitment checked first). */
  async download(
    blobId: string,
    secret: Uint8Array,
    sha256: Uint8Array,
    mediaType: string,
  ): Promise<Blob> {
    const blob = await this.api.downloadAttachment(blobId);
    const plain = await decryptAttachment(blob, secret, sha256);
    return new Blob([plain], { type: mediaType });
  }

  /** Sends a waiting message now: the same sealed bytes under the same id (never re-sealed). */
  retry(conv: string, messageId: string): Promise<void> {
    return this.messaging.retry(this.home(conv, messageId), messageId);
  }

  private lastTyping = 0;
  typingNow(conv: string): void {
    if (Date.now() - this.lastTyping < 3000) return;
    this.lastTyping = Date.now();
    this.socket?.signal(conv, "typing");
  }

  /**
   * The composer was emptied, sent or left: the others stop showing "typing…" now rather than
   * when the signal expires, and the next keystroke signals typing again at once.
   */
  typingStopped(conv: string): void {
    if (this.lastTyping === 0) return;
    this.lastTyping = 0;
    this.socket?.signal(conv, "stopped");
  }
}
