// The browser entry: only "@hush/sdk" (no Node module), the WHATWG WebSocket, localStorage.
import { HushClient, WebStorageStore, webSocket } from "@hush/sdk";
import { exchange } from "./exchange.mjs";

export const run = (o) =>
  exchange({
    ...o,
    HushClient,
    socket: webSocket,
    store: (name) => new WebStorageStore(globalThis.localStorage, `${name}:`),
  });
