import { sha256 } from "@noble/hashes/sha2.js";
import { b64, concat, hex, unb64, utf8 } from "./bytes.js";
import { type IdentityKeyPair, randomBytes, wrapKey } from "./crypto.js";
import { type Api, ok } from "./http.js";
import {
  type Bundle,
  decodePart,
  encodePart,
  initiate,
  Kind,
  kemKeyPair,
  type PrekeyPart,
  respond,
  wrappedBytes,
} from "./pqxdh.js";
import {
  initInitiator,
  initResponder,
  newKeyPair,
  RatchetError,
  type RatchetState,
  ratchetDecrypt,
  ratchetEncrypt,
} from "./ratchet.js";
import { type ClientStore, keys, type PrekeyRecord } from "./store.js";

/** A session with one device of another user (or another device of this account). */
export interface Session {
  /** The initiator's ephemeral key (base64): names the session in every first message. */
  id: string;
  initiator: boolean;
  /** The other side has been heard from in this session: first messages stop carrying `part`. */
  confirmed: boolean;
  ad: string;
  /** The encoded prekey part, sent in front of each message until `confirmed`. */
  part: string | null;
  ratchet: RatchetState;
}

interface Peer {
  /** The identity key the sessions were made with: a new one (a reinstall) starts afresh. */
  identityKey: string;
  /** Newest first; [0] is the one messages are sent in. */
  sessions: Session[];
  /** Something from this device did not open: the next message to it starts a new session. */
  broken?: boolean;
  /**
   * When its bundle had no signed prekey (a client that does not run sessions): it gets the v1
   * wrap until a claim a day later finds one. Never once a session with it existed.
   */
  legacySince?: number;
}

interface SessionsRecord {
  peers: Record<string, Peer>;
  /**
   * Content keys of messages opened but whose stream position is not stored yet, with that
   * position: a crash before then delivers the message again, and it must still open. Dropped as
   * soon as the position is stored (`released`).
   */
  opened: [ref: string, key: string, position: number][];
}

/** Old sessions kept per device, for messages still on their way in them. */
const SESSIONS_KEPT = 3;
/** How long a device without a signed prekey is taken at its word before its bundle is claimed again. */
const LEGACY_RECHECK_MS = 86_400_000;

export class SessionError extends Error {
  constructor(
    /** `duplicate`: already opened (ignored); the others are reported as undecryptable. */
    readonly kind: "duplicate" | "own_copy" | "too_far" | "bad_message" | "no_session" | "unknown_sender",
    message: string,
  ) {
    super(message);
  }
}

const peerKey = (userId: string, deviceId: string) => `${userId}:${deviceId}`;
/** A wrapped key's name in the `opened` list: not the key, a digest of the message carrying it. */
const refOf = (encryptedKey: string) => hex(sha256(utf8(encryptedKey))).slice(0, 32);

/** The v1 wrap for the long-term identity key, for a device that runs no sessions (docs/client.md). */
const legacyWrap = (d: Target, key: Uint8Array) => ({
  user_id: d.user_id,
  device_id: d.device_id,
  encrypted_key: b64(
    concat(new Uint8Array([Kind.Legacy]), unb64(wrapKey(key, d.identity_key, d.user_id, d.device_id))),
  ),
});

export interface Target {
  user_id: string;
  device_id: string;
  identity_key: string;
}

/**
 * This device's PQXDH + Double Ratchet sessions (pqxdh.ts, ratchet.ts), one per device it talks
 * to, kept in the store under `sessions` and written before anything depends on them: before a
 * wrapped key leaves, and before the stream position of a message that was opened is stored.
 * Every operation runs alone (one queue), since sending and receiving share the same states.
 */
export class Sessions {
  private queue: Promise<unknown> = Promise.resolve();
  private record: SessionsRecord | null = null;
  readonly stats = { sessionsStarted: 0, sessionsAccepted: 0 };

  constructor(
    private readonly o: {
      api: Api;
      store: ClientStore;
      identity: IdentityKeyPair;
      userId: string;
      deviceId: string;
      now: () => number;
    },
  ) {}

  private run<T>(f: () => Promise<T>): Promise<T> {
    const next = this.queue.then(f, f);
    this.queue = next.catch(() => {});
    return next;
  }

  /** Runs `f` alone with the sessions (the prekey record is shared with the first messages). */
  exclusive<T>(f: () => Promise<T>) {
    return this.run(f);
  }

  private async state() {
    this.record ??= (await this.o.store.get<SessionsRecord>(keys.sessions)) ?? {
      peers: {},
      opened: [],
    };
    return this.record;
  }

  private save(r: SessionsRecord) {
    this.record = r;
    return this.o.store.set(keys.sessions, r);
  }

  private get me() {
    return peerKey(this.o.userId, this.o.deviceId);
  }

