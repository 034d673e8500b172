/**
 * References in configuration files, so secrets stay out of them:
 *
 * - `${env:NAME}`: the environment variable NAME (an unset variable is an error naming its path). A reference whose
 *   name is not a variable name (`${env:}`, `${env:1X}`) is not a reference and stays as written.
 * - `${file:PATH}`: the content of a file (Docker and Kubernetes secrets mounted as files), PATH relative to the
 *   config file's directory, at most 64 KiB of UTF-8, one trailing line break removed, not empty. The config's
 *   author chooses the path (absolute paths and `..` are allowed): the config is trusted input, the file is read
 *   with the permissions of the process reading the config.
 * - `${secret:NAME}`: the secret NAME of the store's sealed vault (secrets/vault.ts, `rampart secrets set`), read
 *   from the store `storage:` names with `keyring.masterKey`. The vault is opened only when the document holds at
 *   least one such reference, once per load. The settings that open it (`mode`, `storage`, `keyring.*`) cannot
 *   themselves come from it.
 *
 * Substitution is one pass over each string of the document as written: a resolved value is never scanned again,
 * so a value containing `${file:/etc/shadow}` stays that text, and references do not nest
 * (`${secret:${env:X}}` is a bad secret name, an error). `${file:` and `${secret:` with an empty or malformed body
 * are errors: a typo must not silently become a literal webhook key. Any other `${scheme:` (`${vault:x}`,
 * `${ENV:X}`) is kept as written with a warning. There is no escape for a literal `${env:NAME}`.
 *
 * Resolved values are secrets: `resolveConfigReferences().finish` removes each of them (4 characters or longer)
 * from every error and warning of the load, writing the reference instead, so neither `rampart config check
 * [--json]` nor a start-up error prints one. The keys `__proto__`, `constructor` and `prototype` are refused
 * (never valid settings, and a prototype-pollution vector).
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { LoadResult } from './load.ts';
import { MAX_SECRET_BYTES, SECRET_NAME, SecretVaultError, secretTextOf } from '../secrets/vault.ts';
import { SecretStoreError, openSecretVault, resolveStorageUrl, type OpenedVault, type VaultStoreSettings } from '../secrets/open.ts';

/** What a resolver answers: the value, or why there is none (a reason that never contains a value). */
export type Resolution = { readonly value: string } | { readonly error: string };
/** Resolves the body of one reference (`NAME` of `${env:NAME}`) found at the config path `path`. */
export type ReferenceResolver = (body: string, path: string) => Resolution;
export type ReferenceScheme = 'env' | 'file' | 'secret';

export interface SubstitutionContext {
  /** A scheme without a resolver is left as written (the scanner's auth file resolves `env` only). */
  readonly resolvers: Partial<Record<ReferenceScheme, ReferenceResolver>>;
  readonly errors: string[];
  /** Where notes about text that looks like a reference of an unknown scheme go; none when absent. */
  readonly warnings?: string[];
  /** Every value substituted, with the reference it came from, so messages can be scrubbed of it. */
  readonly resolved?: Array<{ readonly reference: string; readonly value: string }>;
}

// `${env:NAME}` only with a valid name (anything else is text); `${file:…}` and `${secret:…}` up to the first `}`,
// or to the end of the string when there is none (reported as unterminated).
const REFERENCE = /\$\{(?:env:([A-Za-z_][A-Za-z0-9_]*)\}|(file|secret):([^}]*)(\}?))/g;
const ANY_SCHEME = /\$\{([A-Za-z][A-Za-z0-9_-]*):/g;
const KNOWN_SCHEMES: ReadonlySet<string> = new Set<ReferenceScheme>(['env', 'file', 'secret']);

function substituteString(text: string, context: SubstitutionContext, path: string): string {
  const where = path || '(root)';
  if (context.warnings !== undefined) {
    for (const scheme of new Set([...text.matchAll(ANY_SCHEME)].map((match) => match[1]!))) {
      if (!KNOWN_SCHEMES.has(scheme)) context.warnings.push(`${where}: "\${${scheme}:" is not a reference (known: \${env:}, \${file:}, \${secret:}); the text is kept as written`);
    }
  }
  return text.replace(REFERENCE, (match, envName: string | undefined, scheme: 'file' | 'secret' | undefined, body: string, close: string) => {
    const name: ReferenceScheme = envName === undefined ? scheme! : 'env';
    const resolver = context.resolvers[name];
    if (resolver === undefined) return match;
    if (envName === undefined && close !== '}') {
      context.errors.push(`${where}: unterminated \${${name}: reference (no closing "}")`);
      return '';
    }
    const resolution = resolver(envName ?? body, path);
    if ('error' in resolution) {
      context.errors.push(`${where}: ${resolution.error}`);
      return '';
    }
    context.resolved?.push({ reference: match, value: resolution.value });
    return resolution.value;
  });
}

/** Replaces every reference in every string of `value`, recursively; problems go to `context.errors` with their path. */
export function substituteReferences(value: unknown, context: SubstitutionContext, path = ''): unknown {
  if (typeof value === 'string') return substituteString(value, context, path);
  if (Array.isArray(value)) return value.map((item, i) => substituteReferences(item, context, `${path}[${i}]`));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      // Guard against prototype pollution from hostile config: these keys are never valid settings anyway.
      if (key === '__proto__' || key === 'constructor' || key === 'prototype') {
        context.errors.push(`${path ? `${path}.` : ''}${key}: is not allowed`);
        continue;
      }
      out[key] = substituteReferences(item, context, path ? `${path}.${key}` : key);
    }
    return out;
  }
  return value;
}

