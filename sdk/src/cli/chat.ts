import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { createInterface } from "node:readline";
import { FileStore, HushClient, type ReceivedMessage } from "../node.js";
import { chatFetch, rememberServer, serverFor } from "./server.js";

/*
 * A command-line chat on the SDK. Lines in, lines out, so a person can use it in a terminal and a
 * program (a test) can drive it through stdin/stdout. USAGE below says how to start it.
 */

const USAGE = `usage: npm run chat -- [--server URL] [--dir DIR] [COMMAND]

  signup EMAIL USERNAME [--device ID] [--name "FULL NAME"]   a new account, this device its first
  login EMAIL [--device ID]                                  this device on an existing account
  (no command)                                               the device kept in DIR

  --dir DIR      the device's folder: its keys, session and server (default .hush/default)
  --server URL   the Hush server; else HUSH_SERVER, else the server DIR was set up with,
                 else http://localhost:$PORT (PORT defaults to 8000, as for npm start)
  --help         this text`;

const HELP =
  "commands: /list, /open USERNAME, TEXT, /file PATH, /save [ID|last] DIR, /typing, /history, /safety USERNAME, /devices, /approve DEVICE_ID CODE, /logout, /quit";

function parseArgs(argv: string[]) {
  const flags: Record<string, string> = {};
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--help" || a === "-h") flags.help = "yes";
    else if (a.startsWith("--")) flags[a.slice(2)] = argv[++i] ?? "";
    else rest.push(a);
  }
  return { flags, rest };
}

const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

/**
 * What a message that does not open on this device says (in /history): a message it read or sent
 * earlier has no key here any more, by design (forward secrecy), and the chat keeps no copy.
 */
const unopened = (m: ReceivedMessage) =>
  m.encryptedContent === null
    ? "(deleted)"
    : m.outgoing
      ? "(sent or read earlier on this device; its key is gone by design — forward secrecy)"
      : "(read earlier on this device; its key is gone by design — forward secrecy)";

/** Set once the server is known: a refused rate limit's error line then says how long to wait. */
let describe = (e: unknown) => (e as Error).message;

