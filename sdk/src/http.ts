import createClient from "openapi-fetch";
import { type ClientStore, keys, type SessionRecord } from "./store.js";
import type { ErrorBody, paths } from "./types.js";

export type Fetch = (request: Request) => Promise<Response>;

/** Any answer the server refused, with its stable code and, for device lists, what to fix. */
export class HushError extends Error {
  constructor(
    readonly status: number,
    readonly body: Partial<ErrorBody> | null,
    readonly step: string,
  ) {
    super(`${step}: ${status} ${body?.code ?? ""} ${body?.detail ?? ""}`.trim());
    this.name = "HushError";
  }
  get code() {
    return this.body?.code;
  }
}

/** openapi-fetch's answer: the data, or a HushError naming the step. */
export function ok<T>(step: string, r: { data?: T; error?: unknown; response: Response }): T {
  if (r.data !== undefined && r.response.ok) return r.data;
  if (r.response.ok && r.response.status === 204) return undefined as T;
  throw new HushError(r.response.status, (r.error ?? null) as Partial<ErrorBody> | null, step);
}

/**
 * The device's tokens: the access token for each call, refreshed once (single flight) when the
 * server says 401, the rotated pair stored at once, since each refresh token works only once.
 */
export class Tokens {
  private refreshing: Promise<string | null> | null = null;
  constructor(
    private readonly store: ClientStore,
    private readonly refreshCall: (refreshToken: string) => Promise<SessionRecord | null>,
    public session: SessionRecord | null,
  ) {}

  get access() {
    return this.session?.sessionToken ?? null;
  }

  async set(session: SessionRecord | null) {
    this.session = session;
    if (session) await this.store.set(keys.session, session);
    else await this.store.delete(keys.session);
  }

  /** A fresh access token after `stale` was refused; null when the session is over. */
  refresh(stale: string): Promise<string | null> {
    if (this.access !== stale) return Promise.resolve(this.access);
    this.refreshing ??= (async () => {
      try {
        const refreshToken = this.session?.refreshToken;
        const next = refreshToken ? await this.refreshCall(refreshToken) : null;
        await this.set(next);
        return next?.sessionToken ?? null;
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }
}

/** A fetch that carries the bearer token and, on a 401, refreshes it and tries once more. */
export function authedFetch(tokens: Tokens, base: Fetch): Fetch {
  return async (request) => {
    const again = request.clone();
    const token = tokens.access;
    if (token) request.headers.set("authorization", `Bearer ${token}`);
    const res = await base(request);
    if (res.status !== 401 || !token) return res;
    const fresh = await tokens.refresh(token);
    if (!fresh) return res;
    again.headers.set("authorization", `Bearer ${fresh}`);
    return base(again);
  };
}

export const apiClient = (baseUrl: string, fetch: Fetch) => createClient<paths>({ baseUrl, fetch });
export type Api = ReturnType<typeof apiClient>;
