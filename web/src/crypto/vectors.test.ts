/**
 * The shared cross-language vectors (`test-vectors/*.json`, described in `test-vectors/README.md`).
 * Every file found must have a handler, and every vector in it is checked: deterministic values
 * byte for byte, signatures by verifying, OAEP ciphertexts by decrypting; a negative vector must
 * fail with exactly its `expected_error`.
 */

import { describe, expect, it } from "vitest";

import {
  type AmendmentOrder,
  amendmentOf,
  bodyClass,
  checkAmendment,
  winningAmendment,
} from "./amend";
import { decryptAttachment } from "./attachment";
import { AuthChallenge } from "./auth";
import { BackupItem, BackupItemHeader, openBackup } from "./backup";
import { type MessageBody as MessageBodyT, MessageBody, pad, paddedLength, unpad } from "./body";
import { type BundleRecord, KeyBundle } from "./bundle";
import { type Bytes, toHex } from "./bytes";
import { Reader } from "./codec";
import { DistributionHeader, KeyDistribution, KeyRequest, encodePayload } from "./distribution";
import { Domain, encodeDomain } from "./domains";
import { DangerSeededRng } from "./env";
import { Envelope, EnvelopeHeader } from "./envelope";
import { Handover, HandoverHeader } from "./handover";
import type { ErrorCode } from "./errors";
import {
  type CreateKind,
  type GroupOp,
  type Member,
  type NameReveal,
  GroupChange,
  GroupState,
  checkGroupName,
  decodeSignedChange,
  nameCommitment,
} from "./group";
import {
  AccountIdentity,
  DeviceCertificate,
  DeviceKeys,
  ExchangeKeyCertificate,
  Revocation,
  type VerifiedDevice,
  type VerifiedRevocation,
  decodeSignedIdentity,
} from "./identity";
import {
  AccountId,
  AuthKeyId,
  BackupItemId,
  ChainId,
  ConversationId,
  DeviceId,
  ExchangeKeyId,
  HandoverId,
  type IdKind,
  type KeyIdKind,
  MessageId,
  RecoveryId,
  accountIdOf,
  authKeyIdOf,
  deviceIdOf,
  exchangeKeyIdOf,
  idKey,
  keyIdPreimage,
} from "./ids";
import {
  AeadKey,
  ExchangeKeyPair,
  SigningKeyPair,
  VerifyingKey,
  hkdfSha256,
  sha256,
} from "./primitives";
import { ChainKey, messageAeadInfo } from "./ratchet";
import { ReceiverState, localDevice } from "./receiver";
import { BackupKey, RecoveryKey, RecoverySecret, backupItemKeyInfo } from "./recovery";
import { SafetyNumber, safetyFingerprint } from "./safety";
import { SenderChain } from "./sender";
import { SignedSealed } from "./signed";
import { J, expectCode, vectorFiles } from "./test-support";

const hex = (bytes: Uint8Array): string => toHex(bytes);

/** Runs a positive vector's check, or checks a negative vector fails with its code. */
async function outcome(vector: J, run: () => Promise<void>): Promise<void> {
  const code = vector.expectedError();
  if (code === undefined) await run();
  else await expectCode(run, code);
}

// ---------------------------------------------------------------------------------------------
// JSON → protocol values
// ---------------------------------------------------------------------------------------------

function bodyFromJson(j: J): MessageBodyT {
  const type = j.get("type").str();
  switch (type) {
    case "text":
      return { type: "text", text: j.get("text").str() };
    case "receipt": {
      const kind = j.get("kind").str();
      if (kind !== "delivered" && kind !== "read")
        throw new Error(`${j.path}: receipt kind ${kind}`);
      return {
        type: "receipt",
        kind,
        messages: j
          .get("messages")
          .arr()
          .map((m) => MessageId.parse(m.str())),
      };
    }
    case "attachment":
      return {
        type: "attachment",
        attachment: {
          blobId: j.get("blob_id").str(),
          fileName: j.get("file_name").str(),
          mediaType: j.get("media_type").str(),
          size: j.get("size").big(),
          secret: j.get("secret").hex(),
          blobSha256: j.get("blob_sha256").hex(),
        },
        caption: j.get("caption").str(),
      };
    case "group_name":
      return { type: "group-name", reveal: revealFromJson(j) };
    case "message": {
      const text = j.get("text").str();
      const mentions = mentionsFromJson(j);
      const reply = j.get("reply_to");
      return reply.isNull()
        ? { type: "message", text, mentions }
        : { type: "message", text, replyTo: MessageId.parse(reply.str()), mentions };
    }
    case "edit":
      return {
        type: "edit",
        target: MessageId.parse(j.get("target").str()),
        text: j.get("text").str(),
        mentions: mentionsFromJson(j),
      };
    case "delete":
      return { type: "delete", target: MessageId.parse(j.get("target").str()) };
    case "reaction":
      return {
        type: "reaction",
        target: MessageId.parse(j.get("target").str()),
        reaction: j.get("reaction").str(),
        added: j.get("added").bool(),
      };
    default:
      throw new Error(`${j.path}: unknown body type ${type}`);
  }
}

function mentionsFromJson(j: J): AccountId[] {
  return j
    .get("mentions")
    .arr()
    .map((m) => AccountId.parse(m.str()));
}

function memberFromJson(j: J): Member {
  return {
    account: AccountId.parse(j.get("account").str()),
    admin: j.get("admin").bool(),
  };
}

function kindFromJson(j: J): CreateKind {
  const type = j.get("type").str();
  switch (type) {
    case "group":
      return { type: "group", nameCommitment: j.get("name_commitment").hex() };
    case "direct":
      return { type: "direct" };
    default:
      throw new Error(`${j.path}: unknown conversation kind ${type}`);
  }
}

function revealFromJson(j: J): NameReveal {
  return { epoch: j.get("epoch").big(), salt: j.get("salt").hex(), name: j.get("name").str() };
}

function opFromJson(j: J): GroupOp {
  const type = j.get("type").str();
  switch (type) {
    case "create":
      return {
        type: "create",
        kind: kindFromJson(j.get("kind")),
        members: j.get("members").arr().map(memberFromJson),
      };
    case "add_member":
      return { type: "add-member", member: memberFromJson(j.get("member")) };
    case "remove_member":
      return { type: "remove-member", account: AccountId.parse(j.get("account").str()) };
    case "set_admin":
      return {
        type: "set-admin",
        account: AccountId.parse(j.get("account").str()),
        admin: j.get("admin").bool(),
      };
    case "rename":
      return { type: "rename", nameCommitment: j.get("name_commitment").hex() };
    case "set_retention":
      return { type: "set-retention", seconds: j.get("retention_secs").big() };
    default:
      throw new Error(`${j.path}: unknown op ${type}`);
  }
}

