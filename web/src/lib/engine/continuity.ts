/**
 * What keeps a lost laptop from losing anything, on this device (`docs/protocol.md` §6.7,
 * §15–§17): the history keys (every chain held, kept sealed), the backup writer that sends them
 * and the pins and group names to the server (when this device holds a backup key), bundles
 * taken from a backup or a hand-over, hand-overs sent to a device this one approves, the
 * server's archive read with the history keys, and the retention sweep that deletes what is past
 * a conversation's retention. A thin driver over pure pieces: `HistoryKeys` (crypto),
 * `HistoryArchive`, `BackupWriter`, `retention.ts`.
 */

import {
  AccountId,
  type BundleRecord,
  type ChainRecord,
  ChainId,
  copyBytes,
  ConversationId,
  DeviceId,
  Envelope,
  HistoryKeys,
  type HistoryKeysSnapshot,
  MessageId,
  type Signed,
  decodeSignedIdentity,
  isProtocolError,
  openArchived,
} from "../../crypto";
import type { ApiClient } from "../api";
import { fromB64 } from "../b64";
import type { ArchivedEnvelope } from "../schemas";
import type { SealedStore } from "../../storage/sealed";
import type { Approved } from "./account";
import type { BackupWriter } from "./backup";
import type { Conversations } from "./conversations";
import type { Directory } from "./directory";
import { isTransient } from "./delivery";
import { receiveHandovers, sendHandover } from "./handover";
import { type ArchiveOutcome, HistoryArchive } from "./history";
import type { BundleSources } from "./keybundle";
import type { LoadedKeys } from "./keystore";
import { type Messaging, replyAndMentions, shownContent } from "./messaging";
import { amendmentFrom } from "./amend";
import type { StoredMessage } from "./stored";
import { dropExpired, effectiveRetention } from "./retention";
import { DEFAULT_LIMITS, policyLimits } from "./limits";
import type { Limits } from "./model";

const HISTORY_KEYS = "history-keys";
const POLICY = "policy";
/** How often local messages past their retention are looked for (the shortest is an hour). */
export const SWEEP_MS = 30_000;

export interface ContinuityHost {
  keys(): LoadedKeys;
  changed(): void;
}

export class Continuity {
  private historyKeys = new HistoryKeys();
  private writer: BackupWriter | undefined;
  private serverDefault: number | undefined;
  /** The server's limits (§11), kept for offline use; the defaults until it said. */
  limits: Limits = DEFAULT_LIMITS;
  private flushTimer: ReturnType<typeof setTimeout> | undefined;
  /** Group names from a bundle for conversations not synced yet (§15.1): tried after a sync. */
  private names: Extract<BundleRecord, { type: "group-name" }>[] = [];
  readonly archive: HistoryArchive;

  constructor(
    private readonly api: ApiClient,
    private readonly store: SealedStore,
    private readonly directory: Directory,
    private readonly convs: Conversations,
    private readonly messaging: Messaging,
    private readonly host: ContinuityHost,
  ) {
    this.archive = new HistoryArchive({
      fetch: (conv, before, limit) => this.api.history(conv, before, limit),
      open: (conv, archived) => this.openArchived(conv, archived),
      messages: (conv) => this.convs.records.get(conv)?.messages,
      retention: (conv) => this.retention(conv),
      amend: (conv, amendment, placed) => {
        this.messaging.applyArchived(conv, amendment, placed);
      },
      save: (conv) => this.convs.save(conv),
      changed: () => {
        this.host.changed();
      },
    });
  }

  async load(writer: BackupWriter | undefined): Promise<void> {
    const snap = await this.store.get<HistoryKeysSnapshot>(HISTORY_KEYS);
    this.historyKeys = snap === undefined ? new HistoryKeys() : HistoryKeys.restore(snap);
    this.writer = writer;
    const policy = await this.store.get<{ secs: number; limits?: Limits }>(POLICY);
    this.serverDefault = policy?.secs;
    this.limits = policy?.limits ?? DEFAULT_LIMITS;
  }

  /** The server's default retention (§6.7), fetched once per start and kept for offline use. */
  async refreshPolicy(): Promise<void> {
    const policy = await this.api.policy();
    this.serverDefault = policy.default_retention_secs;
    this.limits = policyLimits(policy);
    await this.store.put([[POLICY, { secs: this.serverDefault, limits: this.limits }]]);
    this.host.changed();
  }

  /** Seconds a conversation's messages are kept (0: for good); `undefined` while unknown. */
  retention(conv: string): number | undefined {
    const logValue = this.convs.state(conv)?.retention;
    return effectiveRetention(
      logValue === undefined ? undefined : Number(logValue),
      this.serverDefault,
    );
  }

