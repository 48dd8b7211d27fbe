"""
An integrator's program against a Python client generated from the served spec with
openapi-python-client (package `hush_client`), never against Hush's own code. It is checked with
`mypy --strict` together with the generated package (see generated-client.test.ts): if the spec's
types are wrong, this file does not type-check, or it fails when run.

Input (environment): HUSH_URL, and two accounts the test signed up: ALICE_TOKEN, BOB_ID. Output:
one JSON line of what each step answered, which the test compares.
"""

import hashlib
import io
import json
import os
from typing import TypeVar

from hush_client import AuthenticatedClient
from hush_client.api.attachments import complete_upload, create_upload, put_upload_part, upload_attachment
from hush_client.api.conversations import create_conversation, update_group
from hush_client.api.users import get_me, get_user
from hush_client.models import (
    Attachment,
    Conversation,
    CreateConversationRequest,
    CreateUploadRequest,
    ErrorResponse,
    UpdateGroupRequest,
    UploadStatus,
    User,
)
from hush_client.types import File


T = TypeVar("T")


def expect(step: str, answer: object, kind: type[T]) -> T:
    """The answer, which must be of the declared type `kind` (a parsed body or an ErrorResponse)."""
    if not isinstance(answer, kind):
        raise SystemExit(f"{step}: {answer!r}")
    return answer


def main() -> None:
    alice = AuthenticatedClient(base_url=os.environ["HUSH_URL"], token=os.environ["ALICE_TOKEN"])
    out: dict[str, object] = {}

    me = expect("getMe", get_me.sync(client=alice), User)
    out["me"] = me.username

    missing = get_user.sync_detailed("507f1f77bcf86cd799439011", client=alice)
    missing_body = expect("getUser", missing.parsed, ErrorResponse)
    out["missing"] = [int(missing.status_code), missing_body.code.value]

    body = CreateConversationRequest(participant_id=os.environ["BOB_ID"])
    chat = expect("createConversation", create_conversation.sync(client=alice, body=body), Conversation)
    out["conversation"] = {"type": chat.type_.value, "member_count": chat.member_count}

    timed = update_group.sync(chat.id, client=alice, body=UpdateGroupRequest(ttl_seconds=60))
    out["timer"] = expect("updateGroup 60", timed, Conversation).ttl_seconds
    off = update_group.sync(chat.id, client=alice, body=UpdateGroupRequest(ttl_seconds=0))
    out["timer_off"] = expect("updateGroup 0", off, Conversation).ttl_seconds

    data = b"ciphertext from a generated Python client"
    digest = hashlib.sha256(data).hexdigest()
    whole = upload_attachment.sync(client=alice, body=File(payload=io.BytesIO(data)))
    out["upload"] = expect("uploadAttachment", whole, Attachment).sha256 == digest

    opened = create_upload.sync(client=alice, body=CreateUploadRequest(size=len(data)))
    upload = expect("createUpload", opened, UploadStatus)
    part = put_upload_part.sync(upload.id, client=alice, body=File(payload=io.BytesIO(data)), offset=0)
    out["missing_after_part"] = len(expect("putUploadPart", part, UploadStatus).missing)
    done = expect("completeUpload", complete_upload.sync(upload.id, client=alice), Attachment)
    out["resumable"] = done.sha256 == digest

    print(json.dumps(out))


main()
