/**
 * The group state log (`docs/protocol.md` §6): a conversation's membership as a signed,
 * hash-chained list of changes.
 *
 * {@link GroupState} is immutable: {@link GroupState.genesis} and {@link GroupState.apply} return
 * a new state or throw, so a refused change leaves nothing half-applied. The checks run in the
 * spec's order (§6.3); recipients of keys come only from a state built this way.
 *
 * The log carries no names (§6.5, §6.6): a group's name is a salted commitment that
 * {@link GroupState.checkName} compares a received {@link NameReveal} with, and members are
 * account ids whose names come from the directory.
 *
 * The state also keeps what reading history needs (§6.7, §17.2): the retention the last
 * SetRetention set, and the epochs at which each account, present or former, was a member.
 */

import { type Bytes, bytesEqual, compareBytes } from "./bytes";
import { Reader, Writer, isDisplayText, utf8Length } from "./codec";
import { Domain } from "./domains";
import { ProtocolError, unreachable } from "./errors";
import type { DeviceKeys, VerifiedDevice } from "./identity";
import {
  type AccountId as AccountIdT,
  type ConversationId as ConversationIdT,
  type DeviceId as DeviceIdT,
  AccountId,
  ConversationId,
  DeviceId,
  idKey,
} from "./ids";
import {
  MAX_GROUP_CHANGE_LEN,
  MAX_GROUP_NAME_LEN,
  MAX_MEMBERS,
  MAX_RETENTION_SECS,
  MIN_RETENTION_SECS,
  RETENTION_FOREVER,
  SECOND,
} from "./limits";
import { sha256 } from "./primitives";
import { Signed } from "./signed";

const ZERO_HASH: Bytes = new Uint8Array(32);

/** One member as a change lists it: an account and its right, no name (§6.6). */
export interface Member {
  readonly account: AccountIdT;
  readonly admin: boolean;
}

/** What a genesis creates (§6.1, §6.4): a named group, or the 1:1 of its two members. */
export type CreateKind =
  { readonly type: "group"; readonly nameCommitment: Bytes } | { readonly type: "direct" };

/** What a change does (§6.1). */
export type GroupOp =
  | { readonly type: "create"; readonly kind: CreateKind; readonly members: readonly Member[] }
  | { readonly type: "add-member"; readonly member: Member }
  | { readonly type: "remove-member"; readonly account: AccountIdT }
  | { readonly type: "set-admin"; readonly account: AccountIdT; readonly admin: boolean }
  | { readonly type: "rename"; readonly nameCommitment: Bytes }
  /** Seconds: 0 keeps for good, else 60 to 315360000 (§6.7). */
  | { readonly type: "set-retention"; readonly seconds: bigint };

const OP_REMOVE = 0x03;
const OP_SET_ADMIN = 0x04;
const OP_CREATE = 0x06;
const OP_ADD = 0x07;
const OP_RENAME = 0x08;
const OP_SET_RETENTION = 0x09;
/** Tags of the retired encoding with names in clear: unknown from now on, never reused. */
export const RETIRED_OPS: readonly number[] = [0x01, 0x02, 0x05];
const KIND_GROUP = 0x01;
const KIND_DIRECT = 0x02;
/** Bytes of a name commitment's salt. */
export const NAME_SALT_LEN = 32;

/** A group's name and the salt of its commitment: the body of kind 0x04 (§6.5, §8.2). */
export interface NameReveal {
  /** The epoch of the Create or Rename whose commitment it opens. */
  readonly epoch: bigint;
  readonly salt: Bytes;
  /** Display text, ≤ 128 bytes. */
  readonly name: string;
}

/** Checks a group name (§6.5): display text of at most 128 bytes (`group/invalid-text`). */
export function checkGroupName(name: string): string {
  if (!isDisplayText(name) || utf8Length(name) > MAX_GROUP_NAME_LEN)
    throw new ProtocolError("group/invalid-text", "group name");
  return name;
}