/** Pins each device's master key and verifies its certificate (README, "Common format"). */
async function verifiedDevices(vector: J): Promise<Map<string, VerifiedDevice>> {
  const out = new Map<string, VerifiedDevice>();
  for (const d of vector.get("devices").arr()) {
    const identity = await AccountIdentity.fromMasterSpki(d.get("master_spki").hex());
    expect(AccountId.toText(identity.account)).toBe(d.get("account_id").str());
    const device = await identity.verifyDevice(
      decodeSignedIdentity(d.get("device_certificate").hex()),
      [],
    );
    expect(DeviceId.toText(device.device)).toBe(d.get("device_id").str());
    out.set(idKey(device.device), device);
  }
  return out;
}

function lookup(devices: Map<string, VerifiedDevice>, device: Bytes): VerifiedDevice {
  const found = devices.get(idKey(device));
  if (found === undefined) throw new Error(`vector names unknown device ${toHex(device)}`);
  return found;
}

// ---------------------------------------------------------------------------------------------
// Handlers, one per file
// ---------------------------------------------------------------------------------------------

type Handler = (vector: J) => Promise<void>;

const KEY_ID_KINDS: Record<
  string,
  { kind: KeyIdKind; of: (spki: Uint8Array) => Promise<Bytes>; text: (id: Bytes) => string }
> = {
  account: { kind: "acct", of: accountIdOf, text: (id) => AccountId.PREFIX + hex(id) },
  device: { kind: "dev", of: deviceIdOf, text: (id) => DeviceId.PREFIX + hex(id) },
  exchange: { kind: "xkey", of: exchangeKeyIdOf, text: (id) => ExchangeKeyId.PREFIX + hex(id) },
  auth: { kind: "auth", of: authKeyIdOf, text: (id) => AuthKeyId.PREFIX + hex(id) },
};

function keyIdKind(name: string): (typeof KEY_ID_KINDS)[string] {
  const kind = KEY_ID_KINDS[name];
  if (kind === undefined) throw new Error(`unknown id type ${name}`);
  return kind;
}

const ID_KINDS: Record<string, IdKind<Bytes>> = {
  account: AccountId,
  device: DeviceId,
  exchange: ExchangeKeyId,
  auth: AuthKeyId,
  conversation: ConversationId,
  chain: ChainId,
  message: MessageId,
};

const keys: Handler = async (v) => {
  const spki = v.get("spki").hex();
  const pair = await SigningKeyPair.fromPkcs8(v.get("pkcs8").hex());
  expect(hex(pair.spki)).toBe(hex(spki));
  expect(pair.verifyingKey.bits).toBe(v.get("bits").num());
  const kind = keyIdKind(v.get("id_type").str());
  expect(kind.text(await kind.of(spki))).toBe(v.get("id").str());
  const message = new TextEncoder().encode(v.get("name").str());
  await (await VerifyingKey.fromSpki(spki)).verify("vector key", message, await pair.sign(message));
  if (v.get("id_type").str() === "exchange") {
    const exchange = await ExchangeKeyPair.fromPkcs8(v.get("pkcs8").hex());
    const label = Uint8Array.of(1, 2, 3);
    expect(
      hex(await exchange.decrypt(await exchange.encryptingKey.encrypt(message, label), label)),
    ).toBe(hex(message));
  }
};

const ids: Handler = async (v) => {
  const op = v.get("operation").str();
  if (op === "derive") {
    const spki = v.get("spki").hex();
    const entries = v.get("ids");
    expect(entries.keys().sort()).toEqual(["account", "auth", "device", "exchange"]);
    for (const name of entries.keys()) {
      const kind = keyIdKind(name);
      const entry = entries.get(name);
      const preimage = keyIdPreimage(kind.kind, spki);
      expect(hex(preimage)).toBe(entry.get("preimage").str());
      expect(hex(await sha256(preimage))).toBe(hex(await kind.of(spki)));
      expect(kind.text(await kind.of(spki))).toBe(entry.get("id").str());
    }
    return;
  }
  if (op !== "parse") throw new Error(`unknown ids operation ${op}`);
  const kind = ID_KINDS[v.get("id_type").str()];
  if (kind === undefined) throw new Error(`unknown id type ${v.get("id_type").str()}`);
  await outcome(v, () => {
    const id = kind.parse(v.get("text").str());
    expect(hex(id)).toBe(v.get("bytes").str());
    expect(kind.toText(id)).toBe(v.get("text").str());
    return Promise.resolve();
  });
};

const chain: Handler = async (v) => {
  expect(hex(encodeDomain(Domain.ChainMessageKey))).toBe(v.get("message_key_label").str());
  expect(hex(encodeDomain(Domain.ChainNextKey))).toBe(v.get("next_key_label").str());
  const chainId = ChainId.parse(v.get("chain").str());
  let key = ChainKey.fromBytes(v.get("chain_key").hex());
  const steps = v.get("steps").arr();
  expect(steps.length).toBeGreaterThan(0);
  for (const [i, step] of steps.entries()) {
    expect(step.get("index").num()).toBe(i);
    expect(hex(key.dangerBytes())).toBe(step.get("chain_key").str());
    const mk = await key.messageKey();
    expect(hex(mk.dangerBytes())).toBe(step.get("message_key").str());
    expect(hex(messageAeadInfo(chainId, i))).toBe(step.get("aead_info").str());
    const { key: aes, nonce } = await mk.derive(chainId, i);
    expect(hex(aes)).toBe(step.get("aes_key").str());
    expect(hex(nonce)).toBe(step.get("nonce").str());
    key = await key.next();
    expect(hex(key.dangerBytes())).toBe(step.get("next_chain_key").str());
  }
};

const body: Handler = async (v) => {
  const op = v.get("operation").str();
  switch (op) {
    case "encode": {
      const value = bodyFromJson(v.get("body"));
      const encoded = MessageBody.encode(value);
      expect(hex(encoded)).toBe(v.get("body_hex").str());
      expect(MessageBody.decode(v.get("body_hex").hex())).toEqual(value);
      const padded = pad(encoded);
      expect(padded.length).toBe(v.get("padded_len").num());
      expect(paddedLength(encoded.length)).toBe(padded.length);
      expect(hex(padded)).toBe(v.get("padded_hex").str());
      expect(hex(unpad(v.get("padded_hex").hex()))).toBe(v.get("body_hex").str());
      return;
    }
    case "unpad":
      await outcome(v, () => {
        unpad(v.get("padded_hex").hex());
        return Promise.resolve();
      });
      return;
    case "decode":
      await outcome(v, () => {
        MessageBody.decode(v.get("body_hex").hex());
        return Promise.resolve();
      });
      return;
    default:
      throw new Error(`unknown body operation ${op}`);
  }
};

