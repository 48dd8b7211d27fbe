import { writeFileSync } from "node:fs";
import { asyncApiJson, openApiJson, storageDoc } from "../src/openapi-doc.js";
import { sdkApiTypes, sdkSocketTypes } from "./sdk-types.js";

// Regenerates schemas/openapi.json from the route declarations and schemas/asyncapi.json from the
// WebSocket protocol's schemas, and the SDK's types from both; a test fails when any drifts.
const write = (path: string, text: string) => {
  writeFileSync(new URL(`../${path}`, import.meta.url), text);
  console.log(`wrote ${path}`);
};
const openApi = openApiJson();
const asyncApi = asyncApiJson();
write("schemas/openapi.json", openApi);
write("schemas/asyncapi.json", asyncApi);
write("docs/storage.md", storageDoc());
write("sdk/src/generated/api.ts", await sdkApiTypes(openApi));
write("sdk/src/generated/socket.ts", await sdkSocketTypes(asyncApi));
