import { safetyNumber } from "./crypto.js";
import { type Api, ok } from "./http.js";
import { verifyLink } from "./linking.js";
import { type ClientStore, keys } from "./store.js";
import type { ConversationDevice } from "./types.js";

export interface IdentityChange {
  userId: string;
  /** The device whose key changed; for an account-key change, the device the new key linked (or ""). */
  deviceId: string;
  /** `account`: the user's account key changed (a reset); `device`: a legacy account's device key. */
  kind: "account" | "device";
  /** The key this device had pinned (trusted on first use). */
  previousKey: string;
  identityKey: string;
  /** The new safety number between this user and them: the app must show that it changed. */
  safetyNumber: string;
  source: "stream" | "directory";
}

/** A device a list named that this device will not encrypt to: its signature does not verify. */
export interface RefusedDevice {
  userId: string;
  deviceId: string;
  identityKey: string;
  reason: "bad_signature" | "account_key_missing";
}

type Pins = Record<string, string>;
/** Per user: the pinned account key, or null for a legacy account seen without one. */
type AccountPins = Record<string, string | null>;
const pinKey = (userId: string, deviceId: string) => `${userId}:${deviceId}`;

/** A device as every list the server hands out carries it (conversation, user, claims). */
type Listed = Omit<ConversationDevice, "registration_id"> & { registration_id?: number | null };

/**
 * Who to encrypt for, and the keys this device trusts. Each user's account key is pinned the first
 * time it is seen; a device is trusted only when its `account_signature` verifies against that
 * pin, and a device that fails is never encrypted to and reported once. A different account key
 * later is a safety-number change (reported once, then pinned). For a legacy account without an
 * account key, device identity keys are pinned on first use as before, and the account is marked.
 */
export class Directory {
  private pins: Pins = {};
  private accounts: AccountPins = {};
  private readonly refused = new Set<string>();
  private readonly lists = new Map<string, ConversationDevice[]>();

  constructor(
    private readonly api: Api,
    private readonly store: ClientStore,
    private readonly me: { userId: string; deviceId: string; publicKey: string },
    private readonly changed: (c: IdentityChange) => Promise<void>,
    private readonly refuse: (d: RefusedDevice) => Promise<void>,
  ) {}

  async load() {
    this.pins = (await this.store.get<Pins>(keys.pins)) ?? {};
    this.accounts = (await this.store.get<AccountPins>(keys.accountPins)) ?? {};
  }

  /** Every device a message in the conversation must be wrapped for (this one included), checked. */
  async devicesOf(conversationId: string, fresh = false): Promise<ConversationDevice[]> {
    const cached = this.lists.get(conversationId);
    if (cached && !fresh) return cached;
    const { devices } = ok(
      "conversation devices",
      await this.api.GET("/api/v1/conversations/{conversation_id}/devices", {
        params: { path: { conversation_id: conversationId } },
      }),
    );
    const trusted = await this.vet(devices, "directory");
    this.lists.set(conversationId, trusted);
    return trusted;
  }

  forget(conversationId?: string) {
    if (conversationId) this.lists.delete(conversationId);
    else this.lists.clear();
  }

  /** The pinned identity key of a device, fetched (and checked) from the key directory if new. */
  async identityOf(userId: string, deviceId: string): Promise<string | undefined> {
    if (userId === this.me.userId && deviceId === this.me.deviceId) return this.me.publicKey;
    const pinned = this.pins[pinKey(userId, deviceId)];
    if (pinned) return pinned;
    const res = await this.api.GET("/api/v1/users/{user_id}/devices", {
      params: { path: { user_id: userId } },
    });
    if (!res.data) return undefined;
    await this.vet(
      res.data.devices.map((d) => ({ ...d, user_id: userId })),
      "directory",
    );
    return this.pins[pinKey(userId, deviceId)];
  }

  /** Whether `userId` is a legacy account (no account key): its devices are trusted on first use only. */
  isUnsigned(userId: string) {
    return this.accounts[userId] === null;
  }