  get hasBackup(): boolean {
    return this.writer !== undefined;
  }

  useWriter(writer: BackupWriter): void {
    this.writer = writer;
  }

  /** Keeps a chain this device holds from now on; the record to store with what caused it. */
  async keep(record: ChainRecord): Promise<readonly [string, unknown]> {
    await this.keepQuietly(record);
    this.scheduleBackup();
    return [HISTORY_KEYS, this.historyKeys.snapshot()];
  }

  /** Adds a chain to the history keys; a conflicting copy of a known one changes nothing. */
  private async keepQuietly(record: ChainRecord): Promise<void> {
    try {
      await this.historyKeys.add(record);
    } catch (e) {
      if (!isProtocolError(e, "receive/chain-key-conflict")) throw e;
    }
  }

  /** Everything another device of this account should get: chains, pins, group names. */
  async sources(): Promise<BundleSources> {
    const me = this.host.keys().record.account;
    const pins = (await this.directory.pinsList())
      .filter((p) => p.account !== me && p.pendingSpki === undefined && p.replaces === undefined)
      .map((p) => ({ account: p.account, username: p.username, verified: p.verified }));
    const names = [...this.convs.records.keys()].flatMap((conv) => {
      const n = this.convs.currentName(conv);
      return n === undefined
        ? []
        : [{ conversation: conv, epoch: n.epoch, salt: copyBytes(n.salt), name: n.name }];
    });
    return { keys: this.historyKeys.records(), pins, names };
  }

