import { parseId } from "../db/ids.js";
import { prekeysLow } from "../delivery/account-notices.js";
import type { Deps } from "../deps.js";
import { linkOf } from "../devices/present.js";
import { type DeviceDoc, listDevices } from "../devices/repo.js";
import { AppError } from "../http/errors.js";
import type { Handlers } from "../http/openapi.js";
import { visibleTo } from "../policy/policy.js";
import { findUser } from "../users/repo.js";
import { type ClaimedBundle, claimBundle, countPrekeys, storeKeys } from "./repo.js";
import * as r from "./routes.js";

/**
 * Tells a device, through its stream, that a claim found its daily claim budget spent, or took a
 * one-time prekey of a kind and left fewer than the top-up mark of it (a kind the device never
 * stocks says nothing); each reason at most once an hour.
 */
async function warnIfLow(deps: Deps, d: DeviceDoc, fresh: boolean, bundle: ClaimedBundle) {
  const tookEc = bundle.one_time_prekey !== null;
  const tookKem = bundle.kem_prekey?.last_resort === false;
  if (fresh && !tookEc && !tookKem) return;
  const counts = await countPrekeys(deps, d.user_id, d.device_id);
  const low =
    (tookEc && counts.one_time_prekeys < r.PREKEY_LOW_MARK) ||
    (tookKem && counts.kem_prekeys < r.PREKEY_LOW_MARK);
  const reason = !fresh ? "claim_budget_spent" : low ? "low" : null;
  if (!reason) return;
  const key = `${d.user_id.toHexString()}\n${d.device_id}\n${reason}`;
  if (!(await deps.limiter.hit(r.lowNoticeRule, key)).allowed) return;
  await prekeysLow(deps, d.user_id, d.device_id, { ...counts, reason });
}

/** The handlers of the routes in ./routes.ts, typed by them; ./index.ts wires them. */
export function keyHandlers(deps: Deps): Handlers<typeof r> {
  return {
    uploadKeys: async (c) => {
      const { userId, deviceId } = c.get("auth");
      return c.json(await storeKeys(deps, userId, deviceId, c.req.valid("json")), 200);
    },
    countKeys: async (c) => {
      const { userId, deviceId } = c.get("auth");
      return c.json(await countPrekeys(deps, userId, deviceId), 200);
    },
    claimKeys: async (c) => {
      const caller = c.get("auth").userId;
      await deps.limiter.enforce(c, r.claimRule, caller.toHexString());
      const body = c.req.valid("json");
      const target = parseId(body.user_id, "user_id");
      await visibleTo(deps, caller, await findUser(deps, target));
      const devices = (await listDevices(deps, target)).filter(
        (d) => body.device_id === undefined || d.device_id === body.device_id,
      );
      if (body.device_id !== undefined && !devices.length)
        throw new AppError("NOT_FOUND", "Device not found");
      const bundles = devices.map(async (d) => {
        // Only a bundle that could carry one-time keys spends the device's budget.
        const fresh = d.signed_prekey
          ? (await deps.limiter.hit(r.deviceClaimRule, `${target.toHexString()}\n${d.device_id}`)).allowed
          : false;
        const bundle = await claimBundle(deps, d, fresh);
        if (d.signed_prekey) await warnIfLow(deps, d, fresh, bundle);
        return { ...bundle, ...linkOf(d) };
      });
      return c.json({ devices: await Promise.all(bundles) }, 200);
    },
  };
}