/** A committed message of an amendment vector: body from `body_hex`, equal to the readable one. */
function committedFromJson(j: J) {
  const body = MessageBody.decode(j.get("body_hex").hex());
  expect(body).toEqual(bodyFromJson(j.get("body")));
  return {
    conversation: ConversationId.parse(j.get("conversation").str()),
    sender: AccountId.parse(j.get("sender_account").str()),
    body,
  };
}

const amendment: Handler = async (v) => {
  const op = v.get("operation").str();
  switch (op) {
    case "check": {
      const target = committedFromJson(v.get("target"));
      const amending = committedFromJson(v.get("amendment"));
      const amends = amendmentOf(amending.body);
      if (amends === undefined) throw new Error(`${v.path}: not an amendment`);
      expect(MessageId.toText(amends.target)).toBe(v.get("target_id").str());
      await outcome(v, () => {
        checkAmendment(
          {
            conversation: target.conversation,
            sender: target.sender,
            class: bodyClass(target.body),
          },
          { conversation: amending.conversation, sender: amending.sender, kind: amends.kind },
        );
        return Promise.resolve();
      });
      return;
    }
    case "winner": {
      const candidates: AmendmentOrder[] = v
        .get("amendments")
        .arr()
        .map((a) => {
          expect(amendmentOf(bodyFromJson(a.get("body")))).toBeDefined();
          return { sentAt: a.get("sent_at").big(), id: MessageId.parse(a.get("message_id").str()) };
        });
      const winner = winningAmendment(candidates);
      if (winner === undefined) throw new Error(`${v.path}: no winner`);
      expect(MessageId.toText(winner.id)).toBe(v.get("expected_winner").str());
      return;
    }
    default:
      throw new Error(`unknown amendment operation ${op}`);
  }
};

const safety: Handler = async (v) => {
  const a = v.get("master_spki_a").hex();
  const b = v.get("master_spki_b").hex();
  expect(hex(await safetyFingerprint(a))).toBe(v.get("fingerprint_a").str());
  expect(hex(await safetyFingerprint(b))).toBe(v.get("fingerprint_b").str());
  const ab = await SafetyNumber.compute(a, b);
  const ba = await SafetyNumber.compute(b, a);
  for (const n of [ab, ba]) {
    expect(n.digits).toBe(v.get("digits").str());
    expect(n.groups()).toEqual(
      v
        .get("groups")
        .arr()
        .map((g) => g.str()),
    );
    expect(hex(n.qrPayload)).toBe(v.get("qr_payload").str());
    expect(n.matchesQr(v.get("qr_payload").hex())).toBe(true);
  }
};

const auth: Handler = async (v) => {
  const identity = await AccountIdentity.fromMasterSpki(v.get("master_spki").hex());
  const device = await identity.verifyDevice(
    decodeSignedIdentity(v.get("device_certificate").hex()),
    [],
  );
  const c = v.get("challenge");
  const challenge: AuthChallenge = {
    origin: c.get("origin").str(),
    username: c.get("username").str(),
    device: DeviceId.parse(c.get("device").str()),
    nonce: c.get("nonce").hex(),
    issuedAt: c.get("issued_at").big(),
  };
  expect(hex(AuthChallenge.encode(challenge))).toBe(v.get("challenge_hex").str());
  expect(AuthChallenge.decode(v.get("challenge_hex").hex())).toEqual(challenge);
  await outcome(v, () => AuthChallenge.verify(challenge, device.authKey, v.get("signature").hex()));
};

async function checkDeviceExpectation(
  v: J,
  device: VerifiedDevice,
  masterKey: VerifyingKey,
): Promise<void> {
  const e = v.get("expected");
  expect(AccountId.toText(device.account)).toBe(e.get("account_id").str());
  expect(DeviceId.toText(device.device)).toBe(e.get("device_id").str());
  expect(AuthKeyId.toText(device.authKeyId)).toBe(e.get("auth_key_id").str());
  expect(hex(device.signingKey.spki)).toBe(e.get("signing_key").str());
  expect(hex(device.authKey.spki)).toBe(e.get("auth_key").str());
  expect(device.name).toBe(e.get("name").str());
  expect(device.issuedAt).toBe(e.get("issued_at").big());
  const cert = v.get("certificate");
  const b = cert.get("body");
  const body: DeviceCertificate = {
    account: AccountId.parse(b.get("account").str()),
    device: DeviceId.parse(b.get("device").str()),
    signingKey: b.get("signing_key").hex(),
    authKey: b.get("auth_key").hex(),
    issuedAt: b.get("issued_at").big(),
    name: b.get("name").str(),
  };
  expect(hex(DeviceCertificate.encode(body))).toBe(cert.get("body_hex").str());
  expect(DeviceCertificate.decode(cert.get("body_hex").hex())).toEqual(body);
  const signed = decodeSignedIdentity(v.get("device_certificate").hex());
  expect(hex(signed.body)).toBe(cert.get("body_hex").str());
  expect(hex(signed.signature)).toBe(cert.get("signature").str());
  await masterKey.verify(
    "device certificate",
    cert.get("body_hex").hex(),
    cert.get("signature").hex(),
  );
}

