/**
 * Password hashing with argon2id and the password policy.
 *
 * Parameters follow the OWASP Password Storage Cheat Sheet's first argon2id configuration
 * (m = 19 MiB, t = 2, p = 1), which is also @node-rs/argon2's default; they are spelled out so a
 * library upgrade cannot silently change them. Each hash is a PHC string carrying its own salt and
 * parameters, so raising them later only needs `needsRehash` at the next successful login.
 *
 * Passwords are normalised to Unicode NFKC before hashing and checking (NIST SP 800-63B §5.1.1.2),
 * so the same password typed on two keyboards (composed or decomposed accents) verifies.
 */
import { readFileSync } from 'node:fs';
import { Algorithm, hash as argon2Hash, hashSync as argon2HashSync, parseOptions, verify as argon2Verify, type Options } from '@node-rs/argon2';
import { randomBytes } from 'node:crypto';

export const MIN_PASSWORD_LENGTH = 12;
/** NIST SP 800-63B asks to accept at least 64 characters; a ceiling keeps hashing cost bounded. */
export const MAX_PASSWORD_LENGTH = 256;

export const ARGON2ID_OPTIONS: Readonly<Options> = Object.freeze({
  algorithm: Algorithm.Argon2id,
  memoryCost: 19456,
  timeCost: 2,
  parallelism: 1,
});

export class PasswordHashError extends Error {
  override readonly name = 'PasswordHashError';
}

/**
 * Bounds on the argon2id parameters a stored hash may ask for. argon2 takes its cost from the PHC string being
 * verified, so without them a hash written into the store outside Rampart (`m=4294967295`, `t=4294967295`) makes one
 * unauthenticated login allocate gigabytes or pin a worker thread for good (CWE-400, CWE-770).
 *
 * Rampart writes m = 19 MiB, t = 2, p = 1 (ARGON2ID_OPTIONS; no config changes them). The ceilings leave room to raise
 * them along the OWASP Password Storage Cheat Sheet's argon2id table (m from 7 to 46 MiB, t from 1 to 5, p = 1) and
 * RFC 9106 §4's second recommended option (m = 64 MiB, t = 3, p = 4), with margin: m up to 256 MiB (more than five
 * times OWASP's largest m; RFC 9106's 2 GiB first option is meant for a dedicated machine, not for each of a
 * gateway's concurrent logins), t up to 10, p up to 16. The floors are argon2's own minimums (RFC 9106 §3.1: t ≥ 1,
 * p ≥ 1, m ≥ 8p): a weaker but valid hash is no denial-of-service risk, still verifies, and `needsRehash` upgrades it.
 * Only version 19 (0x13, RFC 9106) is accepted: the only one Rampart writes.
 */
export const STORED_HASH_BOUNDS = Object.freeze({
  maxMemoryKib: 262_144,
  maxTimeCost: 10,
  maxParallelism: 16,
  version: 19,
});

/**
 * An argon2id PHC string as Rampart writes it: `$argon2id$v=19$m=…,t=…,p=…$salt$hash`, decimal numbers without
 * leading zeros (PHC string format), unpadded base64 salt (8 to 48 bytes) and output (16 to 64 bytes). Nothing else
 * (no `keyid`/`data` fields, no parameter twice or out of order) reaches argon2.
 */
const STORED_HASH_SHAPE = /^\$argon2id\$v=(0|[1-9]\d{0,9})\$m=(0|[1-9]\d{0,9}),t=(0|[1-9]\d{0,9}),p=(0|[1-9]\d{0,9})\$[A-Za-z0-9+/]{11,64}\$[A-Za-z0-9+/]{22,86}$/;

/** Why argon2 must not be asked to verify `hash`, or undefined when its shape and parameters are within bounds. */
export function storedHashProblem(hash: string): string | undefined {
  const match = typeof hash === 'string' ? STORED_HASH_SHAPE.exec(hash) : null;
  if (match === null) return 'stored password hash is not an argon2id PHC string as Rampart writes it';
  const [version, memoryKib, timeCost, parallelism] = match.slice(1).map(Number) as [number, number, number, number];
  if (version !== STORED_HASH_BOUNDS.version) return `stored password hash has argon2 version ${version}, not ${STORED_HASH_BOUNDS.version}`;
  if (parallelism < 1 || parallelism > STORED_HASH_BOUNDS.maxParallelism) return `stored password hash has p=${parallelism}, outside 1..${STORED_HASH_BOUNDS.maxParallelism}`;
  if (memoryKib < 8 * parallelism || memoryKib > STORED_HASH_BOUNDS.maxMemoryKib) {
    return `stored password hash has m=${memoryKib}, outside ${8 * parallelism}..${STORED_HASH_BOUNDS.maxMemoryKib}`;
  }
  if (timeCost < 1 || timeCost > STORED_HASH_BOUNDS.maxTimeCost) return `stored password hash has t=${timeCost}, outside 1..${STORED_HASH_BOUNDS.maxTimeCost}`;
  return undefined;
}

