/**
 * `rampart secrets …`: the sealed secret vault of the store (secrets/vault.ts), which config references as
 * `${secret:NAME}` (config/env.ts), issue 7 point 3.
 *
 *   rampart secrets set NAME -c CONFIG [--from-file FILE]     value from standard input, or from FILE
 *   rampart secrets list -c CONFIG [--json]                   names and dates, never values
 *   rampart secrets delete NAME -c CONFIG
 *
 * The value is never taken as an argument: it would land in shell history and in `ps`. Standard input must be a pipe
 * or a file (`< file`), not a terminal, where it would echo. One trailing line break is removed, as for `${file:}`.
 *
 * The store is opened from the config's `mode`, `storage` and `keyring` alone (after `${env:}` and `${file:}`), not
 * by loading the whole config: a config that references a secret does not load until the secret is set.
 *
 * Exit codes follow `rampart`: 0 success, 1 failure (store error, unknown secret), 2 usage error.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import YAML from 'yaml';
import { readBoundedFile, vaultSettingsOf } from '../config/env.ts';
import { SecretStoreError, openSecretVault, type OpenedVault } from '../secrets/open.ts';
import { MAX_SECRET_BYTES, SECRET_NAME, SecretVaultError, secretTextOf } from '../secrets/vault.ts';
import type { WarningSink } from '../storage/configured.ts';
import { CommandError, UsageError, guard, isoTime, out } from './shared.ts';

const stderrWarnings: WarningSink = {
  warn: (_details, message) => void process.stderr.write(`warning: ${message}\n`),
};

interface ConfigSource {
  readonly file: string;
  readonly text: string;
  readonly document: unknown;
}

function readConfig(configFile: string): ConfigSource {
  const file = resolve(configFile);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new CommandError(`${configFile}: cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  // As config/load.ts parses it: duplicated keys are errors, alias expansion is bounded.
  const parsed = YAML.parseDocument(text, { uniqueKeys: true });
  if (parsed.errors.length > 0) throw new CommandError(`${configFile}: ${parsed.errors[0]!.message.split('\n')[0]}`);
  let document: unknown;
  try {
    document = parsed.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw new CommandError(`${configFile}: ${(error as Error).message}`);
  }
  return { file, text, document };
}

/** Opens the vault of the config's store; undefined when the store file does not exist and `create` is false. */
function openVault(config: ConfigSource, create: boolean): OpenedVault | undefined {
  const found = vaultSettingsOf(config.document, { env: process.env, baseDir: dirname(config.file) });
  if ('problem' in found) throw new CommandError(`${config.file}: ${found.problem}`);
  try {
    return openSecretVault(found.settings, { create, logger: stderrWarnings });
  } catch (error) {
    if (error instanceof SecretStoreError) throw new CommandError(error.message);
    throw error;
  }
}

function secretName(name: string): string {
  if (!SECRET_NAME.test(name)) throw new UsageError('NAME: 1 to 128 characters: letters, digits, ".", "_" or "-"');
  return name;
}

/** Standard input, up to one byte more than a value may hold (so an oversized one is refused, not cut). */
async function readStandardInput(): Promise<Buffer> {
  if (process.stdin.isTTY) {
    throw new UsageError('the value is read from standard input: pipe it in or redirect a file (< FILE), or use --from-file FILE; it is never taken as an argument');
  }
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of process.stdin) {
    chunks.push(chunk as Buffer);
    length += (chunk as Buffer).length;
    if (length > MAX_SECRET_BYTES) break;
  }
  return Buffer.concat(chunks);
}

function valueOf(bytes: Buffer, source: string): string {
  try {
    return secretTextOf(bytes);
  } catch (error) {
    if (error instanceof SecretVaultError) throw new UsageError(`${source}: ${error.message}`);
    throw error;
  }
}

export function registerSecretsCommands(program: Command): void {
  const secrets = program.command('secrets').description('the sealed secret vault of the store: values the config references as ${secret:NAME}');

  secrets
    .command('set')
    .description('seal and store a secret (value from standard input, or --from-file; never from an argument)')
    .argument('<name>', 'secret name: letters, digits, ".", "_", "-" (up to 128)')
    .requiredOption('-c, --config <file>', 'gateway config (its storage and keyring.masterKey)')
    .option('--from-file <file>', 'read the value from this file instead of standard input')
    .action((name: string, options: { config: string; fromFile?: string }) =>
      guard(async () => {
        secretName(name);
        let value: string;
        if (options.fromFile !== undefined) {
          const read = readBoundedFile(resolve(options.fromFile), MAX_SECRET_BYTES);
          if ('error' in read) throw new UsageError(`--from-file ${options.fromFile}: ${read.error}`);
          value = valueOf(read.bytes, `--from-file ${options.fromFile}`);
        } else {
          value = valueOf(await readStandardInput(), 'standard input');
        }
        const opened = openVault(readConfig(options.config), true)!;
        try {
          const outcome = opened.vault.set(name, value);
          out(`secret "${name}" ${outcome} in ${opened.vault.where}; reference it as \${secret:${name}}`);
        } finally {
          opened.close();
        }
      }),
    );

  secrets
    .command('list')
    .description('list the stored secrets: names and dates, never values')
    .requiredOption('-c, --config <file>', 'gateway config')
    .option('--json', 'print JSON')
    .action((options: { config: string; json?: boolean }) =>
      guard(async () => {
        const opened = openVault(readConfig(options.config), false);
        let list;
        try {
          list = opened?.vault.list() ?? [];
        } finally {
          opened?.close();
        }
        if (options.json) {
          out(JSON.stringify(list.map((info) => ({ name: info.name, createdAt: isoTime(info.createdAt), updatedAt: isoTime(info.updatedAt) })), null, 2));
          return;
        }
        if (list.length === 0) {
          out('no secrets stored');
          return;
        }
        const width = Math.max(4, ...list.map((info) => info.name.length)) + 2;
        out(`${'NAME'.padEnd(width)}${'CREATED'.padEnd(22)}UPDATED`);
        for (const info of list) out(`${info.name.padEnd(width)}${isoTime(info.createdAt).padEnd(22)}${isoTime(info.updatedAt)}`);
      }),
    );

  secrets
    .command('delete')
    .description('delete a stored secret')
    .argument('<name>', 'secret name')
    .requiredOption('-c, --config <file>', 'gateway config')
    .action((name: string, options: { config: string }) =>
      guard(async () => {
        secretName(name);
        const config = readConfig(options.config);
        const opened = openVault(config, false);
        let deleted: boolean;
        try {
          deleted = opened?.vault.delete(name) ?? false;
        } finally {
          opened?.close();
        }
        if (!deleted) throw new CommandError(`no secret "${name}" in the store`);
        out(`secret "${name}" deleted`);
        if (config.text.includes(`\${secret:${name}}`)) {
          process.stderr.write(`warning: ${options.config} still references \${secret:${name}}: it will not load until the reference goes or the secret is set again\n`);
        }
      }),
    );
}
