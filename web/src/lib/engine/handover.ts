/**
 * Device hand-over (`docs/protocol.md` §16): the approving device sends the device it just
 * approved every chain it holds, its pins and its group names, encrypted to the exchange key the
 * new device announced with itself (checked under the certificate just issued); the new device
 * fetches what waits for it at start and on the socket's `handover` frame, opens each with the
 * §16.1 checks, and gives the records to the client.
 */

import {
  AccountIdentity,
  type BundleRecord,
  DeviceId,
  Handover,
  decodeSignedIdentity,
  isProtocolError,
  systemEnv,
} from "../../crypto";
import type { ApiClient } from "../api";
import { fromB64, toB64 } from "../b64";
import { isTransient } from "./delivery";
import type { Approved } from "./account";
import type { Directory } from "./directory";
import { type BundleSources, bundleRecords } from "./keybundle";
import type { LoadedKeys } from "./keystore";

/**
 * Records per hand-over: a Chain record is about 150 bytes, so 10000 stay well under the 4 MiB
 * bound of a hand-over's wire form (§16.1); more are sent as several.
 */
const HANDOVER_RECORDS = 10_000;

/**
 * Seals and posts the hand-over(s) to a device this device just approved. Returns how many were
 * sent: none when the device announced no exchange key (it then waits for key requests).
 */
export async function sendHandover(
  api: ApiClient,
  keys: LoadedKeys,
  deviceText: string,
  approved: Approved,
  sources: BundleSources,
  now: bigint,
): Promise<number> {
  if (approved.exchangeKey === null) return 0;
  const identity = await AccountIdentity.fromMasterSpki(keys.record.masterSpki);
  const device = await identity.verifyDevice(approved.certificate, []);
  if (DeviceId.toText(device.device) !== deviceText)
    throw new Error("the certificate names another device");
  const recipient = await device.verifyExchangeKey(
    decodeSignedIdentity(fromB64(approved.exchangeKey)),
    now,
  );
  let sent = 0;
  for (const records of bundleRecords(sources, HANDOVER_RECORDS)) {
    const handover = await Handover.seal({
      account: keys.account,
      sender: keys.device,
      recipient,
      records,
      env: systemEnv(),
    });
    await api.postHandover(deviceText, toB64(handover.encode()));
    sent += 1;
  }
  return sent;
}

/**
 * Opens the hand-overs waiting for this device, gives each one's records to `take` and deletes
 * it. One that fails its checks is deleted unread (it can never open); one whose sender cannot be
 * looked up now stays for the next time.
 */
export async function receiveHandovers(
  api: ApiClient,
  directory: Directory,
  keys: LoadedKeys,
  take: (records: readonly BundleRecord[]) => Promise<void>,
): Promise<number> {
  const waiting = await api.handovers();
  let taken = 0;
  for (const h of waiting) {
    try {
      const handover = Handover.decode(fromB64(h.handover));
      const own = await directory.contact(keys.record.account, true);
      const sender = own.devices.find(
        (d) => DeviceId.toText(d.device) === DeviceId.toText(handover.header.senderDevice),
      );
      if (sender === undefined) {
        await api.deleteHandover(h.id);
        continue;
      }
      const records = await handover.open(sender, keys.local, BigInt(Date.now()));
      await take(records);
      taken += 1;
    } catch (e) {
      if (isTransient(e)) continue;
      if (!isProtocolError(e)) throw e;
      console.warn(`sotto: hand-over refused: ${e.code}`);
    }
    await api.deleteHandover(h.id);
  }
  return taken;
}