  /** Wraps `key` for every device: one ratchet message each, sessions started where needed. */
  wrap(devices: Target[], key: Uint8Array) {
    return this.run(async () => {
      const r = structuredClone(await this.state());
      const out: { user_id: string; device_id: string; encrypted_key: string }[] = [];
      for (const d of devices) {
        const name = peerKey(d.user_id, d.device_id);
        let message: Uint8Array;
        if (name === this.me) {
          // The server asks a key for every device, the sender's too; this device keeps what it
          // sent itself (or not), so its copy is noise: nothing here could open it later.
          message = concat(new Uint8Array([Kind.Self]), randomBytes(32));
        } else {
          let peer = r.peers[name];
          const legacy =
            peer?.identityKey === d.identity_key &&
            peer.legacySince !== undefined &&
            this.o.now() - peer.legacySince < LEGACY_RECHECK_MS;
          if (!legacy && (!peer || peer.broken || peer.identityKey !== d.identity_key || !peer.sessions[0])) {
            const session = await this.start(
              d,
              peer?.identityKey === d.identity_key && peer.sessions.length > 0,
            );
            if (!session) {
              r.peers[name] = { identityKey: d.identity_key, sessions: [], legacySince: this.o.now() };
              out.push(legacyWrap(d, key));
              continue;
            }
            peer = {
              identityKey: d.identity_key,
              sessions: [session, ...(peer?.identityKey === d.identity_key ? peer.sessions : [])].slice(
                0,
                SESSIONS_KEPT,
              ),
            };
            r.peers[name] = peer;
          }
          if (legacy) {
            out.push(legacyWrap(d, key));
            continue;
          }
          const s = peer!.sessions[0]!;
          const sent = ratchetEncrypt(s.ratchet, key, unb64(s.ad));
          s.ratchet = sent.state;
          message = wrappedBytes(sent.message, s.part ? unb64(s.part) : null);
        }
        out.push({ user_id: d.user_id, device_id: d.device_id, encrypted_key: b64(message) });
      }
      // Stored before any of these leave: a message key is never derived twice.
      await this.save(r);
      return out;
    });
  }

  /**
   * Claims the device's bundle and runs the initiator's half of PQXDH (X3DH without a KEM key).
   * Null: the device publishes no signed prekey (it does not run sessions) and never had one here.
   */
  private async start(d: Target, hadSession: boolean): Promise<Session | null> {
    const { devices } = ok(
      "claim prekeys",
      await this.o.api.POST("/api/v1/keys/claim", { body: { user_id: d.user_id, device_id: d.device_id } }),
    );
    const bundle = devices.find((b) => b.device_id === d.device_id) as Bundle | undefined;
    if (!bundle) throw new Error(`no prekey bundle for ${d.user_id}/${d.device_id}`);
    if (bundle.identity_key !== d.identity_key)
      throw new Error(
        `the bundle of ${d.user_id}/${d.device_id} names another identity key than the trusted one`,
      );
    // A device that ran a session here does not lose its signed prekey: no falling back to the v1 wrap.
    if (!bundle.signed_prekey && !hadSession) return null;
    const started = initiate(this.o.identity, unb64(d.identity_key), bundle);
    this.stats.sessionsStarted++;
    return {
      id: b64(started.part.ek),
      initiator: true,
      confirmed: false,
      ad: b64(started.ad),
      part: b64(encodePart(started.part)),
      ratchet: initInitiator(started.sk, started.theirRatchetKey),
    };
  }

  /**
   * Opens a wrapped key from `sender` (whose identity key the directory trusts). `position`: the
   * stream position the message came at (its key is kept until that position is stored); `peek`:
   * open without consuming anything (history), nothing is stored.
   */
  unwrap(
    sender: { userId: string; deviceId: string; identityKey: string | undefined },
    encryptedKey: string,
    o: { position?: number; peek?: boolean } = {},
  ): Promise<Uint8Array> {
    return this.run(async () => {
      const current = await this.state();
      const ref = refOf(encryptedKey);
      const kept = current.opened.find((x) => x[0] === ref);
      if (kept) return unb64(kept[1]);
      const r = structuredClone(current);
      const name = peerKey(sender.userId, sender.deviceId);
      const bytes = unb64(encryptedKey);
      let key: Uint8Array;
      let usedPrekeys: PrekeyPart | null = null;
      try {
        if (bytes[0] === Kind.Self) {
          if (name !== this.me)
            throw new SessionError("bad_message", "a sender's own copy, under another name");
          throw new SessionError("own_copy", "this device's own copy of what it sent: not kept");
        } else {
          if (!sender.identityKey)
            throw new SessionError("unknown_sender", "the sending device's identity key is not known");
          let peer = r.peers[name];
          if (peer && peer.identityKey !== sender.identityKey) peer = undefined;
          peer ??= { identityKey: sender.identityKey, sessions: [] };
          r.peers[name] = peer;
          ({ key, usedPrekeys } = await this.open(peer, name, bytes, sender.identityKey));
          peer.broken = false;
        }
      } catch (e) {
        const err =
          e instanceof SessionError
            ? e
            : e instanceof RatchetError
              ? new SessionError(e.kind, e.message)
              : new SessionError("bad_message", e instanceof Error ? e.message : String(e));
        if (!["duplicate", "own_copy"].includes(err.kind) && !o.peek) {
          // Heal: the next message to that device starts a new session.
          const peer = current.peers[name];
          if (peer) {
            peer.broken = true;
            await this.save(current);
          }
        }
        throw err;
      }
      if (o.peek) return key;
      if (o.position !== undefined) r.opened.push([ref, b64(key), o.position]);
      await this.save(r);
      if (usedPrekeys) await this.forgetPrekeys(usedPrekeys);
      return key;
    });
  }