export function envResolver(env: Readonly<Record<string, string | undefined>>): ReferenceResolver {
  return (name) => {
    const found = env[name];
    return found === undefined ? { error: `environment variable ${name} is not set` } : { value: found };
  };
}

/** `${env:NAME}` only (the scanner's auth file): other schemes stay as written. */
export function substituteEnv(value: unknown, env: Readonly<Record<string, string | undefined>>, path: string, errors: string[]): unknown {
  return substituteReferences(value, { resolvers: { env: envResolver(env) }, errors }, path);
}

/**
 * The bytes of a regular file, at most `maxBytes`, or why not. Opened non-blocking so a FIFO cannot hang the
 * loader; symbolic links are followed (Kubernetes mounts secrets through them).
 */
export function readBoundedFile(file: string, maxBytes: number): { readonly bytes: Buffer } | { readonly error: string } {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return { error: code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'cannot be read (permission denied)' : `cannot be read (${code ?? 'error'})` };
  }
  try {
    const stat = fstatSync(fd);
    if (stat.isDirectory()) return { error: 'is a directory, not a file' };
    if (!stat.isFile()) return { error: 'is not a regular file' };
    if (stat.size > maxBytes) return { error: `is larger than ${maxBytes / 1024} KiB` };
    // Read one byte beyond the bound: a file that grew since fstat is refused, not cut.
    const buffer = Buffer.alloc(maxBytes + 1);
    let length = 0;
    for (let n = -1; n !== 0 && length < buffer.length; length += n) n = readSync(fd, buffer, length, buffer.length - length, null);
    if (length > maxBytes) return { error: `is larger than ${maxBytes / 1024} KiB` };
    return { bytes: buffer.subarray(0, length) };
  } catch (error) {
    return { error: `cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})` };
  } finally {
    closeSync(fd);
  }
}

export function fileResolver(baseDir: string): ReferenceResolver {
  return (body) => {
    if (body === '') return { error: '${file:} names no file' };
    const file = resolve(baseDir, body);
    const shown = `file "${body}"${isAbsolute(body) ? '' : ` (${file})`}`;
    const read = readBoundedFile(file, MAX_SECRET_BYTES);
    if ('error' in read) return { error: `${shown} ${read.error}` };
    try {
      return { value: secretTextOf(read.bytes) };
    } catch (error) {
      if (error instanceof SecretVaultError) return { error: `${shown}: ${error.message}` };
      throw error;
    }
  };
}

/** The settings that open the vault: they cannot come from it. */
function isStoreSetting(path: string): boolean {
  return path === 'mode' || path === 'storage' || path === 'keyring' || path.startsWith('keyring.') || path.startsWith('keyring[');
}

const STORE_SETTING_REFUSAL =
  '${secret:} cannot be used in the settings that open the secret store (mode, storage, keyring); use ${env:} or ${file:}';

/**
 * The settings that open the vault from a config document as written (`mode`, `storage`, `keyring`, with their
 * `${env:}` and `${file:}` references resolved and defaults applied as the schema does), or why they are unusable.
 * The loader and `rampart secrets` both use it, so the CLI can fill a vault a config refers to before the config
 * loads.
 */
export function vaultSettingsOf(
  input: unknown,
  options: { readonly env: Readonly<Record<string, string | undefined>>; readonly baseDir: string },
): { readonly settings: VaultStoreSettings } | { readonly problem: string } {
  const document = input !== null && typeof input === 'object' && !Array.isArray(input) ? (input as Record<string, unknown>) : {};
  const errors: string[] = [];
  const resolvers = { env: envResolver(options.env), file: fileResolver(options.baseDir), secret: () => ({ error: STORE_SETTING_REFUSAL }) };
  const picked = substituteReferences({ mode: document['mode'], storage: document['storage'], keyring: document['keyring'] }, { resolvers, errors }) as Record<string, unknown>;
  if (errors.length > 0) return { problem: `the settings that open the store have errors (${errors.join('; ')})` };
  const mode = picked['mode'] ?? 'production';
  if (mode !== 'production' && mode !== 'development') return { problem: 'mode: must be production or development' };
  const storage = picked['storage'] ?? 'sqlite:./rampart.db';
  if (typeof storage !== 'string') return { problem: 'storage: must be a string' };
  const keyring = picked['keyring'];
  const masterKey = keyring !== null && typeof keyring === 'object' ? (keyring as Record<string, unknown>)['masterKey'] : undefined;
  if (masterKey !== undefined && typeof masterKey !== 'string') return { problem: 'keyring.masterKey: must be a string' };
  return { settings: { mode, storage: resolveStorageUrl(storage, options.baseDir), masterKey, keyring } };
}