const identity: Handler = async (v) => {
  const op = v.get("operation").str();
  switch (op) {
    case "pin_master_key":
      await outcome(v, async () => {
        const pinned = await AccountIdentity.fromMasterSpki(v.get("master_spki").hex());
        expect(AccountId.toText(pinned.account)).toBe(v.get("expected").get("account_id").str());
      });
      return;
    case "verify_device": {
      const pinned = await AccountIdentity.fromMasterSpki(v.get("master_spki").hex());
      const revocations: VerifiedRevocation[] = [];
      for (const r of v.get("revocations").arr())
        revocations.push(await pinned.verifyRevocation(decodeSignedIdentity(r.hex())));
      await outcome(v, async () => {
        const device = await pinned.verifyDevice(
          decodeSignedIdentity(v.get("device_certificate").hex()),
          revocations,
        );
        await checkDeviceExpectation(v, device, pinned.masterKey);
      });
      return;
    }
    case "verify_revocation": {
      const pinned = await AccountIdentity.fromMasterSpki(v.get("master_spki").hex());
      await outcome(v, async () => {
        const revocation = await pinned.verifyRevocation(
          decodeSignedIdentity(v.get("revocation").hex()),
        );
        const e = v.get("expected");
        const expected: Revocation = {
          account: AccountId.parse(e.get("account").str()),
          device: DeviceId.parse(e.get("device").str()),
          serial: e.get("serial").big(),
          revokedAt: e.get("revoked_at").big(),
        };
        expect(revocation.body).toEqual(expected);
        expect(hex(Revocation.encode(expected))).toBe(v.get("body_hex").str());
        const signed = decodeSignedIdentity(v.get("revocation").hex());
        expect(hex(signed.body)).toBe(v.get("body_hex").str());
        expect(hex(signed.signature)).toBe(v.get("signature").str());
        await pinned.masterKey.verify(
          "revocation",
          v.get("body_hex").hex(),
          v.get("signature").hex(),
        );
      });
      return;
    }
    case "verify_exchange_key": {
      const pinned = await AccountIdentity.fromMasterSpki(v.get("master_spki").hex());
      const device = await pinned.verifyDevice(
        decodeSignedIdentity(v.get("device_certificate").hex()),
        [],
      );
      const seen = v.get("highest_serial_seen");
      await outcome(v, async () => {
        const key = await device.verifyExchangeKey(
          decodeSignedIdentity(v.get("exchange_key_certificate").hex()),
          v.get("now").big(),
          seen.isNull() ? undefined : seen.big(),
        );
        const e = v.get("expected");
        expect(AccountId.toText(key.account)).toBe(e.get("account_id").str());
        expect(DeviceId.toText(key.device)).toBe(e.get("device_id").str());
        expect(ExchangeKeyId.toText(key.keyId)).toBe(e.get("exchange_key_id").str());
        expect(key.serial).toBe(e.get("serial").big());
        expect(key.notBefore).toBe(e.get("not_before").big());
        expect(key.notAfter).toBe(e.get("not_after").big());
        const cert = v.get("certificate");
        const b = cert.get("body");
        const body: ExchangeKeyCertificate = {
          account: AccountId.parse(b.get("account").str()),
          device: DeviceId.parse(b.get("device").str()),
          exchangeKey: b.get("exchange_key").hex(),
          serial: b.get("serial").big(),
          notBefore: b.get("not_before").big(),
          notAfter: b.get("not_after").big(),
        };
        expect(hex(ExchangeKeyCertificate.encode(body))).toBe(cert.get("body_hex").str());
        expect(ExchangeKeyCertificate.decode(cert.get("body_hex").hex())).toEqual(body);
        await device.signingKey.verify(
          "exchange-key certificate",
          cert.get("body_hex").hex(),
          cert.get("signature").hex(),
        );
      });
      return;
    }
    default:
      throw new Error(`unknown identity operation ${op}`);
  }
};

function checkState(state: GroupState, e: J): void {
  expect(ConversationId.toText(state.conversation)).toBe(e.get("conversation").str());
  expect(state.epoch).toBe(e.get("epoch").big());
  expect(hex(state.head)).toBe(e.get("head_hash").str());
  expect(state.kind).toBe(e.get("kind").str());
  const naming = e.get("naming");
  expect(
    state.naming === null
      ? null
      : { epoch: state.naming.epoch, commitment: hex(state.naming.commitment) },
  ).toEqual(
    naming.isNull()
      ? null
      : { epoch: naming.get("epoch").big(), commitment: naming.get("commitment").str() },
  );
  expect(
    state.members().map((m) => ({
      account: AccountId.toText(m.account),
      admin: m.admin,
      since_epoch: Number(m.sinceEpoch),
    })),
  ).toEqual(
    e
      .get("members")
      .arr()
      .map((m) => ({
        account: m.get("account").str(),
        admin: m.get("admin").bool(),
        since_epoch: m.get("since_epoch").num(),
      })),
  );
  const retention = e.opt("retention_secs");
  if (retention !== undefined) {
    expect(state.retention ?? null).toEqual(retention.isNull() ? null : retention.big());
  }
}

/** Applies one signed change to `state` (the genesis when there is none yet). */
async function applyChange(
  state: GroupState | undefined,
  wire: Bytes,
  devices: Map<string, VerifiedDevice>,
): Promise<GroupState> {
  const signed = decodeSignedChange(wire);
  const change = GroupChange.decode(signed.body);
  const signer = lookup(devices, change.signerDevice);
  return state === undefined ? GroupState.genesis(signed, signer) : state.apply(signed, signer);
}

const group: Handler = async (v) => {
  // §6.5: a group name given to an API.
  const groupName = v.opt("group_name");
  if (groupName !== undefined) {
    await outcome(v, () => {
      expect(checkGroupName(groupName.str())).toBe(groupName.str());
      return Promise.resolve();
    });
    return;
  }
  const devices = await verifiedDevices(v);
  const changes = v.get("changes").arr();
  const code = v.expectedError();
  let state: GroupState | undefined;
  for (const [i, c] of changes.entries()) {
    const last = i === changes.length - 1;
    if (last && code !== undefined) {
      const before = state;
      await expectCode(() => applyChange(before, c.get("change").hex(), devices), code);
      return;
    }
    state = await applyChange(state, c.get("change").hex(), devices);
    const signed = decodeSignedChange(c.get("change").hex());
    if (c.has("body_hex")) {
      expect(hex(signed.body)).toBe(c.get("body_hex").str());
      expect(hex(signed.signature)).toBe(c.get("signature").str());
      const f = c.get("fields");
      const fields: GroupChange = {
        conversation: ConversationId.parse(f.get("conversation").str()),
        epoch: f.get("epoch").big(),
        previous: f.get("previous").hex(),
        signerAccount: AccountId.parse(f.get("signer_account").str()),
        signerDevice: DeviceId.parse(f.get("signer_device").str()),
        issuedAt: f.get("issued_at").big(),
        op: opFromJson(f.get("op")),
      };
      expect(hex(GroupChange.encode(fields))).toBe(c.get("body_hex").str());
      expect(GroupChange.decode(signed.body)).toEqual(fields);
      expect(c.get("signer").str()).toBeTruthy();
    }
    if (c.has("hash")) expect(hex(state.head)).toBe(c.get("hash").str());
    if (c.has("expected_state")) checkState(state, c.get("expected_state"));
  }
  expect(code).toBeUndefined();
  if (state === undefined) return;
  // §6.5: the commitments the log's names open, and names a member could send.
  if (v.has("name_reveals")) {
    for (const r of v.get("name_reveals").arr()) {
      expect(hex(await nameCommitment(state.conversation, revealFromJson(r)))).toBe(
        r.get("commitment").str(),
      );
    }
  }
  if (v.has("name_checks")) {
    for (const c of v.get("name_checks").arr()) {
      const expectedError = c.expectedError();
      const final = state;
      if (expectedError !== undefined) {
        await expectCode(() => final.checkName(revealFromJson(c)), expectedError);
      } else {
        expect(await final.checkName(revealFromJson(c))).toBe(c.get("expected").str());
      }
    }
  }
};

