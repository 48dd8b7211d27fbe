import { z } from "@hono/zod-openapi";
import { KeyType } from "../devices/schemas.js";

/*
 * What a device's stream can hold: one schema for each entry type's `data`. An entry reaches the
 * device as `{type, position, data}`, live over the socket or in a sync page, the same either way.
 */

const HexId = z.string().regex(/^[0-9a-f]{24}$/, "must be a 24-character hex id");
const Position = z.number().int().min(1).describe("The entry's place in this device's stream");

export const entryData = {
  contacts_updated: z
    .object({
      user_id: HexId.describe("The other user of the contact entry that changed"),
      status: z
        .enum(["requested", "incoming", "accepted", "removed"])
        .describe("The entry as this user now sees it; `removed` when it is gone")
        .openapi("ContactChange"),
      display_name: z.string().nullable().describe("The name this user gave them"),
    })
    .openapi("ContactsUpdated"),
  identity_changed: z
    .object({
      user_id: HexId,
      device_id: z.string(),
      identity_key: z.string().describe("The device's new public identity key (base64)"),
      key_type: KeyType,
    })
    .describe(
      "A device of a contact (or of this account) now has a different identity key: the safety " +
        "number changed and the client should say so before encrypting to it again.",
    )
    .openapi("IdentityChanged"),
  erased: z
    .object({})
    .describe(
      "An entry whose subject was erased since it was written (an account deleted, a device " +
        "removed); it keeps its position so the stream has no gap. Nothing to do.",
    )
    .openapi("Erased"),
} as const;

export type EntryType = keyof typeof entryData;
export type EntryData<T extends EntryType> = z.infer<(typeof entryData)[T]>;
export const entryTypes = Object.keys(entryData) as EntryType[];

const pascal = (s: string) => s.replace(/(^|_)(\w)/g, (_, __, c: string) => c.toUpperCase());
/** Each kind a named component, so the spec's union is a discriminated `oneOf` of references. */
const entrySchema = <T extends EntryType>(type: T) =>
  z
    .object({ type: z.literal(type), position: Position, data: entryData[type] })
    .openapi(`${pascal(type)}Entry`);

/** One stream entry as a device receives it. */
export const StreamEntry = z
  .discriminatedUnion("type", [
    entrySchema("contacts_updated"),
    entrySchema("identity_changed"),
    entrySchema("erased"),
  ])
  .openapi("StreamEntry");
export type StreamEntryBody = z.infer<typeof StreamEntry>;

export const SyncQuery = z.object({
  since: z.coerce
    .number<string>()
    .int()
    .min(0)
    .default(0)
    .openapi({
      param: { in: "query" },
      type: "integer",
      minimum: 0,
      default: 0,
      description: "The last position the device has stored; entries after it are returned",
    }),
  limit: z.coerce
    .number<string>()
    .int()
    .min(1)
    .max(500)
    .default(100)
    .openapi({
      param: { in: "query" },
      type: "integer",
      minimum: 1,
      maximum: 500,
      default: 100,
      description: "Page size, 1-500",
    }),
});

export const SyncPage = z
  .object({
    entries: z.array(StreamEntry),
    has_more: z.boolean().describe("More entries follow the last one returned"),
    position: z.number().int().min(0).describe("The newest position in the stream now"),
  })
  .openapi("SyncPage");
