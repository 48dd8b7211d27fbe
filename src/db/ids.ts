import { ObjectId } from "mongodb";
import { AppError } from "../shared/errors.js";

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
