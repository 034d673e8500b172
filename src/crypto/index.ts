/** Cryptographic building blocks: one import for callers (identity, storage, CLI). */
export { constantTimeEqual } from './constant-time.ts';
export { deriveSecretPepper, hashSecret } from './hashing.ts';
export { MASTER_KEY_BYTES, MasterKeyError, deriveSubkey, generateMasterKey, parseMasterKey } from './master-key.ts';
export {
  ARGON2ID_OPTIONS,
  DUMMY_PASSWORD_HASH,
  MAX_PASSWORD_LENGTH,
  MIN_PASSWORD_LENGTH,
  PasswordHashError,
  PasswordHasher,
  checkPasswordPolicy,
  commonPasswordList,
  hashPassword,
  needsRehash,
  verifyPassword,
  verifyPasswordOrDummy,
  type PasswordHasherOptions,
  type PasswordPolicyContext,
} from './passwords.ts';
export { newId, randomToken } from './random.ts';
export { SecretBox, SecretBoxError, type SecretBoxErrorCode, type SecretBoxOptions } from './secret-box.ts';
