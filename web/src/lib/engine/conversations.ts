/**
 * Conversation records: the verified group state (never the server's member list), the message
 * history, unread count and alarms, sealed in IndexedDB. Group logs are verified change by
 * change; a fork, replay or rollback freezes the conversation with an alarm.
 */

import {
  type ConversationId,
  ConversationId as ConversationIdK,
  GroupChange,
  GroupState,
  type GroupStateSnapshot,
  type Member,
  decodeSignedChange,
  isProtocolError,
  type VerifiedDevice,
  bytesEqual,
  AccountId,
  type AccountId as AccountIdT,
  type DeviceKeys,
  type GroupOp,
  type CreateKind,
  type NameReveal,
  checkGroupName,
  nameCommitment,
  type Bytes,
} from "../../crypto";

/** Who signs a change: this account, this device's keys and its verified certificate. */
export interface Signer {
  readonly account: AccountIdT;
  readonly keys: DeviceKeys;
  readonly device: VerifiedDevice;
}
import type { ApiClient } from "../api";
import { fromB64, toB64 } from "../b64";
import type { SealedStore } from "../../storage/sealed";
import type { Directory } from "./directory";
import type { Amendment } from "./amend";
import { placeEvent } from "./events";
import type { StoredMessage } from "./stored";

/** A group name this device accepted or chose, with its commitment's salt (protocol §6.5). */
export interface KnownName {
  readonly epoch: bigint;
  readonly salt: Uint8Array;
  readonly name: string;
}

export interface ConversationRecord {
  readonly id: string;
  group: GroupStateSnapshot;
  /** The group's name, once it opened the log's commitment (§6.5). */
  name?: KnownName;
  /** Names this device learned, by the epoch of the change that set them (timeline events). */
  names?: Record<string, string>;
  messages: StoredMessage[];
  unread: number;
  /** Unread messages that mention this account. */
  mentions?: number;
  /** The first unread message when the conversation was last opened or marked read. */
  firstUnread?: string;
  /** Edits, deletes and reactions whose target is not held yet (`amend.ts`). */
  pending?: Amendment[];
  alarm?: string;
}

/** The title of a group whose current name has not arrived (protocol §6.5 rule 4). */
export const UNNAMED_GROUP = "(unnamed group)";

export function convKey(id: string): string {
  return `conv:${id}`;
}

export class Conversations {
  readonly records = new Map<string, ConversationRecord>();
  private readonly states = new Map<string, GroupState>();
  /** Called with a conversation whose record is about to be stored (the search index). */
  onTouched: (id: string) => void = () => undefined;

  constructor(
    private readonly api: ApiClient,
    private readonly store: SealedStore,
    private readonly directory: Directory,
  ) {}

  async load(): Promise<void> {
    this.states.clear();
    for (const key of await this.store.list("conv:")) {
      const rec = await this.store.get<ConversationRecord>(key);
      if (rec !== undefined) {
        this.records.set(rec.id, rec);
        this.onTouched(rec.id);
      }
    }
  }

  state(id: string): GroupState | undefined {
    let s = this.states.get(id);
    if (s === undefined) {
      const rec = this.records.get(id);
      if (rec === undefined) return undefined;
      s = GroupState.restore(rec.group);
      this.states.set(id, s);
    }
    return s;
  }

  entry(id: string): readonly [string, ConversationRecord] {
    const rec = this.records.get(id);
    if (rec === undefined) throw new Error(`unknown conversation ${id}`);
    this.onTouched(id);
    return [convKey(id), rec];
  }

  async save(id: string): Promise<void> {
    await this.store.put([this.entry(id)]);
  }

  private async signerDevice(change: GroupChange): Promise<VerifiedDevice> {
    const contact = await this.directory.contact(AccountId.toText(change.signerAccount));
    const device = contact.devices.find((d) => bytesEqual(d.device, change.signerDevice));
    if (device !== undefined) return device;
    const fresh = await this.directory.contact(AccountId.toText(change.signerAccount), true);
    const again = fresh.devices.find((d) => bytesEqual(d.device, change.signerDevice));
    if (again === undefined) throw new Error("group change signed by an unverified device");
    return again;
  }

  /** The name of `id` for its current commitment, if this device has it (§6.5 rule 4). */
  currentName(id: string): KnownName | undefined {
    const rec = this.records.get(id);
    const naming = this.state(id)?.naming;
    if (rec?.name === undefined || naming === null || naming === undefined) return undefined;
    return rec.name.epoch === naming.epoch ? rec.name : undefined;
  }

  /** Keeps `reveal` as the name of `id` (the caller saves the record). */
  remember(id: string, reveal: NameReveal): void {
    const rec = this.records.get(id);
    if (rec === undefined) return;
    rec.name = { epoch: reveal.epoch, salt: reveal.salt, name: reveal.name };
    rec.names = { ...rec.names, [reveal.epoch.toString()]: reveal.name };
  }

  /** The name the change at `epoch` set, if this device learned it. */
  nameAt(id: string, epoch: number): string | undefined {
    return this.records.get(id)?.names?.[epoch.toString()];
  }

