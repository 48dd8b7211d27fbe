import type { ObjectId } from "mongodb";
import type { Deps } from "../deps.js";
import type { AttachmentDoc } from "./repo.js";

/**
 * Who may download a complete attachment: its uploader, and (once messages own attachments) the
 * members of the conversation holding that message. Everyone else gets the same 404 as for an id
 * that does not exist.
 */
export async function mayRead(_deps: Deps, viewer: ObjectId, doc: AttachmentDoc): Promise<boolean> {
  return doc.uploader_id.equals(viewer);
}