/** The byte-level details of a genuine envelope (README, "Message details"). */
async function checkMessageDetails(m: J, devices: Map<string, VerifiedDevice>): Promise<void> {
  const h = m.get("header");
  const header: EnvelopeHeader = {
    conversation: ConversationId.parse(h.get("conversation").str()),
    epoch: h.get("epoch").big(),
    senderAccount: AccountId.parse(h.get("sender_account").str()),
    senderDevice: DeviceId.parse(h.get("sender_device").str()),
    chain: ChainId.parse(h.get("chain").str()),
    index: h.get("index").num(),
    sentAt: h.get("sent_at").big(),
    messageId: MessageId.parse(h.get("message_id").str()),
    paddedLen: h.get("padded_len").num(),
  };
  const headerBytes = EnvelopeHeader.encode(header);
  expect(hex(headerBytes)).toBe(m.get("header_hex").str());
  expect(EnvelopeHeader.decode(headerBytes)).toEqual(header);
  expect(hex(lookup(devices, header.senderDevice).signingKey.spki)).toBe(
    m.get("sender_signing_spki").str(),
  );
  let key = ChainKey.fromBytes(m.get("chain_key").hex());
  for (let i = 0; i < header.index; i++) key = await key.next();
  expect(hex(key.dangerBytes())).toBe(m.get("chain_key_at_index").str());
  const mk = await key.messageKey();
  expect(hex(mk.dangerBytes())).toBe(m.get("message_key").str());
  expect(hex(messageAeadInfo(header.chain, header.index))).toBe(m.get("aead_info").str());
  const { key: aes, nonce } = await mk.derive(header.chain, header.index);
  expect(hex(aes)).toBe(m.get("aes_key").str());
  expect(hex(nonce)).toBe(m.get("nonce").str());
  const body = bodyFromJson(m.get("body"));
  expect(hex(MessageBody.encode(body))).toBe(m.get("body_hex").str());
  const padded = pad(MessageBody.encode(body));
  expect(hex(padded)).toBe(m.get("padded_hex").str());
  const ciphertext = await new AeadKey(aes, nonce).seal(headerBytes, padded);
  expect(hex(ciphertext)).toBe(m.get("ciphertext").str());
  const signingKey = await VerifyingKey.fromSpki(m.get("sender_signing_spki").hex());
  await signingKey.verify(
    "message",
    SignedSealed.signingInput(headerBytes, ciphertext),
    m.get("signature").hex(),
  );
  expect(
    hex(SignedSealed.fromParts(headerBytes, ciphertext, m.get("signature").hex()).encode()),
  ).toBe(m.get("wire").str());
  const envelope = Envelope.decode(m.get("wire").hex());
  expect(envelope.header).toEqual(header);
}

/** The byte-level details of a genuine distribution (README, "Distribution details"). */
async function checkDistributionDetails(d: J): Promise<void> {
  const h = d.get("header");
  const previous = h.get("previous");
  const header: DistributionHeader = {
    conversation: ConversationId.parse(h.get("conversation").str()),
    epoch: h.get("epoch").big(),
    chain: ChainId.parse(h.get("chain").str()),
    senderAccount: AccountId.parse(h.get("sender_account").str()),
    senderDevice: DeviceId.parse(h.get("sender_device").str()),
    recipientAccount: AccountId.parse(h.get("recipient_account").str()),
    recipientDevice: DeviceId.parse(h.get("recipient_device").str()),
    recipientKey: ExchangeKeyId.parse(h.get("recipient_key").str()),
    createdAt: h.get("created_at").big(),
    startIndex: h.get("start_index").num(),
    previous: previous.isNull()
      ? undefined
      : {
          chain: ChainId.parse(previous.get("chain").str()),
          finalIndex: previous.get("final_index").isNull()
            ? undefined
            : previous.get("final_index").num(),
        },
  };
  const headerBytes = DistributionHeader.encode(header);
  expect(hex(headerBytes)).toBe(d.get("header_hex").str());
  expect(DistributionHeader.decode(headerBytes)).toEqual(header);
  const label = await DistributionHeader.oaepLabel(headerBytes);
  expect(hex(label)).toBe(d.get("oaep_label").str());
  const p = d.get("payload");
  const payload = encodePayload(
    ChainId.parse(p.get("chain").str()),
    p.get("start_index").num(),
    ChainKey.fromBytes(p.get("chain_key").hex()),
  );
  expect(hex(payload)).toBe(d.get("payload_hex").str());
  const recipient = await ExchangeKeyPair.fromPkcs8(d.get("recipient_exchange_pkcs8").hex());
  expect(hex(await recipient.decrypt(d.get("ciphertext").hex(), label))).toBe(
    d.get("payload_hex").str(),
  );
  const signingKey = await VerifyingKey.fromSpki(d.get("sender_signing_spki").hex());
  const ciphertext = d.get("ciphertext").hex();
  await signingKey.verify(
    "key distribution",
    SignedSealed.signingInput(headerBytes, ciphertext),
    d.get("signature").hex(),
  );
  expect(
    hex(SignedSealed.fromParts(headerBytes, ciphertext, d.get("signature").hex()).encode()),
  ).toBe(d.get("wire").str());
  expect(KeyDistribution.decode(d.get("wire").hex()).header).toEqual(header);
}

