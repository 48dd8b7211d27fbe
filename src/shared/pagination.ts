import { z } from "@hono/zod-openapi";

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
    .default(0)
    // Spelled out: the generator sees null coerce to 0, pass, and would call the field nullable.
    .openapi({
      param: { in: "query" },
      type: "integer",
      minimum: 0,
      default: 0,
      description: "Entries to skip",
    }),
};

export const Pagination = z
  .object({
    total: z.number().int(),
    limit: z.number().int(),
    offset: z.number().int(),
    has_more: z.boolean(),
  })
  .openapi("Pagination");

export const page = (total: number, limit: number, offset: number) => ({
  total,
  limit,
  offset,
  has_more: offset + limit < total,
});
