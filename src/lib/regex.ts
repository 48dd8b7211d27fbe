/** The text as a regular expression that matches it literally (for a user's search in a query). */
export const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
