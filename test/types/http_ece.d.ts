// http_ece ships no types: the one call the push tests make.
declare module "http_ece" {
  export function decrypt(buffer: Buffer, params: Record<string, unknown>): Buffer;
}
