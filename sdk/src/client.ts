import { type AttachmentRef, downloadAttachment, uploadAttachment } from "./attachments.js";
import { type CodeCallback, type DeviceOptions, deviceIdentity, logInFlow, signUpFlow } from "./auth.js";
import { b64, fromUtf8, hex, unb64, utf8 } from "./bytes.js";
import {
  type IdentityKeyPair,
  newIdentity,
  openMessage,
  randomBytes,
  randomKey,
  sealMessage,
} from "./crypto.js";
import { Directory } from "./directory.js";
import { Emitter, type Envelope, type ReceivedMessage } from "./events.js";
import { type Api, apiClient, authedFetch, type Fetch, HushError, ok, Tokens } from "./http.js";
import { fingerprint, sameFingerprint, signLink } from "./linking.js";
import { replenishPrekeys } from "./prekeys.js";
import { SessionError, Sessions } from "./sessions.js";
import {
  type AccountRecord,
  type ClientStore,
  type DeviceRecord,
  keys,
  type SessionRecord,
} from "./store.js";
import { DeviceStream, defaultSocket, type SocketFactory } from "./stream.js";
import type { ContentType, Message, MessageEvent, StreamEntry } from "./types.js";

export interface ClientOptions {
  /** Where the server is, e.g. http://localhost:8000 */
  baseUrl: string;
  store: ClientStore;
  /** The fetch to use (default: the global one); tests pass one that checks every answer. */
  fetch?: Fetch;
  /** How to open the socket (default: the global WebSocket; `ws` when imported from `@hush/sdk/node`). */
  socket?: SocketFactory;
  /** The clock (ms) for how long skipped message keys are kept; tests pass a fake one. */
  now?: () => number;
}

export interface SendOptions {
  attachments?: { bytes: Uint8Array; name: string; type?: string }[];
  viewOnce?: boolean;
  ttlSeconds?: number;
  replyTo?: string;
  contentType?: ContentType;
}

/** How many times a send re-fetches the device list after DEVICE_MISMATCH or STALE_DEVICES. */
const SEND_ATTEMPTS = 4;
const RETRIED = new Set(["DEVICE_MISMATCH", "STALE_DEVICES"]);

/**
 * One device of one account: its keys stay in `store`; the server sees only ciphertext, wrapped
 * keys and public keys. Events arrive once `connect()` has opened the device's stream.
 */
export class HushClient extends Emitter {
  readonly api: Api;
  /** The authenticated fetch behind `api`, for calls outside the JSON API (attachment bytes). */
  readonly fetch: Fetch;
  readonly directory: Directory;
  /** Counters an app (or a test) can read: how often the SDK fixed things up on its own. */
  readonly stats = { deviceListRefetches: 0, prekeysUploaded: 0, sessionResets: 0 };
  private readonly healed = new Map<string, number>();
  /**
   * This device logged in by emailed code on an account with an account key, and no linked device
   * has approved it yet: it gets no message keys. Show `fingerprint()` to its owner meanwhile.
   */
  pending = false;
  private stream: DeviceStream | null = null;
  private replenishing: Promise<number> | null = null;
  private readonly identity: IdentityKeyPair;
  /** The PQXDH + Double Ratchet sessions with every device this one talks to. */
  readonly sessions: Sessions;

  private constructor(
    private readonly o: ClientOptions,
    readonly device: DeviceRecord & { userId: string },
    private readonly tokens: Tokens,
  ) {
    super();
    this.identity = { secretKey: unb64(device.secretKey), publicKey: unb64(device.publicKey) };
    this.fetch = authedFetch(tokens, o.fetch ?? ((r) => globalThis.fetch(r)));
    this.api = apiClient(o.baseUrl, this.fetch);
    this.sessions = new Sessions({
      api: this.api,
      store: o.store,
      identity: this.identity,
      userId: device.userId,
      deviceId: device.deviceId,
      now: o.now ?? Date.now,
    });
    this.directory = new Directory(
      this.api,
      o.store,
      { userId: device.userId, deviceId: device.deviceId, publicKey: device.publicKey },
      (change) => this.emit("identity_changed", change),
      (refused) => this.emit("device_refused", refused),
    );
  }

