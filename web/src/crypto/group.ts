/**
 * The group state log (`docs/protocol.md` §6): a conversation's membership as a signed,
 * hash-chained list of changes.
 *
 * {@link GroupState} is immutable: {@link GroupState.genesis} and {@link GroupState.apply} return
 * a new state or throw, so a refused change leaves nothing half-applied. The checks run in the
 * spec's order (§6.3); recipients of keys come only from a state built this way.
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
import { MAX_GROUP_CHANGE_LEN, MAX_GROUP_NAME_LEN, MAX_MEMBERS, MAX_USERNAME_LEN } from "./limits";
import { sha256 } from "./primitives";
import { Signed } from "./signed";

const ZERO_HASH: Bytes = new Uint8Array(32);

/** One member as a change lists it. */
export interface Member {
  readonly account: AccountIdT;
  /** Display text, ≤ 64 bytes. */
  readonly username: string;
  readonly admin: boolean;
}

/** What a change does (§6.1). */
export type GroupOp =
  | { readonly type: "create"; readonly name: string; readonly members: readonly Member[] }
  | { readonly type: "add-member"; readonly member: Member }
  | { readonly type: "remove-member"; readonly account: AccountIdT }
  | { readonly type: "set-admin"; readonly account: AccountIdT; readonly admin: boolean }
  | { readonly type: "rename"; readonly name: string };

const OP_CREATE = 0x01;
const OP_ADD = 0x02;
const OP_REMOVE = 0x03;
const OP_SET_ADMIN = 0x04;
const OP_RENAME = 0x05;

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
  w.text(m.username, "username");
  w.bool(m.admin);
}

function decodeMember(r: Reader): Member {
  return {
    account: AccountId.decode(r),
    username: r.displayText("username", MAX_USERNAME_LEN),
    admin: r.bool("admin"),
  };
}

function encodeOp(w: Writer, op: GroupOp): void {
  switch (op.type) {
    case "create":
      w.u8(OP_CREATE);
      w.text(op.name, "group name");
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
      w.text(op.name, "group name");
      return;
    default:
      unreachable(op);
  }
}

