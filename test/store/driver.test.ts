import type { Socket } from "node:net";
import { MongoClient, MongoNetworkError } from "mongodb";
// The driver's own connection and namespace helper: the test reaches past the public API to the
// one place patches/mongodb+7.8.0.patch changes.
import { ns } from "mongodb/lib/utils.js";
import { afterAll, beforeAll, expect, inject, it } from "vitest";

/*
 * A store that drops its connections (a restart, a failover, a network blip) must not leave a
 * server process unable to reach it ever again. The driver (7.8.0, and 7.9.1 the same) wrote a
 * command to a socket Node had already destroyed (the peer ended it, and Node destroys the socket
 * before its 'close' event tells the driver), got `false` back, and waited for a 'drain' that a
 * destroyed socket never emits. When that command was the monitor's heartbeat, the monitor waited
 * forever, the store stayed "Unknown", and every operation failed server selection until the
 * process restarted: seen in test/integration/realtime-scale-out.test.ts under load. The patch fails
 * the command with a network error instead, as the driver does for any closed connection.
 *
 * Forced here: the socket of an idle pooled connection is destroyed, and a command goes out on it
 * before the 'close' event can run.
 */
type Conn = {
  socket: Socket;
  closed: boolean;
  command(ns: unknown, cmd: object, o: object): Promise<unknown>;
};
type Internals = { topology: { s: { servers: Map<string, { pool: { connections: Iterable<Conn> } }> } } };

let client: MongoClient;
beforeAll(async () => {
  client = await new MongoClient(inject("mongoUri"), { serverSelectionTimeoutMS: 5_000 }).connect();
});
afterAll(() => client?.close());

it("a command on a connection whose socket is already destroyed fails at once instead of waiting forever", async () => {
  await client.db("admin").command({ ping: 1 });
  const servers = (client as unknown as Internals).topology.s.servers;
  const conn = [...servers.values()].flatMap((s) => [...s.pool.connections])[0];
  expect(conn).toBeDefined();
  conn!.socket.destroy();
  expect(conn!.closed).toBe(false); // the driver has not heard yet
  const outcome = await Promise.race([
    conn!.command(ns("admin.$cmd"), { ping: 1 }, {}).then(
      () => "answered",
      (e: unknown) => e,
    ),
    new Promise((r) => setTimeout(() => r("still waiting after 3 s"), 3_000)),
  ]);
  expect(outcome).toBeInstanceOf(MongoNetworkError);
  expect(conn!.closed).toBe(true);
  // and the client goes on with a new connection
  expect(await client.db("admin").command({ ping: 1 })).toMatchObject({ ok: 1 });
});
