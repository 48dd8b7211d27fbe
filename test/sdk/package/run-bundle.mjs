// Runs the browser bundle with what a browser gives it: a global WHATWG WebSocket (Node 20 has
// none, `ws` implements the same surface) and a localStorage.
import { WebSocket } from "ws";
import { code } from "./ask.mjs";

globalThis.WebSocket = WebSocket;
const items = new Map();
globalThis.localStorage = {
  getItem: (k) => (items.has(k) ? items.get(k) : null),
  setItem: (k, v) => items.set(k, String(v)),
  removeItem: (k) => items.delete(k),
};
const { run } = await import("./bundle.js");
const result = await run({
  baseUrl: process.env.HUSH_URL,
  tag: process.env.TAG,
  ip: process.env.HUSH_IP,
  code,
});
result.stored = [...items.keys()].filter((k) => k.startsWith("alice:")).sort();
process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
process.exit(0);
