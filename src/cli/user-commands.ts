/**
 * `rampart users …`: manage the built-in identity provider's users in the configured store.
 *
 *   rampart users add USERNAME --roles r1,r2 [--tenant T] [--mfa-required] [--password-stdin] -c CONFIG
 *   rampart users list [--json] -c CONFIG
 *   rampart users disable USERNAME -c CONFIG        rampart users enable USERNAME -c CONFIG
 *   rampart users passwd USERNAME [--password-stdin] -c CONFIG
 *   rampart users reset-mfa USERNAME -c CONFIG
 *
 * Passwords never come from the command line (they would land in shell history and `ps`): `--password-stdin`
 * reads one from standard input (a trailing newline is dropped), otherwise a terminal prompt asks twice without
 * echo. The password policy (crypto/passwords.ts) is enforced and its reason printed.
 *
 * `passwd` and `reset-mfa` revoke everything issued before them: `setPasswordHash` / `revokeUserCredentialsBefore`
 * raise sessionsValidAfter (access tokens and pending MFA logins die with it), and the user's sessions and
 * refresh-token families are revoked in the SessionStore. `disable` also revokes sessions and refresh families.
 *
 * Every change is recorded in the audit chain when the config has `audit:` (audit/cli-trail.ts): `user.created`,
 * `user.disabled`, `user.enabled`, `user.password-changed`, `mfa.reset`, and `session.revoked` with the number of
 * sessions and refresh-token families revoked and why (`user-disabled`, `password-changed`, `admin-logout`,
 * `mfa-reset`). The trail is opened before the change (cannot open: refused, nothing changed); an entry that cannot
 * be appended after the change fails the command (exit 1) after it printed what it did.
 *
 * Exit codes: 0 done, 1 refused (config invalid, user exists or not found, password policy), 2 usage. `list` prints
 * every readable user, then names each user record the store cannot decode on standard error and exits 1.
 */
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { Writable } from 'node:stream';
import { createInterface } from 'node:readline';
import { AuditTrailError, CliAuditTrail, type CliAuditEvent } from '../audit/cli-trail.ts';
import { formatStoredTime } from '../audit/stored-time.ts';
import { loadConfigFile } from '../config/load.ts';
import { checkPasswordPolicy, hashPassword } from '../crypto/passwords.ts';
import { openConfiguredStores } from '../storage/configured.ts';
import { StoreConflictError, type Stores, type UserRecord } from '../storage/ports.ts';
import { DamagedRecords, reportDamaged } from './shared.ts';

export interface UserCommandIo {
  /** Standard input (the password with --password-stdin, or the terminal for the prompt). */
  readonly stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  readonly now: () => number;
  /** Asks without echo on a terminal. */
  readonly promptHidden?: (question: string) => Promise<string>;
}

const defaultIo = (): UserCommandIo => ({
  stdin: process.stdin,
  out: (line) => console.log(line),
  err: (line) => console.error(line),
  now: Date.now,
});

/** Refusals that end the command with exit code 1 and one line, never a stack trace. */
class UserCommandError extends Error {}

const ROLE = /^[A-Za-z0-9_.:-]{1,64}$/;
const TENANT = /^[A-Za-z0-9_.:-]{1,128}$/;
const MAX_USERNAME = 128;
// Control and format characters (bidi overrides, zero-width joiners) would make look-alike names in listings.
const UNSAFE_IN_USERNAME = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

function parseRoles(value: string): string[] {
  const roles = [...new Set(value.split(',').map((role) => role.trim()).filter((role) => role.length > 0))];
  for (const role of roles) if (!ROLE.test(role)) throw new UserCommandError(`invalid role "${role.slice(0, 64)}": use letters, digits, _ . : -`);
  return roles;
}

function checkUsername(username: string): void {
  if (username.length === 0 || username.length > MAX_USERNAME) throw new UserCommandError(`username must be 1 to ${MAX_USERNAME} characters`);
  if (username.trim() !== username) throw new UserCommandError('username must not start or end with white space');
  if (UNSAFE_IN_USERNAME.test(username)) throw new UserCommandError('username must not contain control or invisible characters');
}

