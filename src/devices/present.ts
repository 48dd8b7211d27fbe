import type { z } from "@hono/zod-openapi";
import { iso } from "../shared/clock.js";
import type { DeviceDoc } from "./repo.js";
import type { DeviceBody } from "./schemas.js";

export function toDeviceBody(d: DeviceDoc, currentDeviceId?: string): z.infer<typeof DeviceBody> {
  return {
    device_id: d.device_id,
    device_name: d.device_name,
    key_type: d.key_type,
    identity_key: d.identity_key,
    created_at: iso(d.created_at),
    last_seen: iso(d.last_seen_at),
    ...(currentDeviceId !== undefined ? { current: d.device_id === currentDeviceId } : {}),
  };
}
