/**
 * `rampart deprecations report`: who still calls deprecated versions and routes (checklist item 15), read from a
 * running gateway's admin listener (`/deprecations`), so owners can tell each caller before the sunset.
 * `--notify DIR` writes one notice per consumer (what they call, the dates, the migration link) for whatever
 * channel reaches them.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { loadConfigFile } from '../config/load.ts';
import type { DeprecationUsageEntry } from '../gateway/deprecation-usage.ts';
import { CommandError, UsageError, guard, out, printConfigErrors } from './shared.ts';

function adminUrl(configFile: string, explicit: string | undefined): string {
  if (explicit !== undefined) {
    if (!/^https?:\/\/[^\s/]+\/?$/.test(explicit)) throw new UsageError('--admin must be an http(s) origin, e.g. http://127.0.0.1:9901');
    return explicit.replace(/\/$/, '');
  }
  const result = loadConfigFile(resolve(configFile));
  if (!result.ok) {
    printConfigErrors(configFile, result.errors);
    throw new CommandError('the config is invalid');
  }
  const admin = result.config.admin;
  if (admin === false) throw new CommandError('the config has no admin listener (admin: false); pass --admin URL of a running gateway');
  const host = admin.host.includes(':') ? `[${admin.host}]` : admin.host === '0.0.0.0' ? '127.0.0.1' : admin.host;
  return `http://${host}:${admin.port}`;
}

/** A file name for a consumer id: safe characters only, and a hash suffix when anything was replaced. */
function noticeFile(consumer: string): string {
  const safe = consumer.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 100);
  return `${safe === consumer ? safe : `${safe}-${Buffer.from(consumer).toString('hex').slice(0, 16)}`}.json`;
}

export function registerDeprecationCommands(program: Command): void {
  const deprecations = program.command('deprecations').description('deprecated versions and routes, and who still calls them');
  deprecations
    .command('report')
    .description('list the consumers still calling deprecated versions or routes (from a running gateway)')
    .option('-c, --config <file>', 'gateway config (its admin listener is asked)')
    .option('--admin <url>', 'admin origin of a running gateway (instead of the config\'s)')
    .option('--json', 'print JSON')
    .option('--notify <dir>', 'write one notice per consumer into this directory')
    .action((options: { config?: string; admin?: string; json?: boolean; notify?: string }) =>
      guard(async () => {
        if (options.config === undefined && options.admin === undefined) throw new UsageError('pass -c CONFIG or --admin URL');
        const base = adminUrl(options.config ?? '', options.admin);
        let body: { entries: DeprecationUsageEntry[]; untracked: number };
        try {
          const res = await fetch(`${base}/deprecations`, { signal: AbortSignal.timeout(5000) });
          if (!res.ok) throw new Error(`HTTP ${res.status}`);
          body = (await res.json()) as typeof body;
        } catch (error) {
          throw new CommandError(`could not read ${base}/deprecations: ${(error as Error).message}`);
        }
        const entries = body.entries.sort((a, b) => a.api.localeCompare(b.api) || a.route.localeCompare(b.route) || b.calls - a.calls);
        if (options.json) out(JSON.stringify(body, null, 2));
        else if (entries.length === 0) out('no calls to deprecated versions or routes since the gateway started');
        else {
          out('API       VERSION  ROUTE                          CONSUMER               CALLS  LAST SEEN             SUNSET');
          for (const e of entries) {
            out(
              [e.api.padEnd(9), (e.version ?? '-').padEnd(8), e.route.padEnd(30), e.consumer.padEnd(22), String(e.calls).padStart(5), e.lastSeen.slice(0, 19) + 'Z', e.sunset?.slice(0, 10) ?? '-'].join(' '),
            );
          }
          if (body.untracked > 0) out(`(${body.untracked} further calls not tracked: the table is full)`);
        }
        if (options.notify !== undefined) {
          const dir = resolve(options.notify);
          mkdirSync(dir, { recursive: true });
          const byConsumer = new Map<string, DeprecationUsageEntry[]>();
          for (const e of entries) if (e.consumer !== 'anonymous') byConsumer.set(e.consumer, [...(byConsumer.get(e.consumer) ?? []), e]);
          for (const [consumer, calls] of byConsumer) {
            const notice = {
              consumer,
              message: 'You are calling API versions or operations that are deprecated and will be removed. Please migrate before the sunset date.',
              calls: calls.map((c) => ({ api: c.api, version: c.version, route: c.route, calls: c.calls, lastSeen: c.lastSeen, deprecated: c.deprecated, sunset: c.sunset, link: c.link })),
            };
            writeFileSync(join(dir, noticeFile(consumer)), JSON.stringify(notice, null, 2) + '\n', { mode: 0o600 });
          }
          out(`wrote ${byConsumer.size} notice(s) to ${dir}`);
        }
      }),
    );
}
