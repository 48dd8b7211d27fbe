/**
 * An integrator's program, written against a client generated from the served spec
 * (openapi-typescript types + openapi-fetch), never against Hush's own code. It is type-checked
 * under `tsc --strict` with the generated types (see generated-client.test.ts, which maps
 * "hush-api" to them), with no casts and no `any`: if the spec's types are wrong, this file does
 * not compile, or it fails when run.
 */
import { generateKeyPairSync } from "node:crypto";
import type { paths } from "hush-api";
import createClient from "openapi-fetch";

export interface FlowOptions {
  baseUrl: string;
  /** The code mailed to `email`, as the test's SMTP server received it. */
  otp: (email: string) => string;
  fetch: (request: Request) => Promise<Response>;
  tag: string;
}

function fail(step: string, status: number, error: { code: string; detail: string } | undefined): never {
  throw new Error(`${step} answered ${status}: ${error?.code} ${error?.detail}`);
}

function client(o: FlowOptions, token?: string) {
  const headers: Record<string, string> = token ? { Authorization: `Bearer ${token}` } : {};
  return createClient<paths>({ baseUrl: o.baseUrl, fetch: o.fetch, headers });
}

/** Email-OTP sign-up, as a new device with a fresh Ed25519 identity key. */
async function signUp(o: FlowOptions, name: string) {
  const api = client(o);
  const email = `${name}.${o.tag}@example.com`;
  const started = await api.POST("/api/v1/auth/signup", { body: { email, purpose: "signup" } });
  if (!started.data) return fail("signup", started.response.status, started.error);

  const verified = await api.POST("/api/v1/auth/verify-otp", {
    body: { session_id: started.data.session_id, otp: o.otp(email) },
  });
  if (!verified.data) return fail("verify-otp", verified.response.status, verified.error);
  // The discriminator narrows the answer to the sign-up shape.
  if (verified.data.purpose !== "signup") throw new Error(`expected a sign-up, got ${verified.data.purpose}`);

  const jwk = generateKeyPairSync("ed25519").publicKey.export({ format: "jwk" });
  const done = await api.POST("/api/v1/auth/complete-signup", {
    params: { query: { temp_token: verified.data.temp_token } },
    body: {
      email,
      username: `${name}_${o.tag}`,
      full_name: `${name} Example`,
      gender: null,
      date_of_birth: "1990-05-17",
      device_info: { device_id: "phone", device_name: "Phone", public_key: jwk.x ?? "" },
    },
  });
  if (!done.data) return fail("complete-signup", done.response.status, done.error);
  return { user: done.data, api: client(o, done.data.session_token) };
}

export async function run(o: FlowOptions) {
  const alice = await signUp(o, "alice");
  const bob = await signUp(o, "bob");

  const me = await alice.api.GET("/api/v1/auth/me");
  if (!me.data) return fail("me", me.response.status, me.error);

  const patched = await alice.api.PATCH("/api/v1/users/me", {
    body: { bio: "Hello from a generated client", privacy: { show_online_status: false } },
  });
  if (!patched.data) return fail("update me", patched.response.status, patched.error);

  const seen = await bob.api.GET("/api/v1/users/{user_id}", { params: { path: { user_id: alice.user.id } } });
  if (!seen.data) return fail("get user", seen.response.status, seen.error);

  const missing = await bob.api.GET("/api/v1/users/{user_id}", {
    params: { path: { user_id: "0123456789abcdef01234567" } },
  });
  // Error bodies are typed too: the code is one of the spec's ErrorCode values.
  const missingCode = missing.error?.code;

  const asked = await alice.api.POST("/api/v1/contacts", { body: { username: bob.user.username } });
  if (!asked.data) return fail("request contact", asked.response.status, asked.error);

  const accepted = await bob.api.POST("/api/v1/contacts/{user_id}/accept", {
    params: { path: { user_id: alice.user.id } },
  });
  if (!accepted.data) return fail("accept contact", accepted.response.status, accepted.error);

  const listed = await alice.api.GET("/api/v1/contacts", { params: { query: { status: "accepted" } } });
  if (!listed.data) return fail("list contacts", listed.response.status, listed.error);

  return {
    signedUp: { id: alice.user.id, tokenType: alice.user.token_type, devices: alice.user.devices.length },
    me: { email: me.data.email, birthday: me.data.profile.date_of_birth, gender: me.data.profile.gender },
    patched: { bio: patched.data.profile.bio, showsStatus: patched.data.privacy.show_online_status },
    seenByBob: { username: seen.data.username, status: seen.data.status },
    missingCode,
    request: { status: asked.data.status, httpStatus: asked.response.status },
    accepted: accepted.data.status,
    contacts: listed.data.contacts.map((c) => ({ username: c.username, status: c.status })),
    total: listed.data.pagination.total,
  };
}
