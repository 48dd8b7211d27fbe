import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  addDevice,
  type Device,
  decrypt,
  devicesIn,
  direct,
  encrypt,
  group,
  newAccount,
  send,
  wire,
} from "../helpers/e2e.js";
import { type Hush, startHush } from "../helpers/hush.js";
import { type Client, connect } from "../helpers/ws.js";

let h: Hush;
beforeAll(async () => {
  h = await startHush();
});
afterAll(() => h?.close());

const open = async (d: Device) => (await connect(h, d.token)).client;
/** What a socket got of these types so far; a pong comes after anything queued before the ping. */
async function settled(c: Client, ...types: Parameters<Client["seen"]>) {
  await c.ask({ type: "ping" }, "pong");
  return c.seen(...types);
}

describe("messages as stream entries", () => {
  it("every device of every member gets the message with its own key only; the sending device gets none", async () => {
    const a = await newAccount(h);
    const aLaptop = await addDevice(h, a);
    const b = await newAccount(h);
    const bTablet = await addDevice(h, b);
    const id = await direct(h, a, b);
    const sockets = new Map<Device, Client>();
    for (const d of [a, aLaptop, b, bTablet]) sockets.set(d, await open(d));

    const { res } = await send(h, a, id, "hello there");
    expect(res.status).toBe(201);
    for (const d of [aLaptop, b, bTablet]) {
      const entry = await sockets.get(d)!.next("new_message");
      expect(entry.data.message).toMatchObject({ id: res.body.id, conversation_id: id, sender_id: a.userId });
      expect(decrypt(d, entry.data.message as any)).toBe("hello there");
    }
    expect(await settled(sockets.get(a)!, "new_message")).toEqual([]);
    for (const c of sockets.values()) await c.close();
  });

  it("edits, deletions for everyone and membership changes arrive as entries; deleted copies are erased", async () => {
    const [a, b, c] = [await newAccount(h), await newAccount(h), await newAccount(h)];
    const id = await group(h, a, [b]);
    const bs = await open(b);
    const { res } = await send(h, a, id, "first draft");
    const created = await bs.next("new_message");

    const edit = await h.req("PUT", `/api/v1/messages/${res.body.id}`, {
      token: a.token,
      body: wire("second draft", await devicesIn(h, a, id)),
    });
    expect(edit.status).toBe(200);
    const edited = await bs.next("message_edited");
    expect(edited.position).toBeGreaterThan(created.position);
    expect(decrypt(b, edited.data.message as any)).toBe("second draft");

    const del = await h.req("DELETE", `/api/v1/messages/${res.body.id}`, {
      token: a.token,
      body: { delete_for_everyone: true },
    });
    expect(del.status).toBe(200);
    const deleted = await bs.next("message_deleted");
    expect(deleted.data).toEqual({
      message_id: res.body.id,
      conversation_id: id,
      deleted_for_everyone: true,
    });
    // The stream's copies of the ciphertext went with it: what a device syncing now finds.
    const page = await bs.ask({ type: "sync", data: { since: 0 } }, "sync_result");
    const byPosition = new Map(page.data.entries.map((e) => [e.position, e]));
    expect(byPosition.get(created.position)?.type).toBe("erased");
    expect(byPosition.get(edited.position)?.type).toBe("erased");
    expect(JSON.stringify(page.data)).not.toContain((created.data.message as any).encrypted_content);

    const add = await h.req("POST", `/api/v1/conversations/${id}/members`, {
      token: a.token,
      body: { user_id: c.userId },
    });
    expect(add.status).toBe(201);
    expect((await bs.next("conversation_updated")).data).toEqual({
      conversation_id: id,
      reason: "member_added",
      user_id: c.userId,
    });
    const remove = await h.req("DELETE", `/api/v1/conversations/${id}/members/${c.userId}`, {
      token: a.token,
    });
    expect(remove.status).toBe(204);
    expect((await bs.next("conversation_updated")).data).toMatchObject({ reason: "member_removed" });
    await bs.close();
  });

  it("message_delivered sends the sender a receipt and acknowledges the device's stream up to it", async () => {
    const [a, b] = [await newAccount(h), await newAccount(h)];
    const id = await direct(h, a, b);
    const as = await open(a);
    const bs = await open(b);
    const { res } = await send(h, a, id, "did you get this?");
    const arrived = await bs.next("new_message");
    bs.send({ type: "message_delivered", data: { message_id: res.body.id } });
    const receipt = await as.next("message_status_update");
    expect(receipt.data).toMatchObject({
      message_id: res.body.id,
      status: "delivered",
      user_id: b.userId,
      device_id: b.deviceId,
    });
    const page = await bs.ask({ type: "sync", data: { since: 0 } }, "sync_result");
    expect(page.data.entries.filter((e) => e.position <= arrived.position)).toEqual([]);

    bs.send({ type: "message_read", data: { message_id: res.body.id } });
    expect((await as.next("message_status_update")).data).toMatchObject({
      status: "read",
      user_id: b.userId,
    });
    await as.close();
    await bs.close();
  });
});

