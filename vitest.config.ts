import { defineConfig } from "vitest/config";

// Tests that need no database (`npm run test:unit`): no store is built or started for them, and they
// send no query for the query-watch check (test/setup.ts) to look at. Everything else runs against
// the real store that test/global-setup.ts starts. `npm test` runs both projects, each file once.
const unit = [
  "test/unit/**/*.test.ts",
  // The SDK's own logic, with no server: crypto, ratchet, test vectors, the generated types.
  "test/sdk/crypto.test.ts",
  "test/sdk/ratchet.test.ts",
  "test/sdk/vectors.test.ts",
  "test/sdk/generated.test.ts",
];

const shared = {
  testTimeout: 30_000,
  allowOnly: false,
  passWithNoTests: false,
};

export default defineConfig({
  test: {
    projects: [
      { test: { ...shared, name: "unit", include: unit } },
      {
        test: {
          ...shared,
          name: "integration",
          include: ["test/**/*.test.ts"],
          exclude: [...unit, "**/node_modules/**"],
          globalSetup: ["test/global-setup.ts"],
          setupFiles: ["test/setup.ts"],
          hookTimeout: 300_000, // the first run builds the local store
        },
      },
    ],
  },
});
