/**
 * The fixed test world of the web engine: a clock frozen at `T0`, the accounts alice and bob, and
 * devices over an in-memory relay that stores, fans out and archives like the server, with the
 * server's failure modes (down, lost answers, refusals, tampering, lying directory). Shared by the
 * engine's tests.
 */

import "fake-indexeddb/auto";

import { afterAll, beforeAll, vi } from "vitest";

import {
  AccountId,
  type ChainRecord,
  ConversationId,
  type CreateKind,
  DeviceId,
  GroupChange,
  decodeSignedChange,
  PrekeyRing,
  localDevice,
  systemRandom,
} from "../../crypto";
import { T0, type TestAccount, testAccount } from "../../crypto/test-support";
import { Database } from "../../storage/db";
import { SealedStore } from "../../storage/sealed";
import { ApiError, type ApiClient } from "../api";
import { fromB64, toB64 } from "../b64";
import type { DirectoryView, EnvelopeFrame, Undelivered, UndeliveredReason } from "../schemas";
import { Conversations } from "./conversations";
import { Directory } from "./directory";
import type { LoadedKeys } from "./keystore";
import { Continuity } from "./continuity";
import { Messaging, type MessagingHost, wireKind } from "./messaging";
import type { StoredMessage } from "./stored";

/**
 * Freezes `Date` at `T0` for the calling test file and gives the real clock back after its last
 * test. Only `Date`: timers still run, so the inbox, the outbox and receipts drain.
 */
export function dateFrozenAtT0(): void {
  beforeAll(() => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Number(T0));
  });
  afterAll(() => {
    vi.useRealTimers();
  });
}

/** alice (fixed slot 0) and bob (slot 1): the two accounts most engine tests talk between. */
export function aliceAndBob(): Promise<[TestAccount, TestAccount]> {
  return Promise.all([testAccount(0, "alice"), testAccount(1, "bob")]);
}

export interface Relay {
  views: Map<string, DirectoryView>;
  changes: { epoch: number; change: string; author: string; created_at: number }[];
  inbox: Map<string, EnvelopeFrame[]>;
  members: string[];
  seen: Set<string>;
  /** Fails the next sends as a lost connection would (after storing them, like a lost answer). */
  failNext?: number;
  /** Every wire form stored, by message id. */
  stored: Map<string, string>;
  /** Rewrites a payload in flight (a malicious relay). */
  tamper?: (bytes: Uint8Array) => Uint8Array | undefined;
  /** The server cannot be reached: every call fails as a dropped connection does. */
  down?: boolean;
  /** Directory answers a malicious server gives one device only (by device id, then lookup). */
  lies?: Map<string, Map<string, DirectoryView>>;
  /** Devices the server gives no copy, and why (a queue policy, a request, a block). */
  refuse?: Map<string, UndeliveredReason>;
  /** Undelivered records by message id: the devices a retry of the same bytes may still reach. */
  pending?: Map<string, Set<string>>;
  /** Every post, by message id (retries included). */
  posts?: string[];
  /** Posts fail as a dropped connection does (the directory still answers). */
  postsDown?: boolean;
  /** The server refuses every post for good with this error (a removed member, a bad body). */
  rejectPosts?: ApiError;
  /** One-time prekeys stored per device id (base64 `Signed`), oldest first; claims take one. */
  prekeys?: Map<string, string[]>;
  /** Every claim request, as the list of devices it named. */
  claims?: string[][];
}

export const unreachable = () => Promise.reject(new ApiError("network", 0, "Failed to fetch"));

export function directoryView(a: TestAccount): DirectoryView {
  return {
    username: a.name,
    account: AccountId.toText(a.master.account),
    master_key: toB64(a.master.verifyingKey.spki),
    devices: [
      {
        device: DeviceId.toText(a.device.keys.device),
        state: "active",
        name: "first device",
        signing_key: toB64(a.device.keys.signing.spki),
        auth_key: toB64(a.device.keys.auth.spki),
        certificate: toB64(a.device.certificate.encode()),
        exchange_key: toB64(a.device.exchangeCertificate.encode()),
        created_at: 1,
      },
    ],
    revocations: [],
  };
}

