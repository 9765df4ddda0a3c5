/**
 * Contacts: master keys pinned on first use, then every device certificate, revocation and
 * exchange key verified against the pin. A changed master key is never silently accepted: the
 * contact turns `changed` and nothing is sent to it until the user accepts (and, if it had been
 * verified, verifies again).
 */

import {
  type AccountId,
  AccountIdentity,
  AccountId as AccountIdK,
  type Bytes,
  bytesEqual,
  DeviceId,
  decodeSignedIdentity,
  type VerifiedDevice,
  type VerifiedExchangeKey,
  type VerifiedRevocation,
} from "../../crypto";
import type { ApiClient } from "../api";
import { fromB64 } from "../b64";
import type { SealedStore } from "../../storage/sealed";

export type TrustState = "unverified" | "verified" | "changed";

export interface Pin {
  readonly account: string;
  readonly username: string;
  readonly masterSpki: Bytes;
  readonly verified: boolean;
  /** A new master key the server now presents, not accepted yet. */
  readonly pendingSpki?: Bytes;
  readonly wasVerified?: boolean;
  /** The account this username belonged to before (the server now maps it to another key). */
  readonly replaces?: string;
  readonly serials: Readonly<Record<string, string>>;
  /**
   * Devices (by id) whose version-2 exchange-key certificate was accepted: a version-1 one of
   * theirs is a rollback from then on (§18.3). Absent in pins stored before version 2.
   */
  readonly v2?: Readonly<Record<string, true>>;
}

export interface Contact {
  readonly account: AccountId;
  readonly accountText: string;
  readonly username: string;
  readonly masterSpki: Bytes;
  readonly trust: TrustState;
  readonly devices: readonly VerifiedDevice[];
  readonly exchangeKeys: readonly VerifiedExchangeKey[];
  readonly revocations: readonly VerifiedRevocation[];
  readonly highestRevocationSerial: bigint;
}

const CACHE_MS = 20_000;

/**
 * The directory answered another question than the one asked: an entry for another account (a
 * lookup by account id), another username (a lookup by name), or an entry whose account id is not
 * the one its master key hashes to. Nothing in it is believed — no pin is made or changed, no
 * identity change raised — since a server could otherwise plant a lasting identity-change alert
 * for a contact by answering their account id with another account under their name. It is a bad
 * answer like a proxy's 502 (the Rust client's `BadResponse`): transient, and retried.
 */
export class DirectoryMismatchError extends Error {
  constructor(
    /** What was looked up (`acct:…` or a username), or the account id the entry claims. */
    readonly asked: string,
    /** What the answer names instead (an account id or a username), or the id its key hashes to. */
    readonly answered: string,
  ) {
    super(`directory: asked for ${asked}, answered for ${answered}`);
    this.name = "DirectoryMismatchError";
  }
}

