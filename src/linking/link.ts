import type { ObjectId } from "mongodb";
import { coMembersOf } from "../conversations/members.js";
import { devicesChanged } from "../delivery/account-notices.js";
import type { Deps } from "../deps.js";
import { accountDevices, type ListedDevice, linkDevice } from "../devices/repo.js";
import { identityAudience } from "../policy/policy.js";
import { endOp, type OpDoc } from "../recovery/ops.js";

/** Contacts, co-members and the account's own devices learn of the change with the signed device. */
export async function tell(
  deps: Deps,
  userId: ObjectId,
  device: Pick<ListedDevice, "device_id" | "key_type" | "identity_key">,
  accountKey: string,
  signature: string,
  reason: "device_linked" | "account_key_changed",
) {
  const audience = await identityAudience(deps, userId, await coMembersOf(deps, userId));
  await devicesChanged(
    deps,
    userId,
    {
      user_id: userId.toHexString(),
      reason,
      account_key: accountKey,
      device: {
        device_id: device.device_id,
        key_type: device.key_type,
        identity_key: device.identity_key,
        account_signature: signature,
      },
    },
    audience,
  );
}

/** The steps of an approval, by the names the crash tests kill a server at. */
export const LINK_STEPS = ["link.recorded", "link.linked"] as const;

interface LinkData {
  device_id: string;
  key_type: ListedDevice["key_type"];
  identity_key: string;
  account_key: string;
  account_signature: string;
}

/**
 * An approval's steps after its record (src/recovery/ops.ts), each harmless to run again: the
 * device linked (unless it was removed or re-keyed meanwhile), then everyone told. False when there
 * was nothing to link.
 */
export async function finishLink(deps: Deps, op: OpDoc) {
  const d = op.data as unknown as LinkData;
  const { devices } = await accountDevices(deps, op.user_id);
  const device = devices.find((x) => x.device_id === d.device_id && x.identity_key === d.identity_key);
  const linked =
    device?.account_signature === d.account_signature ||
    (device && (await linkDevice(deps, device, d.account_signature)));
  if (linked) {
    await deps.checkpoint?.("link.linked");
    await tell(deps, op.user_id, d, d.account_key, d.account_signature, "device_linked");
  }
  await endOp(deps, op);
  return !!linked;
}
