import { createDeps } from "./compose.js";
import { ConfigError, loadConfig } from "./config.js";
import { connectStore } from "./db/store.js";
import { removeStoreAddress, writeStoreAddress } from "./db/store-address.js";
import { pushJob } from "./delivery/wake.js";
import { inventory } from "./inventory.js";
import { expiryJobs } from "./jobs/jobs.js";
import { recoveryJob } from "./jobs/recovery.js";
import { startJobs } from "./jobs/runner.js";
import { systemClock } from "./lib/clock.js";
import { createLogger } from "./lib/logger.js";
import { startLocalStore } from "./local-store.js";
import { consoleMailer, smtpMailer } from "./mail/mailer.js";
import { createServer } from "./server.js";

// The only place that reads the environment, binds ports and handles signals.
async function main() {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const logger = createLogger(config.LOG_LEVEL);
  if (config.generatedSecret)
    logger.warn("JWT_SECRET not set: using a generated secret; tokens end with this process");

  const local = config.MONGODB_URI
    ? undefined
    : await startLocalStore(config.DATA_DIR, (m) => logger.info(m));
  const uri = config.MONGODB_URI ?? local!.uri;
  if (local) writeStoreAddress(config.DATA_DIR, local.uri); // for `npm run admin` while this runs
  logger.info("database", {
    store: local ? `local FerretDB store at ${local.uri} (data in ${config.DATA_DIR})` : "MONGODB_URI",
    ...(local ? { store_pid: local.pid() } : {}),
  });
  const store = await connectStore(uri, config.MONGODB_DB, logger, {
    inventory,
    timeoutMs: config.STORE_TIMEOUT_MS,
    ttlGraceSeconds: config.TTL_BACKSTOP_SECONDS,
  });
  const mailer = config.SMTP_URL ? smtpMailer(config.SMTP_URL, config.MAIL_FROM) : consoleMailer(logger);
  if (!config.SMTP_URL)
    logger.warn("SMTP_URL not set: OTP mails are printed to this console (development only)");

  const offset = config.TEST_CLOCK_OFFSET_MS;
  const clock = offset ? { now: () => new Date(Date.now() + offset) } : systemClock;
  const deps = createDeps({ config, store, clock, logger, mailer });
  const crashAt = config.TEST_CRASH_AT;
  if (crashAt) deps.checkpoint = (step) => void (step === crashAt && process.kill(process.pid, "SIGKILL"));
  const jobs = startJobs(deps, [recoveryJob, pushJob, ...expiryJobs(deps.inventory)]);
  const server = createServer(deps);
  const addr = await server.listen(config.PORT, config.HOST);
  logger.info("listening", { url: `http://${addr.address}:${addr.port}`, docs: "/docs" });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info("shutting down", { signal });
    await server.close();
    await jobs.stop();
    await store.close();
    mailer.close();
    if (local) removeStoreAddress(config.DATA_DIR);
    await local?.stop();
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
}

main().catch((err) => {
  process.stderr.write(`fatal: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