/** Replays a script (README, "envelope.json and distribution.json: scripts"). */
const script: Handler = async (v) => {
  const devices = await verifiedDevices(v);
  for (const m of v.opt("messages")?.arr() ?? []) await checkMessageDetails(m, devices);
  for (const d of v.opt("distributions")?.arr() ?? []) await checkDistributionDetails(d);

  const vectorNow = v.get("now").big();
  const r = v.get("recipient");
  const exchange = await ExchangeKeyPair.fromPkcs8(r.get("exchange_pkcs8").hex());
  const me = await localDevice(
    AccountId.parse(r.get("account_id").str()),
    DeviceId.parse(r.get("device_id").str()),
    [exchange],
  );
  expect(
    ExchangeKeyId.toText(me.exchangeKeys[0]?.keyId ?? ExchangeKeyId.fromBytes(new Uint8Array(32))),
  ).toBe(r.get("exchange_key_id").str());
  const receiver = new ReceiverState();
  let state: GroupState | undefined;
  const currentState = (): GroupState => {
    if (state === undefined) throw new Error("script step before the genesis");
    return state;
  };

  const steps = v.get("steps").arr();
  const code: ErrorCode | undefined = v.expectedError();
  for (const [i, step] of steps.entries()) {
    // A step may run on a later clock than the vector's (README: scripts).
    const now = step.opt("now")?.big() ?? vectorNow;
    const run = async (): Promise<void> => {
      const op = step.get("op").str();
      switch (op) {
        case "group_change":
          state = await applyChange(state, step.get("change").hex(), devices);
          return;
        case "accept_distribution": {
          const kdm = KeyDistribution.decode(step.get("distribution").hex());
          const accepted = await receiver.acceptDistribution(
            kdm,
            lookup(devices, kdm.header.senderDevice),
            me,
            currentState(),
            now,
          );
          const expected = step.opt("expect");
          if (expected !== undefined) {
            expect(ChainId.toText(accepted.chain)).toBe(expected.get("chain").str());
            expect(accepted.duplicate).toBe(expected.get("duplicate").bool());
            expect(accepted.missingInPrevious).toEqual(
              expected
                .get("missing_in_previous")
                .arr()
                .map((x) => x.num()),
            );
            expect(accepted.previousUnknown).toBe(expected.get("previous_unknown").bool());
          }
          return;
        }
        case "receive": {
          const envelope = Envelope.decode(step.get("envelope").hex());
          const received = await receiver.receive(
            envelope,
            lookup(devices, envelope.header.senderDevice),
            currentState(),
            now,
          );
          const expected = step.opt("expect");
          if (expected !== undefined) {
            expect(received.header.index).toBe(expected.get("index").num());
            expect(received.body).toEqual(bodyFromJson(expected.get("body")));
            expect(received.gap).toEqual(
              expected
                .get("gap")
                .arr()
                .map((x) => x.num()),
            );
          }
          return;
        }
        default:
          throw new Error(`unknown script op ${op}`);
      }
    };
    if (i === steps.length - 1 && code !== undefined) await expectCode(run, code);
    else await run();
  }
};

/** §4.8: `text(s)` read as a name of at most `max` bytes. */
const display: Handler = async (v) => {
  await outcome(v, () => {
    const text = new Reader(v.get("encoded").hex()).displayText("name", v.get("max").num());
    expect(text).toBe(v.get("text").str());
    return Promise.resolve();
  });
};

// ---------------------------------------------------------------------------------------------
// recovery.json, backup.json, handover.json (§14–§16)
// ---------------------------------------------------------------------------------------------

const recovery: Handler = async (v) => {
  const op = v.get("operation").str();
  switch (op) {
    case "key": {
      const key = await RecoveryKey.fromSecret(v.get("secret").hex());
      expect(hex(key.dangerBytes())).toBe(v.get("key").str());
      expect(hex(key.dangerBytes().subarray(28))).toBe(v.get("checksum").str());
      expect(key.toText()).toBe(v.get("text").str());
      expect(hex((await RecoveryKey.parse(v.get("text").str())).dangerBytes())).toBe(
        v.get("key").str(),
      );
      return;
    }
    case "parse":
      await outcome(v, async () => {
        const key = await RecoveryKey.parse(v.get("input").str());
        expect(hex(key.dangerBytes())).toBe(v.get("key").str());
      });
      return;
    case "derive":
    case "passphrase":
      await outcome(v, async () => {
        const secret =
          op === "derive"
            ? RecoverySecret.dangerFromBytes(v.get("secret").hex())
            : await RecoverySecret.fromPassphrase(v.get("passphrase").str(), v.get("salt").hex());
        expect(hex(secret.dangerBytes())).toBe(v.get("secret").str());
        const derived = await secret.dangerDeriveBytes(
          AccountId.parse(v.get("account").str()),
          RecoveryId.fromBytes(v.get("recovery_id").hex()),
        );
        const e = v.get("expected");
        expect({
          root: hex(derived.root),
          backup_key: hex(derived.backupKey),
          access_key: hex(derived.accessKey),
          verifier: hex(derived.verifier),
        }).toEqual({
          root: e.get("root").str(),
          backup_key: e.get("backup_key").str(),
          access_key: e.get("access_key").str(),
          verifier: e.get("verifier").str(),
        });
      });
      return;
    default:
      throw new Error(`unknown recovery operation ${op}`);
  }
};

function recordFromJson(j: J): BundleRecord {
  const type = j.get("type").str();
  switch (type) {
    case "master_key":
      return { type: "master-key", pkcs8: j.get("pkcs8").hex() };
    case "chain":
      return {
        type: "chain",
        conversation: ConversationId.parse(j.get("conversation").str()),
        epoch: j.get("epoch").big(),
        chain: ChainId.parse(j.get("chain").str()),
        ownerAccount: AccountId.parse(j.get("owner_account").str()),
        ownerDevice: DeviceId.parse(j.get("owner_device").str()),
        startIndex: j.get("start_index").num(),
        key: ChainKey.fromBytes(j.get("chain_key").hex()),
        createdAt: j.get("created_at").big(),
      };
    case "pin":
      return {
        type: "pin",
        account: AccountId.parse(j.get("account").str()),
        username: j.get("username").str(),
        verified: j.get("verified").bool(),
      };
    case "group_name":
      return {
        type: "group-name",
        conversation: ConversationId.parse(j.get("conversation").str()),
        reveal: revealFromJson(j),
      };
    default:
      throw new Error(`${j.path}: unknown record ${type}`);
  }
}

/** A record as the vectors write it (README, backup.json). */
function recordToJson(r: BundleRecord): unknown {
  switch (r.type) {
    case "master-key":
      return { type: "master_key", pkcs8: hex(r.pkcs8) };
    case "chain":
      return {
        type: "chain",
        conversation: ConversationId.toText(r.conversation),
        epoch: Number(r.epoch),
        chain: ChainId.toText(r.chain),
        owner_account: AccountId.toText(r.ownerAccount),
        owner_device: DeviceId.toText(r.ownerDevice),
        start_index: r.startIndex,
        chain_key: hex(r.key.dangerBytes()),
        created_at: Number(r.createdAt),
      };
    case "pin":
      return {
        type: "pin",
        account: AccountId.toText(r.account),
        username: r.username,
        verified: r.verified,
      };
    case "group-name":
      return {
        type: "group_name",
        conversation: ConversationId.toText(r.conversation),
        epoch: Number(r.reveal.epoch),
        salt: hex(r.reveal.salt),
        name: r.reveal.name,
      };
    default:
      return unreachableRecord(r);
  }
}