/** `SHA-256(domain("sotto/group-name") ‖ conversation ‖ u64 epoch ‖ salt ‖ text(name))` (§6.5). */
export async function nameCommitment(
  conversation: ConversationIdT,
  reveal: NameReveal,
): Promise<Bytes> {
  if (reveal.salt.length !== NAME_SALT_LEN)
    throw new ProtocolError("invalid-input", "a name salt is 32 bytes");
  const w = Writer.forDomain(Domain.GroupName);
  ConversationId.encode(w, conversation);
  w.u64(reveal.epoch);
  w.fixed(reveal.salt);
  w.text(checkGroupName(reveal.name), "group name");
  return sha256(w.finish());
}

/** Whether `seconds` is a SetRetention value (§6.7): 0, or 60 to 315360000. */
export function isRetention(seconds: bigint): boolean {
  return (
    seconds === RETENTION_FOREVER ||
    (seconds >= MIN_RETENTION_SECS && seconds <= MAX_RETENTION_SECS)
  );
}

/**
 * Whether a message sent at `sentAt` is past a retention of `seconds` at `now` (§6.7): a client
 * then neither keeps nor shows it. Retention 0 keeps for good.
 */
export function isPastRetention(sentAt: bigint, seconds: bigint, now: bigint): boolean {
  return seconds !== RETENTION_FOREVER && sentAt + seconds * SECOND <= now;
}

/** What a matching reveal means for the name (§6.5 rule 3). */
export type NameCheck = "current" | "superseded";

/** A group change body (§6.1). */
export interface GroupChange {
  readonly conversation: ConversationIdT;
  /** 0 for the genesis, then +1 per change. */
  readonly epoch: bigint;
  /** Hash of the change at `epoch - 1`; 32 zero bytes at epoch 0. */
  readonly previous: Bytes;
  readonly signerAccount: AccountIdT;
  readonly signerDevice: DeviceIdT;
  readonly issuedAt: bigint;
  readonly op: GroupOp;
}

function encodeMember(w: Writer, m: Member): void {
  AccountId.encode(w, m.account);
  w.bool(m.admin);
}

function decodeMember(r: Reader): Member {
  return { account: AccountId.decode(r), admin: r.bool("admin") };
}

function fixed32(w: Writer, bytes: Bytes): void {
  if (bytes.length !== 32) throw new ProtocolError("invalid-input", "a commitment is 32 bytes");
  w.fixed(bytes);
}

function encodeOp(w: Writer, op: GroupOp): void {
  switch (op.type) {
    case "create":
      w.u8(OP_CREATE);
      switch (op.kind.type) {
        case "group":
          w.u8(KIND_GROUP);
          fixed32(w, op.kind.nameCommitment);
          break;
        case "direct":
          w.u8(KIND_DIRECT);
          break;
        default:
          unreachable(op.kind);
      }
      w.count(op.members.length);
      for (const m of op.members) encodeMember(w, m);
      return;
    case "add-member":
      w.u8(OP_ADD);
      encodeMember(w, op.member);
      return;
    case "remove-member":
      w.u8(OP_REMOVE);
      AccountId.encode(w, op.account);
      return;
    case "set-admin":
      w.u8(OP_SET_ADMIN);
      AccountId.encode(w, op.account);
      w.bool(op.admin);
      return;
    case "rename":
      w.u8(OP_RENAME);
      fixed32(w, op.nameCommitment);
      return;
    case "set-retention":
      if (!isRetention(op.seconds))
        throw new ProtocolError("invalid-input", "retention: 0, or 60 to 315360000 seconds");
      w.u8(OP_SET_RETENTION);
      w.u64(op.seconds);
      return;
    default:
      unreachable(op);
  }
}