  /** Opens a message in one of the peer's sessions, or in a new one its prekey part starts. */
  private async open(peer: Peer, name: string, bytes: Uint8Array, identityKey: string) {
    const now = this.o.now();
    let rest = bytes.subarray(1);
    let part: PrekeyPart | null = null;
    if (bytes[0] === Kind.Prekey) ({ part, rest } = decodePart(rest));
    else if (bytes[0] !== Kind.Message) throw new SessionError("bad_message", "unknown message kind");
    const known = part ? peer.sessions.filter((s) => s.id === b64(part!.ek)) : peer.sessions;
    let failure: RatchetError | null = null;
    for (const s of known) {
      try {
        const got = ratchetDecrypt(s.ratchet, rest, unb64(s.ad), now);
        s.ratchet = got.state;
        // Hearing from them in a session this device started means they have it: no more prekey part.
        s.confirmed = true;
        s.part = null;
        return { key: got.plaintext, usedPrekeys: null };
      } catch (e) {
        if (!(e instanceof RatchetError)) throw e;
        if (!failure || e.kind === "duplicate") failure = e;
      }
    }
    if (!part || known.length) throw failure ?? new SessionError("no_session", "no session with this device");
    // A new session from their first message.
    const prekeys = await this.o.store.get<PrekeyRecord>(keys.prekeys);
    const secret = (v: string | undefined) => (v ? unb64(v) : null);
    const agreed = respond(this.o.identity, unb64(identityKey), part, {
      signed: (id) => (prekeys?.signed?.keyId === id ? secret(prekeys.signed.secretKey) : null),
      oneTime: (id) => secret(prekeys?.oneTime[id]),
      kem: (id) => {
        const seed = prekeys?.kemLastResort?.keyId === id ? prekeys.kemLastResort.seed : prekeys?.kem?.[id];
        return seed ? kemKeyPair(unb64(seed)).secretKey : null;
      },
    });
    const spk = newKeyPair(agreed.signedPrekey);
    const got = ratchetDecrypt(initResponder(agreed.sk, spk), rest, agreed.ad, now);
    const session: Session = {
      id: b64(part.ek),
      initiator: false,
      confirmed: true,
      ad: b64(agreed.ad),
      part: null,
      ratchet: got.state,
    };
    this.stats.sessionsAccepted++;
    // Both sides started at once: each keeps the session the lower of the two device names began,
    // so they converge on one; the other stays for messages already sent in it.
    const active = peer.sessions[0];
    const keepMine = active?.initiator && !active.confirmed && this.me < name;
    peer.sessions = (
      keepMine ? [active!, session, ...peer.sessions.slice(1)] : [session, ...peer.sessions]
    ).slice(0, SESSIONS_KEPT);
    return { key: got.plaintext, usedPrekeys: part };
  }

  /** A one-time EC or KEM prekey opens one session only: its secret goes once used. */
  private async forgetPrekeys(part: PrekeyPart) {
    const prekeys = await this.o.store.get<PrekeyRecord>(keys.prekeys);
    if (!prekeys) return;
    let changed = false;
    if (part.opkId !== null && prekeys.oneTime[part.opkId] !== undefined) {
      delete prekeys.oneTime[part.opkId];
      changed = true;
    }
    if (part.kemId !== null && prekeys.kem?.[part.kemId] !== undefined) {
      delete prekeys.kem[part.kemId];
      changed = true;
    }
    if (changed) await this.o.store.set(keys.prekeys, prekeys);
  }

  /** The id of the session messages to that device go in (its initiator's base key), if any: for a debug screen. */
  activeWith(userId: string, deviceId: string) {
    return this.run(
      async () => (await this.state()).peers[peerKey(userId, deviceId)]?.sessions[0]?.id ?? null,
    );
  }

  /** The stream position `position` is stored: the keys kept for messages up to it go. */
  released(position: number) {
    return this.run(async () => {
      const r = await this.state();
      if (!r.opened.some((x) => x[2] <= position)) return;
      await this.save({ ...r, opened: r.opened.filter((x) => x[2] > position) });
    });
  }
}
