import { writeFileSync } from "node:fs";
import { openApiJson, storageDoc } from "../src/openapi-doc.js";

// Regenerates schemas/openapi.json from the route declarations; a test fails when it drifts.
writeFileSync(new URL("../schemas/openapi.json", import.meta.url), openApiJson());
console.log("wrote schemas/openapi.json");
writeFileSync(new URL("../docs/storage.md", import.meta.url), storageDoc());
console.log("wrote docs/storage.md");