/** The part of the server API the engine uses, as one device sees it. */
export function fakeApi(relay: Relay, me: TestAccount): ApiClient {
  let seq = 0;
  const myDevice = DeviceId.toText(me.device.keys.device);
  const api = {
    prekeyCount: () => Promise.resolve({ remaining: relay.prekeys?.get(myDevice)?.length ?? 0 }),
    uploadPrekeys: (prekeys: readonly string[], replace: boolean) => {
      relay.prekeys ??= new Map();
      const kept = replace ? [] : (relay.prekeys.get(myDevice) ?? []);
      relay.prekeys.set(myDevice, [...kept, ...prekeys]);
      return Promise.resolve({ remaining: kept.length + prekeys.length });
    },
    claimPrekeys: (devices: readonly string[]) => {
      if (relay.down === true) return unreachable();
      (relay.claims ??= []).push([...devices]);
      const out: Record<string, string | null> = {};
      for (const d of devices) out[d] = relay.prekeys?.get(d)?.shift() ?? null;
      return Promise.resolve({ prekeys: out });
    },
    directory: (who: string) => {
      if (relay.down === true) return unreachable();
      const v = relay.lies?.get(myDevice)?.get(who) ?? relay.views.get(who);
      return v === undefined ? Promise.reject(new Error("not found")) : Promise.resolve(v);
    },
    conversations: () => Promise.resolve(relay.changes.length > 0 ? [conversationText(relay)] : []),
    /** The archive (§17.1): every message envelope stored, newest first, seq by arrival. */
    history: (_conv: string, before: number | undefined, limit: number) => {
      const all = [...relay.stored.values()]
        .map((envelope, i) => ({ seq: i + 1, envelope, received_at: Date.now() }))
        .filter((a) => wireKind(fromB64(a.envelope)) === "envelope")
        .filter((a) => before === undefined || a.seq < before)
        .reverse();
      const envelopes = all.slice(0, limit);
      return Promise.resolve({ envelopes, more: all.length > envelopes.length });
    },
    conversation: (id: string, since: number) =>
      relay.down === true
        ? unreachable()
        : Promise.resolve({
            conversation: id,
            members: relay.members,
            changes: relay.changes.filter((c) => c.epoch >= since),
          }),
    createConversation: (genesis: string) => {
      const change = GroupChange.decode(decodeSignedChange(fromB64(genesis)).body);
      relay.changes.push({ epoch: 0, change: genesis, author: myDevice, created_at: 1 });
      return Promise.resolve({
        conversation: ConversationId.toText(change.conversation),
        epoch: 0,
      });
    },
    appendChange: (conv: string, change: string) => {
      const epoch = relay.changes.length;
      relay.changes.push({ epoch, change, author: myDevice, created_at: 1 });
      return Promise.resolve({ conversation: conv, epoch });
    },
    sendMessage: (conv: string, messageId: string, envelope: string, to?: string) => {
      if (relay.down === true) return unreachable();
      if (relay.postsDown === true) return unreachable();
      if (relay.rejectPosts !== undefined) return Promise.reject(relay.rejectPosts);
      relay.posts?.push(messageId);
      const pending = (relay.pending ??= new Map());
      let bytes: Uint8Array = fromB64(envelope);
      if (relay.tamper !== undefined) bytes = relay.tamper(bytes) ?? bytes;
      let recipients = 0;
      const undelivered: Undelivered[] = [];
      // A copy for `device`, unless the server's policy refuses it (then recorded for a retry).
      const offer = (device: string) => {
        const reason = relay.refuse?.get(device);
        const records = pending.get(messageId) ?? new Set<string>();
        if (reason !== undefined) {
          undelivered.push({ device, reason });
          records.add(device);
          pending.set(messageId, records);
          return;
        }
        records.delete(device);
        relay.inbox.get(device)?.push({
          type: "envelope",
          seq: ++seq,
          conversation: conv,
          message_id: messageId,
          sender_account: AccountId.toText(me.master.account),
          sender_device: myDevice,
          received_at: Date.now(),
          envelope: toB64(bytes),
        });
        recipients++;
      };
      if (relay.seen.has(messageId)) {
        if (relay.stored.get(messageId) !== envelope)
          throw new Error("a retry must send the same bytes");
        const records = pending.get(messageId);
        // No undelivered record left: the duplicate answer, as for any reused id.
        if (records === undefined || records.size === 0)
          return Promise.reject(new ApiError("conflict", 409, "duplicate message id"));
        for (const device of [...records]) offer(device);
        return Promise.resolve({ message_id: messageId, recipients, undelivered });
      }
      relay.seen.add(messageId);
      relay.stored.set(messageId, envelope);
      for (const device of relay.inbox.keys()) {
        if (device === myDevice || (to !== undefined && device !== to)) continue;
        offer(device);
      }
      if (relay.failNext !== undefined && relay.failNext > 0) {
        relay.failNext--;
        return Promise.reject(new ApiError("network", 0, "connection lost"));
      }
      return Promise.resolve({ message_id: messageId, recipients, undelivered });
    },
  };
  return api as unknown as ApiClient;
}

export function conversationText(relay: Relay): string {
  const first = relay.changes[0];
  if (first === undefined) throw new Error("no conversation");
  return ConversationId.toText(
    GroupChange.decode(decodeSignedChange(fromB64(first.change)).body).conversation,
  );
}

export interface Side {
  account: TestAccount;
  messaging: Messaging;
  convs: Conversations;
  store: SealedStore;
  keys: LoadedKeys;
  directory: Directory;
  acked: string[];
  historyKeys: ChainRecord[];
  continuity: Continuity;
}

