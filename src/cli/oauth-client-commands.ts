/**
 * `rampart clients …`: OAuth 2.0 clients of the built-in identity provider (client-credentials grant, RFC 6749
 * §4.4). Every command takes `-c, --config <file>` and opens the same store, with the same master key, as the
 * gateway (storage/configured.ts).
 *
 *   clients add CLIENT_ID --roles r1,r2 --scopes a,b [--tenant T] [--name LABEL]   prints the secret once
 *   clients list [--json]                                                         never secrets or hashes
 *   clients disable|enable CLIENT_ID                                              the token endpoint refuses a
 *                                                                                 disabled client at once; its
 *                                                                                 issued tokens within 5 s
 *   clients rotate-secret CLIENT_ID                                               prints the new secret once;
 *                                                                                 the old one stops working at once
 *
 * Secrets are 256 random bits (randomToken(32)); only hashSecret(secret, pepper) is stored. Exit codes follow
 * `rampart`: 0 success, 1 failure (invalid config, unknown client, store error), 2 usage error. Errors are one line.
 * With `audit:` configured, `add`, `disable`, `enable` and `rotate-secret` append `client.created|disabled|enabled|
 * secret-rotated` to the audit chain (client id; never the secret). There is no delete command.
 * `list` prints every readable client, then names each one the store cannot decode on standard error and exits 1.
 */
import type { Command } from 'commander';
import { hashSecret } from '../crypto/hashing.ts';
import { randomToken } from '../crypto/random.ts';
import { FIRST_PARTY_CLIENT_ID } from '../identity/tokens/issuer.ts';
import {
  CommandError,
  DamagedRecords,
  LABEL_PATTERN,
  UsageError,
  guard,
  isoTime,
  out,
  recordChange,
  reportDamaged,
  tokenList as sharedTokenList,
  withAuditedStores as withAuditedStoresOf,
  withConfiguredStores,
} from './shared.ts';
import type { CliAuditTrail } from '../audit/cli-trail.ts';
import { StoreConflictError, type OAuthClientRecord, type Stores } from '../storage/ports.ts';

/**
 * Client ids: letters, digits, `.`, `_`, `-`. No `:` (the Basic credential separator, RFC 7617) and nothing that
 * needs form-encoding, so every client library sends them the same way; also safe in upstream identity headers.
 */
export const CLIENT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** Roles, scopes and tenants: header-safe tokens, and valid RFC 6749 §3.3 scope-tokens. */
export const CLIENT_TOKEN_PATTERN = /^[A-Za-z0-9][A-Za-z0-9:._-]{0,63}$/;

/** Loads the config, opens its stores, runs `body`, closes the stores. */
function withStores(configFile: string, body: (stores: Stores, pepper: Buffer) => Promise<void>): Promise<void> {
  return withConfiguredStores(configFile, 'a client added here', ({ stores, pepper }) => body(stores, pepper));
}

/** `withStores` for commands that change a client: the audit trail is opened first, each change recorded after it. */
function withAuditedStores(configFile: string, body: (stores: Stores, pepper: Buffer, trail: CliAuditTrail) => Promise<void>): Promise<void> {
  return withAuditedStoresOf(configFile, 'a client added here', ({ stores, pepper, trail }) => body(stores, pepper, trail));
}

/** Roles, scopes and tenants of a client. */
function tokenList(text: string, what: string): string[] {
  return sharedTokenList(text, what, CLIENT_TOKEN_PATTERN);
}

function checkClientId(clientId: string): string {
  if (!CLIENT_ID_PATTERN.test(clientId)) {
    throw new UsageError('client id must be 1 to 64 characters: letters, digits, ".", "_" or "-", starting with a letter or digit');
  }
  // The client_id of user tokens from the gateway's own login: a registered client by that name would own them.
  if (clientId === FIRST_PARTY_CLIENT_ID) throw new UsageError(`client id "${FIRST_PARTY_CLIENT_ID}" is reserved for the gateway's own login`);
  return clientId;
}

async function clientNamed(stores: Stores, clientId: string): Promise<OAuthClientRecord> {
  const client = await stores.identities.getOAuthClient(clientId);
  if (client === undefined) throw new CommandError(`no OAuth client "${clientId}" (add it with: rampart clients add ${clientId})`);
  return client;
}

function printSecret(clientId: string, secret: string, json: boolean, extra: Record<string, unknown> = {}): void {
  if (json) {
    out(JSON.stringify({ clientId, clientSecret: secret, ...extra }, null, 2));
    return;
  }
  out(secret);
  out('This client secret is shown once and will not be shown again: store it now (Rampart keeps only its hash).');
  out(`client id: ${clientId}`);
}

function describe(client: OAuthClientRecord): Record<string, unknown> {
  return {
    clientId: client.clientId,
    name: client.name,
    roles: client.roles,
    scopes: client.scopes,
    tenant: client.tenant,
    status: client.disabled ? 'disabled' : 'enabled',
    createdAt: isoTime(client.createdAt),
  };
}

