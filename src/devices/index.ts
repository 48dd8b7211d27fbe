import { z } from "@hono/zod-openapi";
import { eraseDevice } from "../db/owned.js";
import type { Deps } from "../deps.js";
import { AppError } from "../http/errors.js";
import { bearer, createRouter, json, route } from "../http/openapi.js";
import { toDeviceBody } from "./present.js";
import { accountDevices, findDevice, listAccountDevices } from "./repo.js";
import { DeviceBody, linkFields } from "./schemas.js";

const tags = ["Devices"];
const list = route({
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
const remove = route({
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

export function deviceRoutes(deps: Deps) {
  return createRouter()
    .openapi(list, async (c) => {
      const auth = c.get("auth");
      const { devices, accountKey } = await accountDevices(deps, auth.userId);
      return c.json(
        { devices: devices.map((d) => toDeviceBody(d, auth.deviceId)), account_key: accountKey },
        200,
      );
    })
    .openapi(remove, async (c) => {
      const auth = c.get("auth");
      const { device_id } = c.req.valid("param");
      const [target, mine] = await Promise.all([
        findDevice(deps, auth.userId, device_id),
        device_id === auth.deviceId ? null : listAccountDevices(deps, auth.userId),
      ]);
      if (!target) throw new AppError("NOT_FOUND", "Device not found");
      if (mine?.find((d) => d.device_id === auth.deviceId)?.status === "pending") {
        throw new AppError("FORBIDDEN", "A pending device may remove only itself");
      }
      // Sessions, keys and everything else tied to the device go with it (see src/inventory.ts).
      await eraseDevice(deps, auth.userId, device_id);
      return c.body(null, 204);
    });
}
