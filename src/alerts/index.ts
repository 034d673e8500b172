/** Outbound alert webhooks (issue 6, point 6): one import for the gateway and the CLI. */
export { AlertDispatcher, type AlertDispatcherOptions, type AlertTransport, type DeadLetter, type DestinationStats, type TransportResponse } from './dispatcher.ts';
export { ALERT_ID_HEADER, DEFAULT_TOLERANCE_SECONDS, SIGNATURE_HEADER, signAlert, verifyAlertSignature, type VerifyOptions, type VerifyResult } from './signature.ts';
export { alertDetails, MAX_DETAILS_BYTES } from './payload.ts';
export {
  alertDestinationSchema,
  alertsConfigSchema,
  checkAlertsConfig,
  parseAlertsConfig,
  resolveAlertDestination,
  type AlertDestination,
  type AlertDestinationConfig,
} from './schema.ts';