function decodeOp(r: Reader): GroupOp {
  const tag = r.u8();
  switch (tag) {
    case OP_CREATE: {
      const kindTag = r.u8();
      let kind: CreateKind;
      if (kindTag === KIND_GROUP) kind = { type: "group", nameCommitment: r.array(32) };
      else if (kindTag === KIND_DIRECT) kind = { type: "direct" };
      else throw new ProtocolError("decode/unknown-tag", `conversation kind ${kindTag}`);
      const count = r.count("members", MAX_MEMBERS);
      const members: Member[] = [];
      for (let i = 0; i < count; i++) members.push(decodeMember(r));
      return { type: "create", kind, members };
    }
    case OP_ADD:
      return { type: "add-member", member: decodeMember(r) };
    case OP_REMOVE:
      return { type: "remove-member", account: AccountId.decode(r) };
    case OP_SET_ADMIN:
      return { type: "set-admin", account: AccountId.decode(r), admin: r.bool("admin") };
    case OP_RENAME:
      return { type: "rename", nameCommitment: r.array(32) };
    case OP_SET_RETENTION: {
      const seconds = r.u64();
      if (!isRetention(seconds)) throw new ProtocolError("decode/invalid-value", "retention");
      return { type: "set-retention", seconds };
    }
    // The retired tags (0x01, 0x02, 0x05) fall here too.
    default:
      throw new ProtocolError("decode/unknown-tag", `group operation ${tag}`);
  }
}

export const GroupChange = {
  /** The canonical encoding (what the signer signs). */
  encode(c: GroupChange): Bytes {
    if (c.previous.length !== 32)
      throw new ProtocolError("invalid-input", "previous must be 32 bytes");
    const w = Writer.forDomain(Domain.GroupChange);
    ConversationId.encode(w, c.conversation);
    w.u64(c.epoch);
    w.fixed(c.previous);
    AccountId.encode(w, c.signerAccount);
    DeviceId.encode(w, c.signerDevice);
    w.u64(c.issuedAt);
    encodeOp(w, c.op);
    return w.finish();
  },

  /** Decodes a body. */
  decode(bytes: Bytes): GroupChange {
    const r = Reader.forDomain(bytes, Domain.GroupChange);
    const change: GroupChange = {
      conversation: ConversationId.decode(r),
      epoch: r.u64(),
      previous: r.array(32),
      signerAccount: AccountId.decode(r),
      signerDevice: DeviceId.decode(r),
      issuedAt: r.u64(),
      op: decodeOp(r),
    };
    r.finish();
    return change;
  },
};

/** Decodes a signed change from its wire form, within the size bound. */
export function decodeSignedChange(bytes: Bytes): Signed {
  return Signed.decode(bytes, MAX_GROUP_CHANGE_LEN);
}

/** `SHA-256(domain("sotto/group-hash") ‖ bytes(body) ‖ bytes(signature))` (§6.2). */
export async function changeHash(signed: Signed): Promise<Bytes> {
  const w = Writer.forDomain(Domain.GroupHash);
  signed.encodeInto(w);
  return sha256(w.finish());
}

/** A member as the state records it (its name is the directory's, §6.6). */
export interface MemberState {
  readonly account: AccountIdT;
  readonly admin: boolean;
  /** The epoch at which the member joined. */
  readonly sinceEpoch: bigint;
}

/** A span of epochs `[fromEpoch, untilEpoch)` at which a former member was a member. */
export interface PastMembership {
  readonly account: AccountIdT;
  /** The epoch it joined at. */
  readonly fromEpoch: bigint;
  /** The epoch of the change that removed it (no longer a member at it). */
  readonly untilEpoch: bigint;
}

/** The commitment to a group's current name and the epoch of the change that set it. */
export interface Naming {
  readonly epoch: bigint;
  readonly commitment: Bytes;
}

/** Members of a 1:1 (§6.4). */
const DIRECT_MEMBERS = 2;

/** The device presented must be the one the change names, and its signature must verify. */
async function checkSigner(
  change: GroupChange,
  signed: Signed,
  signer: VerifiedDevice,
): Promise<void> {
  if (
    !bytesEqual(signer.device, change.signerDevice) ||
    !bytesEqual(signer.account, change.signerAccount)
  ) {
    throw new ProtocolError("group/signer-mismatch");
  }
  await signed.verify("group change", signer.signingKey);
}

