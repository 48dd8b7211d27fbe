// Run by test/sdk/package.test.ts inside a scratch project that installed the packed @hush/sdk:
// a two-client exchange with nothing of this repository on hand. `run` takes the platform's parts
// (stores, socket) so the Node build and the browser bundle share it; `code` answers the OTP mails.
export async function exchange({ HushClient, store, socket, baseUrl, tag, ip, code }) {
  // The test's server trusts a proxy's X-Forwarded-For: a fresh address keeps the per-address sign-up budget clear.
  const fetch = (request) => {
    request.headers.set("x-forwarded-for", ip);
    return globalThis.fetch(request);
  };
  const make = (name) =>
    HushClient.signUp({
      baseUrl,
      fetch,
      socket,
      store: store(name),
      email: `${name}-${tag}@example.com`,
      username: `${name}_${tag}`,
      fullName: name,
      deviceId: "scratch",
      code,
    });
  const alice = await make("alice");
  const bob = await make("bob");
  const got = (client, text) =>
    new Promise((resolve) => client.on("message", (m) => m.text === text && resolve(m)));
  await Promise.all([alice.connect(), bob.connect()]);
  const conv = await alice.startConversation(bob.userId);
  const hello = got(bob, "hello from the package");
  await alice.send(conv.id, "hello from the package");
  const first = await hello;
  const back = got(alice, "and back");
  await bob.send(conv.id, "and back");
  const second = await back;
  alice.disconnect();
  bob.disconnect();
  return { texts: [first.text, second.text], verified: first.verified && second.verified };
}
