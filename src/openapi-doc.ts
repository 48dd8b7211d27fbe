import { MongoClient } from "mongodb";
import { createApp, openApiDocument } from "./app.js";
import { createDeps } from "./compose.js";
import { loadConfig } from "./config.js";
import { storeOf } from "./db/store.js";
import { consoleMailer } from "./mail/mailer.js";
import { systemClock } from "./shared/clock.js";
import { createLogger } from "./shared/logger.js";

/** The OpenAPI document exactly as the server serves it, built without a database or a port. */
export function generateOpenApi() {
  const logger = createLogger("silent");
  const client = new MongoClient("mongodb://127.0.0.1:1"); // never connected
  const store = storeOf(client, client.db("schema"));
  const config = loadConfig({ NODE_ENV: "test" });
  const deps = createDeps({ config, store, clock: systemClock, logger, mailer: consoleMailer(logger) });
  return openApiDocument(createApp(deps));
}

export const openApiJson = () => `${JSON.stringify(generateOpenApi(), null, 2)}\n`;