/** A {@link GroupState}'s persisted form. */
export interface GroupStateSnapshot {
  readonly conversation: ConversationIdT;
  /** `null` for a 1:1. */
  readonly naming: Naming | null;
  readonly members: readonly MemberState[];
  readonly hashes: readonly Bytes[];
  /** Seconds set by the last SetRetention; absent before any (the server default applies). */
  readonly retention?: bigint | undefined;
  /** Spans of former members (and earlier spans of members who came back); absent in states
   * stored before they were kept, which then read as never having been members. */
  readonly pastMembers?: readonly PastMembership[];
}

/** A conversation's state after a verified log of changes. */
export class GroupState {
  private constructor(
    readonly conversation: ConversationIdT,
    /** The current name commitment; `null` for a 1:1, which has no name. */
    readonly naming: Naming | null,
    /** Members by `idKey(account)`. */
    private readonly memberMap: ReadonlyMap<string, MemberState>,
    /** The hash applied at each epoch; the last is the head. Never empty. */
    private readonly hashes: readonly Bytes[],
    /** Seconds set by the last SetRetention; `undefined` before any: the server default. */
    readonly retention: bigint | undefined,
    /** Spans of former members, in the order they closed. */
    private readonly pastMembers: readonly PastMembership[],
  ) {}

  /**
   * Verifies a genesis signed by `signer` and returns epoch 0 (§6.3, genesis order): decode;
   * signer device and signature; Create at epoch 0 with zero `previous` (`group/not-genesis`);
   * member count (`group/too-many-members`); no account twice (`group/already-member`); a 1:1
   * lists two members (`group/direct-conversation`); the signer listed
   * (`group/signer-not-member`) as an admin (`group/signer-not-admin`).
   */
  static async genesis(signed: Signed, signer: VerifiedDevice): Promise<GroupState> {
    const change = GroupChange.decode(signed.body);
    await checkSigner(change, signed, signer);
    const op = change.op;
    if (op.type !== "create" || change.epoch !== 0n || !bytesEqual(change.previous, ZERO_HASH)) {
      throw new ProtocolError("group/not-genesis");
    }
    if (op.members.length > MAX_MEMBERS) throw new ProtocolError("group/too-many-members");
    const members = new Map<string, MemberState>();
    for (const m of op.members) {
      const key = idKey(m.account);
      if (members.has(key)) throw new ProtocolError("group/already-member");
      members.set(key, { account: m.account, admin: m.admin, sinceEpoch: 0n });
    }
    let naming: Naming | null;
    switch (op.kind.type) {
      case "group":
        naming = { epoch: 0n, commitment: op.kind.nameCommitment };
        break;
      case "direct":
        if (members.size !== DIRECT_MEMBERS) throw new ProtocolError("group/direct-conversation");
        naming = null;
        break;
      default:
        unreachable(op.kind);
    }
    const self = members.get(idKey(change.signerAccount));
    if (self === undefined) throw new ProtocolError("group/signer-not-member");
    if (!self.admin) throw new ProtocolError("group/signer-not-admin");
    return new GroupState(
      change.conversation,
      naming,
      members,
      [await changeHash(signed)],
      undefined,
      [],
    );
  }

  /**
   * Verifies `signed`, made by `signer`, against this state and returns the next state (§6.3):
   * decode; conversation; signer device and signature; position (replay, fork, gap, previous
   * hash); the signer's rights before the change; the operation.
   */
  async apply(signed: Signed, signer: VerifiedDevice): Promise<GroupState> {
    const change = GroupChange.decode(signed.body);
    if (!bytesEqual(change.conversation, this.conversation))
      throw new ProtocolError("group/wrong-conversation");
    await checkSigner(change, signed, signer);
    await this.checkPosition(change, signed);
    const actor = this.memberMap.get(idKey(change.signerAccount));
    if (actor === undefined) throw new ProtocolError("group/signer-not-member");
    const leaving =
      change.op.type === "remove-member" && bytesEqual(change.op.account, change.signerAccount);
    const directRetention = change.op.type === "set-retention" && this.naming === null;
    if (!actor.admin && !leaving && !directRetention)
      throw new ProtocolError("group/signer-not-admin");
    const { naming, members, retention, closed } = this.applyOp(change.op, change.epoch);
    const hash = await changeHash(signed);
    return new GroupState(
      this.conversation,
      naming,
      members,
      [...this.hashes, hash],
      retention,
      closed === undefined ? this.pastMembers : [...this.pastMembers, closed],
    );
  }

