import { afterAll } from "vitest";
import { coverageReport } from "./helpers/query-watch.js";

// Every query the app sent during this file must be one a declared index serves on MongoDB.
afterAll(() => {
  const report = coverageReport();
  if (report) throw new Error(report);
});
