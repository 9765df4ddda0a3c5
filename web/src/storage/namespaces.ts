/**
 * Accounts on a shared browser: each account's keys and data live in an IndexedDB database of
 * their own, its namespace, named by the folded username (`sotto:alice`), with its own store key
 * (`sealed.ts`) and lock names (`locks.ts`). Nothing of one namespace is opened for another
 * account: Create account refuses a namespace that holds keys, Log in opens only the typed
 * account's. The username is known before the account id exists (registration, a new device),
 * and the server folds ASCII upper case (`docs/api.md`), so the name is the key.
 *
 * The account index (`localStorage`, no secrets: usernames only) lists the namespaces this
 * browser holds and which one a start opens: the tab's own account (`sessionStorage`, so a
 * reload keeps each tab's account) or else the last one that signed in, until it signs out.
 *
 * The single database of earlier versions (`sotto`) becomes the namespace of the account it
 * holds on the first start (`migrateLegacyDatabase`), so nobody loses their device.
 */

import { z } from "zod";

import { Database, LEGACY_DB_NAME } from "./db";
import { withLock } from "./locks";
import { SealedStore } from "./sealed";

/** 3–32 characters `a-z 0-9 . _ -`, starting with a letter or digit (the server's rule). */
const USERNAME = /^[a-z0-9][a-z0-9._-]{2,31}$/;
const PREFIX = "sotto:";
export const INDEX_KEY = "sotto-accounts";
export const TAB_KEY = "sotto-account";
/** Written (in the `keys` store) in the same transaction as the records moved from `sotto`. */
const MIGRATED = "migrated-from-sotto";
/** The few accounts one browser can list; more are still opened by name. */
const MAX_LISTED = 50;

/** The username as the server keys it: trimmed, ASCII upper case folded. */
export function foldUsername(username: string): string {
  return username.trim().replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/** The namespace (IndexedDB database) of `username`; refuses a name the server would refuse. */
export function namespaceName(username: string): string {
  const folded = foldUsername(username);
  if (!USERNAME.test(folded))
    throw new Error(
      "Usernames are 3–32 characters: a–z, 0–9, . _ - (starting with a letter or digit).",
    );
  return PREFIX + folded;
}

/** The subset of the Web Storage API the index uses (`localStorage`, `sessionStorage`). */
export interface KeyValueStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

const IndexSchema = z.object({
  accounts: z.array(z.string().regex(USERNAME)).max(MAX_LISTED),
  last: z.string().regex(USERNAME).optional(),
});
type IndexRecord = z.infer<typeof IndexSchema>;

/** Which accounts this browser holds, and which one a start opens. Usernames only. */
export class AccountIndex {
  constructor(
    private readonly shared: KeyValueStorage | undefined,
    private readonly tab: KeyValueStorage | undefined,
  ) {}

  /** The browser's index (`localStorage`) and this tab's account (`sessionStorage`). */
  static browser(): AccountIndex {
    const get = (name: "localStorage" | "sessionStorage"): KeyValueStorage | undefined => {
      try {
        return typeof window === "undefined" ? undefined : window[name];
      } catch {
        return undefined; // storage disabled: nothing is listed, accounts open by name
      }
    };
    return new AccountIndex(get("localStorage"), get("sessionStorage"));
  }

  private read(): IndexRecord {
    const raw = this.shared?.getItem(INDEX_KEY);
    if (raw === null || raw === undefined) return { accounts: [] };
    try {
      const parsed = IndexSchema.safeParse(JSON.parse(raw));
      return parsed.success ? parsed.data : { accounts: [] };
    } catch {
      return { accounts: [] };
    }
  }

  private write(rec: IndexRecord): void {
    const accounts = [...new Set(rec.accounts)].sort().slice(0, MAX_LISTED);
    const next: IndexRecord = {
      accounts,
      ...(rec.last !== undefined && accounts.includes(rec.last) ? { last: rec.last } : {}),
    };
    this.shared?.setItem(INDEX_KEY, JSON.stringify(next));
  }

  /** The accounts whose data this browser holds, sorted. */
  list(): readonly string[] {
    return this.read().accounts;
  }

  /** The account a start opens: this tab's, else the last one signed in; none after sign-out. */
  atStart(): string | undefined {
    const rec = this.read();
    const mine = this.tab?.getItem(TAB_KEY) ?? undefined;
    if (mine !== undefined && rec.accounts.includes(mine)) return mine;
    return rec.last;
  }

  /** `username`'s keys are stored here (registered, approved, moved from `sotto`). */
  added(username: string): void {
    const rec = this.read();
    this.write({ ...rec, accounts: [...rec.accounts, foldUsername(username)] });
  }

  /** `username` signed in in this tab: it is listed, and what the next start opens. */
  signedIn(username: string): void {
    const u = foldUsername(username);
    const rec = this.read();
    this.write({ accounts: [...rec.accounts, u], last: u });
    this.tab?.setItem(TAB_KEY, u);
  }

  /** `username` signed out: a start opens no account (the next person picks theirs). */
  signedOut(username: string): void {
    const u = foldUsername(username);
    const rec = this.read();
    this.write(rec.last === u ? { accounts: rec.accounts } : rec);
    if (this.tab?.getItem(TAB_KEY) === u) this.tab.removeItem(TAB_KEY);
  }

  /** `username`'s data left this browser. */
  removed(username: string): void {
    const u = foldUsername(username);
    const rec = this.read();
    this.write({ ...rec, accounts: rec.accounts.filter((a) => a !== u) });
    if (this.tab?.getItem(TAB_KEY) === u) this.tab.removeItem(TAB_KEY);
  }
}

/** The username whose identity a namespace's database holds, if any (its keys are there). */
export async function heldUsername(db: Database): Promise<string | undefined> {
  if (!(
    typeof CryptoKey !== "undefined" && (await db.get("keys", "store-key")) instanceof CryptoKey
  ))
    return undefined;
  const identity = await (await SealedStore.open(db)).get<{ username?: unknown }>("identity");
  return typeof identity?.username === "string" ? foldUsername(identity.username) : undefined;
}

/**
 * Moves the database of earlier versions into the namespace of the account it holds: every
 * record as stored (sealed records stay sealed under the same store key) and a marker, in one
 * transaction; then the old database is deleted. A crash in between repeats the deletion only.
 * A database holding no account is deleted. Returns the account moved, if any.
 */
export async function migrateLegacyDatabase(index: AccountIndex): Promise<string | undefined> {
  if ((await Database.exists(LEGACY_DB_NAME)) === false) return undefined;
  return withLock("sotto-accounts", async () => {
    const legacy = await Database.open(LEGACY_DB_NAME);
    let username: string | undefined;
    try {
      // A read that fails leaves the old database for the next start: never delete a device.
      username = await heldUsername(legacy);
      if (username !== undefined && !USERNAME.test(username)) return undefined;
      if (username !== undefined) {
        const target = await Database.open(namespaceName(username));
        try {
          const moved = (await target.get("keys", MIGRATED)) !== undefined;
          if (!moved) {
            // A namespace of that account made meanwhile holds another device: keep both as
            // they are rather than overwrite either.
            if ((await heldUsername(target)) !== undefined) return undefined;
            const [keys, state] = await Promise.all([
              legacy.entries("keys"),
              legacy.entries("state"),
            ]);
            await target.putBoth([...keys, [MIGRATED, true]], state);
          }
        } finally {
          target.close();
        }
        index.added(username);
        index.signedIn(username);
      }
    } finally {
      legacy.close();
    }
    await Database.wipe(LEGACY_DB_NAME);
    return username;
  });
}
