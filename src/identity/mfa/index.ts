/**
 * MFA of the built-in identity provider: TOTP (RFC 6238) with recovery codes, and step-up.
 */
export { enrollEndpoint, confirmEndpoint, mfaVerifyEndpoint, stepUpEndpoint } from './endpoints.ts';
export {
  TotpVerifier,
  generateTotpSecret,
  generateTotpCode,
  matchTotpStep,
  totpStep,
  totpUri,
  encodeTotpSecret,
  decodeTotpSecret,
  isTotpCodeShape,
  TOTP_PERIOD_SECONDS,
  TOTP_DIGITS,
  TOTP_SECRET_BYTES,
  type TotpOutcome,
  type TotpRefusal,
} from './totp.ts';
export { generateRecoveryCodes, normaliseRecoveryCode, hashRecoveryCode, RECOVERY_CODE_COUNT, RECOVERY_ALPHABET } from './recovery-codes.ts';
