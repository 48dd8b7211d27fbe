import { MongoClient } from "mongodb";
import { createApp, openApiDocument } from "./app.js";
import { loadConfig } from "./config.js";
import { storeOf } from "./db/store.js";
import { createDeps } from "./deps.js";
import { consoleMailer } from "./mail/mailer.js";
import { systemClock } from "./shared/clock.js";
import { createLogger } from "./shared/logger.js";

/** The app with every route declared, built without a database or a port: for reading its spec. */
export function specApp() {
  const logger = createLogger("silent");
  const client = new MongoClient("mongodb://127.0.0.1:1"); // never connected
  const store = storeOf(client, client.db("schema"));
  const config = loadConfig({ NODE_ENV: "test" });
  const deps = createDeps({ config, store, clock: systemClock, logger, mailer: consoleMailer(logger) });
  return createApp(deps);
}

/** The OpenAPI document exactly as the server serves it. */
export const generateOpenApi = () => openApiDocument(specApp());

export const openApiJson = () => `${JSON.stringify(generateOpenApi(), null, 2)}\n`;
