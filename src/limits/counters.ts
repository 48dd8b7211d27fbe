import { owned } from "../db/owned.js";

/**
 * One rate-limit counter: the hits of one rule for one key in one fixed window. `_id` is a hash of
 * rule, key and window number, so a hit is a single `$inc` on a key lookup on both stores. The counted key (an IP, an email) is never
 * stored, only hashed into `_id`.
 */
export interface CounterDoc {
  _id: string;
  n: number;
  expires_at: Date;
}
export const counters = owned<CounterDoc>({
  name: "rate_limits",
  owner: "limits",
  holds:
    "the hit count of one rate limit for one key (IP, email, user or device, hashed into `_id`) in one window",
  indexes: [],
  expires: true,
  onExpiry: "erased once its window and the next one (which weighs it) are over",
  onAccountDeletion: "nothing to erase by account: keys are hashes; all expire within two windows",
  eraseAccount: async () => {},
});