async function main() {
  const { flags, rest } = parseArgs(process.argv.slice(2));
  const [command, email, username] = rest;
  const known = command === undefined || (command === "signup" && username) || (command === "login" && email);
  if (flags.help || !known) {
    out(USAGE);
    return process.exit(flags.help ? 0 : 2);
  }
  const dir = flags.dir || ".hush/default";
  // Resuming reads the folder; it never creates one.
  if (command === undefined && !existsSync(join(dir, "device.json")))
    throw new Error(`no device in ${dir}: sign up or log in first (npm run chat -- --help)`);
  const baseUrl = serverFor(flags.server, process.env, dir);
  const http = chatFetch(baseUrl);
  describe = http.describe;
  const store = new FileStore(dir);
  const lines = createInterface({ input: process.stdin, terminal: false });
  const queue: string[] = [];
  const waiting: ((line: string | null) => void)[] = [];
  let closed = false;
  lines.on("line", (l) => {
    const w = waiting.shift();
    if (w) w(l);
    else queue.push(l);
  });
  lines.on("close", () => {
    closed = true;
    for (const w of waiting.splice(0)) w(null);
  });
  const nextLine = () =>
    queue.length
      ? Promise.resolve(queue.shift()!)
      : closed
        ? Promise.resolve(null)
        : new Promise<string | null>((r) => waiting.push(r));
  const code = async (email: string) => {
    out(`enter the code mailed to ${email}:`);
    const line = await nextLine();
    if (line === null) throw new Error("no code given");
    return line.trim();
  };

  const common = {
    baseUrl,
    fetch: http.fetch,
    store,
    deviceId: flags.device ?? "cli",
    deviceName: flags.device ?? "Command line",
  };
  let client: HushClient | null;
  if (command === "signup" && email && username)
    client = await HushClient.signUp({ ...common, email, username, fullName: flags.name ?? username, code });
  else if (command === "login" && email) client = await HushClient.logIn({ ...common, email, code });
  else client = await HushClient.resume({ baseUrl, fetch: http.fetch, store });
  if (!client) throw new Error(`no device in ${dir}: sign up or log in first`);
  const me = client;
  rememberServer(dir, baseUrl);

  const names = new Map<string, string>();
  const nameOf = (userId: string | null) => (userId ? (names.get(userId) ?? userId) : "(deleted account)");
  const learn = async () => {
    for (const c of await me.conversations())
      for (const p of c.participants) names.set(p.user_id, p.username);
  };
  let open: { id: string; with: string } | null = null;
  const received: ReceivedMessage[] = [];

  const show = (m: ReceivedMessage, verb = "") => {
    const who = m.outgoing ? "you" : nameOf(m.senderId);
    const trust = m.verified ? "" : " (unverified)";
    if (m.viewOnce && m.text === null) return out(`${who}${verb}: [view-once message ${m.id}]`);
    if (m.text === null) return out(`${who}${verb}: ${unopened(m)}`);
    out(`${who}${verb}: ${m.text}${trust}`);
    for (const a of m.attachments) out(`  file ${a.name} (${a.size} bytes) in message ${m.id}`);
  };

  me.on("message", async (m) => {
    if (!names.has(m.senderId ?? "")) await learn().catch(() => {});
    received.push(m);
    show(m);
    // The SDK sends the delivery receipt once every "message" handler has returned: reading it now
    // would put "read" on the wire, and on the sender's screen, before "delivered".
    if (!m.outgoing && open?.id === m.conversationId) setImmediate(() => me.markRead(m.id));
  });
  me.on("edited", (m) => show(m, " (edited)"));
  me.on("deleted", (d) => out(`deleted ${d.messageId}`));
  me.on("receipt", (r) => out(`${r.status} ${r.message_id} by ${nameOf(r.user_id)}`));
  me.on("typing", (t) => {
    if (t.is_typing) out(`${nameOf(t.user_id)} is typing`);
  });
  me.on("identity_changed", (c) =>
    out(
      c.kind === "account"
        ? `safety number with ${nameOf(c.userId)} changed (new account key): ${c.safetyNumber}`
        : `safety number with ${nameOf(c.userId)} changed (device ${c.deviceId}): ${c.safetyNumber}`,
    ),
  );
  me.on("devices_changed", (d) => {
    if (d.thisDevice && d.reason === "device_linked") return out("this device is now linked");
    if (d.reason === "device_linked") return out(`${nameOf(d.userId)} linked device ${d.deviceId}`);
    out(`${nameOf(d.userId)} reset their account key: every device of theirs was unlinked`);
  });
  me.on("device_refused", (d) =>
    out(
      `warning: refused device ${d.deviceId} of ${nameOf(d.userId)}: it is not signed by their account key ` +
        "(nothing is encrypted to it)",
    ),
  );
  me.on("undecryptable", (u) => out(`could not decrypt ${u.messageId}: ${u.reason}`));
  me.on("ended", (e) => {
    out(`session ended (${e.code} ${e.reason})`);
    process.exit(1);
  });

  await learn();
  await me.connect();
  // A device resumed from its folder may still be waiting for approval.
  if (command === undefined)
    me.pending = (await me.pendingDevices()).some((d) => d.device_id === me.deviceId);
  if (me.pending) {
    out(`this device is pending: on a linked device, type /approve ${me.deviceId} followed by this code`);
    out(`fingerprint: ${me.fingerprint()}`);
  }
  out(`ready as ${me.device.email} (device ${me.deviceId})`);
  out(HELP);

  const handle = async (line: string) => {
    const [cmd = "", ...args] = line.trim().split(/\s+/);
    switch (cmd) {
      case "":
        return;
      case "/list": {
        const list = await me.conversations();
        if (!list.length) out("no conversations yet");
        for (const c of list)
          out(
            `${c.id} ${c.name ?? c.participants.map((p) => p.username).join(", ")} (${c.unread_count} unread)`,
          );
        return;
      }
      case "/open": {
        const name = args[0];
        if (!name) return out("usage: /open USERNAME");
        const found = (await me.findUser(name)).users.find((u) => u.username === name);
        if (!found) return out(`no user ${name}`);
        names.set(found.id, found.username);
        const c = await me.startConversation(found.id);
        open = { id: c.id, with: found.username };
        out(`opened conversation ${c.id} with ${found.username}`);
        await me.directory.devicesOf(c.id);
        if (me.isUnsigned(found.id))
          out(`warning: ${found.username}'s account has no account key: their devices are not signed`);
        // What arrived before it was open is read now.
        for (const m of received) if (m.conversationId === c.id && !m.outgoing) me.markRead(m.id);
        return;
      }
      case "/history": {
        if (!open) return out("open a conversation first: /open USERNAME");
        for (const m of (await me.history(open.id)).reverse()) show(m);
        return;
      }
      case "/typing":
        if (!open) return out("open a conversation first: /open USERNAME");
        return me.typing(open.id);
      case "/file": {
        const path = args.join(" ");
        if (!open) return out("open a conversation first: /open USERNAME");
        const bytes = new Uint8Array(readFileSync(path));
        const sent = await me.send(open.id, basename(path), {
          attachments: [{ bytes, name: basename(path) }],
        });
        return out(`sent ${sent.id} (file ${basename(path)}, ${bytes.length} bytes)`);
      }
      case "/save": {
        const [which, target] = args.length > 1 ? args : ["last", args[0]];
        if (!target) return out("usage: /save [MESSAGE_ID|last] DIR");
        const m =
          which === "last"
            ? received.findLast((x) => x.attachments.length > 0)
            : received.find((x) => x.id === which);
        if (!m?.attachments.length) return out("no such message with a file");
        for (const a of m.attachments) {
          const path = join(target, basename(a.name));
          writeFileSync(path, await me.download(a));
          out(`saved ${path} (${a.size} bytes, digest checked)`);
        }
        return;
      }
      case "/safety": {
        const user = [...names].find(([, n]) => n === args[0]);
        if (!user) return out(`no conversation with ${args[0]}`);
        return out(`safety number with ${args[0]}: ${me.safetyNumber(user[0])}`);
      }
      case "/devices": {
        const { devices } = await me.api.GET("/api/v1/devices").then((r) => r.data ?? { devices: [] });
        for (const d of devices) out(`${d.device_id} ${d.status}${d.current ? " (this one)" : ""}`);
        return;
      }
      case "/approve": {
        const [deviceId, ...code] = args;
        if (!deviceId || !code.length)
          return out("usage: /approve DEVICE_ID CODE (the code the new device shows)");
        await me.approveDevice(deviceId, code.join(" "));
        return out(`approved ${deviceId}`);
      }
      case "/logout":
        await me.logout();
        out("logged out");
        return process.exit(0);
      case "/quit":
        me.disconnect();
        return process.exit(0);
      default: {
        if (cmd.startsWith("/")) return out(HELP);
        if (!open) return out("open a conversation first: /open USERNAME");
        const sent = await me.send(open.id, line);
        return out(`sent ${sent.id}`);
      }
    }
  };

  for (let line = await nextLine(); line !== null; line = await nextLine()) {
    try {
      await handle(line);
    } catch (e) {
      out(`error: ${describe(e)}`);
    }
  }
  me.disconnect();
  process.exit(0);
}

main().catch((e) => {
  out(`error: ${describe(e)}`);
  process.exit(1);
});