  get userId() {
    return this.device.userId;
  }
  get deviceId() {
    return this.device.deviceId;
  }

  /** Signs up a new account with this device as its first; the mailed code comes from `code`. */
  static async signUp(
    o: ClientOptions &
      DeviceOptions & { email: string; username: string; fullName: string; code: CodeCallback },
  ) {
    const device = await deviceIdentity(o.store, o.email, o.deviceId);
    const { userId, session } = await signUpFlow(HushClient.publicApi(o), o.store, device, o);
    return HushClient.ready(o, device, userId, session, false);
  }

  /**
   * Logs this device in to an existing account (a new device, or this one again). On a signed
   * account a new device is `pending` until a linked device approves it (`approveDevice`).
   */
  static async logIn(o: ClientOptions & DeviceOptions & { email: string; code: CodeCallback }) {
    const device = await deviceIdentity(o.store, o.email, o.deviceId);
    const { userId, session, pending } = await logInFlow(HushClient.publicApi(o), o.store, device, o);
    return HushClient.ready(o, device, userId, session, pending);
  }

  /** The device as it was left in `store`, with its session; null when it has none. */
  static async resume(o: ClientOptions): Promise<HushClient | null> {
    const device = await o.store.get<DeviceRecord>(keys.device);
    const session = await o.store.get<SessionRecord>(keys.session);
    if (!device?.userId || !session) return null;
    const client = new HushClient(o, { ...device, userId: device.userId }, HushClient.tokensFor(o, session));
    await client.loadPins();
    return client;
  }

  private static publicApi(o: ClientOptions) {
    return apiClient(o.baseUrl, o.fetch ?? ((r) => globalThis.fetch(r)));
  }

  private static tokensFor(o: ClientOptions, session: SessionRecord) {
    const api = HushClient.publicApi(o);
    return new Tokens(
      o.store,
      async (refreshToken) => {
        const r = await api.POST("/api/v1/auth/refresh", { body: { refresh_token: refreshToken } });
        return r.data ? { sessionToken: r.data.session_token, refreshToken: r.data.refresh_token } : null;
      },
      session,
    );
  }

  private static async ready(
    o: ClientOptions,
    device: DeviceRecord,
    userId: string,
    session: SessionRecord,
    pending: boolean,
  ) {
    const record = { ...device, userId };
    await o.store.set(keys.device, record);
    const tokens = HushClient.tokensFor(o, session);
    await tokens.set(session);
    const client = new HushClient(o, record, tokens);
    client.pending = pending;
    await client.loadPins();
    await client.replenishPrekeys();
    return client;
  }

  /** The pins this device keeps, its own account key among them. */
  private async loadPins() {
    await this.directory.load();
    const account = await this.o.store.get<AccountRecord>(keys.account);
    await this.directory.pinAccount(this.userId, account?.publicKey ?? null, this.deviceId, "directory");
  }

  // ---- linking devices ----------------------------------------------------------------------

  /** This device's fingerprint (12 digits): shown while pending, typed on the approving device. */
  fingerprint() {
    return fingerprint(this.device.publicKey);
  }

  /** Whether `userId` is a legacy account without an account key (its devices are unsigned). */
  isUnsigned(userId: string) {
    return this.directory.isUnsigned(userId);
  }

  /** The account's devices waiting for approval. */
  async pendingDevices() {
    const { devices } = ok("devices", await this.api.GET("/api/v1/devices"));
    return devices.filter((d) => d.status === "pending");
  }

