/**
 * One-time prekeys on the server (protocol §18.4, §18.8; docs/api.md "Prekeys"): this device
 * keeps at least 20 and at most 100 uploaded, and a sender claims one per recipient device for
 * each new chain, in one request.
 */

import {
  DeviceId as DeviceIdK,
  MAX_ONE_TIME_PREKEYS,
  MAX_RING_ONE_TIME_PREKEYS,
  MIN_ONE_TIME_PREKEYS,
  OneTimePrekey,
  PrekeyId,
  PrekeyPair,
  type VerifiedDevice,
  type VerifiedExchangeKey,
  type VerifiedPrekey,
  idKey,
  mlKemBackend,
  systemRandom,
} from "../../crypto";
import type { ApiClient } from "../api";
import { fromB64, toB64 } from "../b64";
import type { SealedStore } from "../../storage/sealed";
import { type LoadedKeys, ringEntry } from "./keystore";

/**
 * Counts of this tab's version-2 traffic, for the browser tests (read from the page as
 * `globalThis.__sottoV2`): how many distributions went out under a one-time prekey, under a
 * last-resort prekey, as version 1, and how many one-time prekey distributions were taken in.
 * Counters only: no key, id or content.
 */
export const v2Stats = {
  sentOneTime: 0,
  sentLastResort: 0,
  sentV1: 0,
  receivedOneTime: 0,
  receivedLastResort: 0,
  claimRefused: 0,
  uploaded: 0,
  /** Where ML-KEM ran when this tab last made prekeys (D51). */
  backend: "" as string,
};
(globalThis as { __sottoV2?: typeof v2Stats }).__sottoV2 = v2Stats;

/** What {@link replenishPrekeys} needs. */
export interface PrekeyDeps {
  readonly api: ApiClient;
  readonly store: SealedStore;
  readonly now: () => bigint;
}

/**
 * Tops this device's one-time prekeys on the server up to 100 when fewer than 20 are left. The
 * private keys are stored before the upload, so a prekey the server hands out always has them
 * here. With no one-time prekey held yet (the first version-2 publication), the upload replaces
 * whatever the server kept. Returns how many were uploaded.
 */
export async function replenishPrekeys(deps: PrekeyDeps, keys: LoadedKeys): Promise<number> {
  const { remaining } = await deps.api.prekeyCount();
  if (remaining >= MIN_ONE_TIME_PREKEYS) return 0;
  const ring = keys.prekeys;
  // A ring full of prekeys the server no longer hands out (deleted or withheld by it, or claimed
  // by senders that never sent) is renewed whole, as a re-key does. A distribution still in
  // flight for one of them is refused (`prekey/unknown`) and its messages come with the key its
  // sender sends again when asked (§7.6), as in the Rust client.
  const full = ring.oneTimeCount() + MAX_ONE_TIME_PREKEYS - remaining > MAX_RING_ONE_TIME_PREKEYS;
  if (full) ring.replaceAllOneTime();
  const replace = full || ring.oneTimeCount() === 0;
  v2Stats.backend = await mlKemBackend();
  const count = MAX_ONE_TIME_PREKEYS - (replace ? 0 : remaining);
  const now = deps.now();
  const signed: string[] = [];
  for (let i = 0; i < count; i++) {
    const pair = await PrekeyPair.generate(PrekeyId.fromBytes(systemRandom(16)));
    ring.addOneTime(pair);
    signed.push(
      toB64((await keys.device.signOneTimePrekey(keys.account, pair.publicPart, now)).encode()),
    );
  }
  await deps.store.putWithKeys([], [ringEntry(ring)]);
  await deps.api.uploadPrekeys(signed, replace);
  v2Stats.uploaded += count;
  return count;
}

/** Counts of claimed prekeys refused on verification, for the refused-answer report (§9.4). */
export interface ClaimOutcome {
  /** Verified one-time prekeys by device (`idKey`). */
  readonly prekeys: ReadonlyMap<string, VerifiedPrekey>;
  /** Devices whose claimed prekey failed verification (their last-resort prekey is used). */
  readonly refused: readonly string[];
}

/**
 * Claims one one-time prekey for each version-2 recipient, in one request, and verifies each
 * (§18.4, §18.7). A device the server has none for, or whose prekey fails verification, is left
 * out: its distribution uses the certificate's last-resort prekey.
 */
export async function claimPrekeys(
  api: ApiClient,
  recipients: readonly VerifiedExchangeKey[],
  devices: ReadonlyMap<string, VerifiedDevice>,
  now: bigint,
): Promise<ClaimOutcome> {
  const wanted = recipients.filter((r) => r.isV2).map((r) => r.device);
  const prekeys = new Map<string, VerifiedPrekey>();
  const refused: string[] = [];
  if (wanted.length === 0) return { prekeys, refused };
  const claimed = await api.claimPrekeys(wanted.map((d) => DeviceIdK.toText(d)));
  for (const device of wanted) {
    const b64 = claimed.prekeys[DeviceIdK.toText(device)];
    if (b64 === undefined || b64 === null) continue;
    const owner = devices.get(idKey(device));
    try {
      if (owner === undefined) throw new Error("unknown device");
      prekeys.set(
        idKey(device),
        await owner.verifyOneTimePrekey(OneTimePrekey.decodeSigned(fromB64(b64)), now),
      );
    } catch {
      refused.push(DeviceIdK.toText(device));
      v2Stats.claimRefused += 1;
    }
  }
  return { prekeys, refused };
}

/** The device ids of a set of verified devices, by `idKey`. */
export function devicesById(devices: readonly VerifiedDevice[]): Map<string, VerifiedDevice> {
  return new Map(devices.map((d) => [idKey(d.device), d] as const));
}
