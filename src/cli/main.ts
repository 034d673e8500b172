/**
 * `rampart` command line. Exit codes: 0 success, 1 findings or invalid config, 2 usage error.
 * Errors are one line each, never a stack trace.
 */
import { Command, CommanderError } from 'commander';
import { resolve } from 'node:path';
import { loadConfigFile, publishedSchema } from '../config/load.ts';
import { Gateway } from '../gateway/server.ts';
import { evaluatePosture, formatPostureTable } from '../posture/posture.ts';
import { registerUserCommands } from './user-commands.ts';
import { printConfigErrors } from './shared.ts';
import { registerOAuthClientCommands } from './oauth-client-commands.ts';
import { registerIdentityCommands } from './identity-commands.ts';
import { registerAuthzCommands } from './authz-commands.ts';
import { registerAuditCommands } from './audit-commands.ts';
import { registerEventsCommands } from './events-commands.ts';
import { registerDeprecationCommands } from './deprecation-commands.ts';
import { registerPrivacyCommands } from './privacy-commands.ts';
import { registerKeyringCommands } from './keyring-commands.ts';
import { registerScanCommands } from './scan-commands.ts';

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
      const file = resolve(options.config);
      const result = loadConfigFile(file);
      if (!result.ok) {
        printConfigErrors(file, result.errors);
        process.exitCode = 1;
        return;
      }
      for (const warning of result.config.warnings) console.error(`warning: ${warning}`);
      let gateway: Gateway;
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
    .action((file: string, options: { json?: boolean }) => {
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
    .action(() => console.log(JSON.stringify(publishedSchema(), null, 2)));

  program
    .command('posture')
    .description('report, per route and per checklist item, what is enforced, missing or not applicable')
    .requiredOption('-c, --config <file>', 'gateway config')
    .option('--json', 'print JSON instead of a table')
    .action((options: { config: string; json?: boolean }) => {
      const result = loadConfigFile(resolve(options.config));
      if (!result.ok) {
        printConfigErrors(options.config, result.errors);
        process.exitCode = 1;
        return;
      }
      const report = evaluatePosture(result.config);
      console.log(options.json ? JSON.stringify(report, null, 2) : formatPostureTable(report));
    });

  registerUserCommands(program);
  registerOAuthClientCommands(program);
  registerIdentityCommands(program);
  registerAuthzCommands(program);
  registerAuditCommands(program);
  registerEventsCommands(program);
  registerDeprecationCommands(program);
  registerPrivacyCommands(program);
  registerKeyringCommands(program);
  registerScanCommands(program);

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