  /**
   * Approves a pending device of this account: only when `code` is the fingerprint the new device
   * shows (the server could have swapped its key), and only from a device holding the account
   * key's secret. Signs the device's link statement and sends it.
   */
  async approveDevice(deviceId: string, code: string) {
    const account = await this.o.store.get<AccountRecord>(keys.account);
    if (!account?.secretKey)
      throw new Error("this device does not hold the account key: approve from the first one");
    const device = (await this.pendingDevices()).find((d) => d.device_id === deviceId);
    if (!device) throw new Error(`no pending device ${deviceId}`);
    if (!sameFingerprint(code, fingerprint(device.identity_key)))
      throw new Error(`the code does not match device ${deviceId}'s key: not approved (was it swapped?)`);
    const account_signature = signLink(unb64(account.secretKey), device);
    const done = ok(
      "approve device",
      await this.api.POST("/api/v1/devices/{device_id}/approve", {
        params: { path: { device_id: deviceId } },
        body: { account_signature },
      }),
    );
    this.directory.forget();
    return done.device;
  }

  /**
   * Asks to replace the account key (every device lost, or a legacy account getting one): a new key
   * is made and kept here, and it signs this device. Applied by `completeAccountKeyReset` once the
   * server's waiting period is over; the server mails the account meanwhile.
   */
  async requestAccountKeyReset() {
    const account = (await this.o.store.get<AccountRecord>(keys.account)) ?? {
      publicKey: null,
      secretKey: null,
    };
    const pair = newIdentity();
    const reset = { publicKey: b64(pair.publicKey), secretKey: b64(pair.secretKey) };
    await this.o.store.set(keys.account, { ...account, reset });
    const account_signature = signLink(pair.secretKey, {
      device_id: this.deviceId,
      key_type: "ed25519",
      identity_key: this.device.publicKey,
    });
    return ok(
      "account-key reset",
      await this.api.POST("/api/v1/account-key/reset", {
        body: { public_key: reset.publicKey, account_signature },
      }),
    );
  }

  /** Applies this device's account-key reset: the new key becomes the account's, this device its only linked one. */
  async completeAccountKeyReset() {
    const account = await this.o.store.get<AccountRecord>(keys.account);
    if (!account?.reset) throw new Error("no account-key reset was asked from this device");
    const done = ok(
      "complete account-key reset",
      await this.api.POST("/api/v1/account-key/reset/complete", {}),
    );
    await this.o.store.set(keys.account, {
      publicKey: account.reset.publicKey,
      secretKey: account.reset.secretKey,
      reset: null,
    });
    await this.directory.pinAccount(this.userId, account.reset.publicKey, this.deviceId, "directory");
    this.pending = false;
    return done.device;
  }

  /** Publishes the signed prekey once and tops up one-time prekeys when the server runs low. */
  replenishPrekeys(): Promise<number> {
    // One at a time: two concurrent top-ups would hand out the same key ids.
    // In the sessions' queue: a first message deletes the one-time secret it used from the same record.
    this.replenishing ??= this.sessions
      .exclusive(() => replenishPrekeys(this.api, this.o.store, this.identity))
      .then((added) => {
        this.stats.prekeysUploaded += added;
        return added;
      })
      .finally(() => {
        this.replenishing = null;
      });
    return this.replenishing;
  }

  // ---- the stream -------------------------------------------------------------------------

  /** Opens the device's socket; resolves once authenticated. Catching up goes on (see `caughtUp`). */
  async connect() {
    this.stream?.stop();
    const url = `${this.o.baseUrl.replace(/^http/, "ws")}/api/v1/ws`;
    this.stream = new DeviceStream({
      url,
      store: this.o.store,
      socket: this.o.socket ?? defaultSocket(),
      token: () => this.tokens.access,
      renew: async () => {
        // Any authenticated call refreshes an expired token (authedFetch). Only a refusal ends
        // the session: a server that cannot be reached is tried again later.
        try {
          const me = await this.api.GET("/api/v1/auth/me");
          return me.response.status !== 401;
        } catch {
          return true;
        }
      },
      apply: (entry) => this.apply(entry),
      stored: (position) => this.sessions.released(position),
      frame: (frame) => {
        if (frame.type === "typing_indicator") void this.emit("typing", frame.data);
        else if (frame.type === "user_status") void this.emit("presence", frame.data);
        else if (frame.type === "error")
          void this.emit("error", { code: frame.data.code, message: frame.data.message });
      },
      ended: (code, reason) => {
        void this.emit("ended", { code, reason });
      },
    });
    await this.stream.start();
    // Claims may have drained the stock while this device was away.
    void this.replenishPrekeys().catch(() => {});
  }

