import type { z } from "@hono/zod-openapi";
import { iso } from "../lib/clock.js";
import type { ListedDevice } from "./repo.js";
import type { DeviceBody } from "./schemas.js";

export function toDeviceBody(d: ListedDevice, currentDeviceId?: string): z.infer<typeof DeviceBody> {
  return {
    device_id: d.device_id,
    device_name: d.device_name,
    key_type: d.key_type,
    identity_key: d.identity_key,
    created_at: iso(d.created_at),
    last_seen: iso(d.last_seen_at),
    status: d.status,
    account_signature: d.status === "linked" ? d.account_signature! : null,
    ...(currentDeviceId !== undefined ? { current: d.device_id === currentDeviceId } : {}),
  };
}

/** The link fields every device list others read carries. */
export const linkOf = (d: ListedDevice) => ({
  account_signature: d.status === "linked" ? d.account_signature! : null,
  account_key: d.account_key,
});
