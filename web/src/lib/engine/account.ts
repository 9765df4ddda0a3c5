/**
 * Account and device set-up: registration (a new master key and a first device), a new device
 * waiting for approval, approving and revoking devices, exchange-key rotation.
 */

import {
  AccountId,
  type Bytes,
  DAY,
  DeviceId,
  DeviceKeys,
  ExchangeKeyPair,
  MasterKey,
  PrekeyId,
  PrekeyPair,
  PrekeyRing,
  exchangeKeyIdOf,
  systemRandom,
  type Signed,
  SigningKeyPair,
  VerifyingKey,
  DeviceCertificate,
} from "../../crypto";
import { ApiClient, isApiError } from "../api";
import { fromB64, toB64 } from "../b64";
import type { Database } from "../../storage/db";
import type { SealedStore } from "../../storage/sealed";
import {
  type IdentityRecord,
  type LoadedKeys,
  type StoredExchangeKey,
  loadKeys,
  saveKeys,
} from "./keystore";
import type { Session } from "./session";
import { approvalCode } from "./model";

/** Exchange keys are valid for a week and replaced after a day (§4.5: rotated daily, ≤ 30 days). */
const XKEY_VALIDITY = 7n * DAY;
const XKEY_ROTATE_AFTER = DAY;

export interface Deps {
  readonly db: Database;
  readonly store: SealedStore;
  readonly api: ApiClient;
  readonly session: Session;
  readonly now: () => bigint;
}

function xkeyName(serial: bigint): string {
  return `xkey-${serial}`;
}

/** A new exchange key, its last-resort prekey and their version-2 certificate, not published yet. */
interface CertifiedExchangeKey {
  readonly meta: StoredExchangeKey;
  readonly pair: ExchangeKeyPair;
  readonly lastResort: PrekeyPair;
  readonly certificate: Signed;
}

/** Adds `x`'s last-resort prekey to `ring` under its exchange key id (the key is version 2). */
async function addLastResort(ring: PrekeyRing, x: CertifiedExchangeKey): Promise<void> {
  ring.addLastResort(await exchangeKeyIdOf(x.pair.spki), x.lastResort);
}

/** A fresh ring holding `x`'s last-resort prekey: a new device's first exchange key. */
export async function firstRing(x: CertifiedExchangeKey): Promise<PrekeyRing> {
  const ring = new PrekeyRing();
  await addLastResort(ring, x);
  return ring;
}

async function certifyNewExchangeKey(
  deps: Deps,
  account: AccountId,
  device: DeviceKeys,
  serial: bigint,
): Promise<CertifiedExchangeKey> {
  const pair = await ExchangeKeyPair.generate();
  // A new last-resort prekey with each exchange key (§18.3), kept as long as the key is.
  const lastResort = await PrekeyPair.generate(PrekeyId.fromBytes(systemRandom(16)));
  const now = deps.now();
  const certificate = await device.certifyExchangeKeyV2(
    account,
    pair.encryptingKey,
    lastResort.publicPart,
    serial,
    now,
    now + XKEY_VALIDITY,
  );
  return {
    meta: {
      name: xkeyName(serial),
      spki: pair.spki,
      serial,
      notBefore: now,
      notAfter: now + XKEY_VALIDITY,
    },
    pair,
    lastResort,
    certificate,
  };
}

export async function publishExchangeKey(
  deps: Deps,
  account: AccountId,
  device: DeviceKeys,
  serial: bigint,
): Promise<CertifiedExchangeKey> {
  const x = await certifyNewExchangeKey(deps, account, device, serial);
  await deps.api.setExchangeKey(toB64(x.certificate.encode()));
  return x;
}

/**
 * A new master key whose PKCS#8 is read out once, for the recovery backup (protocol §15.2), and
 * that is kept only as a non-extractable copy: WebCrypto cannot export a key generated
 * non-extractable, so this is the one moment a browser-made master key can be backed up. The
 * caller wipes the bytes once the backup is sealed or declined.
 */
async function generateBackableMasterKey(): Promise<{ master: MasterKey; pkcs8: Bytes }> {
  const pair = await crypto.subtle.generateKey(
    {
      name: "RSA-PSS",
      hash: "SHA-256",
      modulusLength: 3072,
      publicExponent: new Uint8Array([1, 0, 1]),
    },
    true,
    ["sign", "verify"],
  );
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  const master = await MasterKey.fromKey(await SigningKeyPair.fromPkcs8(pkcs8));
  return { master, pkcs8 };
}

/** A new account's keys, and its master key's PKCS#8 while recovery can still back it up. */
export interface Registered {
  readonly keys: LoadedKeys;
  readonly masterPkcs8: Bytes;
}

