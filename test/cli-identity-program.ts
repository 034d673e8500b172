/**
 * A `rampart` program with only the identity commands (consumers, api-keys), for test/cli-api-keys.test.ts: the
 * same commander setup as src/cli/main.ts (exit 2 on usage errors, no stack traces), runnable before main.ts
 * registers these commands. Run with `node --import tsx test/cli-identity-program.ts <args>`.
 */
import { Command, CommanderError } from 'commander';
import { registerIdentityCommands } from '../src/cli/identity-commands.ts';

const program = new Command();
program
  .name('rampart')
  .exitOverride()
  .configureOutput({ outputError: (text, write) => write(text) });
registerIdentityCommands(program);
try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) process.exitCode = error.exitCode === 0 ? 0 : 2;
  else {
    console.error(`rampart: ${(error as Error).message}`);
    process.exitCode = 1;
  }
}
