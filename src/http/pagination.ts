import { z } from "@hono/zod-openapi";

/** Deeper pages than this are refused: skipping costs the database as much as reading. */
export const MAX_OFFSET = 10_000;

/** Offset pagination shared by list routes: the query fields and Echo's `pagination` block. */
export const PageQuery = {
  limit: z.coerce
    .number<string>()
    .int()
    .min(1)
    .max(100)
    .default(20)
    .openapi({ param: { in: "query" }, description: "Page size, 1-100" }),
  offset: z.coerce
    .number<string>()
    .int()
    .min(0)
    .max(MAX_OFFSET)
    .default(0)
    // Spelled out: the generator sees null coerce to 0, pass, and would call the field nullable.
    .openapi({
      param: { in: "query" },
      type: "integer",
      minimum: 0,
      maximum: MAX_OFFSET,
      default: 0,
      description: `Entries to skip, at most ${MAX_OFFSET}`,
    }),
};

export const Pagination = z
  .object({
    total: z.number().int().min(0),
    limit: z.number().int().min(1),
    offset: z.number().int().min(0),
    has_more: z.boolean(),
  })
  .openapi("Pagination");

export const page = (total: number, limit: number, offset: number) => ({
  total,
  limit,
  offset,
  has_more: offset + limit < total,
});
