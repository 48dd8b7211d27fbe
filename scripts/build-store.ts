import { ensureStoreBinary } from "../src/local-store.js";

// Builds the local FerretDB store ahead of time (tests and `npm start` also build it on first use).
console.log(ensureStoreBinary((m) => console.log(m)));
