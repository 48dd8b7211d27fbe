import java.io.File;
import java.nio.file.Files;
import java.security.MessageDigest;
import java.util.HexFormat;
import org.openapitools.client.ApiClient;
import org.openapitools.client.ApiException;
import org.openapitools.client.api.AttachmentsApi;
import org.openapitools.client.api.ConversationsApi;
import org.openapitools.client.api.UsersApi;
import org.openapitools.client.model.Attachment;
import org.openapitools.client.model.Conversation;
import org.openapitools.client.model.CreateConversationRequest;
import org.openapitools.client.model.CreateUploadRequest;
import org.openapitools.client.model.UpdateGroupRequest;
import org.openapitools.client.model.UploadStatus;

/**
 * An integrator's program against the Java client openapi-generator makes from the served spec
 * (its default generator, okhttp-gson), never against Hush's own code: compiled with it by Maven and
 * run by generated-client.test.ts. Input (environment): HUSH_URL, ALICE_TOKEN, BOB_ID. Output: one
 * JSON line of what each step answered, which the test compares.
 */
public class Flow {
  public static void main(String[] args) throws Exception {
    ApiClient client = new ApiClient();
    client.setBasePath(System.getenv("HUSH_URL"));
    client.setBearerToken(System.getenv("ALICE_TOKEN"));
    UsersApi users = new UsersApi(client);
    ConversationsApi conversations = new ConversationsApi(client);
    AttachmentsApi attachments = new AttachmentsApi(client);

    String me = users.getMe().getUsername();

    int missingStatus = 0;
    String missingBody = "";
    try {
      users.getUser("507f1f77bcf86cd799439011");
    } catch (ApiException e) {
      missingStatus = e.getCode();
      missingBody = e.getResponseBody();
    }

    Conversation chat =
        conversations.createConversation(new CreateConversationRequest().participantId(System.getenv("BOB_ID")));
    Integer timer = conversations.updateGroup(chat.getId(), new UpdateGroupRequest().ttlSeconds(60)).getTtlSeconds();
    // Gson leaves a null out of the body, so 0 is how a Java client turns the timer off.
    Integer timerOff = conversations.updateGroup(chat.getId(), new UpdateGroupRequest().ttlSeconds(0)).getTtlSeconds();

    byte[] data = "ciphertext from a generated Java client".getBytes("UTF-8");
    String digest = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
    File file = File.createTempFile("hush-", ".bin");
    file.deleteOnExit();
    Files.write(file.toPath(), data);
    Attachment whole = attachments.uploadAttachment(file);

    UploadStatus opened = attachments.createUpload(new CreateUploadRequest().size((long) data.length));
    UploadStatus part = attachments.putUploadPart(opened.getId(), 0L, file);
    Attachment done = attachments.completeUpload(opened.getId());

    System.out.println(
        "{\"me\":\"" + me + "\",\"missing\":[" + missingStatus + ","
            + missingBody.contains("\"USER_NOT_FOUND\"") + "],\"conversation\":{\"type\":\""
            + chat.getType().getValue() + "\",\"member_count\":" + chat.getMemberCount() + "},\"timer\":"
            + timer + ",\"timer_off\":" + timerOff + ",\"upload\":" + whole.getSha256().equals(digest)
            + ",\"missing_after_part\":" + part.getMissing().size() + ",\"resumable\":"
            + done.getSha256().equals(digest) + "}");
  }
}
