import { afterAll } from "vitest";
import { coverageReport, planReport } from "./helpers/query-watch.js";

// Every query the app sent during this file must be one a declared index serves on MongoDB, and on
// the local store one whose plan reads only what its answer needs.
afterAll(async () => {
  const reports = [coverageReport(), await planReport()].filter(Boolean);
  if (reports.length) throw new Error(reports.join("\n"));
});
