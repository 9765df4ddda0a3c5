/**
 * Recovery (`docs/protocol.md` §14, §15): setting it up (a recovery key shown once, or a
 * passphrase; the verifier to the server; the first backup items with the master key), and
 * recovering an account on a fresh browser (the backup unlocked with the access key, opened with
 * the backup key, the master key imported non-extractable, this browser certified as a new
 * device). A wrong key changes nothing: the server refuses the access key before any state here
 * is written.
 */

import {
  AccountId,
  AccountIdentity,
  type BundleRecord,
  type Bytes,
  ChainId,
  DeviceId,
  DeviceKeys,
  ProtocolError,
  RecoveryId,
  RecoveryKey,
  RecoverySecret,
  type Signed,
  bytesEqual,
  decodeSignedIdentity,
  isProtocolError,
  openBackup,
  systemEnv,
  systemRandom,
} from "../../crypto";
import { isApiError } from "../api";
import { fromB64, toB64 } from "../b64";
import { type Deps, firstRing, publishExchangeKey } from "./account";
import { type Writer, BackupWriter, ITEM_RECORDS, writeItems, withWritten } from "./backup";
import { type BundleSources, allRecords, inBatches } from "./keybundle";
import { type IdentityRecord, type LoadedKeys, loadKeys, saveKeys } from "./keystore";
import type { OtherDevice, RecoverySecret as Secret } from "./model";

/** How a set-up is made: a recovery key, or a passphrase the user chose. */
export type RecoveryChoice =
  { readonly kind: "key" } | { readonly kind: "passphrase"; readonly passphrase: string };

const SALT_LEN = 16;

/** The smallest WebAssembly module: its magic number and version. */
const EMPTY_WASM = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);

/**
 * Whether this page may run Argon2id (a passphrase, §14.2): it is WebAssembly, which a
 * Content-Security-Policy without `'wasm-unsafe-eval'` forbids. Probed once by compiling an
 * empty module.
 */
export async function passphraseSupported(): Promise<boolean> {
  if (typeof WebAssembly === "undefined") return false;
  try {
    await WebAssembly.compile(EMPTY_WASM);
    return true;
  } catch {
    return false;
  }
}

/** What the user reads for each code a recovery can fail with; the rest show their code. */
export function recoveryMessage(e: unknown): string {
  if (isProtocolError(e, "recovery/malformed"))
    return "That is not a recovery key: it has 48 letters and digits in 12 groups of 4.";
  if (isProtocolError(e, "recovery/bad-checksum"))
    return "The recovery key has a typo: check each group (nothing was sent).";
  if (isApiError(e, "recovery_rejected"))
    return "That recovery key (or passphrase) is not this account's. Nothing was changed.";
  if (isApiError(e, "throttled"))
    return "Too many wrong attempts: wait an hour and try again. Nothing was changed.";
  if (isApiError(e, "bad_credentials")) return "Wrong username or password.";
  if (isProtocolError(e, "recovery/no-master-key"))
    return "The backup holds no account key: this account cannot be recovered with it.";
  if (isProtocolError(e)) return `The backup could not be opened (${e.code}). Nothing was changed.`;
  return e instanceof Error ? e.message : String(e);
}

/**
 * Sets recovery up for this account: a new recovery id, the verifier to the server (replacing
 * any earlier set-up), then the first items (MasterKey first) and everything else this device
 * knows. Returns the key's text for a key set-up (to show once) and the writer that keeps the
 * backup current from now on.
 */
export async function setUpRecovery(
  deps: Deps,
  keys: LoadedKeys,
  certificate: Signed,
  choice: RecoveryChoice,
  masterPkcs8: Bytes,
  sources: BundleSources,
): Promise<{ keyText: string | undefined; writer: BackupWriter }> {
  const recoveryId = RecoveryId.fromBytes(systemRandom(RecoveryId.LEN));
  let secret: RecoverySecret;
  let keyText: string | undefined;
  let salt: Uint8Array | null = null;
  if (choice.kind === "key") {
    const key = await RecoveryKey.generate(systemEnv().rng);
    keyText = key.toText();
    secret = key.secret();
    key.wipe();
  } else {
    salt = systemRandom(SALT_LEN);
    secret = await RecoverySecret.fromPassphrase(choice.passphrase, salt);
  }
  let derived;
  try {
    derived = await secret.derive(keys.account, recoveryId);
  } finally {
    secret.wipe();
  }
  const rid = RecoveryId.toText(recoveryId);
  await deps.api.setRecovery({
    recovery_id: toB64(recoveryId),
    method: choice.kind,
    salt: salt === null ? null : toB64(salt),
    verifier: toB64(derived.verifier),
  });
  const writer: Writer = { account: keys.account, device: keys.device, certificate };
  const master: BundleRecord = { type: "master-key", pkcs8: masterPkcs8 };
  // The first item holds the MasterKey record (§15.2); the rest follow it.
  const batches = inBatches([master, ...allRecords(sources)], ITEM_RECORDS);
  await writeItems(deps.api, writer, rid, derived.backupKey, batches);
  const state = withWritten({ recoveryId: rid, chains: [], pins: {}, names: {} }, sources);
  return {
    keyText,
    writer: await BackupWriter.keep(deps.db, deps.store, derived.backupKey, state),
  };
}

