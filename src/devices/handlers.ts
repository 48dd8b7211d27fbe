import { parseId } from "../db/ids.js";
import { eraseDevice } from "../db/owned.js";
import type { Deps } from "../deps.js";
import { AppError } from "../http/errors.js";
import type { Handlers } from "../http/openapi.js";
import { visibleTo } from "../policy/policy.js";
import { findUser } from "../users/repo.js";
import { linkOf, toDeviceBody } from "./present.js";
import { accountDevices, findDevice, listAccountDevices, listDevices } from "./repo.js";
import type * as r from "./routes.js";

/** The handlers of the routes in ./routes.ts, typed by them; ./index.ts wires them. */
export function deviceHandlers(deps: Deps): Handlers<typeof r> {
  return {
    listDevices: async (c) => {
      const auth = c.get("auth");
      const { devices, accountKey } = await accountDevices(deps, auth.userId);
      return c.json(
        { devices: devices.map((d) => toDeviceBody(d, auth.deviceId)), account_key: accountKey },
        200,
      );
    },
    deleteDevice: async (c) => {
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
    },
    listUserDevices: async (c) => {
      const target = parseId(c.req.valid("param").user_id, "user_id");
      await visibleTo(deps, c.get("auth").userId, await findUser(deps, target));
      const devices = (await listDevices(deps, target)).map((d) => ({
        device_id: d.device_id,
        device_name: d.device_name,
        identity_key: d.identity_key,
        key_type: d.key_type,
        registration_id: d.registration_id,
        ...linkOf(d),
      }));
      return c.json({ devices }, 200);
    },
  };
}