/** Adds `clients` to the `rampart` program. */
export function registerOAuthClientCommands(program: Command): void {
  const clients = program.command('clients').description('OAuth 2.0 clients of the built-in identity provider (client-credentials grant)');

  clients
    .command('add')
    .description('register a client and print its secret once')
    .argument('<clientId>', 'client id (the `sub` and `client_id` of its tokens)')
    .requiredOption('-c, --config <file>', 'gateway config (YAML or JSON)')
    .option('--roles <roles>', 'comma-separated roles', '')
    .option('--scopes <scopes>', 'comma-separated scopes the client may request (all of them by default)', '')
    .option('--tenant <tenant>', 'tenant the client belongs to')
    .option('--name <label>', 'a label shown in listings (default: the client id)')
    .option('--json', 'print JSON')
    .action((clientId: string, options: { config: string; roles: string; scopes: string; tenant?: string; name?: string; json?: boolean }) =>
      guard(async () => {
        checkClientId(clientId);
        const roles = tokenList(options.roles, '--roles');
        const scopes = tokenList(options.scopes, '--scopes');
        if (options.tenant !== undefined && !CLIENT_TOKEN_PATTERN.test(options.tenant)) {
          throw new UsageError('--tenant must be 1 to 64 characters: letters, digits, ":", ".", "_" or "-"');
        }
        if (options.name !== undefined && !LABEL_PATTERN.test(options.name)) throw new UsageError('--name must be 1 to 128 printable ASCII characters');
        await withAuditedStores(options.config, async (stores, pepper, trail) => {
          const secret = randomToken(32);
          let client: OAuthClientRecord;
          try {
            client = await stores.identities.createOAuthClient({
              clientId,
              secretHash: hashSecret(secret, pepper),
              name: options.name ?? clientId,
              roles,
              scopes,
              tenant: options.tenant ?? null,
              createdAt: Date.now(),
            });
          } catch (error) {
            if (error instanceof StoreConflictError) throw new CommandError(`an OAuth client "${clientId}" already exists`);
            throw error;
          }
          printSecret(client.clientId, secret, options.json === true, options.json ? { roles: client.roles, scopes: client.scopes, tenant: client.tenant } : {});
          if (!options.json) {
            out(`roles:     ${client.roles.join(',') || '-'}`);
            out(`scopes:    ${client.scopes.join(',') || '-'}`);
            if (client.tenant !== null) out(`tenant:    ${client.tenant}`);
          }
          await recordChange(trail, {
            type: 'client.created',
            details: { clientId: client.clientId, name: client.name, roles: client.roles, scopes: client.scopes, tenant: client.tenant },
          });
        });
      }),
    );

  clients
    .command('list')
    .description('list clients (never their secrets or hashes)')
    .requiredOption('-c, --config <file>', 'gateway config (YAML or JSON)')
    .option('--json', 'print JSON')
    .action((options: { config: string; json?: boolean }) =>
      guard(() =>
        withStores(options.config, async (stores) => {
          const damaged = new DamagedRecords();
          const list = (await stores.identities.listOAuthClients(damaged.onDamaged)).map(describe);
          if (options.json) {
            out(JSON.stringify(list, null, 2));
          } else if (list.length === 0) {
            out(damaged.errors.length === 0 ? 'no OAuth clients' : 'no readable OAuth clients');
          } else {
            const header = ['CLIENT ID', 'ROLES', 'SCOPES', 'TENANT', 'STATUS', 'CREATED'];
            const rows = list.map((c) => [
              String(c.clientId),
              (c.roles as string[]).join(',') || '-',
              (c.scopes as string[]).join(',') || '-',
              (c.tenant as string | null) ?? '-',
              String(c.status),
              String(c.createdAt),
            ]);
            const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
            const line = (cells: readonly string[]) => cells.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd();
            out(line(header));
            for (const row of rows) out(line(row));
          }
          reportDamaged(damaged.errors);
        }),
      ),
    );

  for (const [command, disabled] of [
    ['disable', true],
    ['enable', false],
  ] as const) {
    clients
      .command(command)
      .description(disabled ? 'disable a client: no new tokens; its issued tokens are refused within 5 seconds' : 'enable a disabled client')
      .argument('<clientId>', 'client id')
      .requiredOption('-c, --config <file>', 'gateway config (YAML or JSON)')
      .action((clientId: string, options: { config: string }) =>
        guard(async () => {
          checkClientId(clientId);
          await withAuditedStores(options.config, async (stores, _pepper, trail) => {
            const client = await clientNamed(stores, clientId);
            if (client.disabled === disabled) {
              out(`OAuth client ${clientId} is already ${disabled ? 'disabled' : 'enabled'}`);
              return;
            }
            await stores.identities.updateOAuthClient(clientId, { disabled });
            out(`${disabled ? 'disabled' : 'enabled'} OAuth client ${clientId}`);
            await recordChange(trail, { type: disabled ? 'client.disabled' : 'client.enabled', details: { clientId } });
          });
        }),
      );
  }

  clients
    .command('rotate-secret')
    .description('replace a client\'s secret and print the new one once (the old one stops working at once)')
    .argument('<clientId>', 'client id')
    .requiredOption('-c, --config <file>', 'gateway config (YAML or JSON)')
    .option('--json', 'print JSON')
    .action((clientId: string, options: { config: string; json?: boolean }) =>
      guard(async () => {
        checkClientId(clientId);
        await withAuditedStores(options.config, async (stores, pepper, trail) => {
          await clientNamed(stores, clientId);
          const secret = randomToken(32);
          const updated = await stores.identities.updateOAuthClient(clientId, { secretHash: hashSecret(secret, pepper) });
          if (updated === undefined) throw new CommandError(`no OAuth client "${clientId}"`);
          printSecret(clientId, secret, options.json === true);
          if (!options.json) out('Access tokens already issued to this client stay valid until they expire; disable the client to end them.');
          // Which client, never the secret or its hash.
          await recordChange(trail, { type: 'client.secret-rotated', details: { clientId } });
        });
      }),
    );
}
