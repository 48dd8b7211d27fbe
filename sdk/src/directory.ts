import { safetyNumber } from "./crypto.js";
import { type Api, ok } from "./http.js";
import { type ClientStore, keys } from "./store.js";
import type { ConversationDevice } from "./types.js";

export interface IdentityChange {
  userId: string;
  deviceId: string;
  /** The key this device had pinned for it (trusted on first use). */
  previousKey: string;
  identityKey: string;
  /** The new safety number between this user and them: the app must show that it changed. */
  safetyNumber: string;
  source: "stream" | "directory";
}

type Pins = Record<string, string>;
const pinKey = (userId: string, deviceId: string) => `${userId}:${deviceId}`;

/**
 * Who to encrypt for, and the identity keys this device trusts. Keys are pinned the first time
 * they are seen (TOFU); a different key later for the same device is an identity change,
 * reported once, and then pinned in its place.
 */
export class Directory {
  private pins: Pins = {};
  private readonly lists = new Map<string, ConversationDevice[]>();

  constructor(
    private readonly api: Api,
    private readonly store: ClientStore,
    private readonly me: { userId: string; deviceId: string; publicKey: string },
    private readonly changed: (c: IdentityChange) => Promise<void>,
  ) {}

  async load() {
    this.pins = (await this.store.get<Pins>(keys.pins)) ?? {};
  }

  /** Every device a message in the conversation must be wrapped for (this one included). */
  async devicesOf(conversationId: string, fresh = false): Promise<ConversationDevice[]> {
    const cached = this.lists.get(conversationId);
    if (cached && !fresh) return cached;
    const { devices } = ok(
      "conversation devices",
      await this.api.GET("/api/v1/conversations/{conversation_id}/devices", {
        params: { path: { conversation_id: conversationId } },
      }),
    );
    for (const d of devices) await this.observe(d.user_id, d.device_id, d.identity_key, "directory");
    this.lists.set(conversationId, devices);
    return devices;
  }

  forget(conversationId?: string) {
    if (conversationId) this.lists.delete(conversationId);
    else this.lists.clear();
  }

  /** The pinned identity key of a device, fetched (and pinned) from the key directory if new. */
  async identityOf(userId: string, deviceId: string): Promise<string | undefined> {
    if (userId === this.me.userId && deviceId === this.me.deviceId) return this.me.publicKey;
    const pinned = this.pins[pinKey(userId, deviceId)];
    if (pinned) return pinned;
    const res = await this.api.GET("/api/v1/users/{user_id}/devices", {
      params: { path: { user_id: userId } },
    });
    if (!res.data) return undefined;
    for (const d of res.data.devices) await this.observe(userId, d.device_id, d.identity_key, "directory");
    return this.pins[pinKey(userId, deviceId)];
  }

  /** Compares a key seen for a device with its pin; pins it, and reports a change. */
  async observe(userId: string, deviceId: string, identityKey: string, source: IdentityChange["source"]) {
    if (userId === this.me.userId && deviceId === this.me.deviceId) return;
    const k = pinKey(userId, deviceId);
    const previous = this.pins[k];
    if (previous === identityKey) return;
    this.pins[k] = identityKey;
    await this.store.set(keys.pins, this.pins);
    if (previous === undefined) return;
    // Whatever was cached was wrapped for the old key.
    this.forget();
    await this.changed({
      userId,
      deviceId,
      previousKey: previous,
      identityKey,
      safetyNumber: this.safetyNumber(userId),
      source,
    });
  }

  /** The safety number with `userId`, from the keys pinned on this device. */
  safetyNumber(userId: string) {
    const keysOf = (u: string) =>
      Object.entries(this.pins)
        .filter(([k]) => k.startsWith(`${u}:`))
        .map(([, v]) => v);
    const mine = [this.me.publicKey, ...keysOf(this.me.userId)];
    return safetyNumber({ userId: this.me.userId, keys: mine }, { userId, keys: keysOf(userId) });
  }
}
