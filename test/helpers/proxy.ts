import { createConnection, createServer, type Socket } from "node:net";

/**
 * A TCP proxy in front of the real database: cutting it is how a test takes the database away from
 * a running server, whatever store the run uses.
 */
export async function startProxy(target: { host: string; port: number }) {
  const sockets = new Set<Socket>();
  let open = true;
  const server = createServer((client) => {
    if (!open) return client.destroy();
    const upstream = createConnection(target);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {});
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    /** Drops every connection and refuses new ones, as a stopped database would. */
    cut() {
      open = false;
      for (const s of sockets) s.destroy();
    },
    /** Accepts connections again, as a database back from an outage would. */
    restore() {
      open = true;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** Host and port of a mongodb:// URI with one host. */
export function hostOf(uri: string) {
  const m = /^mongodb:\/\/(?:[^@/]*@)?([^:/,]+):(\d+)/.exec(uri);
  if (!m) throw new Error(`cannot proxy ${uri}`);
  return { host: m[1]!, port: Number(m[2]) };
}
