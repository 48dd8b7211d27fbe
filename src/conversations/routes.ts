import { bearer, json, jsonBody, route } from "../http/openapi.js";
import { MAX_GROUP, MIN_GROUP } from "./repo.js";
import {
  ConversationBody,
  ConversationDevices,
  ConversationIdParam,
  ConversationList,
  ConversationQuery,
  CreateConversation,
  CreateGroup,
  MemberParams,
  UpdateGroup,
  UserRef,
} from "./schemas.js";

const tags = ["Conversations"];
/** HABIBTI's table: every /conversations route counts against it. */
export const conversationRule = { name: "conversations", limit: 60, windowSeconds: 60 };
const limited = `Limited to ${conversationRule.limit} requests a minute per user across /conversations.`;
const notMember = "A conversation the caller is not in answers 404 NOT_FOUND, as one that does not exist.";
const body = (description: string) => json(ConversationBody, description);

export const createConversation = route({
  method: "post",
  path: "/conversations",
  tags,
  security: bearer,
  operationId: "createConversation",
  summary: "Create or get the 1:1 conversation with another user",
  description:
    "There is exactly one per pair, even when both create it at the same moment: 201 when this call " +
    "created it, 200 when it existed (it is also taken out of the caller's archive). A user who blocked " +
    "the caller is 404 USER_NOT_FOUND; one who accepts messages from contacts only, and is not the " +
    `caller's contact, is 403 FORBIDDEN. ${limited}`,
  request: jsonBody(CreateConversation),
  responses: {
    201: body("Created"),
    200: body("It already existed"),
  },
  errors: ["FORBIDDEN", "USER_NOT_FOUND", "RATE_LIMITED"],
});

export const createGroup = route({
  method: "post",
  path: "/conversations/groups",
  tags,
  security: bearer,
  operationId: "createGroup",
  summary: "Create a group; the creator is its admin",
  description:
    `${MIN_GROUP}-${MAX_GROUP} members with the creator, name 1-64 characters. Each participant must be ` +
    "one the creator may message (see createConversation): 404 USER_NOT_FOUND or 403 FORBIDDEN names " +
    `the entry in \`fields\`. ${limited}`,
  request: jsonBody(CreateGroup),
  responses: { 201: body("Created") },
  errors: ["FORBIDDEN", "USER_NOT_FOUND", "RATE_LIMITED"],
});

export const listConversations = route({
  method: "get",
  path: "/conversations",
  tags,
  security: bearer,
  operationId: "listConversations",
  summary: "The caller's conversations, newest activity first, without archived ones",
  description: limited,
  request: { query: ConversationQuery },
  responses: { 200: json(ConversationList, "A page of conversations") },
  errors: ["RATE_LIMITED"],
});

export const getConversation = route({
  method: "get",
  path: "/conversations/{conversation_id}",
  tags,
  security: bearer,
  operationId: "getConversation",
  summary: "One conversation",
  description: `${notMember} ${limited}`,
  request: { params: ConversationIdParam },
  responses: { 200: body("The conversation") },
  errors: ["NOT_FOUND", "RATE_LIMITED"],
});

export const listDevices = route({
  method: "get",
  path: "/conversations/{conversation_id}/devices",
  tags,
  security: bearer,
  operationId: "listConversationDevices",
  summary: "Every device a message here must be wrapped for",
  description:
    "The current devices of every member, the caller's included (a sender wraps for all of them but " +
    "the sending device): what the device-list check of POST /messages compares `recipient_keys` with. " +
    "Members see each other's devices even where one has blocked the other: a block does not take " +
    `anyone out of a group. ${notMember} ${limited}`,
  request: { params: ConversationIdParam },
  responses: { 200: json(ConversationDevices, "Devices, per member oldest first") },
  errors: ["NOT_FOUND", "RATE_LIMITED"],
});

export const updateGroup = route({
  method: "patch",
  path: "/conversations/{conversation_id}",
  tags,
  security: bearer,
  operationId: "updateGroup",
  summary: "Rename a group, change its picture or set the disappearing-message timer",
  description:
    "In a group, admins only (another member gets 403). In a 1:1 conversation either member may set " +
    "`ttl_seconds`; a name or picture there is 409 INVALID_STATE. Every member's devices are told " +
    `(conversation_updated). ${notMember} ${limited}`,
  request: { params: ConversationIdParam, ...jsonBody(UpdateGroup) },
  responses: { 200: body("Updated") },
  errors: ["NOT_FOUND", "FORBIDDEN", "INVALID_STATE", "RATE_LIMITED"],
});

