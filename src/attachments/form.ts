import { Readable } from "node:stream";
import type { ReadableStream as NodeWebStream } from "node:stream/web";
import busboy from "busboy";
import { AppError } from "../http/errors.js";
import { interrupted } from "./ingest.js";

/**
 * The `file` part of a streamed multipart/form-data body (PuffinTalk's upload form), as a stream
 * read straight off the request: nothing is buffered beyond the parser's window. Other parts are
 * read past and dropped. `finished` settles once the form has been read to its closing boundary;
 * `stop` abandons the form (the rest of the body stays unread, and the connection is closed after
 * the answer).
 */
export function formFile(body: ReadableStream<Uint8Array>, contentType: string) {
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: { "content-type": contentType },
      limits: { fields: 20, fieldSize: 4096, files: 4, parts: 24, headerPairs: 20 },
    });
  } catch {
    throw new AppError("VALIDATION_ERROR", "Malformed multipart/form-data Content-Type", {
      "content-type": "multipart/form-data needs a boundary",
    });
  }
  const input = Readable.fromWeb(body as NodeWebStream<Uint8Array>);
  const cut = () => interrupted();
  let taken = false;
  let fileStream: Readable | undefined;
  const file = new Promise<Readable>((resolve, reject) => {
    parser.on("file", (name, stream) => {
      if (name === "file" && !taken) {
        taken = true;
        fileStream = stream;
        resolve(stream);
      } else stream.resume();
    });
    parser.on("error", (err) => reject(malformed(err)));
    parser.on("close", () => reject(missingFile()));
    input.on("error", () => reject(cut()));
  });
  const finished = new Promise<void>((resolve, reject) => {
    parser.on("close", resolve);
    parser.on("error", (err) => reject(malformed(err)));
    input.on("error", () => reject(cut()));
  });
  finished.catch(() => {}); // whoever awaits it sees the failure; nobody else must
  file.catch(() => {});
  input.on("error", () => parser.destroy(cut()));
  input.pipe(parser);
  return {
    file,
    finished,
    stop() {
      input.unpipe(parser);
      fileStream?.destroy();
      parser.destroy();
    },
  };
}

const malformed = (err: unknown) =>
  err instanceof AppError
    ? err
    : new AppError("VALIDATION_ERROR", `Malformed multipart/form-data body: ${(err as Error).message}`, {
        body: "malformed multipart/form-data",
      });

const missingFile = () =>
  new AppError("VALIDATION_ERROR", "The form has no file part", { file: "required: a part named file" });
