import type { ObjectId } from "mongodb";
import { devicesOf, recordChanges } from "../delivery/deliver.js";
import type { EntryData } from "../delivery/schemas.js";
import type { Deps } from "../deps.js";
import { pairState } from "./repo.js";

/**
 * A contact entry between `a` and `b` changed: each side's devices get the entry as that side now
 * sees it (or `removed`), one change per side, through the door into the streams
 * (src/delivery/deliver.ts). `only` limits it to one side (a display name is private to its author).
 */
export async function contactsChanged(deps: Deps, a: ObjectId, b: ObjectId, only?: ObjectId) {
  const { ab, ba } = await pairState(deps, a, b);
  const view = (doc: typeof ab, other: ObjectId): EntryData<"contacts_updated"> =>
    doc
      ? { user_id: other.toHexString(), status: doc.status, display_name: doc.display_name }
      : { user_id: other.toHexString(), status: "removed", display_name: null };
  const sides = [
    { user: a, data: view(ab, b) },
    { user: b, data: view(ba, a) },
  ].filter((s) => !only || s.user.equals(only));
  const devices = await devicesOf(
    deps,
    sides.map((s) => s.user),
  );
  await recordChanges(
    deps,
    sides.map((s) => ({
      type: "contacts_updated" as const,
      data: s.data,
      targets: devices.filter((d) => d.user_id.equals(s.user)),
    })),
  );
}