  /** Resolves once every entry the server has announced is applied. */
  caughtUp() {
    return this.stream?.idle() ?? Promise.resolve();
  }

  /** The last stream position this device stored. */
  get position() {
    return this.stream?.stored ?? 0;
  }

  /** Closes the socket (the session stays: `connect` again later). */
  disconnect() {
    this.stream?.stop();
    this.stream = null;
  }

  /** Drops the socket as a crash would: no goodbye, nothing more applied. */
  kill() {
    this.stream?.kill();
    this.stream = null;
  }

  private async apply(entry: StreamEntry) {
    await this.emit("entry", entry);
    switch (entry.type) {
      case "new_message":
      case "message_edited": {
        const message = await this.decrypt(entry.data.message, undefined, { position: entry.position });
        if (!message) return;
        await this.emit(entry.type === "new_message" ? "message" : "edited", message);
        // A receipt to the sender (and an acknowledgement of this entry).
        if (entry.type === "new_message" && !message.outgoing)
          this.trySend({ type: "message_delivered", data: { message_id: message.id } });
        return;
      }
      case "message_deleted":
        return this.emit("deleted", {
          messageId: entry.data.message_id,
          conversationId: entry.data.conversation_id,
          forEveryone: entry.data.deleted_for_everyone,
        });
      case "message_status_update":
        return this.emit("receipt", entry.data);
      case "message_viewed":
        return this.emit("viewed", {
          messageId: entry.data.message_id,
          conversationId: entry.data.conversation_id,
          userId: entry.data.user_id,
          deviceId: entry.data.device_id,
          timestamp: entry.data.timestamp,
        });
      case "message_expired":
        return this.emit("expired", {
          messageId: entry.data.message_id,
          conversationId: entry.data.conversation_id,
        });
      case "conversation_updated":
        this.directory.forget(entry.data.conversation_id);
        return this.emit("conversation", entry.data);
      case "contacts_updated":
        return this.emit("contact", entry.data);
      case "identity_changed":
        return this.directory.observe(
          entry.data.user_id,
          entry.data.device_id,
          entry.data.identity_key,
          "stream",
        );
      case "devices_changed": {
        const { user_id, reason, account_key, device } = entry.data;
        this.directory.forget();
        if (reason === "account_key_changed")
          await this.directory.pinAccount(user_id, account_key, device.device_id, "stream");
        if (user_id === this.userId && device.device_id === this.deviceId && reason === "device_linked")
          this.pending = false;
        return this.emit("devices_changed", {
          userId: user_id,
          reason,
          deviceId: device.device_id,
          thisDevice: user_id === this.userId && device.device_id === this.deviceId,
        });
      }
      case "prekeys_low":
        // Claims took this device's one-time prekeys below the mark (or spent the day's budget).
        void this.replenishPrekeys().catch(() => {});
        return;
      case "erased":
        return;
    }
  }

  private trySend(frame: Parameters<DeviceStream["send"]>[0]) {
    try {
      this.stream?.send(frame);
    } catch {
      // The socket is between connections: the entry is acknowledged with the next `ack` anyway.
    }
  }

  // ---- decrypting ---------------------------------------------------------------------------

