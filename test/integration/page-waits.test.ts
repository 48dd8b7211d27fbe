import type { CommandStartedEvent } from "mongodb";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { group, newAccount, send } from "../helpers/e2e.js";
import { type Hush, signUp, startHush } from "../helpers/hush.js";
import { hostOf, startProxy } from "../helpers/proxy.js";
import { requestOrigin } from "../helpers/query-watch.js";
import { connect } from "../helpers/ws.js";

/*
 * A page costs its store round trips one after another: each wait is a round trip however fast
 * the store. A proxy holds every reply of the store for DELAY ms, so a query that needs another's
 * answer starts at least DELAY after it (countWaits). Counted from the driver's own command events
 * of one request.
 */
const DELAY = 150;

let h: Hush;
let proxy: Awaited<ReturnType<typeof startProxy>>;
beforeAll(async () => {
  proxy = await startProxy(hostOf(inject("mongoUri")));
  h = await startHush({}, { uri: `mongodb://127.0.0.1:${proxy.port}/?directConnection=true` });
});
afterAll(async () => {
  await h?.close();
  await proxy?.close();
});

/**
 * How many store round trips a request to `route` waited for, one after another. Every reply comes
 * DELAY ms after its query, so a query sent once another's answer is in starts at least DELAY after
 * the request's first query: a query started k DELAYs after the first belongs to the request's
 * (k+1)th wait. (Counting stretches with a query in flight, as this did before, merged two waits
 * whenever a reply of the first straggled past the start of the second.)
 */
function countWaits(h: Hush, route: string) {
  const commands: string[] = [];
  let first: number | undefined;
  let waits = 0;
  const started = (e: CommandStartedEvent) => {
    if (requestOrigin.getStore() !== route) return;
    commands.push(`${e.commandName} ${e.command[e.commandName]}`);
    first ??= performance.now();
    waits = Math.max(waits, 1 + Math.floor((performance.now() - first) / DELAY));
  };
  const client = h.deps.store.client;
  client.on("commandStarted", started);
  return {
    waits: () => waits,
    /** The request's commands, as "find messages". */
    commands: () => commands,
    stop: () => {
      client.off("commandStarted", started);
    },
  };
}

describe("the conversation list's waits on the store", () => {
  it("reads a page with faces, blocks and presence in 4 waits: session, memberships, conversations, people", async () => {
    const [me, friend, stranger] = [await signUp(h), await signUp(h), await signUp(h)];
    const befriend = await h.req("POST", "/api/v1/contacts", {
      token: me.token,
      body: { user_id: friend.id },
    });
    expect(befriend.status).toBe(201);
    expect((await h.req("POST", `/api/v1/contacts/${me.id}/accept`, { token: friend.token })).status).toBe(
      200,
    );
    for (const other of [friend, stranger]) {
      const made = await h.req("POST", "/api/v1/conversations", {
        token: me.token,
        body: { participant_id: other.id },
      });
      expect(made.status).toBe(201);
    }
    const group = await h.req("POST", "/api/v1/conversations/groups", {
      token: me.token,
      body: { name: "three", participant_ids: [friend.id, stranger.id] },
    });
    expect(group.status).toBe(201);
    const online = await connect(h, friend.token);
    // Warm the driver's pool, so that queries run together find a connection each without a handshake.
    for (let i = 0; i < 3; i++)
      expect((await h.req("GET", "/api/v1/conversations", { token: me.token })).status).toBe(200);

    proxy.delayMs = DELAY;
    const watch = countWaits(h, "GET /api/v1/conversations");
    const list = await h.req("GET", "/api/v1/conversations", { token: me.token });
    watch.stop();
    proxy.delayMs = 0;

    expect(list.status).toBe(200);
    expect(list.body.total).toBe(3);
    const faces = list.body.conversations.flatMap(
      (c: { participants: { user_id: string; online: boolean }[] }) => c.participants,
    );
    // The page did read presence: the friend (a contact who shares it) shows online, the stranger not.
    expect(
      faces
        .filter((p: { user_id: string }) => p.user_id === friend.id)
        .every((p: { online: boolean }) => p.online),
    ).toBe(true);
    expect(
      faces.some((p: { user_id: string; online: boolean }) => p.user_id === stranger.id && p.online),
    ).toBe(false);
    expect(watch.waits()).toBeLessThanOrEqual(4);
    await online.client.close();
  });
});