/** What a recovery gives the client: this device's keys, the backup's records, the others. */
export interface Recovered {
  readonly keys: LoadedKeys;
  readonly records: readonly BundleRecord[];
  readonly refused: number;
  readonly others: readonly OtherDevice[];
  readonly writer: BackupWriter;
}

/**
 * Recovers `username` on this browser: password login, then the set-up's parameters, the access
 * key to unlock the backup, the backup opened, the master key imported non-extractable, and this
 * browser certified, logged in and given an exchange key. A key with a typo fails before any
 * request; a wrong one at the server (`recovery_rejected`), before anything is stored here.
 */
export async function recoverAccount(
  deps: Deps,
  username: string,
  password: string,
  given: Secret,
  deviceName: string,
): Promise<Recovered> {
  // A typo is caught before anything is sent (§14.1).
  const key = given.kind === "key" ? await RecoveryKey.parse(given.text) : undefined;
  const { api } = deps;
  const login = await api.login(username.trim().toLowerCase(), password);
  const lt = login.login_token;
  const status = await api.recovery(lt);
  if (!status.configured) throw new Error("This account has no recovery set up.");
  if (status.method === "key" && key === undefined)
    throw new Error("This account was set up with a recovery key, not a passphrase.");
  if (status.method === "passphrase" && given.kind !== "passphrase")
    throw new Error("This account was set up with a passphrase, not a recovery key.");
  const dir = await api.directory(login.username, lt);
  const identity = await AccountIdentity.fromMasterSpki(fromB64(dir.master_key));
  if (AccountId.toText(identity.account) !== dir.account)
    throw new Error("the directory's account id is not its master key's");
  const recoveryId = RecoveryId.fromBytes(fromB64(status.recovery_id));
  let secret: RecoverySecret;
  if (key !== undefined) {
    secret = key.secret();
    key.wipe();
  } else if (given.kind === "passphrase") {
    if (status.salt === null) throw new Error("the server sent no passphrase salt");
    secret = await RecoverySecret.fromPassphrase(given.passphrase, fromB64(status.salt));
  } else throw new ProtocolError("invalid-input", "no recovery secret");
  let derived;
  try {
    derived = await secret.derive(identity.account, recoveryId);
  } finally {
    secret.wipe();
  }
  const items: Bytes[] = [];
  const access = toB64(derived.accessKey.dangerBytes());
  for (let after = 0; ;) {
    const page = await api.unlockRecovery(access, after, lt);
    for (const it of page.items) items.push(fromB64(it.item));
    if (page.next === null || page.items.length === 0) break;
    after = page.next;
  }
  const opened = await openBackup({
    items,
    account: identity.account,
    recoveryId,
    backupKey: derived.backupKey,
    revocations: dir.revocations.map((r) => decodeSignedIdentity(fromB64(r))),
  });
  opened.masterKeyPkcs8.fill(0);
  const master = opened.masterKey;
  if (!bytesEqual(master.verifyingKey.spki, fromB64(dir.master_key)))
    throw new ProtocolError("wrong-account", "backup master key");

  // From here on this browser becomes a device of the account.
  const device = await DeviceKeys.generate();
  const cert = await master.certifyDevice(
    device.signing.verifyingKey,
    device.auth.verifyingKey,
    deviceName,
    deps.now(),
  );
  await api.certifyDevice(toB64(cert.encode()), lt);
  await deps.session.deviceLogin(device, login.username, lt);
  const x = await publishExchangeKey(deps, master.account, device, 1n);
  const record: IdentityRecord = {
    username: login.username,
    account: dir.account,
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
  const keys = await loadKeys(deps.db, deps.store);
  if (keys === undefined) throw new Error("keys were not stored");
  // This device continues the backup: it holds the backup key now.
  const chains = opened.records.flatMap((r) =>
    r.type === "chain" ? [ChainId.toText(r.chain)] : [],
  );
  const writer = await BackupWriter.keep(deps.db, deps.store, derived.backupKey, {
    recoveryId: RecoveryId.toText(recoveryId),
    chains,
    pins: {},
    names: {},
  });
  const me = DeviceId.toText(device.device);
  const others = (await api.devices())
    .filter((d) => d.device !== me && d.state === "active")
    .map((d) => ({ device: d.device, name: d.name }));
  return { keys, records: opened.records, refused: opened.refused.length, others, writer };
}