/** Usernames are normalised by ASCII lowercasing only (as the server and the Rust client do). */
function normaliseUsername(name: string): string {
  return name.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

export class Directory {
  private pins = new Map<string, Pin>();
  private cache = new Map<string, { at: number; contact: Contact }>();
  private loaded = false;
  onChange: () => void = () => undefined;

  constructor(
    private readonly api: ApiClient,
    private readonly store: SealedStore,
    private readonly now: () => bigint,
  ) {}

  private async load(): Promise<void> {
    if (this.loaded) return;
    const pins = (await this.store.get<Pin[]>("pins")) ?? [];
    this.pins = new Map(pins.map((p) => [p.account, p]));
    this.loaded = true;
  }

  private async savePins(): Promise<void> {
    await this.store.put([["pins", [...this.pins.values()]]]);
    this.onChange();
  }

  async pinsList(): Promise<Pin[]> {
    await this.load();
    return [...this.pins.values()];
  }

  async pin(account: string): Promise<Pin | undefined> {
    await this.load();
    return this.pins.get(account);
  }

  /** The username pinned for `account` (`acct:…`), if it is pinned and the pins are loaded. */
  pinnedName(account: string): string | undefined {
    return this.pins.get(account)?.username;
  }

  /** Pins this device's own account (set up locally, not from the directory). */
  async pinSelf(account: string, username: string, masterSpki: Bytes): Promise<void> {
    await this.load();
    if (!this.pins.has(account)) {
      this.pins.set(account, { account, username, masterSpki, verified: true, serials: {} });
      await this.savePins();
    }
  }

  invalidate(account?: string): void {
    if (account === undefined) this.cache.clear();
    else this.cache.delete(account);
  }

  /** Looks up `who` (username or `acct:` id), verifying everything against the pin. */
  async contact(who: string, fresh = false): Promise<Contact> {
    await this.load();
    const cached = this.cache.get(who);
    if (!fresh && cached !== undefined && Date.now() - cached.at < CACHE_MS) return cached.contact;
    const d = await this.api.directory(who);
    // Checked before anything in the answer is used: another account's entry must not touch pins.
    if (who.startsWith(AccountIdK.PREFIX)) {
      if (d.account !== who) throw new DirectoryMismatchError(who, d.account);
    } else if (d.username !== normaliseUsername(who))
      throw new DirectoryMismatchError(who, d.username);
    const masterSpki = fromB64(d.master_key);
    const presented = await AccountIdentity.fromMasterSpki(masterSpki);
    // An entry whose id is not its key's is as wrong as an entry for another account: refused
    // the same way (transient), or a server could make a contact's messages "unverified" for good.
    if (AccountIdK.toText(presented.account) !== d.account)
      throw new DirectoryMismatchError(d.account, AccountIdK.toText(presented.account));
    let pin = this.pins.get(d.account);
    if (pin === undefined) {
      const previous = [...this.pins.values()].find(
        (p) => p.username === d.username && p.account !== d.account,
      );
      pin = { account: d.account, username: d.username, masterSpki, verified: false, serials: {} };
      if (previous !== undefined)
        pin = { ...pin, replaces: previous.account, wasVerified: previous.verified };
      this.pins.set(d.account, pin);
      await this.savePins();
    } else if (!bytesEqual(pin.masterSpki, masterSpki)) {
      // Same account id from another key is impossible (ids hash the key), but a username can
      // move to another account: the pin is per account, so this only happens for `acct:` lookups.
      if (pin.pendingSpki === undefined || !bytesEqual(pin.pendingSpki, masterSpki)) {
        pin = { ...pin, pendingSpki: masterSpki, wasVerified: pin.verified, verified: false };
        this.pins.set(d.account, pin);
        await this.savePins();
      }
    }
    const identity = await AccountIdentity.fromMasterSpki(pin.masterSpki);
    const revocations: VerifiedRevocation[] = [];
    let highest = 0n;
    for (const r of d.revocations) {
      try {
        const v = await identity.verifyRevocation(decodeSignedIdentity(fromB64(r)));
        revocations.push(v);
        if (v.body.serial > highest) highest = v.body.serial;
      } catch {
        // an unverifiable revocation is ignored; it cannot un-trust anything
      }
    }
    const devices: VerifiedDevice[] = [];
    const exchangeKeys: VerifiedExchangeKey[] = [];
    const serials: Record<string, string> = { ...pin.serials };
    const v2: Record<string, true> = { ...pin.v2 };
    const trust: TrustState =
      pin.pendingSpki !== undefined || pin.replaces !== undefined
        ? "changed"
        : pin.verified
          ? "verified"
          : "unverified";
    if (trust !== "changed") {
      for (const dv of d.devices) {
        if (dv.state !== "active" || dv.certificate === null) continue;
        let device: VerifiedDevice;
        try {
          device = await identity.verifyDevice(
            decodeSignedIdentity(fromB64(dv.certificate)),
            revocations,
          );
        } catch {
          continue;
        }
        if (DeviceId.toText(device.device) !== dv.device) continue;
        devices.push(device);
        if (dv.exchange_key === null) continue;
        const seen = serials[dv.device];
        try {
          const xk = await device.verifyExchangeKeyAfterV2(
            decodeSignedIdentity(fromB64(dv.exchange_key)),
            this.now(),
            seen === undefined ? undefined : BigInt(seen),
            v2[dv.device] === true,
          );
          exchangeKeys.push(xk);
          serials[dv.device] = xk.serial.toString();
          if (xk.isV2) v2[dv.device] = true;
        } catch {
          // expired or rolled back: this device gets no keys until it publishes a valid one
        }
      }
    }
    if (
      JSON.stringify(serials) !== JSON.stringify(pin.serials) ||
      JSON.stringify(v2) !== JSON.stringify(pin.v2 ?? {})
    ) {
      pin = { ...pin, serials, v2 };
      this.pins.set(d.account, pin);
      await this.savePins();
    }
    const contact: Contact = {
      account: identity.account,
      accountText: d.account,
      username: d.username,
      masterSpki: pin.masterSpki,
      trust,
      devices,
      exchangeKeys,
      revocations,
      highestRevocationSerial: highest,
    };
    this.cache.set(who, { at: Date.now(), contact });
    this.cache.set(d.account, { at: Date.now(), contact });
    return contact;
  }

  /**
   * A Pin record from a backup or a hand-over (protocol §15.1 step 3): an account not pinned yet
   * is pinned when the directory lists it under that username with a master key whose account id
   * matches; `verified` carries over only with the pin. A pinned account keeps its pin (a
   * mismatch is an identity change, raised by the lookups, never overwritten here).
   */
  async adoptPin(account: string, username: string, verified: boolean): Promise<boolean> {
    await this.load();
    if (this.pins.has(account)) return false;
    const contact = await this.contact(account, true);
    if (contact.username !== username || contact.trust === "changed") return false;
    if (verified) await this.markVerified(account);
    return true;
  }

  async markVerified(account: string): Promise<void> {
    await this.load();
    const pin = this.pins.get(account);
    if (pin === undefined || pin.pendingSpki !== undefined || pin.replaces !== undefined) return;
    this.pins.set(account, { ...pin, verified: true });
    this.invalidate();
    await this.savePins();
  }

  async unmarkVerified(account: string): Promise<void> {
    await this.load();
    const pin = this.pins.get(account);
    if (pin === undefined) return;
    this.pins.set(account, { ...pin, verified: false });
    this.invalidate();
    await this.savePins();
  }

  /** Accepts a changed identity: the new key becomes the pin, unverified. */
  async acceptChange(account: string): Promise<void> {
    await this.load();
    const pin = this.pins.get(account);
    if (pin === undefined) return;
    if (pin.replaces !== undefined) this.pins.delete(pin.replaces);
    this.pins.set(account, {
      account,
      username: pin.username,
      masterSpki: pin.pendingSpki ?? pin.masterSpki,
      verified: false,
      serials: {},
    });
    this.invalidate();
    await this.savePins();
  }
}
