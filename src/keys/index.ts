import { parseId } from "../db/ids.js";
import type { Deps } from "../deps.js";
import { listDevices } from "../devices/repo.js";
import { visibleTo } from "../relations/policy.js";
import { AppError } from "../shared/errors.js";
import { createRouter } from "../shared/openapi.js";
import { findUser } from "../users/repo.js";
import { claimBundle, countPrekeys, storeKeys } from "./repo.js";
import * as r from "./routes.js";

export function keyRoutes(deps: Deps) {
  const app = createRouter();

  app.openapi(r.uploadKeys, async (c) => {
    const { userId, deviceId } = c.get("auth");
    return c.json(await storeKeys(deps, userId, deviceId, c.req.valid("json")), 200);
  });

  app.openapi(r.countKeys, async (c) => {
    const { userId, deviceId } = c.get("auth");
    return c.json(await countPrekeys(deps, userId, deviceId), 200);
  });

  app.openapi(r.listUserDevices, async (c) => {
    const target = parseId(c.req.valid("param").user_id, "user_id");
    await visibleTo(deps, c.get("auth").userId, await findUser(deps, target));
    const devices = (await listDevices(deps, target)).map((d) => ({
      device_id: d.device_id,
      device_name: d.device_name,
      identity_key: d.identity_key,
      key_type: d.key_type,
      registration_id: d.registration_id,
    }));
    return c.json({ devices }, 200);
  });

  app.openapi(r.claimKeys, async (c) => {
    const caller = c.get("auth").userId;
    await deps.limiter.enforce(c, r.claimRule, caller.toHexString());
    const body = c.req.valid("json");
    const target = parseId(body.user_id, "user_id");
    await visibleTo(deps, caller, await findUser(deps, target));
    const devices = (await listDevices(deps, target)).filter(
      (d) => body.device_id === undefined || d.device_id === body.device_id,
    );
    if (body.device_id !== undefined && !devices.length) throw new AppError("NOT_FOUND", "Device not found");
    const bundles = devices.map(async (d) => {
      // Only a bundle that could carry one-time keys spends the device's budget.
      const fresh = d.signed_prekey
        ? (await deps.limiter.hit(r.deviceClaimRule, `${target.toHexString()}\n${d.device_id}`)).allowed
        : false;
      return claimBundle(deps, d, fresh);
    });
    return c.json({ devices: await Promise.all(bundles) }, 200);
  });

  return app;
}
