/**
 * Payloads that could not be checked yet, and when to check them again (`docs/protocol.md` §9.4).
 *
 * - **Held** (persisted as `held`, acknowledged), for one of two reasons (`reason`):
 *   - *key*: its chain or epoch is unknown. It is checked again when its distribution arrives and
 *     on every retry; after 3 s a key request goes to the chain's owner (one per chain, again
 *     every 5 minutes); after an hour without its key it is counted as undecryptable
 *     (`no-key-arrived`).
 *   - *server*: the directory or group log could not be fetched, or answered another question
 *     than the one asked, so it could not be checked at all. It is retried with a backoff, asks
 *     for no key and never expires: a server that fails or lies for an hour must not be able to
 *     make a message unreadable. Once checked, a message that misses its key becomes a key wait,
 *     its clock starting then.
 * - **Identity holds**: a payload (message, distribution, key request) whose sender's identity
 *   changed and awaits the user's decision is held *for that account only* (`waitingFor`), so a
 *   server that swaps one contact's key cannot stall everyone else's messages. It never expires
 *   and asks for no key; it is checked again when the user accepts the new identity, when that
 *   sender's traffic verifies again, and on every retry.
 * - **Deferred** (in memory, *not* acknowledged): a distribution or key request that could not be
 *   checked because the server could not be reached; the server sends it again after a reload.
 * - **Retries**: after a transient failure, a retry round after a backoff with full jitter (the
 *   socket may stay up while HTTP fails), reset by a round without new failures.
 *
 * Checking is the inbox's (`messaging.ts`, through {@link HeldHost}); this module decides what
 * to check again and when, and keeps the queue.
 */

import {
  type Bytes,
  ChainId,
  Envelope,
  ExchangeKeyId,
  KeyRequest,
  MessageId,
  Signed,
  bytesEqual,
  systemRandom,
} from "../../crypto";
import { fromB64, toB64 } from "../b64";
import type { EnvelopeFrame } from "../schemas";
import type { SealedStore } from "../../storage/sealed";
import { retryDelay } from "./delivery";
import type { LoadedKeys } from "./keystore";
import type { Outbox } from "./outbox";
import { type WireKind, wireKind } from "./wire";

/**
 * Why an ordinary held message waits: for its chain key or epoch (`key`), or for a server that
 * could not be reached or gave an answer that could not be checked (`server`).
 */
export type HeldReason = "key" | "server";

export interface HeldItem {
  readonly conv: string;
  readonly messageId: string;
  readonly wire: string;
  readonly senderAccount: string;
  readonly senderDevice: string;
  readonly receivedAt: number;
  /**
   * Since when it waits for its key (restarted when a server wait or an identity hold turns into a
   * key wait).
   */
  since: number;
  /**
   * Why it waits, which decides whether a key is requested and whether it may expire. Absent in
   * items stored before it existed, which were all treated as key waits: they still are. Not
   * used while `waitingFor` is set.
   */
  reason?: HeldReason;
  /** When a key request was last sent for it. */
  requestedAt?: number;
  /**
   * The account whose changed identity the user must review before this can be checked (the one
   * the warning names). Such a payload never expires and asks for no key: no key can help, and
   * counting it undecryptable would let a server destroy messages by swapping a key for an hour.
   */
  waitingFor?: string;
}

/**
 * What became of a received payload: settled (stored, refused or dropped as a replay); held until
 * its key or group change comes; not checked because the server could not be reached; or held
 * until the user decides about `account`'s changed identity.
 */
export type Outcome =
  | { readonly kind: "settled" }
  | { readonly kind: "held" }
  | { readonly kind: "unreachable" }
  | { readonly kind: "identity"; readonly account: string };

export const SETTLED: Outcome = { kind: "settled" };
export const HELD: Outcome = { kind: "held" };
export const UNREACHABLE: Outcome = { kind: "unreachable" };

/** Which held payloads a release checks again; all of them when empty. */
export interface ReleaseFilter {
  /** Messages of this chain (`chain:…`), whose distribution just arrived. */
  readonly chain?: string;
  /** Identity holds of this sender, whose traffic verifies again. */
  readonly from?: string;
  /** Identity holds for this account under review, which the user accepted. */
  readonly waitingFor?: string;
}

/** What the held queue needs from the inbox. */
export interface HeldHost {
  keys(): LoadedKeys;
  changed(): void;
  /** Checks a held payload again, as if it had just arrived. */
  recheck(item: HeldItem, bytes: Bytes, kind: WireKind): Promise<Outcome>;
  /** Processes a deferred frame again, as a new arrival. */
  receive(frame: EnvelopeFrame): Promise<void>;
  /** Records a held message given up as "could not be verified" (counted). */
  giveUp(item: HeldItem, code: string): Promise<void>;
  /** Runs {@link HeldPayloads.retry} on the inbox's chain, in turn with the frames coming in. */
  retryOnInbox(): void;
}