async function readAll(stream: NodeJS.ReadableStream, maxBytes = 4096): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += buffer.length;
    if (size > maxBytes) throw new UserCommandError(`password on standard input is longer than ${maxBytes} bytes`);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function terminalPrompt(io: UserCommandIo): (question: string) => Promise<string> {
  return (question) =>
    new Promise((resolvePrompt) => {
      // readline echoes what is typed to its output; a muted output hides the password.
      const muted = new Writable({ write: (_chunk, _encoding, callback) => callback() });
      const rl = createInterface({ input: io.stdin, output: muted, terminal: true });
      process.stderr.write(question);
      rl.question('', (answer) => {
        rl.close();
        process.stderr.write('\n');
        resolvePrompt(answer);
      });
    });
}

async function readPassword(io: UserCommandIo, fromStdin: boolean): Promise<string> {
  if (fromStdin) {
    const text = await readAll(io.stdin);
    return text.replace(/\r?\n$/, '');
  }
  if (io.stdin.isTTY !== true && io.promptHidden === undefined) {
    throw new UserCommandError('standard input is not a terminal: pass the password with --password-stdin');
  }
  const prompt = io.promptHidden ?? terminalPrompt(io);
  const first = await prompt('New password: ');
  const second = await prompt('Repeat password: ');
  if (first !== second) throw new UserCommandError('the passwords do not match');
  return first;
}

async function newPasswordHash(io: UserCommandIo, username: string, fromStdin: boolean): Promise<string> {
  const password = await readPassword(io, fromStdin);
  const reason = checkPasswordPolicy(password, { username });
  if (reason !== null) throw new UserCommandError(`password refused: ${reason}`);
  return hashPassword(password);
}

/** Records a change already made and printed; an audit store that refuses it fails the command (cli-trail.ts). */
type RecordChange = (...events: CliAuditEvent[]) => Promise<void>;

/**
 * Loads the config, opens its stores, runs `work`, closes the stores; errors become one line and exit code 1.
 * With `audited`, the config's audit trail is opened first (before anything changes) and `work` gets `record`.
 */
async function withStores(io: UserCommandIo, configFile: string, work: (stores: Stores, record: RecordChange) => Promise<void>, audited = true): Promise<void> {
  const file = resolve(configFile);
  const result = loadConfigFile(file);
  if (!result.ok) {
    for (const error of result.errors) io.err(`${file}: ${error}`);
    process.exitCode = 1;
    return;
  }
  let opened: Awaited<ReturnType<typeof openConfiguredStores>> | undefined;
  let trail: CliAuditTrail | undefined;
  try {
    opened = await openConfiguredStores(result.config, { logger: { warn: (_details, message) => io.err(`warning: ${message}`) } });
    if (audited) {
      try {
        trail = await CliAuditTrail.open(result.config, file);
      } catch (error) {
        throw new UserCommandError(`cannot open the audit log (audit:): ${(error as Error).message}; nothing was changed`);
      }
    }
    const record: RecordChange = async (...events) => {
      try {
        await trail?.emit(...events);
      } catch (error) {
        if (error instanceof AuditTrailError) throw new UserCommandError(`the change above WAS made, but ${error.message}; record it by hand`);
        throw error;
      }
    };
    await work(opened.stores, record);
  } catch (error) {
    if (error instanceof UserCommandError || (error as { name?: string }).name?.startsWith('Store')) {
      io.err(`rampart: ${(error as Error).message}`);
      process.exitCode = 1;
      return;
    }
    throw error;
  } finally {
    await trail?.close().catch(() => undefined);
    await opened?.stores.close();
  }
}

async function requireUser(stores: Stores, username: string): Promise<UserRecord> {
  const user = await stores.identities.findUserByUsername(username);
  if (user === undefined) throw new UserCommandError(`no user "${username.slice(0, MAX_USERNAME)}"`);
  return user;
}

async function revokeEverything(stores: Stores, user: UserRecord, at: number, reason: string): Promise<{ sessions: number; families: number }> {
  const sessions = await stores.sessions.revokeUserSessions(user.id, at);
  const families = await stores.sessions.revokeSubjectRefreshFamilies(user.id, at, reason);
  return { sessions, families };
}

/**
 * The `session.revoked` entry of a revocation: whose, how many, why. Access tokens are counted by nobody (they are
 * self-contained): `accessTokens: 'issued-before'` says they end with sessionsValidAfter.
 */
