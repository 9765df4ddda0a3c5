/**
 * A small promise wrapper over IndexedDB. Two object stores: `keys` holds `CryptoKey` objects
 * (non-extractable private keys and the store key) by name; `state` holds records sealed with
 * the store key (see `sealed.ts`). Each account has a database of its own (`namespaces.ts`);
 * `Database.memory()` is the same interface over a map, for the screen before any account is
 * chosen, so nothing is written to disk until an account is.
 */

/** The single database of earlier versions, moved into its account's namespace at start. */
export const LEGACY_DB_NAME = "sotto";
const VERSION = 1;
export type StoreName = "keys" | "state";
const STORES: readonly StoreName[] = ["keys", "state"];

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

function done(tx: IDBTransaction): Promise<void> {
  return new Promise<void>((resolve, reject) => {
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

/** Where the records are: an IndexedDB database or, before an account is chosen, memory. */
interface Backend {
  get(store: StoreName, key: string): Promise<unknown>;
  keys(store: StoreName, range: IDBKeyRange | undefined): Promise<string[]>;
  entries(store: StoreName): Promise<[string, unknown][]>;
  write(
    changes: readonly {
      store: StoreName;
      puts: readonly (readonly [string, unknown])[];
      deletes: readonly string[];
    }[],
  ): Promise<void>;
  close(): void;
}

function strings(keys: IDBValidKey[]): string[] {
  return keys.filter((k): k is string => typeof k === "string");
}

class IdbBackend implements Backend {
  constructor(private readonly db: IDBDatabase) {}

  async get(store: StoreName, key: string): Promise<unknown> {
    return req(this.db.transaction(store, "readonly").objectStore(store).get(key));
  }

  async keys(store: StoreName, range: IDBKeyRange | undefined): Promise<string[]> {
    const os = this.db.transaction(store, "readonly").objectStore(store);
    return strings(await req(os.getAllKeys(range)));
  }

  async entries(store: StoreName): Promise<[string, unknown][]> {
    const os = this.db.transaction(store, "readonly").objectStore(store);
    const [keys, values] = await Promise.all([req(os.getAllKeys()), req(os.getAll())]);
    return keys.flatMap((k, i): [string, unknown][] =>
      typeof k === "string" ? [[k, values[i]]] : [],
    );
  }

  async write(
    changes: readonly {
      store: StoreName;
      puts: readonly (readonly [string, unknown])[];
      deletes: readonly string[];
    }[],
  ): Promise<void> {
    const tx = this.db.transaction(
      changes.map((c) => c.store),
      "readwrite",
    );
    for (const c of changes) {
      const os = tx.objectStore(c.store);
      for (const [k, v] of c.puts) os.put(v, k);
      for (const k of c.deletes) os.delete(k);
    }
    await done(tx);
  }

  close(): void {
    this.db.close();
  }
}

class MemoryBackend implements Backend {
  private readonly stores = new Map<StoreName, Map<string, unknown>>(
    STORES.map((s) => [s, new Map()]),
  );

  private store(name: StoreName): Map<string, unknown> {
    const s = this.stores.get(name);
    if (s === undefined) throw new Error(`no store ${name}`);
    return s;
  }

  get(store: StoreName, key: string): Promise<unknown> {
    return Promise.resolve(this.store(store).get(key));
  }

  keys(store: StoreName, range: IDBKeyRange | undefined): Promise<string[]> {
    const all = [...this.store(store).keys()].sort();
    return Promise.resolve(range === undefined ? all : all.filter((k) => range.includes(k)));
  }

  entries(store: StoreName): Promise<[string, unknown][]> {
    return Promise.resolve([...this.store(store).entries()]);
  }

  write(
    changes: readonly {
      store: StoreName;
      puts: readonly (readonly [string, unknown])[];
      deletes: readonly string[];
    }[],
  ): Promise<void> {
    for (const c of changes) {
      const s = this.store(c.store);
      for (const [k, v] of c.puts) s.set(k, v);
      for (const k of c.deletes) s.delete(k);
    }
    return Promise.resolve();
  }

  close(): void {
    // nothing to release
  }
}

export class Database {
  /**
   * Called when another tab deletes (an account's data removed) or upgrades this database: this
   * connection has been closed so that it can go on.
   */
  onClosedByOtherTab: () => void = () => undefined;

  private constructor(
    /** The IndexedDB database's name; the scope of this account's lock names (`locks.ts`). */
    readonly name: string,
    private readonly backend: Backend,
  ) {}

  static async open(name: string): Promise<Database> {
    const open = indexedDB.open(name, VERSION);
    open.onupgradeneeded = () => {
      const db = open.result;
      for (const s of STORES) if (!db.objectStoreNames.contains(s)) db.createObjectStore(s);
    };
    const idb = await req(open);
    const database = new Database(name, new IdbBackend(idb));
    // Another tab removes this account's data (or upgrades the database): let it go through
    // instead of blocking it.
    idb.onversionchange = () => {
      idb.close();
      database.onClosedByOtherTab();
    };
    return database;
  }

  /** A database that lives in memory only (nothing is written to disk). */
  static memory(name: string): Database {
    return new Database(name, new MemoryBackend());
  }

  async get(store: StoreName, key: string): Promise<unknown> {
    return this.backend.get(store, key);
  }

  async keysWithPrefix(store: StoreName, prefix: string): Promise<string[]> {
    return this.backend.keys(store, IDBKeyRange.bound(prefix, prefix + "\uffff"));
  }

  /** Every record of `store`, as stored (sealed records stay sealed). */
  async entries(store: StoreName): Promise<[string, unknown][]> {
    return this.backend.entries(store);
  }

  /** Writes several records in one transaction: all or none. */
  async putAll(
    store: StoreName,
    entries: readonly (readonly [string, unknown])[],
    deletes: readonly string[] = [],
  ): Promise<void> {
    await this.backend.write([{ store, puts: entries, deletes }]);
  }

  /** Writes records to both stores in one transaction: all or none. */
  async putBoth(
    keys: readonly (readonly [string, unknown])[],
    state: readonly (readonly [string, unknown])[],
  ): Promise<void> {
    await this.backend.write([
      { store: "keys", puts: keys, deletes: [] },
      { store: "state", puts: state, deletes: [] },
    ]);
  }

  close(): void {
    this.backend.close();
  }

  /** Whether a database of this name exists, without creating it (`undefined`: cannot tell). */
  static async exists(name: string): Promise<boolean | undefined> {
    if (typeof indexedDB.databases !== "function") return undefined;
    return (await indexedDB.databases()).some((d) => d.name === name);
  }

  /** Deletes a whole database (an account's data removed from this browser). */
  static async wipe(name: string): Promise<void> {
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