function unreachableRecord(r: never): never {
  throw new Error(`unknown record ${String(r)}`);
}

/** The `devices` of a vector by their `name`. */
async function devicesByName(v: J): Promise<Map<string, VerifiedDevice>> {
  const byId = await verifiedDevices(v);
  const out = new Map<string, VerifiedDevice>();
  for (const d of v.get("devices").arr()) {
    out.set(d.get("name").str(), lookup(byId, DeviceId.parse(d.get("device_id").str())));
  }
  return out;
}

function named<T>(map: Map<string, T>, name: string): T {
  const found = map.get(name);
  if (found === undefined) throw new Error(`vector names unknown device ${name}`);
  return found;
}

const backup: Handler = async (v) => {
  const op = v.get("operation").str();
  switch (op) {
    case "bundle":
      await outcome(v, async () => {
        const decoded = KeyBundle.decode(v.get("bundle").hex());
        expect(decoded.map(recordToJson)).toEqual(v.get("records").value);
        const records = v.get("records").arr().map(recordFromJson);
        expect(hex(KeyBundle.encode(records))).toBe(v.get("bundle").str());
        return Promise.resolve();
      });
      return;
    case "item": {
      const devices = await devicesByName(v);
      const writer = named(devices, v.get("writer").str());
      const writerEntry = v
        .get("devices")
        .arr()
        .find((d) => d.get("name").str() === v.get("writer").str());
      if (writerEntry === undefined) throw new Error("writer not among devices");
      const account = AccountId.parse(v.get("account").str());
      const recoveryId = RecoveryId.fromBytes(v.get("recovery_id").hex());
      const item = BackupItemId.fromBytes(v.get("item_id").hex());
      const derived = await RecoverySecret.dangerFromBytes(
        v.get("recovery_secret").hex(),
      ).dangerDeriveBytes(account, recoveryId);
      expect(hex(derived.backupKey)).toBe(v.get("backup_key").str());
      const header = BackupItemHeader.encode({
        account,
        recoveryId,
        item,
        writerDevice: writer.device,
        writtenAt: v.get("written_at").big(),
        writerCertificate: writerEntry.get("device_certificate").hex(),
      });
      expect(hex(header)).toBe(v.get("header").str());
      const okm = await hkdfSha256(derived.backupKey, backupItemKeyInfo(recoveryId, item), 44);
      expect(hex(okm.subarray(0, 32))).toBe(v.get("aes_key").str());
      expect(hex(okm.subarray(32))).toBe(v.get("nonce").str());
      const records = v.get("records").arr().map(recordFromJson);
      const bundle = KeyBundle.encode(records, 1000);
      expect(hex(bundle)).toBe(v.get("bundle").str());
      const aead = new AeadKey(v.get("aes_key").hex(), v.get("nonce").hex());
      expect(hex(await aead.seal(header, bundle))).toBe(v.get("ciphertext").str());
      const decoded = BackupItem.decode(v.get("item").hex());
      expect(hex(decoded.sealed.header)).toBe(v.get("header").str());
      expect(hex(decoded.sealed.ciphertext)).toBe(v.get("ciphertext").str());
      await decoded.sealed.verify("backup item", writer.signingKey);
      const backupKey = await BackupKey.dangerFromBytes(derived.backupKey);
      const opened = await (
        await backupKey.itemKey(recoveryId, item)
      ).open(decoded.sealed.header, decoded.sealed.ciphertext);
      expect(hex(opened)).toBe(v.get("bundle").str());
      return;
    }
    case "open":
      await outcome(v, async () => {
        const opened = await openBackup({
          items: v
            .get("items")
            .arr()
            .map((i) => i.hex()),
          account: AccountId.parse(v.get("account").str()),
          recoveryId: RecoveryId.fromBytes(v.get("recovery_id").hex()),
          backupKey: await BackupKey.dangerFromBytes(v.get("backup_key").hex()),
          revocations: v
            .get("revocations")
            .arr()
            .map((r) => decodeSignedIdentity(r.hex())),
        });
        expect(AccountId.toText(opened.masterKey.account)).toBe(
          v.get("expected_master_account").str(),
        );
        expect(opened.records.map(recordToJson)).toEqual(v.get("expected_records").value);
        expect(opened.refused.map((r) => ({ position: r.index, code: r.code }))).toEqual(
          v.get("expected_refusals").value,
        );
      });
      return;
    default:
      throw new Error(`unknown backup operation ${op}`);
  }
};

const handover: Handler = async (v) => {
  const devices = await devicesByName(v);
  const sender = named(devices, v.get("sender").str());
  const r = v.get("recipient");
  const exchange = await ExchangeKeyPair.fromPkcs8(r.get("exchange_pkcs8").hex());
  const me = await localDevice(
    AccountId.parse(r.get("account_id").str()),
    DeviceId.parse(r.get("device_id").str()),
    [exchange],
  );
  expect(
    ExchangeKeyId.toText(me.exchangeKeys[0]?.keyId ?? ExchangeKeyId.fromBytes(new Uint8Array(32))),
  ).toBe(r.get("exchange_key_id").str());
  const now = v.get("now").big();
  await outcome(v, async () => {
    const records = await Handover.decode(v.get("handover").hex()).open(sender, me, now);
    expect(records.map(recordToJson)).toEqual(v.get("expected_records").value);
  });
  if (!v.has("header_fields")) return;
  const f = v.get("header_fields");
  const header = HandoverHeader.encode({
    account: AccountId.parse(f.get("account").str()),
    senderDevice: DeviceId.parse(f.get("sender_device").str()),
    recipientDevice: DeviceId.parse(f.get("recipient_device").str()),
    recipientKey: ExchangeKeyId.parse(f.get("recipient_key").str()),
    handover: HandoverId.fromBytes(f.get("handover_id").hex()),
    createdAt: f.get("created_at").big(),
  });
  expect(hex(header)).toBe(v.get("header").str());
  const label = await HandoverHeader.oaepLabel(header);
  expect(hex(label)).toBe(v.get("oaep_label").str());
  const unwrapped = await exchange.decrypt(v.get("wrapped").hex(), label);
  expect(hex(unwrapped)).toBe(hex(encodeDomain(Domain.HandoverKey)) + v.get("wrapping_key").str());
  const okm = await hkdfSha256(v.get("wrapping_key").hex(), encodeDomain(Domain.HandoverAead), 44);
  expect(hex(okm.subarray(0, 32))).toBe(v.get("aes_key").str());
  expect(hex(okm.subarray(32))).toBe(v.get("nonce").str());
  const aead = new AeadKey(okm.subarray(0, 32), okm.subarray(32));
  expect(hex(await aead.open(header, v.get("sealed").hex()))).toBe(v.get("bundle").str());
};

