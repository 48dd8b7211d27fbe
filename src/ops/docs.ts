import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { Hono } from "hono";
import type { AppEnv } from "../http/openapi.js";

/** Swagger UI's files this page uses, served from the swagger-ui-dist package: no CDN, works offline. */
const assets: Record<string, string> = {
  "swagger-ui.css": "text/css; charset=utf-8",
  "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
  "favicon-32x32.png": "image/png",
};
const assetDir = dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));

const page = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Hush API</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
`;

// A file of its own rather than an inline script, so the page's CSP can forbid inline scripts.
const init = `window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
`;

// Everything comes from this origin; Swagger UI sets style attributes and draws icons from data: URLs.
const csp =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/** `/docs`: Swagger UI over `/openapi.json`. Files are read on first use and kept in memory. */
export function docsRoutes() {
  const app = new Hono<AppEnv>()
    .get("/docs", (c) => c.html(page, 200, { "Content-Security-Policy": csp }))
    .get("/docs/init.js", (c) => c.body(init, 200, { "Content-Type": "text/javascript; charset=utf-8" }));
  for (const [name, type] of Object.entries(assets)) {
    let file: Promise<Uint8Array<ArrayBuffer>> | undefined;
    app.get(`/docs/${name}`, async (c) => {
      file ??= readFile(join(assetDir, name)).then((b) => new Uint8Array(b));
      return c.body(await file, 200, {
        "Content-Type": type,
        "Cache-Control": "public, max-age=3600",
      });
    });
  }
  return app;
}