function decodeOp(r: Reader): GroupOp {
  const tag = r.u8();
  switch (tag) {
    case OP_CREATE: {
      const name = r.displayText("group name", MAX_GROUP_NAME_LEN);
      const count = r.count("members", MAX_MEMBERS);
      const members: Member[] = [];
      for (let i = 0; i < count; i++) members.push(decodeMember(r));
      return { type: "create", name, members };
    }
    case OP_ADD:
      return { type: "add-member", member: decodeMember(r) };
    case OP_REMOVE:
      return { type: "remove-member", account: AccountId.decode(r) };
    case OP_SET_ADMIN:
      return { type: "set-admin", account: AccountId.decode(r), admin: r.bool("admin") };
    case OP_RENAME:
      return { type: "rename", name: r.displayText("group name", MAX_GROUP_NAME_LEN) };
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

/** A member as the state records it. */
export interface MemberState {
  readonly account: AccountIdT;
  readonly username: string;
  readonly admin: boolean;
  /** The epoch at which the member joined. */
  readonly sinceEpoch: bigint;
}

function isValidName(name: string, max: number): boolean {
  return isDisplayText(name) && utf8Length(name) <= max;
}

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
  readonly name: string;
  readonly members: readonly MemberState[];
  readonly hashes: readonly Bytes[];
}

/** A conversation's state after a verified log of changes. */
export class GroupState {
  private constructor(
    readonly conversation: ConversationIdT,
    readonly name: string,
    /** Members by `idKey(account)`. */
    private readonly memberMap: ReadonlyMap<string, MemberState>,
    /** The hash applied at each epoch; the last is the head. Never empty. */
    private readonly hashes: readonly Bytes[],
  ) {}

  /**
   * Verifies a genesis signed by `signer` and returns epoch 0 (§6.3, genesis order): decode;
   * signer device and signature; Create at epoch 0 with zero `previous` (`group/not-genesis`);
   * name (`group/invalid-text`); member count (`group/too-many-members`); usernames
   * (`group/invalid-text`) and no account twice (`group/already-member`); the signer listed
   * (`group/signer-not-member`) as an admin (`group/signer-not-admin`).
   */
  static async genesis(signed: Signed, signer: VerifiedDevice): Promise<GroupState> {
    const change = GroupChange.decode(signed.body);
    await checkSigner(change, signed, signer);
    const op = change.op;
    if (op.type !== "create" || change.epoch !== 0n || !bytesEqual(change.previous, ZERO_HASH)) {
      throw new ProtocolError("group/not-genesis");
    }
    if (!isValidName(op.name, MAX_GROUP_NAME_LEN))
      throw new ProtocolError("group/invalid-text", "group name");
    if (op.members.length > MAX_MEMBERS) throw new ProtocolError("group/too-many-members");
    const members = new Map<string, MemberState>();
    for (const m of op.members) {
      if (!isValidName(m.username, MAX_USERNAME_LEN))
        throw new ProtocolError("group/invalid-text", "username");
      const key = idKey(m.account);
      if (members.has(key)) throw new ProtocolError("group/already-member");
      members.set(key, {
        account: m.account,
        username: m.username,
        admin: m.admin,
        sinceEpoch: 0n,
      });
    }
    const self = members.get(idKey(change.signerAccount));
    if (self === undefined) throw new ProtocolError("group/signer-not-member");
    if (!self.admin) throw new ProtocolError("group/signer-not-admin");
    return new GroupState(change.conversation, op.name, members, [await changeHash(signed)]);
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
    if (!actor.admin && !leaving) throw new ProtocolError("group/signer-not-admin");
    const { name, members } = this.applyOp(change.op, change.epoch);
    return new GroupState(this.conversation, name, members, [
      ...this.hashes,
      await changeHash(signed),
    ]);
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

  private applyOp(op: GroupOp, epoch: bigint): { name: string; members: Map<string, MemberState> } {
    const members = new Map(this.memberMap);
    let name = this.name;
    switch (op.type) {
      case "create":
        throw new ProtocolError("group/not-genesis");
      case "add-member": {
        const m = op.member;
        if (!isValidName(m.username, MAX_USERNAME_LEN))
          throw new ProtocolError("group/invalid-text", "username");
        const key = idKey(m.account);
        if (members.has(key)) throw new ProtocolError("group/already-member");
        if (members.size >= MAX_MEMBERS) throw new ProtocolError("group/too-many-members");
        members.set(key, {
          account: m.account,
          username: m.username,
          admin: m.admin,
          sinceEpoch: epoch,
        });
        break;
      }
      case "remove-member":
        if (!members.delete(idKey(op.account))) throw new ProtocolError("group/not-member");
        checkAdminLeft(members);
        break;
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
        if (!isValidName(op.name, MAX_GROUP_NAME_LEN))
          throw new ProtocolError("group/invalid-text", "group name");
        if (op.name === this.name) throw new ProtocolError("group/no-op");
        name = op.name;
        break;
      default:
        unreachable(op);
    }
    return { name, members };
  }

  /** Builds and signs the genesis of a new conversation; apply it with {@link genesis}. */
  static async create(
    conversation: ConversationIdT,
    name: string,
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
      op: { type: "create", name, members },
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
      name: this.name,
      members: this.members(),
      hashes: [...this.hashes],
    };
  }

  /** Rebuilds a state persisted by {@link snapshot} from this device's own encrypted store. */
  static restore(s: GroupStateSnapshot): GroupState {
    if (s.hashes.length === 0)
      throw new ProtocolError("invalid-input", "a group state has at least its genesis");
    return new GroupState(
      s.conversation,
      s.name,
      new Map(s.members.map((m) => [idKey(m.account), m])),
      [...s.hashes],
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
