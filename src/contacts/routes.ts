import { bearer, json, jsonBody, route } from "../http/openapi.js";
import { UserIdParam } from "../users/schemas.js";
import { ContactBody, ContactList, ContactQuery, CreateContact, UpdateContact } from "./schemas.js";

const tags = ["Contacts"];
/** Contact requests mail nobody, but they are the spam vector of a messenger: bounded per sender. */
export const requestRule = { name: "contact-request", limit: 50, windowSeconds: 3600 };

export const createContact = route({
  method: "post",
  path: "/contacts",
  tags,
  security: bearer,
  operationId: "createContact",
  summary: "Send a contact request, or accept theirs if they already asked",
  description:
    "Names the user by `user_id` or by `username` (the latter only finds users discoverable by " +
    "username). Creates a request (`requested` for the caller, `incoming` for them) and answers 201. " +
    "If that user has already asked the caller, this accepts it instead: both become `accepted` and " +
    "the answer is 200. A user who blocked the caller is reported as USER_NOT_FOUND; one the caller " +
    "blocked is a 409 INVALID_STATE; an existing request or contact a 409 CONFLICT. " +
    `Limited to ${requestRule.limit} requests per hour per user.`,
  request: jsonBody(CreateContact),
  responses: {
    201: json(ContactBody, "Request sent"),
    200: json(ContactBody, "Their pending request was accepted"),
  },
  errors: ["NOT_FOUND", "USER_NOT_FOUND", "CONFLICT", "INVALID_STATE", "RATE_LIMITED"],
});

export const acceptContact = route({
  method: "post",
  path: "/contacts/{user_id}/accept",
  tags,
  security: bearer,
  operationId: "acceptContact",
  summary: "Accept an incoming contact request",
  description:
    "404 NOT_FOUND when that user has no pending request to the caller; 409 INVALID_STATE when the " +
    "request is the caller's own or they are already contacts.",
  request: { params: UserIdParam },
  responses: { 200: json(ContactBody, "Now contacts") },
  errors: ["NOT_FOUND", "USER_NOT_FOUND", "INVALID_STATE"],
});

export const deleteContact = route({
  method: "delete",
  path: "/contacts/{user_id}",
  tags,
  security: bearer,
  operationId: "deleteContact",
  summary: "Cancel an outgoing request, reject an incoming one, or remove a contact",
  description: "Both users' entries go.",
  request: { params: UserIdParam },
  responses: { 204: { description: "Gone for both" } },
  errors: ["NOT_FOUND"],
});

export const updateContact = route({
  method: "patch",
  path: "/contacts/{user_id}",
  tags,
  security: bearer,
  operationId: "updateContact",
  summary: "Set or clear the caller's private display name for a contact",
  description:
    "Sets the name the caller sees for a contact (only the caller ever sees it), or clears it with " +
    "null. 404 when the user is not in the caller's contact list",
  request: { params: UserIdParam, ...jsonBody(UpdateContact) },
  responses: { 200: json(ContactBody, "Updated entry") },
  errors: ["NOT_FOUND", "USER_NOT_FOUND"],
});

export const listContacts = route({
  method: "get",
  path: "/contacts",
  tags,
  security: bearer,
  operationId: "listContacts",
  summary: "The caller's contacts and pending requests, newest first",
  description:
    "The caller's contact list: accepted contacts and requests sent and received, newest first, with " +
    "the caller's own display names. `search` filters by display name or username, `status` by state; paged " +
    "by `limit` and `skip`",
  request: { query: ContactQuery },
  responses: { 200: json(ContactList, "A page of contacts") },
});