  private async checkPosition(change: GroupChange, signed: Signed): Promise<void> {
    const epoch = this.epoch;
    if (change.epoch <= epoch) {
      const applied = this.hashes[Number(change.epoch)];
      const hash = await changeHash(signed);
      throw new ProtocolError(
        applied !== undefined && bytesEqual(applied, hash) ? "group/replayed" : "group/fork",
        `epoch ${change.epoch}`,
      );
    }
    if (change.epoch !== epoch + 1n)
      throw new ProtocolError("group/epoch-gap", `expected ${epoch + 1n}, got ${change.epoch}`);
    if (!bytesEqual(change.previous, this.head))
      throw new ProtocolError("group/previous-hash-mismatch");
  }

  private applyOp(
    op: GroupOp,
    epoch: bigint,
  ): {
    naming: Naming | null;
    members: Map<string, MemberState>;
    retention: bigint | undefined;
    closed: PastMembership | undefined;
  } {
    const members = new Map(this.memberMap);
    let naming = this.naming;
    let retention = this.retention;
    let closed: PastMembership | undefined;
    switch (op.type) {
      case "create":
        throw new ProtocolError("group/not-genesis");
      case "add-member": {
        const m = op.member;
        if (this.naming === null) throw new ProtocolError("group/direct-conversation");
        const key = idKey(m.account);
        if (members.has(key)) throw new ProtocolError("group/already-member");
        if (members.size >= MAX_MEMBERS) throw new ProtocolError("group/too-many-members");
        members.set(key, { account: m.account, admin: m.admin, sinceEpoch: epoch });
        break;
      }
      case "remove-member": {
        const key = idKey(op.account);
        const member = members.get(key);
        if (member === undefined) throw new ProtocolError("group/not-member");
        members.delete(key);
        checkAdminLeft(members);
        closed = { account: member.account, fromEpoch: member.sinceEpoch, untilEpoch: epoch };
        break;
      }
      case "set-admin": {
        const key = idKey(op.account);
        const member = members.get(key);
        if (member === undefined) throw new ProtocolError("group/not-member");
        if (member.admin === op.admin) throw new ProtocolError("group/no-op");
        members.set(key, { ...member, admin: op.admin });
        checkAdminLeft(members);
        break;
      }
      case "rename":
        if (this.naming === null) throw new ProtocolError("group/direct-conversation");
        if (bytesEqual(op.nameCommitment, this.naming.commitment))
          throw new ProtocolError("group/no-op");
        naming = { epoch, commitment: op.nameCommitment };
        break;
      case "set-retention":
        if (op.seconds === this.retention) throw new ProtocolError("group/no-op");
        retention = op.seconds;
        break;
      default:
        unreachable(op);
    }
    return { naming, members, retention, closed };
  }

  /** Group or 1:1 (§6.4). */
  get kind(): "group" | "direct" {
    return this.naming === null ? "direct" : "group";
  }

  /** The epoch the next change creates. */
  get nextEpoch(): bigint {
    return this.epoch + 1n;
  }

  /**
   * Whether `reveal`, received in this conversation, names it (§6.5 rule 3): `"current"` when it
   * opens the current commitment, `"superseded"` for a name replaced since; anything else is
   * `group/name-mismatch`.
   */
  async checkName(reveal: NameReveal): Promise<NameCheck> {
    const naming = this.naming;
    if (naming === null) throw new ProtocolError("group/name-mismatch");
    if (reveal.epoch < naming.epoch) return "superseded";
    if (
      reveal.epoch === naming.epoch &&
      bytesEqual(await nameCommitment(this.conversation, reveal), naming.commitment)
    ) {
      return "current";
    }
    throw new ProtocolError("group/name-mismatch");
  }

