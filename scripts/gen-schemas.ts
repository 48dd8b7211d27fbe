import { writeFileSync } from "node:fs";
import { asyncApiJson, openApiJson, storageDoc } from "../src/openapi-doc.js";

// Regenerates schemas/openapi.json from the route declarations and schemas/asyncapi.json from the
// WebSocket protocol's schemas; a test fails when either drifts.
writeFileSync(new URL("../schemas/openapi.json", import.meta.url), openApiJson());
console.log("wrote schemas/openapi.json");
writeFileSync(new URL("../schemas/asyncapi.json", import.meta.url), asyncApiJson());
console.log("wrote schemas/asyncapi.json");
writeFileSync(new URL("../docs/storage.md", import.meta.url), storageDoc());
console.log("wrote docs/storage.md");