/** §10: a blob derived by hand, and opened (or refused) through the API. */
const attachment: Handler = async (v) => {
  const secret = v.get("secret").hex();
  const op = v.get("operation").str();
  if (op === "open") {
    await outcome(v, async () => {
      await decryptAttachment(v.get("blob").hex(), secret, v.get("blob_sha256").hex());
    });
    return;
  }
  expect(op).toBe("seal");
  expect(hex(encodeDomain(Domain.Attachment))).toBe(v.get("hkdf_info").str());
  const okm = await hkdfSha256(secret, encodeDomain(Domain.Attachment), 76);
  expect(hex(okm)).toBe(v.get("okm").str());
  expect(hex(okm.subarray(0, 32))).toBe(v.get("aes_key").str());
  expect(hex(okm.subarray(32, 44))).toBe(v.get("nonce").str());
  expect(hex(okm.subarray(44))).toBe(v.get("commitment").str());
  const aad = encodeDomain(Domain.AttachmentCommitment);
  expect(hex(aad)).toBe(v.get("aad").str());
  const sealed = await new AeadKey(okm.subarray(0, 32), okm.subarray(32, 44)).seal(
    aad,
    v.get("file").hex(),
  );
  const blob = new Uint8Array([...okm.subarray(44), ...sealed]);
  expect(hex(blob)).toBe(v.get("blob").str());
  expect(hex(await sha256(blob))).toBe(v.get("blob_sha256").str());
  const opened = await decryptAttachment(blob, secret, v.get("blob_sha256").hex());
  expect(hex(opened)).toBe(v.get("file").str());
};

/** §7.6: the owner's chain, rebuilt from its seed, answers (or refuses) a key request. */
const keyRequest: Handler = async (v) => {
  const devices = await verifiedDevices(v);
  const byName = new Map<string, VerifiedDevice>();
  for (const d of v.get("devices").arr()) {
    byName.set(d.get("name").str(), lookup(devices, DeviceId.parse(d.get("device_id").str())));
  }
  const now = v.get("now").big();
  let state: GroupState | undefined;
  for (const c of v.get("changes").arr()) state = await applyChange(state, c.hex(), devices);
  if (state === undefined) throw new Error("a key-request vector has a group log");
  const group = state;
  const o = v.get("owner");
  const owner = named(byName, o.get("name").str());
  const signer = await DeviceKeys.fromKeys(
    await SigningKeyPair.fromPkcs8(o.get("signing_pkcs8").hex()),
    await SigningKeyPair.fromPkcs8(o.get("auth_pkcs8").hex()),
  );
  expect(DeviceId.toText(signer.device)).toBe(DeviceId.toText(owner.device));
  const c = v.get("chain");
  const chain = await SenderChain.start(
    ConversationId.parse(c.get("conversation").str()),
    c.get("epoch").big(),
    owner.account,
    owner.device,
    undefined,
    { now: c.get("created_at").big(), rng: new DangerSeededRng(c.get("seed").hex()) },
  );
  expect(ChainId.toText(chain.chain)).toBe(c.get("chain").str());
  const r = v.get("requester");
  const requester = named(byName, r.get("name").str());
  const requesterKey = await requester.verifyExchangeKey(
    decodeSignedIdentity(r.get("exchange_key_certificate").hex()),
    now,
  );
  const op = v.get("operation").str();
  const act = async (): Promise<KeyDistribution> => {
    if (op === "distribute") return chain.distribute(group, requesterKey, signer, now);
    expect(op).toBe("answer");
    const request = KeyRequest.decodeSigned(v.get("request").hex());
    return chain.answerKeyRequest(request, requester, requesterKey, group, signer, now);
  };
  if (v.expectedError() !== undefined) {
    await outcome(v, async () => {
      await act();
    });
    return;
  }
  const answer = await act();
  const e = v.get("expected_answer");
  const h = answer.header;
  expect(ConversationId.toText(h.conversation)).toBe(e.get("conversation").str());
  expect(h.epoch).toBe(e.get("epoch").big());
  expect(ChainId.toText(h.chain)).toBe(e.get("chain").str());
  expect(DeviceId.toText(h.senderDevice)).toBe(e.get("sender_device").str());
  expect(AccountId.toText(h.recipientAccount)).toBe(e.get("recipient_account").str());
  expect(DeviceId.toText(h.recipientDevice)).toBe(e.get("recipient_device").str());
  expect(ExchangeKeyId.toText(h.recipientKey)).toBe(e.get("recipient_key").str());
  expect(h.createdAt).toBe(e.get("created_at").big());
  expect(h.startIndex).toBe(e.get("start_index").num());
  await answer.sealed.verify("key distribution", owner.signingKey);
  const exchange = await ExchangeKeyPair.fromPkcs8(r.get("exchange_pkcs8").hex());
  const payload = await exchange.decrypt(
    answer.sealed.ciphertext,
    await DistributionHeader.oaepLabel(answer.sealed.header),
  );
  expect(hex(payload.subarray(payload.length - 32))).toBe(e.get("chain_key").str());
};

const HANDLERS: Record<string, Handler> = {
  "attachment.json": attachment,
  "key-request.json": keyRequest,
  "amendment.json": amendment,
  "auth.json": auth,
  "backup.json": backup,
  "handover.json": handover,
  "recovery.json": recovery,
  "display.json": display,
  "body.json": body,
  "chain.json": chain,
  "distribution.json": script,
  "envelope.json": script,
  "group.json": group,
  "identity.json": identity,
  "ids.json": ids,
  "keys.json": keys,
  "safety.json": safety,
};

// Version-2 files (`v2-*.json`) have their own runner, vectors-v2.test.ts.
const files = vectorFiles().filter((file) => !file.startsWith("v2-"));

describe("test vectors", () => {
  it("exist", () => {
    expect(files.length).toBeGreaterThan(0);
  });

  for (const file of files) {
    describe(file, () => {
      const root = J.file(file);
      const handler = HANDLERS[file];
      it("has a handler and the common format", () => {
        expect(handler, `no handler for ${file}`).toBeDefined();
        expect(root.get("protocol_version").num()).toBe(1);
        const names = root
          .get("vectors")
          .arr()
          .map((x) => x.get("name").str());
        expect(new Set(names).size).toBe(names.length);
      });
      if (handler === undefined) return;
      for (const vector of root.get("vectors").arr()) {
        const name = vector.get("name").str();
        const code = vector.expectedError();
        it(`${name}${code === undefined ? "" : ` → ${code}`}`, () => handler(vector));
      }
    });
  }
});
