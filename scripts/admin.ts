import { hostname, userInfo } from "node:os";
import { backupEmbedded, mongoAdvice, restoreEmbedded } from "../src/admin/backup.js";
import { AdminError, type FileOps, runAdmin } from "../src/admin/commands.js";
import { describe } from "../src/admin/text.js";
import { createDeps } from "../src/compose.js";
import { ConfigError, loadConfig } from "../src/config.js";
import { connectStore } from "../src/db/store.js";
import { readStoreAddress } from "../src/db/store-address.js";
import { inventory } from "../src/inventory.js";
import { systemClock } from "../src/lib/clock.js";
import { createLogger } from "../src/lib/logger.js";
import { startLocalStore } from "../src/local-store.js";
import { consoleMailer } from "../src/mail/mailer.js";

const help = `npm run admin -- <command> [--json]

  invite create [--uses N] [--expires 7d]   a sign-up code (shown once)
  invite list | invite revoke <id>
  users list [--search TEXT] [--limit N]
  users show|suspend|unsuspend|delete <email|username|id> [--reason TEXT]
  stats                                     what the server holds
  backup <file>                             a consistent copy of the embedded store, while it runs
  restore <file>                            into an empty DATA_DIR (no server running on it)
  audit [--limit N]                         what operators did, newest first

Runs against the server's database: MONGODB_URI, or the embedded store in DATA_DIR (the running
server's, or one started for the command when no server runs). Use the server's environment.
`;

/**
 * The operator's command (README, "Running it for real"). An entry file like src/index.ts: it reads
 * the environment and reaches the same store the server uses.
 */
async function main(argv: string[]) {
  if (argv.length === 0 || argv.includes("--help")) return void process.stdout.write(help);
  const json = argv.includes("--json");
  const config = loadConfig({ ...process.env, LOG_LEVEL: "silent" });
  const logger = createLogger("silent");
  const [command, file] = argv.filter((a) => !a.startsWith("--"));
  const files: FileOps = { backup: (to) => backupEmbedded(config.DATA_DIR, config.MONGODB_DB, to) };
  if (command === "backup" || command === "restore") {
    if (config.MONGODB_URI) throw new AdminError(mongoAdvice);
  }
  if (command === "restore" && file) {
    if (readStoreAddress(config.DATA_DIR))
      throw new AdminError("a server runs on DATA_DIR: restore into an empty folder");
    files.restored = await restoreEmbedded(file, config.DATA_DIR, config.MONGODB_DB);
  }
  const running = config.MONGODB_URI ? null : readStoreAddress(config.DATA_DIR);
  const local = config.MONGODB_URI || running ? undefined : await startLocalStore(config.DATA_DIR);
  const uri = config.MONGODB_URI ?? running ?? local!.uri;
  const store = await connectStore(uri, config.MONGODB_DB, logger, {
    inventory,
    timeoutMs: config.STORE_TIMEOUT_MS,
    ttlGraceSeconds: config.TTL_BACKSTOP_SECONDS,
  });
  const mailer = consoleMailer(logger);
  const deps = createDeps({ config, store, clock: systemClock, logger, mailer });
  try {
    // Who ran it, as the shell says (through sudo, the operator behind it).
    const person = process.env.SUDO_USER || process.env.USER || userInfo().username;
    const actor = `${person}@${hostname()}`;
    const outcome = await runAdmin(deps, argv, actor, files);
    process.stdout.write(
      json ? `${JSON.stringify(outcome.result)}\n` : describe(outcome.command, outcome.result),
    );
  } finally {
    await store.close();
    mailer.close();
    await local?.stop();
  }
}

main(process.argv.slice(2)).catch((err) => {
  const known =
    err instanceof AdminError || err instanceof ConfigError || (err as Error)?.name === "TypeError";
  process.stderr.write(`admin: ${known ? (err as Error).message : ((err as Error)?.stack ?? String(err))}\n`);
  process.exit(1);
});