describe("sending over the socket", () => {
  it("is answered by message_ack with the body POST /messages answers, and the recipient gets it", async () => {
    const [a, b] = [await newAccount(h), await newAccount(h)];
    const id = await direct(h, a, b);
    const as = await open(a);
    const bs = await open(b);
    const sealed = encrypt("over the socket", await devicesIn(h, a, id));
    const body = {
      conversation_id: id,
      encrypted_content: sealed.encrypted_content,
      recipient_keys: sealed.recipient_keys,
      client_message_id: "socket-1",
    };
    const ack = await as.ask({ type: "send_message", data: body }, "message_ack");
    expect(ack.data).toMatchObject({ client_message_id: "socket-1", replay: false });
    expect(decrypt(b, (await bs.next("new_message")).data.message as any)).toBe("over the socket");

    // The same as the REST route would have answered: compare with the history's copy.
    const history = await h.req("GET", `/api/v1/messages/conversations/${id}/messages`, { token: a.token });
    expect(history.body.messages[0]).toEqual(ack.data.message);

    // A retry with the same client_message_id stores nothing new.
    const again = await as.ask({ type: "send_message", data: body }, "message_ack");
    expect(again.data).toMatchObject({ replay: true, message: { id: ack.data.message.id } });
    expect(await settled(bs, "new_message")).toEqual([]);
    await as.close();
    await bs.close();
  });

  it("fails with the REST error's code and fields, DEVICE_MISMATCH included", async () => {
    const [a, b] = [await newAccount(h), await newAccount(h)];
    const bLaptop = await addDevice(h, b);
    const id = await direct(h, a, b);
    const as = await open(a);
    const onlyPhone = (await devicesIn(h, a, id)).filter((d) => d.device_id !== bLaptop.deviceId);
    const sealed = encrypt("half the devices", onlyPhone);
    const body = {
      conversation_id: id,
      encrypted_content: sealed.encrypted_content,
      recipient_keys: sealed.recipient_keys,
      client_message_id: "mismatch-1",
    };
    const rest = await h.req("POST", "/api/v1/messages", { token: a.token, body });
    const socket = await as.ask({ type: "send_message", data: body }, "error");
    expect(rest.status).toBe(409);
    const { detail, ...restError } = rest.body;
    expect(socket.data).toEqual({
      message: detail,
      ...restError,
      in_reply_to: "send_message",
      client_message_id: "mismatch-1",
    });
    expect(socket.data.missing_devices).toEqual([{ user_id: b.userId, device_id: bLaptop.deviceId }]);

    const bad = { ...body, conversation_id: "nope", client_message_id: "bad-1" };
    const restBad = await h.req("POST", "/api/v1/messages", { token: a.token, body: bad });
    const socketBad = await as.ask({ type: "send_message", data: bad }, "error");
    expect(restBad.status).toBe(400);
    expect(socketBad.data).toMatchObject({ code: restBad.body.code, fields: restBad.body.fields });

    const outsider = await newAccount(h);
    const os = await open(outsider);
    const notMine = await os.ask(
      { type: "send_message", data: { ...body, client_message_id: "x-1" } },
      "error",
    );
    const restNotMine = await h.req("POST", "/api/v1/messages", {
      token: outsider.token,
      body: { ...body, client_message_id: "x-2" },
    });
    expect(notMine.data.code).toBe(restNotMine.body.code);
    await as.close();
    await os.close();
  });
});

describe("typing", () => {
  it("reaches the conversation's other members, not the typer, not someone who blocked them", async () => {
    const [a, b, c, d] = [await newAccount(h), await newAccount(h), await newAccount(h), await newAccount(h)];
    const id = await group(h, a, [b, c]);
    expect((await h.req("POST", `/api/v1/users/${a.userId}/block`, { token: c.token })).status).toBe(204);
    const [as, bs, cs, ds] = [await open(a), await open(b), await open(c), await open(d)];
    as.send({ type: "typing_start", data: { conversation_id: id } });
    expect((await bs.next("typing_indicator")).data).toEqual({
      conversation_id: id,
      user_id: a.userId,
      is_typing: true,
    });
    as.send({ type: "typing_stop", data: { conversation_id: id } });
    expect((await bs.next("typing_indicator")).data.is_typing).toBe(false);
    expect(await settled(as, "typing_indicator")).toEqual([]);
    expect(await settled(cs, "typing_indicator")).toEqual([]);
    expect(await settled(ds, "typing_indicator")).toEqual([]);
    // Someone outside the conversation is told it does not exist, as REST would.
    const refused = await ds.ask({ type: "typing_start", data: { conversation_id: id } }, "error");
    expect(refused.data).toMatchObject({ code: "NOT_FOUND", in_reply_to: "typing_start" });
    for (const s of [as, bs, cs, ds]) await s.close();
  });
});