  private scheduleBackup(): void {
    if (this.writer === undefined || this.flushTimer !== undefined) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      void this.flushBackup().catch(() => undefined);
    }, 2000);
  }

  /** Sends the backup what it does not hold yet (chains, pins, names), if this device writes it. */
  async flushBackup(certificate?: Signed): Promise<void> {
    const writer = this.writer;
    if (writer === undefined) return;
    const k = this.host.keys();
    const cert = certificate ?? (await this.ownCertificate());
    await writer.flush(
      this.api,
      { account: k.account, device: k.device, certificate: cert },
      await this.sources(),
    );
  }

  /** This device's certificate as the server lists it (Signed form). */
  async ownCertificate(): Promise<Signed> {
    const me = DeviceId.toText(this.host.keys().device.device);
    const mine = (await this.api.devices()).find((d) => d.device === me);
    if (mine?.certificate === undefined || mine.certificate === null)
      throw new Error("this device is not certified");
    return decodeSignedIdentity(fromB64(mine.certificate));
  }

  /**
   * Takes a bundle's records (§15.1, in order): chains into the history keys and, in their
   * conversation's current epoch and not this device's own, into the receiver state; pins the
   * directory confirms; group names the log commits to. Then held envelopes are retried and the
   * archive may be read again.
   */
  take(records: readonly BundleRecord[]): Promise<void> {
    return this.messaging
      .inTurn(async () => {
        const me = this.host.keys();
        let introduced = false;
        for (const r of records) {
          if (r.type !== "chain") continue;
          const state = this.convs.state(ConversationId.toText(r.conversation));
          if (state !== undefined) {
            try {
              // Introduced when current, its owner a member and not this device's (§15.1).
              const taken = await this.messaging.receiver.takeRecord(r, state, me.device.device);
              if (taken === "introduced") introduced = true;
            } catch (e) {
              // A conflicting copy of a known chain: this record only is skipped.
              if (!isProtocolError(e)) throw e;
              console.warn(`sotto: chain ${ChainId.toText(r.chain)} not taken: ${e.code}`);
              continue;
            }
          }
          await this.keepQuietly(r);
        }
        const entries: (readonly [string, unknown])[] = [
          [HISTORY_KEYS, this.historyKeys.snapshot()],
        ];
        if (introduced) entries.push(["receiver", this.messaging.receiver.snapshot()]);
        await this.store.put(entries);
        for (const r of records) {
          if (r.type === "pin") {
            try {
              await this.directory.adoptPin(AccountId.toText(r.account), r.username, r.verified);
            } catch {
              // the directory could not confirm it now: the contact is pinned on first use later
            }
          } else if (r.type === "group-name") this.names.push(r);
        }
        await this.takeNames();
      })
      .then(async () => {
        this.archive.reset();
        await this.messaging.retryHeld();
        this.host.changed();
      });
  }

  /** Group names from bundles, for conversations this device has verified the log of. */
  async takeNames(): Promise<void> {
    const left: typeof this.names = [];
    for (const n of this.names) {
      const conv = ConversationId.toText(n.conversation);
      if (!this.convs.records.has(conv)) {
        left.push(n);
        continue;
      }
      if (this.convs.currentName(conv) !== undefined) continue;
      try {
        await this.convs.acceptName(conv, n.reveal);
        await this.convs.save(conv);
      } catch {
        // not this log's name (§6.5): ignored
      }
    }
    this.names = left;
  }

  /** Hands this device's chains, pins and names to a device it just approved (§16). */
  async handOver(deviceText: string, approved: Approved): Promise<number> {
    return sendHandover(
      this.api,
      this.host.keys(),
      deviceText,
      approved,
      await this.sources(),
      BigInt(Date.now()),
    );
  }

  /** Opens the hand-overs waiting for this device and takes their records. */
  async receiveHandovers(): Promise<number> {
    return receiveHandovers(this.api, this.directory, this.host.keys(), (records) =>
      this.take(records),
    );
  }

  /** Opens one archived envelope with the history keys (§17.2). */
  private async openArchived(conv: string, archived: ArchivedEnvelope): Promise<ArchiveOutcome> {
    let envelope: Envelope;
    try {
      envelope = Envelope.decode(fromB64(archived.envelope));
    } catch (e) {
      return { kind: "skipped", code: isProtocolError(e) ? e.code : "malformed" };
    }
    const h = envelope.header;
    if (this.historyKeys.get(h.chain) === undefined)
      return { kind: "skipped", code: "receive/unknown-chain" };
    const state = this.convs.state(conv);
    if (state === undefined) return { kind: "skipped", code: "unknown-conversation" };
    const account = AccountId.toText(h.senderAccount);
    const device = DeviceId.toText(h.senderDevice);
    let contact = await this.directory.contact(account);
    let sender = contact.devices.find((d) => DeviceId.toText(d.device) === device);
    if (sender === undefined) {
      contact = await this.directory.contact(account, true);
      sender = contact.devices.find((d) => DeviceId.toText(d.device) === device);
    }
    if (sender === undefined) return { kind: "skipped", code: "unverified-device" };
    let opened;
    try {
      opened = await openArchived(envelope, sender, state, this.historyKeys, BigInt(Date.now()));
    } catch (e) {
      if (isTransient(e) || !isProtocolError(e)) throw e;
      return { kind: "skipped", code: e.code };
    }
    const body = opened.body;
    const id = MessageId.toText(h.messageId);
    switch (body.type) {
      case "text":
      case "message":
      case "attachment": {
        const mine = account === this.host.keys().record.account;
        const message: StoredMessage = {
          id,
          from: account,
          fromUsername: this.directory.pinnedName(account) ?? account,
          mine,
          sentAt: Number(h.sentAt),
          receivedAt: archived.received_at,
          content: shownContent(body),
          ...replyAndMentions(body),
          chain: ChainId.toText(h.chain),
          index: h.index,
          // Read already: history never notifies nor sends a receipt (§17.2).
          status: mine ? "sent" : "read",
        };
        return { kind: "message", message };
      }
      case "group-name":
        try {
          await this.convs.acceptName(conv, body.reveal);
        } catch {
          // not the log's name: ignored
        }
        return { kind: "none" };
      case "receipt":
        return { kind: "none" };
      case "edit":
      case "delete":
      case "reaction": {
        const meta = {
          id,
          from: account,
          sentAt: Number(h.sentAt),
          receivedAt: archived.received_at,
        };
        const amendment = amendmentFrom(body, meta);
        return amendment === undefined ? { kind: "none" } : { kind: "amendment", amendment };
      }
    }
  }

  /**
   * Deletes what is past its conversation's retention (§6.7): local messages, and history keys
   * all of whose messages are past it. On start and on a timer.
   */
  async sweep(now = Date.now()): Promise<void> {
    const touched: string[] = [];
    for (const [conv, rec] of this.convs.records) {
      if (dropExpired(rec.messages, this.retention(conv), now) > 0) touched.push(conv);
    }
    const pruned = this.historyKeys.prune(
      (c) => BigInt(this.retention(ConversationId.toText(c)) ?? 0),
      BigInt(now),
    );
    const entries: (readonly [string, unknown])[] = touched.map((c) => this.convs.entry(c));
    if (pruned > 0) entries.push([HISTORY_KEYS, this.historyKeys.snapshot()]);
    if (entries.length === 0) return;
    await this.store.put(entries);
    this.host.changed();
  }
}