/**
 * Whether `h` waits for its key: the only wait that asks for a key and may expire. An item stored
 * without a reason (before there were reasons) is a key wait, as it always was.
 */
export function waitsForKey(h: HeldItem): boolean {
  return h.waitingFor === undefined && h.reason !== "server";
}

/**
 * Held payloads that never expire (identity holds and server waits) at most. A server can make
 * this device keep payloads it cannot check yet; a key wait ends within the hour, these do not,
 * so their number is bounded (as in the Rust client) and one more is refused.
 */
export const MAX_UNEXPIRING_HELD = 5_000;

const KEY_REQUEST_AFTER_MS = 3000;
const KEY_REQUEST_AGAIN_MS = 5 * 60_000;
/** A held message whose key never comes is finally counted as undecryptable (§9.4). */
const GIVE_UP_MS = 60 * 60_000;

export class HeldPayloads {
  private held: HeldItem[] = [];
  /** Distributions and key requests received while the server could not be reached. */
  private deferred: EnvelopeFrame[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private attempts = 0;
  /** Transient failures while receiving, ever: a retry round without new ones resets the backoff. */
  private transientFailures = 0;

  constructor(
    private readonly store: SealedStore,
    private readonly out: Outbox,
    private readonly host: HeldHost,
  ) {}

  /** Every held payload, oldest first. */
  get items(): readonly HeldItem[] {
    return this.held;
  }

  async load(): Promise<void> {
    this.held = (await this.store.get<HeldItem[]>("held")) ?? [];
  }

  /** Stops the retry timer (logout, shutdown). */
  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** How many payloads wait for the user's decision about `account`'s changed identity. */
  heldFor(account: string): number {
    return this.held.filter((h) => h.waitingFor === account).length;
  }

  /** Whether anything from `sender` waits for a decision about an identity. */
  hasIdentityHolds(sender: string): boolean {
    return this.held.some((h) => h.waitingFor !== undefined && h.senderAccount === sender);
  }

  /**
   * Holds a payload (persisted; the caller acknowledges it then). `false`: it would never expire
   * and {@link MAX_UNEXPIRING_HELD} such payloads are held already, so it was not kept.
   */
  async hold(item: HeldItem): Promise<boolean> {
    // The same copy again (its acknowledgement was lost) is held once. Another payload under the
    // same id is held beside it: neither is authenticated yet, and a relay must not be able to
    // drop the genuine one by sending a tampered copy first.
    if (this.held.some((h) => h.messageId === item.messageId && h.wire === item.wire)) return true;
    if (
      !waitsForKey(item) &&
      this.held.filter((h) => !waitsForKey(h)).length >= MAX_UNEXPIRING_HELD
    )
      return false;
    this.held.push(item);
    await this.store.put([["held", this.held]]);
    this.host.changed();
    return true;
  }

  /**
   * A distribution or key request that could not be checked because the directory or the group
   * log could not be fetched (or answered wrongly) is not acknowledged: kept in memory and tried
   * again shortly (and the server delivers it again after a reload). Neither is a message, so
   * neither joins the held queue and its clock.
   */
  defer(frame: EnvelopeFrame): void {
    if (!this.deferred.some((f) => f.message_id === frame.message_id)) this.deferred.push(frame);
    this.retrySoon();
  }

  /**
   * The server could not be reached while receiving: retry after a backoff rather than wait for
   * the next reconnect (the socket may well stay up while HTTP fails) or the 15 s sweep.
   */
  retrySoon(): void {
    this.transientFailures += 1;
    if (this.timer !== undefined) return;
    this.attempts += 1;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.host.retryOnInbox();
    }, retryDelay(this.attempts));
  }

  /** Retries deferred frames, then every held payload; runs on the inbox's chain. */
  async retry(): Promise<void> {
    const failuresBefore = this.transientFailures;
    const frames = this.deferred;
    this.deferred = [];
    for (const f of frames) await this.host.receive(f);
    await this.release();
    if (this.transientFailures === failuresBefore) this.attempts = 0;
  }

  /**
   * Retries held payloads (all, or those of one chain, or those held for the identity of one
   * sender or of one account under review); runs on the inbox's chain.
   */
  async release(only: ReleaseFilter = {}): Promise<void> {
    const settled = new Set<HeldItem>();
    let updated = false;
    // Senders found still changed in this pass: their other payloads need no second lookup.
    const stillChanged = new Set<string>();
    for (const h of [...this.held]) {
      // A distribution released earlier in this pass may have opened (and settled) it already.
      if (!this.held.includes(h)) continue;
      if (only.from !== undefined && (h.waitingFor === undefined || h.senderAccount !== only.from))
        continue;
      if (only.waitingFor !== undefined && h.waitingFor !== only.waitingFor) continue;
      if (h.waitingFor !== undefined && stillChanged.has(h.senderAccount)) continue;
      let bytes: Bytes;
      try {
        bytes = fromB64(h.wire);
      } catch {
        settled.add(h);
        continue;
      }
      const kind = wireKind(bytes);
      if (only.chain !== undefined) {
        if (kind !== "envelope") continue;
        try {
          if (ChainId.toText(Envelope.decode(bytes).header.chain) !== only.chain) continue;
        } catch {
          settled.add(h);
          continue;
        }
      }
      const outcome = await this.host.recheck(h, bytes, kind);
      switch (outcome.kind) {
        case "settled":
          settled.add(h);
          break;
        case "identity":
          stillChanged.add(h.senderAccount);
          if (h.waitingFor !== outcome.account) {
            h.waitingFor = outcome.account;
            updated = true;
          }
          break;
        case "held":
          // Checked now (its sender verifies, the server answered) but its key has not come: from
          // here on a key wait, whose clock (key request, giving up) starts now.
          if (!waitsForKey(h)) {
            delete h.waitingFor;
            h.reason = "key";
            h.since = Date.now();
            delete h.requestedAt;
            updated = true;
          }
          break;
        case "unreachable":
          // Nothing learnt: it stays held as it was (a key wait keeps its clock), and is tried
          // again after a backoff.
          break;
      }
    }
    if (settled.size > 0 || updated) {
      this.held = this.held.filter((h) => !settled.has(h));
      await this.store.put([["held", this.held]]);
      this.host.changed();
    }
  }

  /**
   * Asks chain owners to re-send distributions for messages held for a while, and gives up on
   * those whose key never came.
   */
  async requestMissingKeys(): Promise<void> {
    const me = this.host.keys();
    const latest = me.exchange.reduce<(typeof me.exchange)[number] | undefined>(
      (a, b) => (a === undefined || b.meta.serial > a.meta.serial ? b : a),
      undefined,
    );
    if (latest === undefined) return;
    const keyId = me.local.exchangeKeys.find((k) =>
      bytesEqual(k.pair.spki, latest.pair.spki),
    )?.keyId;
    if (keyId === undefined) return;
    let changed = false;
    const now = Date.now();
    const askedFor = new Set<string>();
    for (const h of [...this.held]) {
      // Only a missing key may expire a message or be asked for. Held for a changed identity: no
      // key helps, and it waits for the user however long. Held for the server: nothing says a
      // key is missing, and a server failing (or lying) for an hour must not destroy it.
      if (!waitsForKey(h)) continue;
      if (now - h.since > GIVE_UP_MS) {
        this.held = this.held.filter((x) => x !== h);
        await this.host.giveUp(h, "no-key-arrived");
        changed = true;
        continue;
      }
      const due =
        h.requestedAt === undefined
          ? now - h.since >= KEY_REQUEST_AFTER_MS
          : now - h.requestedAt >= KEY_REQUEST_AGAIN_MS;
      if (!due) continue;
      try {
        const env = Envelope.decode(fromB64(h.wire));
        const chainKey = ChainId.toText(env.header.chain);
        // One request per chain, however many of its messages wait.
        if (!askedFor.has(chainKey)) {
          askedFor.add(chainKey);
          const body = KeyRequest.encode({
            conversation: env.header.conversation,
            epoch: env.header.epoch,
            chain: env.header.chain,
            ownerDevice: env.header.senderDevice,
            requesterAccount: me.account,
            requesterDevice: me.device.device,
            requesterKey: ExchangeKeyId.fromBytes(keyId),
            requestedAt: BigInt(Date.now()),
          });
          const signed = await Signed.sign(body, me.device.signing);
          this.out.items.push({
            conv: h.conv,
            messageId: MessageId.toText(MessageId.fromBytes(systemRandom(16))),
            kind: "raw",
            wire: toB64(signed.encode()),
            attempts: 0,
          });
        }
      } catch {
        // undecodable: counted when it is given up
      }
      h.requestedAt = now;
      changed = true;
    }
    if (changed) {
      await this.store.put([["held", this.held], this.out.entry()]);
      this.host.changed();
      this.out.kick();
    }
  }
}