describe("a history page's waits on the store", () => {
  const route = "GET /api/v1/messages/conversations/{conversation_id}/messages";
  const page = async (reader: { token: string }, conversation: string, query: string, warm = 3) => {
    const path = `/api/v1/messages/conversations/${conversation}/messages?limit=3${query}`;
    for (let i = 0; i < warm; i++)
      expect((await h.req("GET", path, { token: reader.token })).status).toBe(200);
    proxy.delayMs = DELAY;
    const watch = countWaits(h, route);
    const res = await h.req("GET", path, { token: reader.token });
    watch.stop();
    proxy.delayMs = 0;
    expect(res.status).toBe(200);
    return {
      ids: res.body.messages.map((m: { id: string }) => m.id),
      waits: watch.waits(),
      commands: watch.commands(),
    };
  };

  it("reads the newest page in 1 wait (session, membership, messages, marks and keys at once), a page at a cursor it served in 1, and at another cursor in 2", async () => {
    const [sender, reader, other] = [await newAccount(h), await newAccount(h), await newAccount(h)];
    const g = await group(h, sender, [reader, other]);
    const ids: string[] = [];
    for (let n = 0; n < 8; n++) {
      const sent = await send(h, sender, g, `m${n}`);
      expect(sent.res.status).toBe(201);
      ids.push(sent.res.body.id);
    }

    const newest = await page(reader, g, "");
    expect(newest.ids).toEqual(ids.slice(-3));
    expect(newest.waits).toBeLessThanOrEqual(1);
    // A member who never deleted a message for themselves has no marks to read.
    expect(newest.commands).toContain("find messages");
    expect(newest.commands).not.toContain("find message_marks");
    // The oldest message of the page just served: its position is known, so the reads start at
    // once, from the cursor.
    const before = await page(reader, g, `&before=${ids[5]}`);
    expect(before.ids).toEqual(ids.slice(2, 5));
    expect(before.waits).toBeLessThanOrEqual(1);
    const after = await page(reader, g, `&after=${ids[2]}`);
    expect(after.ids).toEqual(ids.slice(3, 6));
    expect(after.waits).toBeLessThanOrEqual(1);
    // The page's read of messages starts at the cursor and so tells whether it is still there: the
    // cursor costs no lookup of its own.
    const finds = (commands: string[]) => commands.filter((c) => c === "find messages");
    expect(finds(before.commands)).toHaveLength(1);
    expect(finds(after.commands)).toHaveLength(1);
    // A message at no end of a page served: its position comes from its lookup, a wait of its own.
    const unseen = await page(reader, g, `&before=${ids[6]}`, 0);
    expect(unseen.ids).toEqual(ids.slice(3, 6));
    expect(unseen.waits).toBe(2);
    expect(finds(unseen.commands)).toHaveLength(2);

    // Once they delete one for themselves, their pages read their marks, once the membership says
    // so (a second wait), one more message to fill the page, with its marks (a third), and the keys
    // of that message, which the first keys read may not hold (a fourth). The marks' wait overlaps
    // the first when its replies straggle, so a run may count 3.
    const hid = await h.req("DELETE", `/api/v1/messages/${ids[6]}`, {
      token: reader.token,
      body: { delete_for_everyone: false },
    });
    expect(hid.status).toBe(200);
    const hiding = await page(reader, g, "");
    expect(hiding.ids).toEqual([ids[4], ids[5], ids[7]]);
    expect(hiding.commands).toContain("find message_marks");
    expect(hiding.waits).toBeLessThanOrEqual(4);
  });
});