  /**
   * Decrypts a message as the server gives it to this device (its own wrapped key only), which
   * uses that message's key up: it opens once. `position`: the stream position it came at (its
   * key is kept until that is stored); `peek`: open without using anything up, and report nothing
   * (history: a message already read does not open again, by design).
   */
  async decrypt(
    m: MessageEvent | Message,
    wrapped?: string,
    o: { position?: number; peek?: boolean } = {},
  ): Promise<ReceivedMessage | null> {
    const base: ReceivedMessage = {
      id: m.id,
      conversationId: m.conversation_id,
      seq: m.seq,
      senderId: m.sender_id,
      senderDeviceId: m.sender_device_id,
      outgoing: m.sender_id === this.userId,
      text: null,
      attachments: [],
      viewOnce: m.metadata.view_once,
      verified: false,
      createdAt: m.created_at,
      editedAt: m.edited_at,
      expiresAt: m.metadata.expires_at,
      encryptedContent: m.encrypted_content,
    };
    if (m.encrypted_content === null) return base;
    const mine = m.recipient_keys.find((k) => k.user_id === this.userId && k.device_id === this.deviceId);
    const encryptedKey = wrapped ?? mine?.encrypted_key;
    if (!encryptedKey) {
      if (m.metadata.view_once || o.peek) return base;
      await this.emit("undecryptable", {
        messageId: m.id,
        conversationId: m.conversation_id,
        reason: "no key for this device",
      });
      return null;
    }
    try {
      if (!m.sender_id || !m.sender_device_id) throw new Error("the message names no sending device");
      const senderKey = await this.directory.identityOf(m.sender_id, m.sender_device_id);
      const key = await this.sessions.unwrap(
        { userId: m.sender_id, deviceId: m.sender_device_id, identityKey: senderKey },
        encryptedKey,
        o,
      );
      const { body, verified } = openMessage(key, m.conversation_id, m.encrypted_content, senderKey);
      const envelope = JSON.parse(fromUtf8(body)) as Envelope;
      if (envelope.control) return null;
      return { ...base, text: envelope.text, attachments: envelope.attachments ?? [], verified };
    } catch (e) {
      if (o.peek) return base;
      // Already read (a delivery again after the position was stored, a replay): nothing to show.
      if (e instanceof SessionError && e.kind === "duplicate") return null;
      // This device sent it: it keeps no key for its own messages (forward secrecy).
      if (e instanceof SessionError && e.kind === "own_copy") return base;
      await this.emit("undecryptable", {
        messageId: m.id,
        conversationId: m.conversation_id,
        reason: String(e),
      });
      if (e instanceof SessionError && m.sender_id && m.sender_device_id)
        this.heal(m.conversation_id, `${m.sender_id}:${m.sender_device_id}`);
      return null;
    }
  }

  /** Opens a view-once message: its key is handed to this device once, then gone from the server. */
  async openViewOnce(message: ReceivedMessage): Promise<ReceivedMessage> {
    const got = ok(
      "open view-once",
      await this.api.POST("/api/v1/messages/{message_id}/open", {
        params: { path: { message_id: message.id } },
      }),
    );
    if (!message.encryptedContent) throw new Error("nothing to open: the message has no content");
    const opened = await this.decrypt(
      {
        id: message.id,
        conversation_id: message.conversationId,
        seq: message.seq,
        sender_id: message.senderId,
        sender_device_id: message.senderDeviceId,
        encrypted_content: message.encryptedContent,
        content_type: "text",
        metadata: {
          media_url: null,
          reply_to: null,
          is_ephemeral: false,
          ttl_seconds: null,
          view_once: true,
          expires_at: message.expiresAt,
          opened: true,
        },
        created_at: message.createdAt,
        edited_at: message.editedAt,
        is_deleted: false,
        recipient_keys: [],
      },
      got.encrypted_key,
    );
    if (!opened) throw new Error("the view-once message could not be decrypted");
    return opened;
  }

