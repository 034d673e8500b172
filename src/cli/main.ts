/**
 * `rampart` command line. Exit codes: 0 success, 1 findings or invalid config, 2 usage error.
 * Errors are one line each, never a stack trace.
 */
import { Command, CommanderError } from 'commander';
import { resolve } from 'node:path';

type Register = (program: Command) => void;

/**
 * The command groups, each loaded only when its command runs: `rampart scan` should not load the gateway, the
 * stores and every policy (a second of start-up and ~100 MB through tsx). Top-level help loads them all, since it
 * lists them. Keys are the top-level command names each module registers.
 */
const COMMAND_GROUPS: ReadonlyArray<{ readonly names: readonly string[]; readonly load: () => Promise<Register> }> = [
  { names: ['users'], load: async () => (await import('./user-commands.ts')).registerUserCommands },
  { names: ['clients'], load: async () => (await import('./oauth-client-commands.ts')).registerOAuthClientCommands },
  { names: ['consumers', 'api-keys'], load: async () => (await import('./identity-commands.ts')).registerIdentityCommands },
  { names: ['authz'], load: async () => (await import('./authz-commands.ts')).registerAuthzCommands },
  { names: ['audit'], load: async () => (await import('./audit-commands.ts')).registerAuditCommands },
  { names: ['events'], load: async () => (await import('./events-commands.ts')).registerEventsCommands },
  { names: ['deprecations'], load: async () => (await import('./deprecation-commands.ts')).registerDeprecationCommands },
  { names: ['privacy'], load: async () => (await import('./privacy-commands.ts')).registerPrivacyCommands },
  { names: ['keyring'], load: async () => (await import('./keyring-commands.ts')).registerKeyringCommands },
  { names: ['secrets'], load: async () => (await import('./secrets-commands.ts')).registerSecretsCommands },
  { names: ['scan'], load: async () => (await import('./scan-commands.ts')).registerScanCommands },
];
const BUILT_IN = new Set(['gateway', 'config', 'posture']);

/** The command groups `argv` needs: the one its command names, none for a built-in command, all otherwise (help). */
export function groupsFor(argv: readonly string[]): typeof COMMAND_GROUPS {
  const first = argv.slice(2).find((arg) => !arg.startsWith('-'));
  const target = first === 'help' ? argv.slice(2).filter((arg) => !arg.startsWith('-'))[1] : first;
  if (target !== undefined && BUILT_IN.has(target)) return [];
  const group = target === undefined ? undefined : COMMAND_GROUPS.find((g) => g.names.includes(target));
  return group === undefined ? COMMAND_GROUPS : [group];
}

export async function main(argv: readonly string[]): Promise<void> {
  const program = new Command();
  program
    .name('rampart')
    .description('API security gateway, scanner and posture report over the 16-point API security checklist')
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(text) });

  program
    .command('gateway')
    .description('run the gateway (reloads on config change and SIGHUP; drains on SIGTERM)')
    .requiredOption('-c, --config <file>', 'gateway config (YAML or JSON)')
    .action(async (options: { config: string }) => {
      // bin/rampart.js has tuned V8 for a gateway process already (bin/v8-flags.js), before loading this.
      const [{ loadConfigFile }, { Gateway }, { printConfigErrors }] = await Promise.all([import('../config/load.ts'), import('../gateway/server.ts'), import('./shared.ts')]);
      const file = resolve(options.config);
      const result = loadConfigFile(file);
      if (!result.ok) {
        printConfigErrors(file, result.errors);
        process.exitCode = 1;
        return;
      }
      for (const warning of result.config.warnings) console.error(`warning: ${warning}`);
      let gateway: Awaited<ReturnType<typeof Gateway.start>>;
      try {
        gateway = await Gateway.start(result.config, { configFile: file });
      } catch (error) {
        console.error(`rampart: cannot start: ${(error as Error).message}`);
        process.exitCode = 1;
        return;
      }
      const { listeners, admin } = gateway.addresses();
      gateway.logger.info({ listeners, admin }, 'rampart gateway listening');
      process.on('SIGHUP', () => void gateway.reloadFromFile());
      const shutdown = (signal: string) => {
        gateway.logger.info({ signal }, 'draining and shutting down');
        void gateway.stop().then(() => process.exit(0));
      };
      process.once('SIGTERM', () => shutdown('SIGTERM'));
      process.once('SIGINT', () => shutdown('SIGINT'));
    });

  const config = program.command('config').description('work with gateway configuration files');
  config
    .command('check')
    .description('validate a config file: exit 0, or print every error with its path and exit 1')
    .argument('<file>')
    .option('--json', 'print the result as JSON')
    .action(async (file: string, options: { json?: boolean }) => {
      const [{ loadConfigFile }, { printConfigErrors }] = await Promise.all([import('../config/load.ts'), import('./shared.ts')]);
      const result = loadConfigFile(resolve(file));
      if (options.json) {
        console.log(JSON.stringify(result.ok ? { ok: true, warnings: result.config.warnings, accepted: result.config.accepted } : result, null, 2));
      } else if (result.ok) {
        for (const warning of result.config.warnings) console.log(`warning: ${warning}`);
        for (const a of result.config.accepted) console.log(`accepted: ${a.path}: ${a.message} (rule ${a.rule}, until ${a.expires}: ${a.reason})`);
        console.log(`${file}: ok (${result.config.routes.length} routes, mode ${result.config.mode})`);
      } else {
        for (const warning of result.warnings) console.log(`warning: ${warning}`);
        printConfigErrors(file, result.errors);
      }
      process.exitCode = result.ok ? 0 : 1;
    });
  config
    .command('schema')
    .description('print the JSON Schema of the config file')
    .action(async () => {
      const { publishedSchema } = await import('../config/load.ts');
      console.log(JSON.stringify(publishedSchema(), null, 2));
    });

  program
    .command('posture')
    .description('report, per route and per checklist item, what is enforced, missing or not applicable')
    .requiredOption('-c, --config <file>', 'gateway config')
    .option('--json', 'print JSON instead of a table')
    .action(async (options: { config: string; json?: boolean }) => {
      const [{ loadConfigFile }, { evaluatePosture, formatPostureTable }, { printConfigErrors }] = await Promise.all([import('../config/load.ts'), import('../posture/posture.ts'), import('./shared.ts')]);
      const result = loadConfigFile(resolve(options.config));
      if (!result.ok) {
        printConfigErrors(options.config, result.errors);
        process.exitCode = 1;
        return;
      }
      const report = evaluatePosture(result.config);
      console.log(options.json ? JSON.stringify(report, null, 2) : formatPostureTable(report));
    });

  for (const register of await Promise.all(groupsFor(argv).map((group) => group.load()))) register(program);

  try {
    await program.parseAsync([...argv]);
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode === 0 ? 0 : 2;
      return;
    }
    console.error(`rampart: ${(error as Error).message}`);
    process.exitCode = 1;
  }
}
