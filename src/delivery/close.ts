/**
 * The close codes a server uses on a WebSocket, documented in docs/realtime.md and the AsyncAPI
 * document. Here, low down, because revoking a session or erasing a device closes sockets too.
 */
export const closeCodes = {
  SHUTDOWN: [1001, "server shutting down; reconnect"],
  FRAME_TOO_LARGE: [1009, "frame beyond the hard size limit"],
  SESSION_ENDED: [4001, "session revoked or ended"],
  TOKEN_EXPIRED: [4004, "access token expired; refresh and reconnect"],
  DEVICE_REMOVED: [4002, "device removed"],
  ACCOUNT_DELETED: [4003, "account deleted"],
  ACCOUNT_SUSPENDED: [4005, "account suspended by the operator"],
  RATE_LIMITED: [4008, "too many frames, kept on past the limit"],
  SLOW_CONSUMER: [4009, "unsent data passed the bound; reconnect and sync"],
} as const;
export type CloseName = keyof typeof closeCodes;