  // ---- sending ------------------------------------------------------------------------------

  /**
   * Encrypts once under a fresh key, wraps the key for every device of every member (this
   * account's other devices and this one included), and sends. When the server says the device
   * list changed (DEVICE_MISMATCH) or a device re-registered (STALE_DEVICES), re-fetches it and
   * sends again with the same client_message_id: the app never sees it.
   */
  async send(conversationId: string, text: string, o: SendOptions = {}): Promise<Message> {
    const attachments: AttachmentRef[] = [];
    for (const a of o.attachments ?? [])
      attachments.push(
        await uploadAttachment(this.api, a.bytes, {
          name: a.name,
          type: a.type ?? "application/octet-stream",
        }),
      );
    const envelope: Envelope = { v: 1, text, ...(attachments.length ? { attachments } : {}) };
    const key = randomKey();
    const content = sealMessage(this.identity, key, conversationId, utf8(JSON.stringify(envelope)));
    const clientMessageId = hex(randomBytes(16));
    return this.withDevices(conversationId, async (recipientKeys) =>
      this.api.POST("/api/v1/messages", {
        body: {
          conversation_id: conversationId,
          encrypted_content: content,
          content_type: o.contentType ?? (attachments.length ? "file" : "text"),
          recipient_keys: await recipientKeys(key),
          client_message_id: clientMessageId,
          is_ephemeral: o.ttlSeconds !== undefined,
          view_once: o.viewOnce ?? false,
          ...(o.ttlSeconds !== undefined ? { ttl_seconds: o.ttlSeconds } : {}),
          ...(o.replyTo ? { reply_to: o.replyTo } : {}),
          ...(attachments.length ? { attachment_ids: attachments.map((a) => a.id) } : {}),
        },
      }),
    );
  }

  /**
   * A message from a device did not open (this device lost its sessions, or theirs went wrong):
   * send a `session_reset` control message into the conversation, so that device gets a new
   * session (its next message to this one opens). At most once a minute per device.
   */
  private heal(conversationId: string, peer: string) {
    const now = (this.o.now ?? Date.now)();
    if (now - (this.healed.get(peer) ?? Number.NEGATIVE_INFINITY) < 60_000) return;
    this.healed.set(peer, now);
    this.stats.sessionResets++;
    const key = randomKey();
    const envelope: Envelope = { v: 1, text: "", control: "session_reset" };
    const content = sealMessage(this.identity, key, conversationId, utf8(JSON.stringify(envelope)));
    const clientMessageId = hex(randomBytes(16));
    void this.withDevices(conversationId, async (recipientKeys) =>
      this.api.POST("/api/v1/messages", {
        body: {
          conversation_id: conversationId,
          encrypted_content: content,
          content_type: "text",
          recipient_keys: await recipientKeys(key),
          client_message_id: clientMessageId,
          is_ephemeral: false,
          view_once: false,
        },
      }),
    ).catch((e) => this.emit("error", { code: "SESSION_RESET_FAILED", message: String(e) }));
  }

  /** Replaces a message's content (the sender's, within the edit window), newly encrypted. */
  async edit(conversationId: string, messageId: string, text: string): Promise<Message> {
    const key = randomKey();
    const content = sealMessage(this.identity, key, conversationId, utf8(JSON.stringify({ v: 1, text })));
    return this.withDevices(conversationId, async (recipientKeys) =>
      this.api.PUT("/api/v1/messages/{message_id}", {
        params: { path: { message_id: messageId } },
        body: { encrypted_content: content, recipient_keys: await recipientKeys(key) },
      }),
    );
  }

  /** Deletes a message for everyone (the sender, within the window) or for this account only. */
  async delete(messageId: string, forEveryone = true) {
    return ok(
      "delete message",
      await this.api.DELETE("/api/v1/messages/{message_id}", {
        params: { path: { message_id: messageId } },
        body: { delete_for_everyone: forEveryone },
      }),
    );
  }

