/**
 * A small promise wrapper over IndexedDB. Two object stores: `keys` holds `CryptoKey` objects
 * (non-extractable private keys and the store key) by name; `state` holds records sealed with
 * the store key (see `sealed.ts`).
 */

export const DB_NAME = "sotto";
const VERSION = 1;
export type StoreName = "keys" | "state";

function req<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => {
      resolve(r.result);
    };
    r.onerror = () => {
      reject(r.error ?? new Error("IndexedDB request failed"));
    };
  });
}

export class Database {
  private constructor(private readonly db: IDBDatabase) {}

  static async open(name = DB_NAME): Promise<Database> {
    const open = indexedDB.open(name, VERSION);
    open.onupgradeneeded = () => {
      const db = open.result;
      if (!db.objectStoreNames.contains("keys")) db.createObjectStore("keys");
      if (!db.objectStoreNames.contains("state")) db.createObjectStore("state");
    };
    return new Database(await req(open));
  }

  async get(store: StoreName, key: string): Promise<unknown> {
    const tx = this.db.transaction(store, "readonly");
    return req(tx.objectStore(store).get(key));
  }

  async keysWithPrefix(store: StoreName, prefix: string): Promise<string[]> {
    const tx = this.db.transaction(store, "readonly");
    const range = IDBKeyRange.bound(prefix, prefix + "\uffff");
    const keys = await req(tx.objectStore(store).getAllKeys(range));
    return keys.filter((k): k is string => typeof k === "string");
  }

  /** Writes several records in one transaction: all or none. */
  async putAll(
    store: StoreName,
    entries: readonly (readonly [string, unknown])[],
    deletes: readonly string[] = [],
  ): Promise<void> {
    const tx = this.db.transaction(store, "readwrite");
    const os = tx.objectStore(store);
    for (const [k, v] of entries) os.put(v, k);
    for (const k of deletes) os.delete(k);
    await new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => {
        resolve();
      };
      tx.onerror = () => {
        reject(tx.error ?? new Error("IndexedDB transaction failed"));
      };
      tx.onabort = () => {
        reject(tx.error ?? new Error("IndexedDB transaction aborted"));
      };
    });
  }

  close(): void {
    this.db.close();
  }

  /** Deletes the whole database (logout with "wipe local secrets"). */
  static async wipe(name = DB_NAME): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const r = indexedDB.deleteDatabase(name);
      r.onsuccess = () => {
        resolve();
      };
      r.onerror = () => {
        reject(r.error ?? new Error("could not delete the database"));
      };
      // Blocked: another connection is still open; the deletion completes when it closes.
      r.onblocked = () => {
        setTimeout(resolve, 3000);
      };
    });
  }
}
