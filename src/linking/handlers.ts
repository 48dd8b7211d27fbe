import type { Deps } from "../deps.js";
import { assertKeyFree, dropReset, findReset, saveReset, setAccountKey } from "../devices/account-keys.js";
import { verifyLink } from "../devices/linking.js";
import { toDeviceBody } from "../devices/present.js";
import { accountDevices, linkDevice, unlinkAll } from "../devices/repo.js";
import { AppError } from "../http/errors.js";
import type { Auth, Handlers } from "../http/openapi.js";
import { addSeconds, iso } from "../lib/clock.js";
import { beginOp } from "../recovery/ops.js";
import { findUser } from "../users/repo.js";
import { finishLink, tell } from "./link.js";
import * as r from "./routes.js";

const badSignature = (field: string) =>
  new AppError("INVALID_SIGNATURE", "The account key's signature of the device does not verify", {
    [field]: "does not verify against the account key over the link statement",
  });

/** The handlers of the routes in ./routes.ts, typed by them; ./index.ts wires them. */
export function linkingHandlers(deps: Deps): Handlers<typeof r> {
  /** The caller's own device among the account's devices, those devices and the account key. */
  async function caller(auth: Auth) {
    const { devices, accountKey } = await accountDevices(deps, auth.userId);
    return { devices, accountKey, me: devices.find((d) => d.device_id === auth.deviceId) };
  }

  return {
    approveDevice: async (c) => {
      const auth = c.get("auth");
      const { device_id } = c.req.valid("param");
      const { account_signature } = c.req.valid("json");
      const { devices, me, accountKey } = await caller(auth);
      if (me?.status === "pending")
        throw new AppError("FORBIDDEN", "This device is pending itself: a linked device approves");
      const target = devices.find((d) => d.device_id === device_id && d.status === "pending");
      if (!target || !accountKey)
        throw new AppError("NOT_FOUND", "No pending device with this id on your account");
      if (!verifyLink(accountKey, target, account_signature)) throw badSignature("account_signature");
      // Recorded first: an approval cut short after the link is finished (everyone told) by the sweep.
      const op = await beginOp(deps, "link", `${auth.userId.toHexString()}:${device_id}`, auth.userId, {
        device_id,
        key_type: target.key_type,
        identity_key: target.identity_key,
        account_key: accountKey,
        account_signature,
      });
      await deps.checkpoint?.("link.recorded");
      if (!op || !(await finishLink(deps, op))) {
        throw new AppError("NOT_FOUND", "The device was removed, re-keyed or approved meanwhile");
      }
      const linked = { ...target, status: "linked" as const, account_signature };
      return c.json({ device: toDeviceBody(linked, auth.deviceId) }, 200);
    },
    requestReset: async (c) => {
      const auth = c.get("auth");
      const { public_key, account_signature } = c.req.valid("json");
      const [{ me }, user] = await Promise.all([caller(auth), findUser(deps, auth.userId)]);
      if (!me || !user) throw new AppError("UNAUTHORIZED", "This device no longer exists");
      if (!verifyLink(public_key, me, account_signature)) throw badSignature("account_signature");
      await assertKeyFree(deps, public_key, auth.userId);
      const now = deps.clock.now();
      const effective_at = addSeconds(now, r.KEY_RESET_WAIT_SECONDS);
      await saveReset(deps, {
        _id: auth.userId,
        public_key,
        device_id: auth.deviceId,
        account_signature,
        requested_at: now,
        effective_at,
      });
      // Loud on purpose: whoever holds the mailbox (or a session) should not replace the key quietly.
      await deps.mailer.send({
        to: user.email,
        subject: "Your Hush account key is being reset",
        text:
          `A device named "${me.device_name}" asked to replace your account key. Every device you have will ` +
          `be unlinked and your contacts will see a safety-number change from ${iso(effective_at)}. If this ` +
          "was not you, cancel it now from a linked device.",
      });
      return c.json({ effective_at: iso(effective_at), public_key }, 202);
    },
    cancelReset: async (c) => {
      const auth = c.get("auth");
      const [{ me }, reset] = await Promise.all([caller(auth), findReset(deps, auth.userId)]);
      if (!reset) throw new AppError("NOT_FOUND", "No account-key reset is waiting");
      if (me?.status === "pending" && reset.device_id !== auth.deviceId) {
        throw new AppError("FORBIDDEN", "Only a linked device, or the device that asked, cancels a reset");
      }
      await dropReset(deps, auth.userId);
      return c.body(null, 204);
    },
    completeReset: async (c) => {
      const auth = c.get("auth");
      const [{ me }, reset] = await Promise.all([caller(auth), findReset(deps, auth.userId)]);
      if (!reset || !me || reset.device_id !== auth.deviceId) {
        throw new AppError("NOT_FOUND", "No account-key reset is waiting for this device");
      }
      if (deps.clock.now() < reset.effective_at) {
        throw new AppError("INVALID_STATE", `The reset can be applied from ${iso(reset.effective_at)}`);
      }
      // The device must still have the key the new account key signed (a re-key since voids the reset).
      if (!verifyLink(reset.public_key, me, reset.account_signature)) {
        await dropReset(deps, auth.userId);
        throw new AppError("NOT_FOUND", "This device was re-keyed since it asked; ask again");
      }
      await assertKeyFree(deps, reset.public_key, auth.userId);
      // In this order, so that a retry after a crash at any step finishes the job: every device
      // unlinked, this one signed under the new key, the key set, everyone told, and only then the
      // request gone (told twice after a crash at the last step: a repeated devices_changed is harmless).
      await unlinkAll(deps, auth.userId);
      await linkDevice(deps, me, reset.account_signature);
      await setAccountKey(deps, auth.userId, reset.public_key);
      await tell(deps, auth.userId, me, reset.public_key, reset.account_signature, "account_key_changed");
      await dropReset(deps, auth.userId);
      const linked = {
        ...me,
        status: "linked" as const,
        account_signature: reset.account_signature,
        account_key: reset.public_key,
      };
      return c.json({ device: toDeviceBody(linked, auth.deviceId) }, 200);
    },
  };
}
