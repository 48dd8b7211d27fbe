/**
 * Where a device keeps what must survive a restart: its private keys, its session, the identity
 * keys it pinned, and its stream position. Values are JSON; writes must be durable when `set`
 * returns, because the stream position is acknowledged to the server right after it is stored.
 */
export interface ClientStore {
  get<T>(key: string): Promise<T | undefined>;
  set(key: string, value: unknown): Promise<void>;
  delete(key: string): Promise<void>;
}

/** A store that lives as long as the process: for tests and throwaway clients. */
export class MemoryStore implements ClientStore {
  private readonly data = new Map<string, string>();
  async get<T>(key: string) {
    const v = this.data.get(key);
    return v === undefined ? undefined : (JSON.parse(v) as T);
  }
  async set(key: string, value: unknown) {
    this.data.set(key, JSON.stringify(value));
  }
  async delete(key: string) {
    this.data.delete(key);
  }
  /** Everything stored, as text: lets a test prove what (not) to find in it. */
  dump(): string {
    return JSON.stringify(Object.fromEntries(this.data));
  }
}

/** The synchronous key-value surface of the Web Storage API (`localStorage`), or anything like it. */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/**
 * A store over `localStorage` (or any StorageLike) for a browser app: each value a JSON string
 * under `prefix`. `setItem` has returned once the browser holds it; a browser that can lose the
 * last writes on a crash loses at most the stream positions after them, whose entries come again.
 * For IndexedDB, implement ClientStore with one object store and resolve `set` on the
 * transaction's `complete` (docs/client.md).
 */
export class WebStorageStore implements ClientStore {
  constructor(
    private readonly storage: StorageLike,
    private readonly prefix = "hush:",
  ) {}
  async get<T>(key: string) {
    const v = this.storage.getItem(this.prefix + key);
    return v === null ? undefined : (JSON.parse(v) as T);
  }
  async set(key: string, value: unknown) {
    this.storage.setItem(this.prefix + key, JSON.stringify(value));
  }
  async delete(key: string) {
    this.storage.removeItem(this.prefix + key);
  }
}

/** The records the SDK keeps, by key. */
export interface DeviceRecord {
  userId: string | null;
  email: string;
  deviceId: string;
  /** base64 Ed25519 secret and public key */
  secretKey: string;
  publicKey: string;
}
export interface SessionRecord {
  sessionToken: string;
  refreshToken: string;
}
export interface PrekeyRecord {
  registrationId: number;
  nextKeyId: number;
  signed: { keyId: number; secretKey: string } | null;
  /** One-time prekeys' secrets by key id, deleted when a first message uses one. */
  oneTime: Record<string, string>;
  /** One-time ML-KEM-1024 prekeys' 64-byte keygen seeds by key id, deleted when used. */
  kem?: Record<string, string>;
  /** The last-resort KEM prekey (handed out when no one-time one is left): kept. */
  kemLastResort?: { keyId: number; seed: string } | null;
}
/**
 * The account key as this device knows it: its public half (from sign-up, or the server's word at
 * login, pinned), and its secret only on the device that made it. `reset`: a new key this device
 * asked to replace it with (an account-key reset), kept until the reset is applied.
 */
export interface AccountRecord {
  publicKey: string | null;
  secretKey: string | null;
  reset?: { publicKey: string; secretKey: string } | null;
}
export const keys = {
  account: "account",
  accountPins: "account_pins",
  device: "device",
  session: "session",
  prekeys: "prekeys",
  pins: "pins",
  position: "stream_position",
  sessions: "sessions",
} as const;