/**
 * Longer than this in UTF-16 units, a text is longer than MAX_PASSWORD_LENGTH characters after NFKC whatever it holds:
 * NFKC never removes a code point, recomposes at most 4 into one (the longest decomposition of a character NFKC keeps,
 * U+1F82, is 4 code points: passwords.test.ts checks every code point against Node's ICU), and a code point is at
 * most 2 units. See `normalise`.
 */
const MAX_PASSWORD_UNITS = MAX_PASSWORD_LENGTH * 4 * 2;

/**
 * NFKC of a password. A password longer than MAX_PASSWORD_UNITS is cut to one unit more before normalising: it is
 * over-long either way (same answers everywhere), and NFKC is quadratic in a run of combining marks (text/nfkc.ts):
 * a 100 KB password of marks held the event loop for seconds. Passwords are not made stream-safe (text/nfkc.ts) so
 * that every stored hash keeps verifying exactly as before.
 */
function normalise(password: string): string {
  return (password.length > MAX_PASSWORD_UNITS ? password.slice(0, MAX_PASSWORD_UNITS + 1) : password).normalize('NFKC');
}

/** Length in characters (code points), not UTF-16 units: an emoji counts once (NIST SP 800-63B §5.1.1.2). */
function characterCount(text: string): number {
  let count = 0;
  for (const _ of text) count += 1;
  return count;
}

/**
 * A hash of a random password nobody knows, computed once at startup with the same parameters as
 * real hashes. Logins for unknown users verify against it, so they cost the same full argon2id
 * verification as a wrong password for a real user and the two cannot be told apart by timing
 * (OWASP Authentication Cheat Sheet, "Authentication and Error Messages"; CWE-204).
 */
export const DUMMY_PASSWORD_HASH: string = argon2HashSync(randomBytes(32).toString('base64url'), ARGON2ID_OPTIONS);

export type VerifyFunction = (hash: string, password: string) => Promise<boolean>;
export type HashFunction = (password: string, options: Options) => Promise<string>;

export interface PasswordHasherOptions {
  /** Replaces argon2's verify, e.g. with a spy that wraps it in tests. */
  readonly verify?: VerifyFunction;
  readonly hash?: HashFunction;
  readonly dummyHash?: string;
}

export class PasswordHasher {
  readonly #verify: VerifyFunction;
  readonly #hash: HashFunction;
  readonly dummyHash: string;

  constructor(options: PasswordHasherOptions = {}) {
    this.#verify = options.verify ?? ((hash, password) => argon2Verify(hash, password));
    this.#hash = options.hash ?? ((password, hashOptions) => argon2Hash(password, hashOptions));
    this.dummyHash = options.dummyHash ?? DUMMY_PASSWORD_HASH;
  }

  /** An argon2id PHC string for the password. The policy is checked separately (`checkPasswordPolicy`). */
  async hash(password: string): Promise<string> {
    if (typeof password !== 'string' || password.length === 0) throw new PasswordHashError('password must be a non-empty string');
    const normalised = normalise(password);
    if (characterCount(normalised) > MAX_PASSWORD_LENGTH) {
      throw new PasswordHashError(`password must be at most ${MAX_PASSWORD_LENGTH} characters long`);
    }
    return this.#hash(normalised, ARGON2ID_OPTIONS);
  }

  /**
   * True when the password matches the stored hash. An over-long password still costs one
   * verification (against the dummy hash) before the answer false. A stored hash argon2 cannot parse,
   * or that `storedHashProblem` refuses (not Rampart's shape, parameters outside STORED_HASH_BOUNDS),
   * throws `PasswordHashError` (a corrupt record, not a wrong password). A refused hash never reaches
   * argon2; one verification against the dummy hash runs instead, so the login costs what any other
   * failed login costs.
   */
  async verify(hash: string, password: string): Promise<boolean> {
    const normalised = typeof password === 'string' ? normalise(password) : '';
    if (normalised.length === 0 || characterCount(normalised) > MAX_PASSWORD_LENGTH) {
      await this.#verifyDummy(normalised.slice(0, MAX_PASSWORD_LENGTH * 2));
      return false;
    }
    const problem = storedHashProblem(hash);
    if (problem !== undefined) {
      await this.#verifyDummy(normalised);
      throw new PasswordHashError(problem);
    }
    try {
      return await this.#verify(hash, normalised);
    } catch {
      throw new PasswordHashError('stored password hash is not a valid argon2 hash');
    }
  }