  /** Builds and signs the genesis of a new conversation; apply it with {@link genesis}. */
  static async create(
    conversation: ConversationIdT,
    kind: CreateKind,
    members: readonly Member[],
    signerAccount: AccountIdT,
    signer: DeviceKeys,
    now: bigint,
  ): Promise<Signed> {
    const body = GroupChange.encode({
      conversation,
      epoch: 0n,
      previous: ZERO_HASH,
      signerAccount,
      signerDevice: signer.device,
      issuedAt: now,
      op: { type: "create", kind, members },
    });
    return Signed.sign(body, signer.signing);
  }

  /** Builds and signs the change that moves this state forward by `op`; apply it with {@link apply}. */
  async propose(
    op: GroupOp,
    signerAccount: AccountIdT,
    signer: DeviceKeys,
    now: bigint,
  ): Promise<Signed> {
    const body = GroupChange.encode({
      conversation: this.conversation,
      epoch: this.epoch + 1n,
      previous: this.head,
      signerAccount,
      signerDevice: signer.device,
      issuedAt: now,
      op,
    });
    return Signed.sign(body, signer.signing);
  }

  /** The verified state's persisted form (§9.5; implementation-defined, local only). */
  snapshot(): GroupStateSnapshot {
    return {
      conversation: this.conversation,
      naming: this.naming,
      members: this.members(),
      hashes: [...this.hashes],
      retention: this.retention,
      pastMembers: [...this.pastMembers],
    };
  }

  /** Rebuilds a state persisted by {@link snapshot} from this device's own encrypted store. */
  static restore(s: GroupStateSnapshot): GroupState {
    if (s.hashes.length === 0)
      throw new ProtocolError("invalid-input", "a group state has at least its genesis");
    return new GroupState(
      s.conversation,
      s.naming,
      new Map(s.members.map((m) => [idKey(m.account), m])),
      [...s.hashes],
      s.retention,
      [...(s.pastMembers ?? [])],
    );
  }

  /** The current epoch. */
  get epoch(): bigint {
    return BigInt(this.hashes.length - 1);
  }

  /** The hash of the last applied change. */
  get head(): Bytes {
    return this.hashes[this.hashes.length - 1] ?? ZERO_HASH;
  }

  /** The hash applied at `epoch`, if it was. */
  hashAt(epoch: bigint): Bytes | undefined {
    return epoch >= 0n && epoch < BigInt(this.hashes.length)
      ? this.hashes[Number(epoch)]
      : undefined;
  }

  /** The members, ordered by account bytes. */
  members(): MemberState[] {
    return [...this.memberMap.values()].sort((a, b) => compareBytes(a.account, b.account));
  }

  /** The member state of `account`, if a member now. */
  member(account: AccountIdT): MemberState | undefined {
    return this.memberMap.get(idKey(account));
  }

  /** Whether `account` is a member now. */
  isMember(account: AccountIdT): boolean {
    return this.memberMap.has(idKey(account));
  }

  /**
   * Whether `account` was a member at `epoch` (§17.2 check 5): it joined at or before `epoch`
   * and was not removed at or before it. An epoch beyond the state's is `false`.
   */
  wasMemberAt(account: AccountIdT, epoch: bigint): boolean {
    if (epoch > this.epoch) return false;
    const now = this.memberMap.get(idKey(account));
    if (now !== undefined && now.sinceEpoch <= epoch) return true;
    return this.pastMembers.some(
      (m) => bytesEqual(m.account, account) && m.fromEpoch <= epoch && epoch < m.untilEpoch,
    );
  }

  /** The spans of former members (see {@link wasMemberAt}). */
  pastMemberships(): readonly PastMembership[] {
    return this.pastMembers;
  }

  /** The retention in force (§6.7): the last SetRetention, else `serverDefault`. */
  retentionOr(serverDefault: bigint): bigint {
    return this.retention ?? serverDefault;
  }

  /** Whether `account` is an admin now. */
  isAdmin(account: AccountIdT): boolean {
    return this.memberMap.get(idKey(account))?.admin === true;
  }
}

/** A group with members keeps at least one admin; an empty group (everyone left) is final. */
function checkAdminLeft(members: ReadonlyMap<string, MemberState>): void {
  if (members.size > 0 && ![...members.values()].some((m) => m.admin)) {
    throw new ProtocolError("group/last-admin");
  }
}