  private async withDevices<T>(
    conversationId: string,
    call: (
      recipientKeys: (
        key: Uint8Array,
      ) => Promise<{ user_id: string; device_id: string; encrypted_key: string; registration_id?: number }[]>,
    ) => Promise<{ data?: T; error?: unknown; response: Response }>,
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const devices = await this.directory.devicesOf(conversationId, attempt > 1);
      // One ratchet message per device, the sessions stored before the request leaves.
      const res = await call(async (key) =>
        (await this.sessions.wrap(devices, key)).map((k, i) => {
          const registration = devices[i]!.registration_id;
          return { ...k, ...(registration !== null ? { registration_id: registration } : {}) };
        }),
      );
      const code = (res.error as { code?: string } | undefined)?.code;
      if (res.data === undefined && code && RETRIED.has(code) && attempt < SEND_ATTEMPTS) {
        this.stats.deviceListRefetches++;
        continue;
      }
      return ok("send", res);
    }
  }

  // ---- receipts, typing, conversations ------------------------------------------------------

  markRead(messageId: string) {
    this.trySend({ type: "message_read", data: { message_id: messageId } });
  }

  typing(conversationId: string, on = true) {
    this.trySend({ type: on ? "typing_start" : "typing_stop", data: { conversation_id: conversationId } });
  }

  async conversations() {
    return ok("conversations", await this.api.GET("/api/v1/conversations", { params: { query: {} } }))
      .conversations;
  }

  /** The 1:1 conversation with a user (created, or the existing one). */
  async startConversation(userId: string) {
    return ok(
      "create conversation",
      await this.api.POST("/api/v1/conversations", { body: { participant_id: userId } }),
    );
  }

  async findUser(query: string) {
    return ok(
      "search users",
      await this.api.GET("/api/v1/users/search", { params: { query: { q: query } } }),
    );
  }

  /**
   * A page of history (newest first, as the server pages it). Forward secrecy: a message this
   * device has already read does not open again (its key is gone), so it comes back with `text`
   * null; an app keeps what it showed. Messages not yet read open without being used up.
   */
  async history(conversationId: string, limit = 50): Promise<ReceivedMessage[]> {
    const page = ok(
      "history",
      await this.api.GET("/api/v1/messages/conversations/{conversation_id}/messages", {
        params: { path: { conversation_id: conversationId }, query: { limit } },
      }),
    );
    const out: ReceivedMessage[] = [];
    for (const m of page.messages) {
      const d = await this.decrypt(m, undefined, { peek: true });
      if (d) out.push(d);
    }
    return out;
  }

  /** Downloads an attachment a message carried, checks its digest and decrypts it. */
  download(ref: AttachmentRef, o: { attempts?: number } = {}) {
    return downloadAttachment(this.fetch, this.o.baseUrl, ref, o);
  }

  safetyNumber(userId: string) {
    return this.directory.safetyNumber(userId);
  }

  /**
   * Has the server wake this device through Web Push while no socket of it is open (docs/push.md):
   * `subscription` is what the push service gave when subscribed with the key of GET /push/vapid
   * (a browser's `PushSubscription.toJSON()`, or a UnifiedPush endpoint and its keys).
   */
  async registerPush(subscription: { endpoint: string; keys: { p256dh: string; auth: string } }) {
    ok("register push", await this.api.PUT("/api/v1/push/subscription", { body: subscription }));
  }

  /** No more wake-ups for this device. */
  async unregisterPush() {
    ok("unregister push", await this.api.DELETE("/api/v1/push/subscription", {}));
  }

  /** Ends this session on the server and forgets its tokens; the device keys stay. */
  async logout() {
    this.disconnect();
    const res = await this.api.POST("/api/v1/auth/logout", {});
    if (!res.response.ok && res.response.status !== 401)
      throw new HushError(res.response.status, null, "logout");
    await this.tokens.set(null);
  }
}
