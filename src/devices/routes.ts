import { z } from "@hono/zod-openapi";
import { bearer, json, route } from "../http/openapi.js";
import { UserIdParam } from "../users/schemas.js";
import { DeviceBody, KeyType, linkFields } from "./schemas.js";

const tags = ["Devices"];
export const listDevices = route({
  method: "get",
  path: "/devices",
  tags,
  security: bearer,
  operationId: "listDevices",
  summary: "The calling account's devices, pending ones included (to approve them)",
  description:
    "Every device of the calling account with its identity key and status (DeviceStatus): `pending` ones (logged in on " +
    "an account with an account key, not yet approved) are listed so a linked device can approve them " +
    "(`POST /devices/{device_id}/approve`)",
  responses: {
    200: json(
      z
        .object({
          devices: z.array(DeviceBody),
          account_key: linkFields.account_key,
        })
        .openapi("DeviceList"),
      "Devices, oldest first, with the account key that signs them",
    ),
  },
});
export const deleteDevice = route({
  method: "delete",
  path: "/devices/{device_id}",
  tags,
  security: bearer,
  operationId: "deleteDevice",
  summary: "Remove a device: its sessions are revoked and its keys leave the directory at once",
  description:
    "A linked device (or any device of a legacy account) may remove any device of its account; a pending " +
    "device only itself (403 `FORBIDDEN`): someone who logged in with an emailed code cannot remove the " +
    "devices that would otherwise notice.",
  request: {
    params: z.object({
      device_id: z
        .string()
        .max(64)
        .openapi({ param: { in: "path" } }),
    }),
  },
  responses: { 204: { description: "Removed" } },
  errors: ["NOT_FOUND", "FORBIDDEN"],
});

const DirectoryDevice = z
  .object({
    device_id: z.string(),
    device_name: z.string(),
    identity_key: z.string(),
    key_type: KeyType,
    registration_id: z.number().int().nullable(),
    ...linkFields,
  })
  .openapi("DirectoryDevice");

export const listUserDevices = route({
  method: "get",
  path: "/users/{user_id}/devices",
  // Tagged with the keys: where clients (and the published document) have always found it.
  tags: ["Keys"],
  security: bearer,
  operationId: "listUserDevices",
  summary: "A user's active devices and identity keys, to address each one",
  description:
    "Linked devices only (and every device of a legacy account without an account key): a pending device " +
    "is in no list until a linked device approves it. Each carries its `account_signature` and the account " +
    "key, so the client checks the list itself. A user who has blocked the caller looks absent: 404 " +
    "`USER_NOT_FOUND`.",
  request: { params: UserIdParam },
  responses: {
    200: json(
      z.object({ devices: z.array(DirectoryDevice) }).openapi("DirectoryDeviceList"),
      "Devices, oldest first",
    ),
  },
  errors: ["USER_NOT_FOUND"],
});
