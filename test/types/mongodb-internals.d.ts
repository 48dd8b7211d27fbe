// The driver's namespace helper, which its public types leave out: test/store/driver.test.ts sends a
// command on one of its connections directly.
declare module "mongodb/lib/utils.js" {
  export function ns(namespace: string): unknown;
}
