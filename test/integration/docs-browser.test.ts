import { execFileSync } from "node:child_process";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Hush, startHush } from "../helpers/hush.js";

// A real browser on a machine without internet: whatever /docs needs must come from Hush itself.
// Chromium must be installed (.ci/run installs Debian's package); without it this file fails.
const chromium = () => execFileSync("which", ["chromium"], { encoding: "utf8" }).trim();
const loopback = new Set(["127.0.0.1", "localhost", "[::1]"]);

let h: Hush;
let browser: Browser;
let page: Page;
const requested: string[] = [];
const blocked: string[] = [];
const problems: string[] = [];

beforeAll(async () => {
  h = await startHush();
  browser = await puppeteer.launch({
    executablePath: chromium(),
    headless: true,
    args: ["--no-sandbox", "--disable-dev-shm-usage"], // CI runs as root, in a container
  });
  page = await browser.newPage();
  await page.setRequestInterception(true);
  page.on("request", (req) => {
    const url = new URL(req.url());
    if (url.protocol === "data:" || loopback.has(url.hostname)) {
      requested.push(req.url());
      void req.continue();
    } else {
      blocked.push(req.url());
      void req.abort("internetdisconnected");
    }
  });
  // A CSP violation or a script error shows up here.
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(m.text());
  });
  page.on("pageerror", (e) => problems.push(String(e)));
});
afterAll(async () => {
  if (process.env.DOCS_SCREENSHOT)
    await page?.screenshot({ path: process.env.DOCS_SCREENSHOT, fullPage: false });
  await browser?.close();
  await h?.close();
});

describe("Swagger UI at /docs, offline", () => {
  it("renders every operation of /openapi.json with nothing fetched from outside", async () => {
    const spec = await (await fetch(`${h.url}/openapi.json`)).json();
    const operations = Object.values<Record<string, unknown>>(spec.paths).flatMap((item) =>
      Object.keys(item),
    ).length;
    expect(operations).toBeGreaterThan(20);

    await page.goto(`${h.url}/docs`, { waitUntil: "networkidle0" });
    await page.waitForFunction((n) => document.querySelectorAll(".opblock").length === n, {}, operations);
    expect(await page.$$eval(".opblock", (els) => els.length)).toBe(operations);

    // Swagger UI gives each operation an element id from its tag and operationId.
    const getMe = await page.$eval("#operations-Users-getMe .opblock-summary", (el) => el.textContent);
    expect(getMe).toContain("/api/v1/users/me");
    expect(getMe).toContain("The calling user");

    expect(blocked).toEqual([]);
    expect(problems).toEqual([]);
    expect(requested).toContain(`${h.url}/docs/swagger-ui-bundle.js`);
    expect(requested).toContain(`${h.url}/openapi.json`);
  }, 60_000);

  it("'Try it out' calls the server that served the page, on its own port", async () => {
    await page.goto(`${h.url}/docs`, { waitUntil: "networkidle0" });
    const op = "#operations-Operations-healthz";
    await page.click(`${op} .opblock-summary-control`);
    await page.waitForSelector(`${op} .try-out__btn`);
    await page.click(`${op} .try-out__btn`);
    await page.waitForSelector(`${op} .execute`);
    requested.length = 0;
    await page.click(`${op} .execute`);
    await page.waitForSelector(`${op} .live-responses-table tr.response .response-col_status`);

    expect(requested).toContain(`${h.url}/healthz`);
    const status = await page.$eval(`${op} .live-responses-table tr.response .response-col_status`, (el) =>
      el.textContent?.trim(),
    );
    expect(status).toBe("200");
    const body = await page.$eval(`${op} .live-responses-table .microlight`, (el) => el.textContent);
    expect(body).toContain('"ok"');
    expect(blocked).toEqual([]);
  }, 60_000);
});