/**
 * An invitation code as typed, trimmed; `undefined` when empty. The server reads any case,
 * with or without dashes and spaces (`sotto_wire::InviteCode`).
 */
export function normalizeInvite(text: string | undefined): string | undefined {
  const trimmed = text?.trim();
  return trimmed === undefined || trimmed === "" ? undefined : trimmed;
}

/** What the user reads when a sign-up is refused for the server's registration mode. */
export function registrationRefusal(e: unknown, withInvite: boolean): string | undefined {
  if (isApiError(e, "registration_closed"))
    return "This server does not accept new accounts; ask its administrator.";
  if (isApiError(e, "invite_invalid"))
    return "That invitation code is not valid: it may be mistyped, already used, revoked or expired. Ask the administrator for a new one.";
  if (withInvite && isApiError(e, "malformed_body"))
    return "That is not an invitation code: it has 26 letters and digits (XXXXX-XXXXX-…).";
  return undefined;
}

/** Registers `username`, creates the master key and this first device, and logs it in. */
export async function register(
  deps: Deps,
  username: string,
  password: string,
  deviceName: string,
  invite?: string,
): Promise<Registered> {
  const { api, session } = deps;
  const registered = await api.register(username, password, normalizeInvite(invite));
  const lt = (await api.login(registered.username, password)).login_token;
  const [{ master, pkcs8 }, device] = await Promise.all([
    generateBackableMasterKey(),
    DeviceKeys.generate(),
  ]);
  const account = (await api.setMasterKey(toB64(master.verifyingKey.spki), lt)).account;
  if (account !== AccountId.toText(master.account))
    throw new Error("server returned another account id");
  const cert = await master.certifyDevice(
    device.signing.verifyingKey,
    device.auth.verifyingKey,
    deviceName,
    deps.now(),
  );
  await api.certifyDevice(toB64(cert.encode()), lt);
  await session.deviceLogin(device, registered.username, lt);
  const x = await publishExchangeKey(deps, master.account, device, 1n);
  const record: IdentityRecord = {
    username: registered.username,
    account,
    masterSpki: master.verifyingKey.spki,
    hasMaster: true,
    deviceName,
    signingSpki: device.signing.spki,
    authSpki: device.auth.spki,
    exchange: [x.meta],
    revocationSerial: 0n,
  };
  await saveKeys(deps.store, record, {
    master,
    device,
    exchange: [{ name: x.meta.name, pair: x.pair }],
    ring: await firstRing(x),
  });
  const loaded = await loadKeys(deps.db, deps.store);
  if (loaded === undefined) throw new Error("keys were not stored");
  return { keys: loaded, masterPkcs8: pkcs8 };
}

/** Password login on a browser that already holds this account's device keys. */
export async function loginExisting(deps: Deps, keys: LoadedKeys, password: string): Promise<void> {
  const lt = (await deps.api.login(keys.record.username, password)).login_token;
  await deps.session.deviceLogin(keys.device, keys.record.username, lt);
}

export interface PendingDevice {
  readonly username: string;
  readonly loginToken: string;
  readonly device: DeviceKeys;
  readonly code: string;
  readonly deviceText: string;
  /** Announced with the device, so the approving device can hand it the chains (§16). */
  readonly exchange: CertifiedExchangeKey;
}

/** Password login on a new browser: announce a new device that an existing one must approve. */
export async function startNewDevice(
  deps: Deps,
  username: string,
  password: string,
  deviceName: string,
): Promise<PendingDevice> {
  const login = await deps.api.login(username, password);
  const device = await DeviceKeys.generate();
  const dir = await deps.api.directory(login.username, login.login_token);
  const exchange = await certifyNewExchangeKey(deps, AccountId.parse(dir.account), device, 1n);
  const created = await deps.api.addPending(
    toB64(device.signing.spki),
    toB64(device.auth.spki),
    deviceName,
    login.login_token,
    toB64(exchange.certificate.encode()),
  );
  if (created.device !== DeviceId.toText(device.device))
    throw new Error("server returned another device id");
  return {
    username: login.username,
    loginToken: login.login_token,
    device,
    code: approvalCode(created.device),
    deviceText: created.device,
    exchange,
  };
}