/**
 * `${secret:NAME}`: opens the vault at the first reference (never when there is none), reads each name once, and
 * reports a store that cannot be opened once per reference with the same reason. `close` closes the store.
 */
function secretResolver(settingsOf: () => ReturnType<typeof vaultSettingsOf>): ReferenceResolver & { close(): void } {
  let opened: { readonly vault?: OpenedVault; readonly where?: string; readonly problem?: string } | undefined;
  const cache = new Map<string, Resolution>();
  const open = () => {
    if (opened !== undefined) return opened;
    const found = settingsOf();
    if ('problem' in found) return (opened = { problem: found.problem });
    try {
      const vault = openSecretVault(found.settings, { create: false });
      return (opened = { where: vault?.vault.where ?? found.settings.storage, ...(vault ? { vault } : {}) });
    } catch (error) {
      if (error instanceof SecretStoreError) return (opened = { problem: error.message });
      throw error;
    }
  };
  const resolveName = (name: string): Resolution => {
    const store = open();
    if (store.problem !== undefined) return { error: `secret "${name}" cannot be read: ${store.problem}` };
    let value: string | undefined;
    try {
      value = store.vault?.vault.get(name);
    } catch (error) {
      if (error instanceof SecretVaultError) return { error: error.message };
      throw error;
    }
    if (value === undefined) return { error: `secret "${name}" is not in the store ${store.where} (add it with rampart secrets set ${name})` };
    return { value };
  };
  const resolver = (body: string, path: string): Resolution => {
    if (isStoreSetting(path)) return { error: STORE_SETTING_REFUSAL };
    if (body === '') return { error: '${secret:} names no secret' };
    if (!SECRET_NAME.test(body)) {
      return { error: `secret name ${JSON.stringify(body)} is invalid: 1 to 128 characters, letters, digits, ".", "_" or "-" (references do not nest)` };
    }
    let resolution = cache.get(body);
    if (resolution === undefined) cache.set(body, (resolution = resolveName(body)));
    return resolution;
  };
  return Object.assign(resolver, { close: () => opened?.vault?.close() });
}

/** Resolved values shorter than this are not scrubbed from messages: replacing "1" or "on" would garble them. */
export const MIN_SCRUBBED_LENGTH = 4;

/**
 * Replaces every resolved value (as is, and as it appears inside a JSON string) by its reference, scanning each
 * message once, longest value first, so a reference written in never gets rewritten by a shorter value.
 */
function scrubber(resolved: ReadonlyArray<{ readonly reference: string; readonly value: string }>): (message: string) => string {
  const references = new Map<string, string>();
  for (const { reference, value } of resolved) {
    if (value.length < MIN_SCRUBBED_LENGTH) continue;
    for (const spelling of [value, JSON.stringify(value).slice(1, -1)]) if (!references.has(spelling)) references.set(spelling, reference);
  }
  const ordered = [...references].sort((a, b) => b[0].length - a[0].length);
  return (message) => {
    let out = '';
    for (let i = 0; i < message.length; ) {
      const hit = ordered.find(([spelling]) => message.startsWith(spelling, i));
      out += hit === undefined ? message[i] : hit[1];
      i += hit === undefined ? 1 : hit[0].length;
    }
    return out;
  };
}

export interface ResolvedConfig {
  /** The document with every reference replaced. */
  readonly value: unknown;
  /** Problems with references, each with its config path. */
  readonly errors: string[];
  /** The load result with no resolved value in any error or warning, and the reference warnings added. */
  finish(result: LoadResult): LoadResult;
}

/** Resolves `${env:}`, `${file:}` and `${secret:}` in a gateway config document (config/load.ts). */
export function resolveConfigReferences(
  input: unknown,
  options: { readonly env: Readonly<Record<string, string | undefined>>; readonly baseDir: string },
): ResolvedConfig {
  const errors: string[] = [];
  const warnings: string[] = [];
  const resolved: Array<{ reference: string; value: string }> = [];
  const secret = secretResolver(() => vaultSettingsOf(input, options));
  let value: unknown;
  try {
    value = substituteReferences(input, { resolvers: { env: envResolver(options.env), file: fileResolver(options.baseDir), secret }, errors, warnings, resolved });
  } finally {
    secret.close();
  }
  const scrub = scrubber(resolved);
  return {
    value,
    errors,
    finish: (result) =>
      result.ok
        ? { ok: true, config: { ...result.config, warnings: [...warnings, ...result.config.warnings].map(scrub) } }
        : { ok: false, errors: result.errors.map(scrub), warnings: [...warnings, ...result.warnings].map(scrub) },
  };
}
