export {
  createRealtimeClient,
  RealtimeClient,
  type ConnectionStatus,
  type HandlerMap,
  type RealtimeClientOptions,
  type StatusDetail,
} from "./client.js";
export { RealtimeError, type RealtimeErrorKind } from "./errors.js";
export { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from "./backoff.js";
export { tokenExpiry } from "./jwt.js";
export {
  CHANNELS,
  type Ack,
  type AuthExpired,
  type AuthRefreshRequired,
  type Channel,
  type ClientEvents,
  type ExpenseStatusChange,
  type GatewayErrorPayload,
  type LocationInput,
  type PublishLocationAck,
  type RefreshTokenAck,
  type RiderLocationUpdate,
  type ServerEvents,
  type SubscribeAck,
} from "./events.js";