export async function side(
  relay: Relay,
  account: TestAccount,
  dbName: string,
  store?: SealedStore,
  host: Partial<MessagingHost> = {},
): Promise<Side> {
  const api = fakeApi(relay, account);
  const s = store ?? (await SealedStore.open(await Database.open(dbName)));
  const directory = new Directory(api, s, () => BigInt(Date.now()));
  const convs = new Conversations(api, s, directory);
  const meta = {
    name: "xkey-1",
    spki: account.device.exchange.spki,
    serial: 1n,
    notBefore: T0,
    notAfter: T0 + 1n,
  };
  const prekeys = new PrekeyRing();
  const keys: LoadedKeys = {
    record: {
      username: account.name,
      account: AccountId.toText(account.master.account),
      masterSpki: account.master.verifyingKey.spki,
      hasMaster: true,
      deviceName: "first device",
      signingSpki: account.device.keys.signing.spki,
      authSpki: account.device.keys.auth.spki,
      exchange: [meta],
      revocationSerial: 0n,
    },
    account: account.master.account,
    master: account.master,
    device: account.device.keys,
    exchange: [{ meta, pair: account.device.exchange }],
    prekeys,
    local: {
      ...(await localDevice(account.master.account, account.device.keys.device, [
        account.device.exchange,
      ])),
      prekeys,
    },
  };
  const acked: string[] = [];
  const historyKeys: ChainRecord[] = [];
  // Made after the messaging engine, which calls it back.
  const late: { continuity?: Continuity } = {};
  const messaging = new Messaging(api, s, directory, convs, {
    ...host,
    keys: () => keys,
    selfDevice: () => account.device.verified,
    changed: () => undefined,
    ack: (ids) => acked.push(...ids),
    isVisible: host.isVisible ?? (() => false),
    isRequest: () => false,
    conversationAppeared: () => Promise.resolve(),
    historyKey: (record) => {
      historyKeys.push(record);
      if (late.continuity === undefined) throw new Error("no continuity");
      return late.continuity.keep(record);
    },
  });
  const continuity = new Continuity(api, s, directory, convs, messaging, {
    keys: () => keys,
    changed: () => undefined,
  });
  late.continuity = continuity;
  await convs.load();
  await messaging.load();
  await continuity.load(undefined);
  return { account, messaging, convs, store: s, keys, directory, acked, historyKeys, continuity };
}

/** Hands a device everything queued for it (optionally only some frames). */
export function deliver(
  relay: Relay,
  to: Side,
  pick: (f: EnvelopeFrame) => boolean = () => true,
): EnvelopeFrame[] {
  const queue = relay.inbox.get(DeviceId.toText(to.account.device.keys.device)) ?? [];
  const taken = queue.filter(pick);
  relay.inbox.set(
    DeviceId.toText(to.account.device.keys.device),
    queue.filter((f) => !taken.includes(f)),
  );
  for (const f of taken) to.messaging.onFrame(f);
  return taken;
}

export function kind(f: EnvelopeFrame): string {
  return wireKind(fromB64(f.envelope));
}

/** The conversation's messages without the timeline events of its group log. */
export function shownOf(s: Side, conv: string): StoredMessage[] {
  return (s.convs.records.get(conv)?.messages ?? []).filter((m) => m.content.type !== "event");
}

export function texts(s: Side, conv: string): string[] {
  return (s.convs.records.get(conv)?.messages ?? []).flatMap((m) =>
    m.content.type === "text" ? [m.content.text] : [],
  );
}

export async function settle(s: Side): Promise<void> {
  // The inbox processes frames one at a time on a promise chain; the outbox drains in the
  // background; receipts go out after 50 ms. Wait for all of it, however slow the machine.
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 5));
    await s.messaging.whenIdle();
  }
}

/** Waits for background work (inbox chain, outbox, retry timers) to reach what `check` expects. */
export function until(check: () => void): Promise<void> {
  return vi.waitFor(check, { timeout: 10_000, interval: 20 });
}

/** A relay that knows `accounts` (by name and id), each with one device, all members. */
export function newRelay(accounts: readonly TestAccount[]): Relay {
  return {
    views: new Map(
      accounts.flatMap((a) => [
        [a.name, directoryView(a)] as const,
        [AccountId.toText(a.master.account), directoryView(a)] as const,
      ]),
    ),
    changes: [],
    inbox: new Map(accounts.map((a) => [DeviceId.toText(a.device.keys.device), []])),
    members: accounts.map((a) => AccountId.toText(a.master.account)),
    seen: new Set(),
    stored: new Map(),
  };
}

/**
 * A new relay for `first` and `second`, a device of each (its database named after `name`), and a
 * 1:1 conversation `first` made.
 */
export async function pair(first: TestAccount, second: TestAccount, name: string) {
  const relay = newRelay([first, second]);
  const a = await side(relay, first, `${name}-${first.name}`);
  const b = await side(relay, second, `${name}-${second.name}`);
  const conv = await createConversation(a, [second]);
  return { relay, a, b, conv };
}

/** A conversation `creator` makes (admin) with `others`: a 1:1 unless `kind` says otherwise. */
export function createConversation(
  s: Side,
  others: readonly TestAccount[],
  kind: CreateKind = { type: "direct" },
): Promise<string> {
  const creator = s.account;
  return s.convs.create(
    kind,
    [creator.member(true), ...others.map((o) => o.member(false))],
    { account: creator.master.account, keys: creator.device.keys, device: creator.device.verified },
    T0,
    ConversationId.fromBytes(systemRandom(16)),
  );
}