  /**
   * Always runs exactly one full argon2id verification: against `hash` when there is one, against
   * the dummy hash otherwise (unknown user), in which case the answer is false whatever the password.
   */
  async verifyOrDummy(hash: string | undefined, password: string): Promise<boolean> {
    if (hash === undefined) {
      await this.#verifyDummy(typeof password === 'string' ? normalise(password).slice(0, MAX_PASSWORD_LENGTH * 2) : '');
      return false;
    }
    return this.verify(hash, password);
  }

  async #verifyDummy(password: string): Promise<void> {
    // The dummy password is random and unknown, so this never matches; the result is discarded either way.
    await this.#verify(this.dummyHash, password.length > 0 ? password : 'empty');
  }
}

const defaultHasher = new PasswordHasher();

export function hashPassword(password: string): Promise<string> {
  return defaultHasher.hash(password);
}

export function verifyPassword(hash: string, password: string): Promise<boolean> {
  return defaultHasher.verify(hash, password);
}

export function verifyPasswordOrDummy(hash: string | undefined, password: string): Promise<boolean> {
  return defaultHasher.verifyOrDummy(hash, password);
}

/** True when the hash was made with other parameters than today's (rehash it after a successful login). */
export function needsRehash(hash: string): boolean {
  try {
    const used = parseOptions(hash);
    return (
      used.algorithm !== ARGON2ID_OPTIONS.algorithm ||
      used.memoryCost !== ARGON2ID_OPTIONS.memoryCost ||
      used.timeCost !== ARGON2ID_OPTIONS.timeCost ||
      used.parallelism !== ARGON2ID_OPTIONS.parallelism
    );
  } catch {
    return true;
  }
}

let commonPasswords: ReadonlySet<string> | undefined;

/** The shipped list (common-passwords.txt), loaded on first use. */
export function commonPasswordList(): ReadonlySet<string> {
  if (commonPasswords === undefined) {
    const text = readFileSync(new URL('./common-passwords.txt', import.meta.url), 'utf8');
    commonPasswords = new Set(text.split('\n').filter((line) => line.length > 0 && !line.startsWith('#')));
  }
  return commonPasswords;
}

/** True for one character or one short unit repeated (`aaaa…`, `abab…`, `abcabc…`) and for runs like `abcdef…` or `987654…`. */
function isTrivialPattern(characters: readonly string[]): boolean {
  for (let unit = 1; unit <= 3; unit += 1) {
    if (characters.every((character, index) => index < unit || character === characters[index - unit])) return true;
  }
  const codes = characters.map((character) => character.codePointAt(0) ?? 0);
  const step = (codes[1] ?? 0) - (codes[0] ?? 0);
  return (step === 1 || step === -1) && codes.every((code, index) => index === 0 || code - (codes[index - 1] ?? 0) === step);
}

export interface PasswordPolicyContext {
  /** Passwords containing the username are refused (NIST SP 800-63B §5.1.1.2, context-specific words). */
  readonly username?: string;
}

/**
 * Why the password is not acceptable, or null when it is. Rules, after NIST SP 800-63B §5.1.1.2 and
 * OWASP ASVS 4.0 V2.1: at least 12 and at most 256 characters; not in the list of common passwords
 * (case-insensitive); not a repeated or sequential pattern; not containing the username. No
 * composition rules (they make passwords weaker in practice, SP 800-63B).
 */
export function checkPasswordPolicy(password: string, context: PasswordPolicyContext = {}): string | null {
  if (typeof password !== 'string') return 'password must be a string';
  const normalised = normalise(password);
  const characters = [...normalised];
  if (characters.length < MIN_PASSWORD_LENGTH) return `password must be at least ${MIN_PASSWORD_LENGTH} characters long`;
  if (characters.length > MAX_PASSWORD_LENGTH) return `password must be at most ${MAX_PASSWORD_LENGTH} characters long`;
  const lower = normalised.toLowerCase();
  if (commonPasswordList().has(lower)) return 'password is too common';
  if (isTrivialPattern(characters)) return 'password is a repeated or sequential pattern';
  const username = context.username?.normalize('NFKC').toLowerCase();
  if (username !== undefined && username.length >= 3 && lower.includes(username)) return 'password must not contain the username';
  return null;
}
