import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type Hush, signUp, startHush } from "../helpers/hush.js";
import { hostOf, startProxy } from "../helpers/proxy.js";

let h: Hush;
beforeAll(async () => {
  h = await startHush();
});
afterAll(() => h?.close());

describe("operations endpoints", () => {
  it("GET / shows a banner pointing at the docs", async () => {
    const r = await h.req("GET", "/");
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ name: "Hush", api: "/api/v1", docs: "/docs" });
  });

  it("GET /healthz answers while the process is alive", async () => {
    const r = await h.req("GET", "/healthz");
    expect(r).toMatchObject({ status: 200, body: { status: "ok" } });
  });

  it("GET /readyz is 200 with the database up", async () => {
    const r = await h.req("GET", "/readyz");
    expect(r).toMatchObject({ status: 200, body: { status: "ready", database: "up" } });
  });

  it("every response carries an X-Request-Id, and a sane incoming one is kept", async () => {
    const fresh = await h.req("GET", "/healthz");
    expect(fresh.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    const kept = await h.req("GET", "/healthz", { headers: { "x-request-id": "trace-abc-12345" } });
    expect(kept.headers.get("x-request-id")).toBe("trace-abc-12345");
    const replaced = await h.req("GET", "/healthz", { headers: { "x-request-id": "bad id with spaces" } });
    expect(replaced.headers.get("x-request-id")).not.toBe("bad id with spaces");
  });

  it("GET /metrics counts requests by route and status in Prometheus format", async () => {
    await h.req("GET", "/healthz");
    await h.req("GET", "/api/v1/nowhere");
    const r = await h.req("GET", "/metrics");
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toMatch(/^text\/plain/);
    expect(r.body).toMatch(/# TYPE http_requests_total counter/);
    expect(r.body).toMatch(/http_requests_total\{method="GET",route="\/healthz",status="200"\} \d+/);
    expect(r.body).toMatch(/http_requests_total\{method="GET",route="unmatched",status="404"\} \d+/);
    expect(r.body).toMatch(
      /http_request_duration_seconds_bucket\{method="GET",route="\/healthz",status="200",le="0.005"\}/,
    );
  });
});

describe("response headers", () => {
  it("every response carries the security headers of hono/secure-headers", async () => {
    for (const path of ["/healthz", "/api/v1/nowhere", "/docs"]) {
      const r = await h.req("GET", path);
      expect(r.headers.get("x-content-type-options"), path).toBe("nosniff");
      expect(r.headers.get("x-frame-options"), path).toBe("SAMEORIGIN");
      expect(r.headers.get("referrer-policy"), path).toBe("no-referrer");
      expect(r.headers.get("strict-transport-security"), path).toMatch(/^max-age=\d+/);
    }
  });

  it("API responses, tokens and errors included, say Cache-Control: no-store", async () => {
    const a = await signUp(h);
    const refreshed = await h.req("POST", "/api/v1/auth/refresh", { body: { refresh_token: a.refresh } });
    expect(refreshed.status).toBe(200);
    expect(refreshed.headers.get("cache-control")).toBe("no-store");
    const me = await h.req("GET", "/api/v1/auth/me", { token: refreshed.body.session_token });
    expect(me.headers.get("cache-control")).toBe("no-store");
    expect((await h.req("GET", "/api/v1/auth/me")).headers.get("cache-control")).toBe("no-store");
  });
});

describe("/metrics", () => {
  it("is open by default, and needs the token once METRICS_TOKEN is set", async () => {
    expect((await h.req("GET", "/metrics")).status).toBe(200);
    const token = "metrics-token-0123456789";
    const guarded = await startHush({ METRICS_TOKEN: token });
    try {
      expect(await guarded.req("GET", "/metrics")).toMatchObject({
        status: 401,
        body: { code: "UNAUTHORIZED" },
      });
      const wrong = await guarded.req("GET", "/metrics", { token: `${token}x` });
      expect(wrong.status).toBe(401);
      const ok = await guarded.req("GET", "/metrics", { token });
      expect(ok.status).toBe(200);
      expect(ok.body).toMatch(/# TYPE http_requests_total counter/);
    } finally {
      await guarded.close();
    }
  });
});

describe("readiness when the database goes away", () => {
  it("/readyz turns 503 and a database-backed route gives 503 STORE_UNAVAILABLE with Retry-After, logged with its request id", async () => {
    const proxy = await startProxy(hostOf(inject("mongoUri")));
    const cut = await startHush({}, { uri: `mongodb://127.0.0.1:${proxy.port}/?directConnection=true` });
    try {
      expect((await cut.req("GET", "/readyz")).status).toBe(200);
      proxy.cut();
      const r = await cut.req("GET", "/readyz");
      expect(r).toMatchObject({ status: 503, body: { status: "unavailable", database: "down" } });
      const fail = await cut.req("POST", "/api/v1/auth/signup", { body: { email: "db.down@example.com" } });
      expect(fail.status).toBe(503);
      expect(fail.body).toMatchObject({ code: "STORE_UNAVAILABLE" });
      expect(fail.headers.get("retry-after")).toBe("2");
      const id = fail.headers.get("x-request-id")!;
      const logged = cut.logs.map((l) => JSON.parse(l)).find((l) => l.msg === "store unavailable");
      expect(logged).toMatchObject({ level: "warn", request_id: id });
      expect((await cut.req("GET", "/healthz")).status).toBe(200);
    } finally {
      await cut.close();
      await proxy.close();
    }
  });
});

describe("graceful shutdown", () => {
  it("stops accepting, lets the in-flight request finish, then resolves", async () => {
    const s = await startHush();
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let entered!: () => void;
    const inHandler = new Promise<void>((r) => {
      entered = r;
    });
    // A route added for this test only, before the first request builds the router.
    s.server.app.get("/test-slow", async (c) => {
      entered();
      await gate;
      return c.text("finished");
    });
    try {
      const inflight = fetch(`${s.url}/test-slow`).then((r) => r.text());
      await inHandler;
      let closed = false;
      const closing = s.server.close().then(() => {
        closed = true;
      });
      await expect(fetch(`${s.url}/healthz`)).rejects.toThrow();
      expect(closed).toBe(false);
      release();
      expect(await inflight).toBe("finished");
      await closing;
      expect(closed).toBe(true);
    } finally {
      release();
      await s.close();
    }
  });
});
