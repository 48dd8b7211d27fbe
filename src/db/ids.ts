import { ObjectId } from "mongodb";
import { AppError } from "../http/errors.js";
import { randomBuffer } from "../lib/random.js";

/**
 * The id of every document Hush inserts. It keeps HABIBTI's 24-hex ObjectId form, but all 12 bytes
 * are random: a driver-made ObjectId is a timestamp, a per-process value and a counter, so anyone
 * holding one id could compute its neighbours (the next user, session or device). Nothing sorts by
 * `_id` alone; lists order by `created_at` and use `_id` only to break ties.
 */
export const newId = () => new ObjectId(randomBuffer(12));

/** ObjectIds cross the API boundary as 24-hex strings; anything else is a 400 naming the field. */
export function parseId(value: string, field: string): ObjectId {
  if (!/^[0-9a-fA-F]{24}$/.test(value)) {
    throw new AppError("INVALID_ID", `${field} is not a valid id`, {
      [field]: "must be a 24-character hex id",
    });
  }
  return new ObjectId(value);
}

export const isDuplicateKey = (err: unknown) => (err as { code?: number })?.code === 11000;
