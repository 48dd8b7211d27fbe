import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Fetch, HushError } from "../node.js";

/** The chat's own file in the device folder, beside the SDK's device.json. */
const chatFile = (dir: string) => join(dir, "chat.json");

/**
 * Which server the chat talks to, first that is set: `--server`, HUSH_SERVER, the server the device
 * folder was signed up or logged in on, then `npm start`'s address on PORT (8000 by default).
 */
export function serverFor(flag: string | undefined, env: NodeJS.ProcessEnv, dir: string): string {
  const url = flag || env.HUSH_SERVER || remembered(dir) || `http://localhost:${env.PORT || "8000"}`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`not a server address: ${url} (give one like http://localhost:8000)`);
  }
  if (!/^https?:$/.test(parsed.protocol))
    throw new Error(`not a server address: ${url} (it starts with http:// or https://)`);
  return url.replace(/\/+$/, "");
}

function remembered(dir: string): string | undefined {
  if (!existsSync(chatFile(dir))) return undefined;
  return (JSON.parse(readFileSync(chatFile(dir), "utf8")) as { server?: string }).server;
}

/** Keeps the server with the device, so that resuming the folder later needs no flag. */
export function rememberServer(dir: string, server: string) {
  writeFileSync(chatFile(dir), JSON.stringify({ server }), { mode: 0o600 });
}

/**
 * The chat's fetch: a server that cannot be reached is named with the reason (not "fetch failed"),
 * and the last 429's Retry-After is kept so the error line can say how long to wait.
 */
export function chatFetch(server: string) {
  let retryAfter: number | null = null;
  const fetch: Fetch = async (request) => {
    let res: Response;
    try {
      res = await globalThis.fetch(request);
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message ?? (e as Error).message;
      throw new Error(
        `could not reach the server at ${server} (${why}): is it running? Give another with --server URL or HUSH_SERVER`,
      );
    }
    if (res.status === 429) retryAfter = Number(res.headers.get("retry-after")) || null;
    return res;
  };
  /** An error as one line; a refused rate limit says how long to wait. */
  const describe = (e: unknown): string => {
    const message = (e as Error).message;
    if (!(e instanceof HushError) || e.status !== 429 || retryAfter === null) return message;
    return `${message} (try again in ${wait(retryAfter)})`;
  };
  return { fetch, describe };
}

/** Seconds as a person reads them: "45 s", "14 min 5 s", "2 h 3 min". */
export function wait(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (h) return `${h} h ${m} min`;
  return m ? `${m} min${s ? ` ${s} s` : ""}` : `${s} s`;
}
