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
    client.pipe(upstream);
    // Replies pass on in order, each once `delayMs` has passed since it came: a slow store's round trip.
    const held = inOrder<Buffer | null>((chunk) => (chunk ? client.write(chunk) : client.end()));
    upstream.on("data", (chunk: Buffer) => held.push(chunk, proxy.delayMs));
    upstream.on("end", () => held.push(null, 0));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as { port: number }).port;
  const proxy = {
    port,
    /** How long each reply from the database waits before it is passed on (0: not at all). */
    delayMs: 0,
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
  return proxy;
}

/** Passes each item to `out` in the order pushed, none before its own delay has passed. */
function inOrder<T>(out: (item: T) => void) {
  const queue: { item: T; at: number }[] = [];
  let timer: NodeJS.Timeout | null = null;
  const drain = () => {
    timer = null;
    while (queue.length && queue[0]!.at <= Date.now()) out(queue.shift()!.item);
    if (queue.length) timer = setTimeout(drain, queue[0]!.at - Date.now());
  };
  return {
    push(item: T, delayMs: number) {
      queue.push({ item, at: Date.now() + delayMs });
      if (!timer) drain();
    },
  };
}

/** Host and port of a mongodb:// URI with one host. */
export function hostOf(uri: string) {
  const m = /^mongodb:\/\/(?:[^@/]*@)?([^:/,]+):(\d+)/.exec(uri);
  if (!m) throw new Error(`cannot proxy ${uri}`);
  return { host: m[1]!, port: Number(m[2]) };
}