export const archiveConversation = route({
  method: "delete",
  path: "/conversations/{conversation_id}",
  tags,
  security: bearer,
  operationId: "archiveConversation",
  summary: "Archive a conversation for the caller only",
  description:
    "It leaves the caller's list until a new message arrives in it; nothing is deleted and nobody " +
    `else is affected. ${notMember} ${limited}`,
  request: { params: ConversationIdParam },
  responses: { 204: { description: "Archived" } },
  errors: ["NOT_FOUND", "RATE_LIMITED"],
});

export const addMember = route({
  method: "post",
  path: "/conversations/{conversation_id}/members",
  tags,
  security: bearer,
  operationId: "addGroupMember",
  summary: "Add someone to a group (admins)",
  description:
    `The newcomer sees the messages sent after they joined. 403 for members who are not admins; 409 ` +
    `CONFLICT when already a member; 409 INVALID_STATE when the group has ${MAX_GROUP} members or for a ` +
    `1:1 conversation; 404 USER_NOT_FOUND / 403 FORBIDDEN as for createGroup. ${notMember} ${limited}`,
  request: { params: ConversationIdParam, ...jsonBody(UserRef) },
  responses: { 201: body("Added") },
  errors: ["NOT_FOUND", "USER_NOT_FOUND", "FORBIDDEN", "CONFLICT", "INVALID_STATE", "RATE_LIMITED"],
});

export const removeMember = route({
  method: "delete",
  path: "/conversations/{conversation_id}/members/{user_id}",
  tags,
  security: bearer,
  operationId: "removeGroupMember",
  summary: "Remove a member from a group (admins; anyone may remove themselves)",
  description:
    "Removing oneself is leaving (see leaveGroup). An admin may remove any plain member, and an admin " +
    "only if they joined the group after the caller (403 otherwise: see removeGroupAdmin). " +
    "The removed member's wrapped keys in the group are " +
    `erased. 404 NOT_FOUND when that user is not a member. ${notMember} ${limited}`,
  request: { params: MemberParams },
  responses: { 204: { description: "Removed" } },
  errors: ["NOT_FOUND", "FORBIDDEN", "INVALID_STATE", "RATE_LIMITED"],
});

export const addAdmin = route({
  method: "post",
  path: "/conversations/{conversation_id}/admins",
  tags,
  security: bearer,
  operationId: "addGroupAdmin",
  summary: "Make a member an admin (admins)",
  description: `Idempotent. 404 NOT_FOUND when that user is not a member. ${notMember} ${limited}`,
  request: { params: ConversationIdParam, ...jsonBody(UserRef) },
  responses: { 200: body("Updated") },
  errors: ["NOT_FOUND", "FORBIDDEN", "INVALID_STATE", "RATE_LIMITED"],
});

export const removeAdmin = route({
  method: "delete",
  path: "/conversations/{conversation_id}/admins/{user_id}",
  tags,
  security: bearer,
  operationId: "removeGroupAdmin",
  summary: "Make an admin a plain member again (admins of longer standing; anyone for themselves)",
  description:
    "Admins rank by standing (who joined the group first): an admin may demote, or remove, an admin who " +
    "joined after them, never one who joined before (so nobody can demote or remove the group's " +
    "creator while they stay); any admin may step down, except the last one (409 INVALID_STATE). " +
    `Idempotent for a plain member. 404 NOT_FOUND when that user is not a member. ${notMember} ${limited}`,
  request: { params: MemberParams },
  responses: { 200: body("Updated") },
  errors: ["NOT_FOUND", "FORBIDDEN", "INVALID_STATE", "RATE_LIMITED"],
});

export const leaveGroup = route({
  method: "post",
  path: "/conversations/{conversation_id}/leave",
  tags,
  security: bearer,
  operationId: "leaveGroup",
  summary: "Leave a group",
  description:
    "The caller's wrapped keys in the group are erased. When the last admin leaves, the longest-standing " +
    "member becomes admin; when the last member leaves, the group and all its messages are erased. A 1:1 " +
    `conversation cannot be left (archive it instead): 409 INVALID_STATE. ${notMember} ${limited}`,
  request: { params: ConversationIdParam },
  responses: { 204: { description: "Left" } },
  errors: ["NOT_FOUND", "INVALID_STATE", "RATE_LIMITED"],
});