  /**
   * A GroupName body received in `id` (§6.5 rule 3): kept if it opens the current commitment,
   * ignored if replaced since; `group/name-mismatch` is thrown otherwise.
   */
  async acceptName(id: string, reveal: NameReveal): Promise<void> {
    const state = this.state(id);
    if (state === undefined) throw new Error("unknown conversation");
    if ((await state.checkName(reveal)) === "current") this.remember(id, reveal);
  }

  /** Creates a conversation: signs the genesis, verifies it locally, uploads it. */
  async create(
    kind: CreateKind,
    members: readonly Member[],
    me: Signer,
    now: bigint,
    id: ConversationId,
  ): Promise<string> {
    const genesis = await GroupState.create(id, kind, members, me.account, me.keys, now);
    const state = await GroupState.genesis(genesis, me.device);
    const created = await this.api.createConversation(toB64(genesis.encode()));
    if (created.conversation !== ConversationIdK.toText(id))
      throw new Error("server returned another conversation id");
    const rec: ConversationRecord = {
      id: created.conversation,
      group: state.snapshot(),
      messages: [],
      unread: 0,
    };
    placeEvent(rec.messages, GroupChange.decode(genesis.body));
    this.records.set(rec.id, rec);
    this.states.set(rec.id, state);
    await this.save(rec.id);
    return rec.id;
  }

  /** Proposes and uploads a change (add or remove a member, rename), then applies it. */
  async change(id: string, op: GroupOp, me: Signer, now: bigint): Promise<void> {
    await this.sync(id);
    await this.changeNow(id, () => Promise.resolve(op), me, now);
  }

  /**
   * Renames a group (§6.5): a Rename committing to `name` with a fresh salt at the epoch it will
   * have; the name is kept here, and the caller sends the GroupName body to the members.
   */
  async rename(id: string, name: string, me: Signer, now: bigint, salt: Bytes): Promise<void> {
    await this.sync(id);
    const state = this.state(id);
    if (state === undefined) throw new Error("unknown conversation");
    const reveal: NameReveal = { epoch: state.nextEpoch, salt, name: checkGroupName(name) };
    const conversation = ConversationIdK.parse(id);
    await this.changeNow(
      id,
      async () => ({ type: "rename", nameCommitment: await nameCommitment(conversation, reveal) }),
      me,
      now,
    );
    this.remember(id, reveal);
    await this.save(id);
  }

  private async changeNow(
    id: string,
    makeOp: () => Promise<GroupOp>,
    me: Signer,
    now: bigint,
  ): Promise<void> {
    const op = await makeOp();
    const state = this.state(id);
    const rec = this.records.get(id);
    if (state === undefined || rec === undefined) throw new Error("unknown conversation");
    const signed = await state.propose(op, me.account, me.keys, now);
    const next = await state.apply(signed, me.device);
    await this.api.appendChange(id, toB64(signed.encode()));
    rec.group = next.snapshot();
    placeEvent(rec.messages, GroupChange.decode(signed.body));
    this.states.set(id, next);
    await this.save(id);
  }

  /** Fetches and verifies changes after the local epoch. Returns whether the state moved. */
  async sync(id: string): Promise<boolean> {
    const rec = this.records.get(id);
    if (rec?.alarm !== undefined) return false;
    let state = rec === undefined ? undefined : this.state(id);
    const since = state === undefined ? 0 : Number(state.epoch) + 1;
    const log = await this.api.conversation(id, since);
    if (log.changes.length === 0) return false;
    const verified: GroupChange[] = [];
    try {
      for (const c of log.changes) {
        const signed = decodeSignedChange(fromB64(c.change));
        const change = GroupChange.decode(signed.body);
        const signer = await this.signerDevice(change);
        state =
          state === undefined
            ? await GroupState.genesis(signed, signer)
            : await state.apply(signed, signer);
        verified.push(change);
      }
    } catch (e) {
      const code = isProtocolError(e) ? e.code : "unverifiable group change";
      if (rec !== undefined) {
        rec.alarm = code;
        await this.save(id);
      }
      throw e;
    }
    if (state === undefined) return false;
    if (ConversationIdK.toText(state.conversation) !== id)
      throw new Error("group log names another conversation");
    // The record as it is now: while the log was fetched this device may have created the
    // conversation or applied its own change (a `conversation` frame races both), and neither
    // its name nor a newer state may be lost.
    const current = this.records.get(id);
    const known = current === undefined ? undefined : this.state(id);
    if (known !== undefined && known.epoch >= state.epoch) return false;
    const next: ConversationRecord = current ?? {
      id,
      group: state.snapshot(),
      messages: [],
      unread: 0,
    };
    next.group = state.snapshot();
    for (const change of verified) placeEvent(next.messages, change);
    this.records.set(id, next);
    this.states.set(id, state);
    await this.save(id);
    return true;
  }

  /** Syncs every conversation the server lists as accepted by this account. */
  async syncAll(): Promise<string[]> {
    return this.syncEach(await this.api.conversations());
  }

  /** Syncs each of `ids` (a group-log problem in one is recorded and the others go on). */
  async syncEach(ids: readonly string[]): Promise<string[]> {
    const changed: string[] = [];
    for (const id of ids) {
      try {
        if (await this.sync(id)) changed.push(id);
      } catch {
        // alarm recorded; keep the others going
      }
    }
    return changed;
  }
}
