import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { startLocalStore } from "../src/local-store.js";

declare module "vitest" {
  export interface ProvidedContext {
    mongoUri: string;
    storeKind: string;
  }
}

/**
 * One real MongoDB-wire server for the whole run, chosen in this order: MONGODB_URI; a
 * testcontainers MongoDB replica set when a container runtime answers; the local FerretDB build on
 * a fresh directory. If none starts, the run fails: tests never skip for want of a database.
 */
export default async function setup(project: TestProject) {
  if (process.env.MONGODB_URI) {
    project.provide("mongoUri", process.env.MONGODB_URI);
    project.provide("storeKind", "MONGODB_URI");
    return;
  }
  const container = await tryContainer();
  if (container) {
    project.provide("mongoUri", container.uri);
    project.provide("storeKind", "testcontainers MongoDB");
    return container.stop;
  }
  const dir = mkdtempSync(join(tmpdir(), "hush-test-store-"));
  const store = await startLocalStore(dir, (m) => console.log(m));
  project.provide("mongoUri", store.uri);
  project.provide("storeKind", "local FerretDB");
  console.log(`tests use the local FerretDB store at ${store.uri}`);
  return async () => {
    await store.stop();
    rmSync(dir, { recursive: true, force: true });
  };
}

async function tryContainer() {
  const { getContainerRuntimeClient } = await import("testcontainers");
  try {
    await Promise.race([
      getContainerRuntimeClient(),
      new Promise((_, reject) => setTimeout(() => reject(new Error("timeout")), 10_000)),
    ]);
  } catch {
    console.log("no container runtime answered; using the local FerretDB store");
    return null;
  }
  const { MongoDBContainer } = await import("@testcontainers/mongodb");
  const started = await new MongoDBContainer("mongo:7").start();
  return {
    uri: `${started.getConnectionString()}/?directConnection=true`,
    stop: async () => {
      await started.stop();
    },
  };
}
