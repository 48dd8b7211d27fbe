import { HushClient } from "@hush/sdk";
import { FileStore } from "@hush/sdk/node";
import { code } from "./ask.mjs";
import { exchange } from "./exchange.mjs";

const result = await exchange({
  HushClient,
  store: (name) => new FileStore(`.hush/${name}`),
  socket: undefined,
  baseUrl: process.env.HUSH_URL,
  tag: process.env.TAG,
  ip: process.env.HUSH_IP,
  code,
});
process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
process.exit(0);