function sessionsRevoked(user: UserRecord, revoked: { sessions: number; families: number }, reason: string, accessTokens: boolean): CliAuditEvent {
  return {
    type: 'session.revoked',
    details: { userId: user.id, reason, sessions: revoked.sessions, refreshFamilies: revoked.families, ...(accessTokens ? { accessTokens: 'issued-before' } : {}) },
  };
}

export function registerUserCommands(program: Command, io: UserCommandIo = defaultIo()): void {
  const users = program.command('users').description("manage the built-in identity provider's users");

  users
    .command('add')
    .description('create a user; the password comes from --password-stdin or a prompt')
    .argument('<username>')
    .requiredOption('-c, --config <file>', 'gateway config (its storage and keyring)')
    .option('--roles <list>', 'comma-separated roles', '')
    .option('--tenant <tenant>', 'tenant the user belongs to')
    .option('--mfa-required', 'the user must enrol and use MFA')
    .option('--password-stdin', 'read the password from standard input')
    .action(async (username: string, options: { config: string; roles: string; tenant?: string; mfaRequired?: boolean; passwordStdin?: boolean }) => {
      await withStores(io, options.config, async (stores, record) => {
        checkUsername(username);
        const roles = parseRoles(options.roles);
        if (options.tenant !== undefined && !TENANT.test(options.tenant)) throw new UserCommandError('invalid tenant: use letters, digits, _ . : -');
        if ((await stores.identities.findUserByUsername(username)) !== undefined) throw new UserCommandError(`user "${username}" already exists`);
        const passwordHash = await newPasswordHash(io, username, options.passwordStdin === true);
        let user: UserRecord;
        try {
          user = await stores.identities.createUser({
            username,
            passwordHash,
            roles,
            tenant: options.tenant ?? null,
            mfaRequired: options.mfaRequired === true,
            createdAt: io.now(),
          });
        } catch (error) {
          if (error instanceof StoreConflictError) throw new UserCommandError(`user "${username}" already exists`);
          throw error;
        }
        io.out(`created user ${user.username} (${user.id}) roles=${roles.join(',') || '-'}${user.mfaRequired ? ' mfa-required' : ''}`);
        // The username is stored as its keyed pseudonym (redact.ts); the password and its hash never.
        await record({
          type: 'user.created',
          details: { userId: user.id, username: user.username, roles: user.roles, tenant: user.tenant, mfaRequired: user.mfaRequired },
        });
      });
    });

  users
    .command('list')
    .description('list users (never their password hashes or secrets)')
    .requiredOption('-c, --config <file>', 'gateway config')
    .option('--json', 'print JSON')
    .action(async (options: { config: string; json?: boolean }) => {
      await withStores(io, options.config, async (stores) => {
        const rows = [];
        const damaged = new DamagedRecords();
        for (const user of await stores.identities.listUsers(damaged.onDamaged)) {
          // Enrolment metadata only: a listing has no business decrypting every user's TOTP seed to say "enrolled".
          const totp = await stores.identities.getTotpEnrolment(user.id);
          rows.push({
            id: user.id,
            username: user.username,
            roles: [...user.roles],
            tenant: user.tenant,
            disabled: user.disabled,
            mfaRequired: user.mfaRequired,
            mfaEnrolled: totp?.confirmedAt != null,
            recoveryCodesLeft: totp?.confirmedAt != null ? await stores.identities.countUnusedRecoveryCodes(user.id) : 0,
            createdAt: formatStoredTime(user.createdAt),
            passwordChangedAt: formatStoredTime(user.passwordChangedAt),
          });
        }
        if (options.json) {
          io.out(JSON.stringify(rows, null, 2));
        } else {
          io.out(['USERNAME', 'ID', 'ROLES', 'TENANT', 'MFA', 'STATUS'].join('\t'));
          for (const row of rows) {
            const mfa = row.mfaEnrolled ? `totp (${row.recoveryCodesLeft} codes)` : row.mfaRequired ? 'required, not enrolled' : '-';
            io.out([row.username, row.id, row.roles.join(',') || '-', row.tenant ?? '-', mfa, row.disabled ? 'disabled' : 'active'].join('\t'));
          }
        }
        reportDamaged(damaged.errors, io.err);
      }, false); // a listing changes nothing: no audit trail
    });

  for (const [name, disabled] of [['disable', true], ['enable', false]] as const) {
    users
      .command(name)
      .description(disabled ? 'disable a user (logins refused; sessions and refresh tokens revoked)' : 'enable a disabled user')
      .argument('<username>')
      .requiredOption('-c, --config <file>', 'gateway config')
      .action(async (username: string, options: { config: string }) => {
        await withStores(io, options.config, async (stores, record) => {
          const user = await requireUser(stores, username);
          await stores.identities.updateUser(user.id, { disabled });
          if (disabled) {
            const at = io.now();
            await stores.identities.revokeUserCredentialsBefore(user.id, at);
            const revoked = await revokeEverything(stores, user, at, 'user-disabled');
            io.out(`disabled ${user.username}; revoked ${revoked.sessions} sessions and ${revoked.families} refresh-token families`);
            await record({ type: 'user.disabled', details: { userId: user.id } }, sessionsRevoked(user, revoked, 'user-disabled', true));
          } else {
            io.out(`enabled ${user.username}`);
            await record({ type: 'user.enabled', details: { userId: user.id } });
          }
        });
      });
  }

  users
    .command('passwd')
    .description("set a user's password and revoke every session and token issued before")
    .argument('<username>')
    .requiredOption('-c, --config <file>', 'gateway config')
    .option('--password-stdin', 'read the password from standard input')
    .action(async (username: string, options: { config: string; passwordStdin?: boolean }) => {
      await withStores(io, options.config, async (stores, record) => {
        const user = await requireUser(stores, username);
        const passwordHash = await newPasswordHash(io, user.username, options.passwordStdin === true);
        const at = io.now();
        await stores.identities.setPasswordHash(user.id, passwordHash, at);
        const revoked = await revokeEverything(stores, user, at, 'password-changed');
        io.out(`password of ${user.username} changed; revoked ${revoked.sessions} sessions and ${revoked.families} refresh-token families`);
        // That it changed, never the password or its hash.
        await record({ type: 'user.password-changed', details: { userId: user.id } }, sessionsRevoked(user, revoked, 'password-changed', true));
      });
    });

  users
    .command('logout')
    .description("revoke all of a user's sessions, refresh tokens and access tokens now (an administrator's logout everywhere)")
    .argument('<username>')
    .requiredOption('-c, --config <file>', 'gateway config')
    .action(async (username: string, options: { config: string }) => {
      await withStores(io, options.config, async (stores, record) => {
        const user = await requireUser(stores, username);
        const at = io.now();
        // Access tokens are self-contained: raising sessionsValidAfter is what makes gateways refuse them.
        await stores.identities.revokeUserCredentialsBefore(user.id, at);
        const revoked = await revokeEverything(stores, user, at, 'admin-logout');
        io.out(`logged ${user.username} out everywhere; revoked ${revoked.sessions} sessions and ${revoked.families} refresh-token families`);
        await record(sessionsRevoked(user, revoked, 'admin-logout', true));
      });
    });

  users
    .command('reset-mfa')
    .description("remove a user's TOTP secret and recovery codes (they enrol again at next login if MFA is required)")
    .argument('<username>')
    .requiredOption('-c, --config <file>', 'gateway config')
    .action(async (username: string, options: { config: string }) => {
      await withStores(io, options.config, async (stores, record) => {
        const user = await requireUser(stores, username);
        const at = io.now();
        const removed = await stores.identities.deleteTotp(user.id);
        await stores.identities.replaceRecoveryCodes(user.id, [], at);
        // Tokens that claim `otp` were earned with the old authenticator: they go too.
        await stores.identities.revokeUserCredentialsBefore(user.id, at);
        const revoked = await revokeEverything(stores, user, at, 'mfa-reset');
        io.out(
          `${removed ? 'removed the TOTP secret and recovery codes of' : 'no TOTP secret was enrolled for'} ${user.username}; ` +
            `revoked ${revoked.sessions} sessions and ${revoked.families} refresh-token families`,
        );
        await record({ type: 'mfa.reset', details: { userId: user.id, totpRemoved: removed } }, sessionsRevoked(user, revoked, 'mfa-reset', true));
      });
    });
}