/** Polls once: when the pending device is approved, logs it in and stores its keys. */
export async function completeNewDevice(
  deps: Deps,
  pending: PendingDevice,
  deviceName: string,
): Promise<LoadedKeys | undefined> {
  const list = await deps.api.devices(pending.loginToken);
  const me = list.find((d) => d.device === pending.deviceText);
  if (me?.state !== "active") return undefined;
  if (me.certificate === null) return undefined;
  await deps.session.deviceLogin(pending.device, pending.username, pending.loginToken);
  const dir = await deps.api.directory(pending.username);
  const masterSpki = fromB64(dir.master_key);
  // The key announced with the device, which the approving device encrypted its hand-over to;
  // the server stored it as published, and publishing it again changes nothing.
  const x = pending.exchange;
  await deps.api.setExchangeKey(toB64(x.certificate.encode())).catch((e: unknown) => {
    if (!isApiError(e, "conflict")) throw e;
  });
  const record: IdentityRecord = {
    username: pending.username,
    account: dir.account,
    masterSpki,
    hasMaster: false,
    deviceName,
    signingSpki: pending.device.signing.spki,
    authSpki: pending.device.auth.spki,
    exchange: [x.meta],
    revocationSerial: 0n,
  };
  await saveKeys(deps.store, record, {
    device: pending.device,
    exchange: [{ name: x.meta.name, pair: x.pair }],
    ring: await firstRing(x),
  });
  return loadKeys(deps.db, deps.store);
}

/** A device just approved: its certificate, and the exchange key it announced (if any). */
export interface Approved {
  readonly certificate: Signed;
  /** `Signed` wire form, base64, unverified: the hand-over checks it (§16). */
  readonly exchangeKey: string | null;
}

/** Approves a pending device of this account after the user typed the code it shows. */
export async function approveDevice(
  deps: Deps,
  keys: LoadedKeys,
  deviceText: string,
  typedCode: string,
): Promise<Approved> {
  if (keys.master === undefined)
    throw new Error("only a device holding the master key can approve");
  if (approvalCode(deviceText) !== typedCode.trim())
    throw new Error("the code does not match that device");
  const pending = (await deps.api.devices()).find(
    (d) => d.device === deviceText && d.state === "pending",
  );
  if (pending === undefined) throw new Error("no such pending device");
  const signing = await VerifyingKey.fromSpki(fromB64(pending.signing_key));
  const auth = await VerifyingKey.fromSpki(fromB64(pending.auth_key));
  const cert = await keys.master.certifyDevice(signing, auth, pending.name, deps.now());
  if (DeviceId.toText(DeviceCertificate.decode(cert.body).device) !== deviceText)
    throw new Error("certificate names another device");
  await deps.api.certifyDevice(toB64(cert.encode()));
  return { certificate: cert, exchangeKey: pending.exchange_key };
}

/** Revokes one of this account's devices with the next revocation serial. */
export async function revokeDevice(
  deps: Deps,
  keys: LoadedKeys,
  deviceText: string,
  highestSeen: bigint,
): Promise<IdentityRecord> {
  if (keys.master === undefined) throw new Error("only a device holding the master key can revoke");
  const serial =
    (keys.record.revocationSerial > highestSeen ? keys.record.revocationSerial : highestSeen) + 1n;
  const revocation = await keys.master.revoke(DeviceId.parse(deviceText), serial, deps.now());
  await deps.api.revokeDevice(toB64(revocation.encode()));
  const record = { ...keys.record, revocationSerial: serial };
  await deps.store.put([["identity", record]]);
  return record;
}

/**
 * Publishes a new exchange key when the current one is a day old, or is not yet certified by a
 * version-2 certificate (a device upgraded from version 1 publishes one at once, §18.1); keeps
 * older private keys, and the last-resort prekeys certified with them, for 30 days.
 */
export async function rotateExchangeKeyIfDue(deps: Deps, keys: LoadedKeys): Promise<boolean> {
  const latest = keys.record.exchange.reduce<StoredExchangeKey | undefined>(
    (a, b) => (a === undefined || b.serial > a.serial ? b : a),
    undefined,
  );
  const latestIsV2 =
    latest !== undefined && keys.prekeys.isV2ExchangeKey(await exchangeKeyIdOf(latest.spki));
  if (latest !== undefined && latestIsV2 && deps.now() < latest.notBefore + XKEY_ROTATE_AFTER)
    return false;
  const serial = (latest?.serial ?? 0n) + 1n;
  const x = await publishExchangeKey(deps, keys.account, keys.device, serial);
  const now = deps.now();
  // Keep expired keys a while: distributions made under them may still be queued.
  const kept = keys.record.exchange.filter((e) => e.notAfter + 30n * DAY > now);
  for (const e of keys.record.exchange) {
    if (!kept.includes(e)) keys.prekeys.removeLastResort(await exchangeKeyIdOf(e.spki));
  }
  await addLastResort(keys.prekeys, x);
  const record = { ...keys.record, exchange: [...kept, x.meta] };
  await saveKeys(deps.store, record, {
    exchange: [{ name: x.meta.name, pair: x.pair }],
    ring: keys.prekeys,
  });
  return true;
}
