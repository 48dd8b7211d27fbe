import { writeFileSync } from "node:fs";
import { openApiJson } from "../src/openapi-doc.js";

// Regenerates schemas/openapi.json from the route declarations; a test fails when it drifts.
writeFileSync(new URL("../schemas/openapi.json", import.meta.url), openApiJson());
console.log("wrote schemas/openapi.json");
