/**
 * Runs `rampart …` subcommands in the test process (no child process: fast, and coverage sees the code): the
 * commands one `register*Commands` function adds, with stdout, stderr (process writes, console.error and
 * commander's own output) captured and the exit code read from `process.exitCode` or commander's exit.
 */
import { Command } from 'commander';
import { vi } from 'vitest';

export interface CliRun {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number;
}

export async function runCliInProcess(register: (program: Command) => void, ...args: string[]): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
  vi.spyOn(console, 'error').mockImplementation((...parts: unknown[]) => {
    stderr += parts.join(' ') + '\n';
  });
  const program = new Command().name('rampart').exitOverride().configureOutput({ writeOut: (t) => (stdout += t), writeErr: (t) => (stderr += t) });
  register(program);
  process.exitCode = undefined;
  let code = 0;
  try {
    await program.parseAsync(['node', 'rampart', ...args]);
    code = typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    code = (error as { exitCode?: number }).exitCode ?? 1;
  } finally {
    vi.restoreAllMocks();
  }
  process.exitCode = undefined;
  return { stdout, stderr, code };
}