  /** The devices of a list whose signatures verify against their users' pinned account keys. */
  async vet<T extends Listed>(devices: T[], source: IdentityChange["source"]): Promise<T[]> {
    const out: T[] = [];
    const before = JSON.stringify(this.pins);
    for (const d of devices) {
      const accountKey = await this.pinAccount(d.user_id, d.account_key, d.device_id, source);
      if (accountKey === null) {
        await this.observe(d.user_id, d.device_id, d.identity_key, source);
        out.push(d);
      } else if (d.account_key === null) {
        await this.report(d, "account_key_missing"); // a server hiding the key: a downgrade
      } else if (verifyLink(accountKey, d, d.account_signature)) {
        this.pins[pinKey(d.user_id, d.device_id)] = d.identity_key;
        out.push(d);
      } else {
        await this.report(d, "bad_signature");
      }
    }
    if (JSON.stringify(this.pins) !== before) await this.store.set(keys.pins, this.pins);
    return out;
  }

  private async report(d: Listed, reason: RefusedDevice["reason"]) {
    const k = `${d.user_id}:${d.device_id}:${d.identity_key}`;
    if (this.refused.has(k)) return;
    this.refused.add(k);
    await this.refuse({ userId: d.user_id, deviceId: d.device_id, identityKey: d.identity_key, reason });
  }

  /**
   * Pins a user's account key on first use and returns the pinned one (null: a legacy account).
   * A new key for a user pinned with another is a safety-number change: reported, then pinned. A
   * list without a key for a user pinned with one keeps the pin (its devices are then refused).
   */
  async pinAccount(
    userId: string,
    accountKey: string | null,
    deviceId: string,
    source: IdentityChange["source"],
  ) {
    const pinned = this.accounts[userId];
    if (accountKey === null) {
      if (pinned === undefined) await this.setAccount(userId, null);
      return pinned ?? null;
    }
    if (pinned === accountKey) return pinned;
    await this.setAccount(userId, accountKey);
    if (pinned !== undefined) {
      this.forget(); // whatever was cached was checked against the old key
      await this.changed({
        userId,
        deviceId,
        kind: "account",
        previousKey: pinned ?? "",
        identityKey: accountKey,
        safetyNumber: this.safetyNumber(userId),
        source,
      });
    }
    return accountKey;
  }

  private async setAccount(userId: string, accountKey: string | null) {
    this.accounts[userId] = accountKey;
    await this.store.set(keys.accountPins, this.accounts);
  }

  /**
   * A device's identity key seen somewhere (a list, an `identity_changed` entry). For a legacy
   * account it is pinned on first use and a different one later reported; for a signed account the
   * signature vouches instead, so the pin is dropped and the next list checks the new key.
   */
  async observe(userId: string, deviceId: string, identityKey: string, source: IdentityChange["source"]) {
    if (userId === this.me.userId && deviceId === this.me.deviceId) return;
    const k = pinKey(userId, deviceId);
    const previous = this.pins[k];
    if (previous === identityKey) return;
    if (typeof this.accounts[userId] === "string") {
      delete this.pins[k];
      this.forget();
      await this.store.set(keys.pins, this.pins);
      return;
    }
    this.pins[k] = identityKey;
    await this.store.set(keys.pins, this.pins);
    if (previous === undefined) return;
    // Whatever was cached was wrapped for the old key.
    this.forget();
    await this.changed({
      userId,
      deviceId,
      kind: "device",
      previousKey: previous,
      identityKey,
      safetyNumber: this.safetyNumber(userId),
      source,
    });
  }

  /**
   * The safety number with `userId`: from the two account keys, one per user, so a linked device
   * added or removed does not change it; for a legacy account, from its pinned device keys.
   */
  safetyNumber(userId: string) {
    const keysOf = (u: string) => {
      const account = this.accounts[u];
      if (account) return [account];
      return Object.entries(this.pins)
        .filter(([k]) => k.startsWith(`${u}:`))
        .map(([, v]) => v);
    };
    const own = this.accounts[this.me.userId];
    const mine = own ? [own] : [this.me.publicKey, ...keysOf(this.me.userId)];
    return safetyNumber({ userId: this.me.userId, keys: mine }, { userId, keys: keysOf(userId) });
  }
}
