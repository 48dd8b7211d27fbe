import type { ObjectId } from "mongodb";
import { findMember } from "../conversations/members.js";
import type { Deps } from "../deps.js";
import { canSee } from "../policy/policy.js";
import type { AttachmentDoc } from "./repo.js";

/**
 * Who may download a complete attachment: its uploader, and the members of the conversation
 * holding the message that owns it who could read that message (they joined before it was sent)
 * and whom the uploader has not blocked (policy: a blocker looks absent). Everyone else gets the
 * same 404 as for an id that does not exist: after leaving the group, in another conversation, or
 * never in one.
 */
export async function mayRead(deps: Deps, viewer: ObjectId, doc: AttachmentDoc): Promise<boolean> {
  // A disappearing message's attachments go with it at once, before the expiry job erases them.
  if (doc.message_expires_at && doc.message_expires_at <= deps.clock.now()) return false;
  if (doc.uploader_id.equals(viewer)) return true;
  if (!doc.conversation_id || doc.message_seq === null) return false;
  const member = await findMember(deps, doc.conversation_id, viewer);
  if (!member || member.joined_seq >= doc.message_seq) return false;
  return canSee(deps, viewer, doc.uploader_id);
}
