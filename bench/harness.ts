/**
 * Building blocks of the proxy benchmark: child processes pinned to a CPU (and always cleaned up), contenders that
 * start themselves, wrk runs and their parsed output, and CPU time read from /proc. bench/run.ts puts them together
 * for the main comparison; later benchmarks (JWT verification, validation) import the same pieces and bring their
 * own contenders, e.g. `rampartContender({ name: 'rampart-jwt', config: (ctx) => ({ ...rampartBenchConfig(ctx), ... }) })`.
 *
 * Method (see bench/README.md): the process under test runs alone on CPU 1 (`taskset -c 1`); wrk and the upstream
 * share CPU 0. CPU per request = utime + stime of the proxy's process tree (/proc/<pid>/stat fields 14 and 15) over
 * the measured run, divided by the requests wrk completed.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify as toYaml } from 'yaml';

export const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(BENCH_DIR, '..');

/** The proxy under test gets CPU 1 to itself; the load generator and the upstream share CPU 0. */
export const PROXY_CPU = '1';
export const LOAD_CPU = '0';

/** A contender that is not answering 2xx on its URL this long after spawn is skipped. */
export const START_TIMEOUT_MS = 15_000;

// ---------------------------------------------------------------------------------------------------------------
// Child processes and cleanup
// ---------------------------------------------------------------------------------------------------------------

const liveChildren = new Set<ChildProcess>();
const exitHooks: Array<() => void> = [];
let cleanupInstalled = false;

/** Runs `hook` synchronously when the bench process exits for any reason (after the children are killed). */
export function onBenchExit(hook: () => void): void {
  exitHooks.push(hook);
}

function killAllNow(): void {
  for (const child of liveChildren) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  liveChildren.clear();
  for (const hook of exitHooks.splice(0)) {
    try {
      hook();
    } catch {
      // best effort: the process is exiting
    }
  }
}

/**
 * Kills every child this module spawned when the bench exits: normally, on Ctrl-C / SIGTERM, and on an uncaught
 * error. Idempotent.
 */
export function installCleanupHandlers(): void {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  process.on('exit', killAllNow);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      console.error(`\nbench: ${signal} received, stopping children`);
      killAllNow();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  }
  process.on('uncaughtException', (err) => {
    console.error('bench: uncaught error, stopping children:', err);
    killAllNow();
    process.exit(1);
  });
  process.on('unhandledRejection', (err) => {
    console.error('bench: unhandled rejection, stopping children:', err);
    killAllNow();
    process.exit(1);
  });
}

export interface SpawnedProcess {
  readonly child: ChildProcess;
  /** pid of the spawned process (taskset execs the command, so this is the command's own pid). */
  readonly pid: number;
  /** stdout and stderr of the process go here, never to the terminal. */
  readonly logFile: string;
  /** Exit code (or null when killed by a signal) once the process has exited. */
  readonly exited: Promise<number | null>;
  hasExited(): boolean;
}

/**
 * Spawns `command args` pinned to `cpu` with `taskset -c <cpu>`, output to `logFile`. taskset execs the command,
 * so the pid is the pid of the command itself (checked later by `servingPid`).
 */
export function spawnPinned(
  cpu: string,
  command: string,
  args: readonly string[],
  logFile: string,
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): SpawnedProcess {
  installCleanupHandlers();
  const out = fs.openSync(logFile, 'a');
  const child = spawn('taskset', ['-c', cpu, command, ...args], {
    cwd: options.cwd ?? REPO_ROOT,
    env: options.env ?? process.env,
    stdio: ['ignore', out, out],
  });
  fs.closeSync(out);
  if (child.pid === undefined) throw new Error(`could not spawn ${command}`);
  liveChildren.add(child);
  let done = false;
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      done = true;
      liveChildren.delete(child);
      resolve(code);
    });
    child.once('error', () => {
      done = true;
      liveChildren.delete(child);
      resolve(null);
    });
  });
  return { child, pid: child.pid, logFile, exited, hasExited: () => done };
}

/** SIGTERM, then SIGKILL if the process is still there after `graceMs`. */
export async function stopProcess(proc: SpawnedProcess, graceMs = 3000): Promise<void> {
  if (proc.hasExited()) return;
  proc.child.kill('SIGTERM');
  const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), graceMs).unref());
  if ((await Promise.race([proc.exited, timer])) === 'timeout' && !proc.hasExited()) {
    proc.child.kill('SIGKILL');
    await proc.exited;
  }
}

/** The last `maxChars` characters of a process log, for error messages. */
export function logTail(logFile: string, maxChars = 1500): string {
  try {
    const text = fs.readFileSync(logFile, 'utf8');
    return text.length > maxChars ? `...${text.slice(-maxChars)}` : text;
  } catch {
    return '(no log)';
  }
}

/** The line of a log that most likely says what went wrong: the first that mentions an error, else the last. */
export function telltaleLine(log: string): string {
  const lines = log.split('\n').map((line) => line.trim()).filter((line) => line !== '');
  return lines.find((line) => /error|cannot|invalid|fatal/i.test(line)) ?? lines.at(-1) ?? '(empty log)';
}

/** A TCP port that was free a moment ago (the contender binds it right after; a race here is harmless on a bench box). */
export function getFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** One GET with its own connection; resolves with the status code (body discarded). */
export function httpGetStatus(url: string, headers: Record<string, string> = {}, timeoutMs = 2000): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers, timeout: timeoutMs }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
      res.once('error', reject);
    });
    req.once('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.once('error', reject);
  });
}

/**
 * Waits until `url` answers 2xx. Throws with the last status or error, and the process log tail, when `proc` exits
 * or `timeoutMs` passes first.
 */
export async function waitUntilServing(
  url: string,
  proc: SpawnedProcess | undefined,
  headers: Record<string, string> = {},
  timeoutMs = START_TIMEOUT_MS,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    if (proc?.hasExited()) {
      const tail = logTail(proc.logFile);
      throw new Error(`process exited (code ${String(await proc.exited)}) before serving: ${telltaleLine(tail)}\nlog:\n${tail}`);
    }
    try {
      const status = await httpGetStatus(url, headers);
      if (status >= 200 && status < 300) return;
      last = `HTTP ${status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
  const tail = proc === undefined ? '' : `\nlog:\n${logTail(proc.logFile)}`;
  throw new Error(`not answering 2xx on ${url} within ${timeoutMs} ms (last: ${last})${tail}`);
}

// ---------------------------------------------------------------------------------------------------------------
// CPU accounting from /proc
// ---------------------------------------------------------------------------------------------------------------

let clockTicks: number | undefined;

/** USER_HZ, the unit of utime/stime in /proc/<pid>/stat (`getconf CLK_TCK`, 100 on nearly every Linux). */
export function clockTicksPerSecond(): number {
  if (clockTicks === undefined) {
    const value = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    if (!(value > 0)) throw new Error(`getconf CLK_TCK returned ${value}`);
    clockTicks = value;
  }
  return clockTicks;
}

/**
 * utime + stime (fields 14 and 15 of /proc/<pid>/stat, proc(5)) of one process, all its threads included.
 * The comm field (2) may contain spaces and parentheses, so fields are counted from the last ')'.
 */
export function processCpuTicks(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const afterComm = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // afterComm[0] is field 3 (state), so field n is afterComm[n - 3].
  return Number(afterComm[14 - 3]) + Number(afterComm[15 - 3]);
}

/** pid and every descendant (through /proc/<pid>/task/<tid>/children), so a proxy that forks workers is fully counted. */
export function processTree(pid: number): number[] {
  const all: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const current = queue.shift() as number;
    all.push(current);
    let tasks: string[];
    try {
      tasks = fs.readdirSync(`/proc/${current}/task`);
    } catch {
      continue;
    }
    for (const tid of tasks) {
      try {
        const children = fs.readFileSync(`/proc/${current}/task/${tid}/children`, 'utf8').trim();
        if (children !== '') for (const child of children.split(' ')) queue.push(Number(child));
      } catch {
        // thread ended meanwhile
      }
    }
  }
  return all;
}

/** CPU ticks of the process tree rooted at `pid` (a process that ended since is skipped). */
export function processTreeCpuTicks(pid: number): number {
  let total = 0;
  for (const member of processTree(pid)) {
    try {
      total += processCpuTicks(member);
    } catch {
      // exited between listing and reading
    }
  }
  return total;
}

/** The `comm` (executable name) of a process, e.g. 'node' or 'haproxy'. */
export function processName(pid: number): string {
  return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
}

/**
 * The pid actually serving: `pid` itself when its executable is `expected`, else the first descendant that is
 * (in case a wrapper such as npx or the tsx CLI sits in between). Throws when none is.
 */
export function servingPid(pid: number, expected: string): number {
  for (const member of processTree(pid)) {
    try {
      if (processName(member) === expected) return member;
    } catch {
      // gone
    }
  }
  throw new Error(`no '${expected}' process found in the tree of pid ${pid}`);
}

export interface CpuCounters {
  /** Per CPU (index = CPU number): busy and total jiffies since boot, from /proc/stat. */
  readonly busy: number[];
  readonly total: number[];
}

/** Per-CPU busy/total jiffies (busy = everything but idle and iowait). */
export function readCpuCounters(): CpuCounters {
  const busy: number[] = [];
  const total: number[] = [];
  for (const line of fs.readFileSync('/proc/stat', 'utf8').split('\n')) {
    const match = /^cpu(\d+)\s+(.*)$/.exec(line);
    if (match === null) continue;
    // user nice system idle iowait irq softirq steal (guest time is already inside user)
    const fields = (match[2] as string).trim().split(/\s+/).slice(0, 8).map(Number);
    const sum = fields.reduce((a, b) => a + b, 0);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
    const cpu = Number(match[1]);
    busy[cpu] = sum - idle;
    total[cpu] = sum;
  }
  return { busy, total };
}

/** Busy percentage of `cpu` between two snapshots. */
export function cpuBusyPercent(before: CpuCounters, after: CpuCounters, cpu: number): number {
  const total = (after.total[cpu] ?? 0) - (before.total[cpu] ?? 0);
  const busy = (after.busy[cpu] ?? 0) - (before.busy[cpu] ?? 0);
  return total > 0 ? (100 * busy) / total : 0;
}

// ---------------------------------------------------------------------------------------------------------------
// wrk
// ---------------------------------------------------------------------------------------------------------------

/**
 * Writes, in `dir`, a wrk script that sends every request as POST with `body` (as `contentType`), to `requestPath`
 * when given (otherwise the path on wrk's command line). Returns the script's path.
 */
export function writePostScript(dir: string, body: string, contentType: string, requestPath?: string): string {
  const file = path.join(dir, 'post.lua');
  const lines = ['wrk.method = "POST"'];
  if (requestPath !== undefined) lines.push(`wrk.path = ${JSON.stringify(requestPath)}`);
  lines.push(`wrk.headers["Content-Type"] = ${JSON.stringify(contentType)}`, `wrk.body = ${JSON.stringify(body)}`);
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

export interface WrkOptions {
  readonly url: string;
  readonly durationSeconds: number;
  readonly connections: number;
  readonly threads: number;
  /** Request headers sent by every wrk connection (e.g. an Authorization header for a JWT benchmark). */
  readonly headers?: Readonly<Record<string, string>>;
  /** A wrk Lua script (`-s`), e.g. to rotate credentials across requests. */
  readonly script?: string;
  readonly cpu?: string;
}

export interface WrkResult {
  readonly requests: number;
  readonly seconds: number;
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly non2xx3xx: number;
  readonly socketErrors: { connect: number; read: number; write: number; timeout: number };
  readonly output: string;
}

const TIME_UNITS_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

function parseWrkTime(value: string, unit: string): number {
  const factor = TIME_UNITS_MS[unit];
  if (factor === undefined) throw new Error(`unknown wrk time unit '${unit}'`);
  return Number(value) * factor;
}

/** Parses the text wrk 4 prints with `--latency`. Throws when a figure the harness needs is missing. */
export function parseWrkOutput(output: string): WrkResult {
  const total = /(\d+) requests in ([\d.]+)(us|ms|s|m|h),/.exec(output);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(output);
  const p50 = /^\s+50%\s+([\d.]+)(us|ms|s|m|h)\s*$/m.exec(output);
  const p99 = /^\s+99%\s+([\d.]+)(us|ms|s|m|h)\s*$/m.exec(output);
  if (total === null || rps === null || p50 === null || p99 === null) {
    throw new Error(`could not parse wrk output:\n${output}`);
  }
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(output);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  return {
    requests: Number(total[1]),
    seconds: parseWrkTime(total[2] as string, total[3] as string) / 1000,
    requestsPerSecond: Number(rps[1]),
    p50Ms: parseWrkTime(p50[1] as string, p50[2] as string),
    p99Ms: parseWrkTime(p99[1] as string, p99[2] as string),
    non2xx3xx: non2xx === null ? 0 : Number(non2xx[1]),
    socketErrors: {
      connect: socket === null ? 0 : Number(socket[1]),
      read: socket === null ? 0 : Number(socket[2]),
      write: socket === null ? 0 : Number(socket[3]),
      timeout: socket === null ? 0 : Number(socket[4]),
    },
    output,
  };
}

/** Runs wrk pinned to CPU 0 (by default) and parses its output. */
export async function runWrk(options: WrkOptions): Promise<WrkResult> {
  installCleanupHandlers();
  const args = [
    '-c',
    options.cpu ?? LOAD_CPU,
    'wrk',
    `-t${options.threads}`,
    `-c${options.connections}`,
    `-d${options.durationSeconds}s`,
    '--latency',
  ];
  for (const [name, value] of Object.entries(options.headers ?? {})) args.push('-H', `${name}: ${value}`);
  if (options.script !== undefined) args.push('-s', options.script);
  args.push(options.url);
  const child = spawn('taskset', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  liveChildren.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', resolve);
  });
  liveChildren.delete(child);
  if (code !== 0) throw new Error(`wrk exited with ${String(code)}: ${stderr}${stdout}`);
  return parseWrkOutput(stdout);
}

// ---------------------------------------------------------------------------------------------------------------
// Contenders
// ---------------------------------------------------------------------------------------------------------------

/** What every contender gets to start against. */
export interface BenchEnvironment {
  /** Private temp dir of this bench run (configs, logs, access logs); removed at the end. */
  readonly tmpDir: string;
  readonly upstreamUrl: string;
  readonly upstreamHost: string;
  readonly upstreamPort: number;
  /** pid of the upstream process (what `direct` measures). */
  readonly upstreamPid: number;
  /** Headers wrk sends; readiness probes send them too so an authenticating contender answers 2xx. */
  readonly requestHeaders: Readonly<Record<string, string>>;
  readonly requestPath: string;
}

export interface RunningContender {
  readonly name: string;
  /** URL wrk hits (with the bench path). */
  readonly url: string;
  /** Root of the process tree whose CPU time is measured. */
  readonly cpuPid: number;
  /** What that CPU figure is (normally 'proxy'; for `direct` it is the upstream's own cost). */
  readonly cpuOf: 'proxy' | 'upstream';
  /** Human-readable description of how it was configured, for RESULTS.md. */
  readonly configDescription: string;
  /** Exact configuration text (YAML, haproxy.cfg) when there is one, for RESULTS.md. */
  readonly configText?: string;
  /** Policies on for a Rampart contender, as listed in RESULTS.md. */
  readonly policies?: readonly string[];
  /** Access log file to check (lines written vs requests) when the contender logs. */
  readonly accessLogFile?: string;
  stop(): Promise<void>;
}

export interface Contender {
  readonly name: string;
  start(env: BenchEnvironment): Promise<RunningContender>;
}

function benchUrl(port: number, env: BenchEnvironment): string {
  return `http://127.0.0.1:${port}${env.requestPath}`;
}

/** Node with the tsx loader, pinned to the proxy CPU, serving `script` (a bench/*.ts file). */
async function startNodeScript(
  name: string,
  script: string,
  args: string[],
  env: BenchEnvironment,
): Promise<{ proc: SpawnedProcess; port: number; pid: number; url: string }> {
  const port = await getFreePort();
  const proc = spawnPinned(
    PROXY_CPU,
    process.execPath,
    ['--import', 'tsx', path.join(BENCH_DIR, script), '--port', String(port), ...args],
    path.join(env.tmpDir, `${name}.out.log`),
    { env: { ...process.env, NODE_ENV: 'production' } },
  );
  const url = benchUrl(port, env);
  try {
    await waitUntilServing(url, proc, { ...env.requestHeaders });
    return { proc, port, pid: servingPid(proc.pid, 'node'), url };
  } catch (err) {
    await stopProcess(proc);
    throw err;
  }
}

/** wrk straight at the upstream: the ceiling of this machine's load generator + upstream, for reference only. */
export function directContender(): Contender {
  return {
    name: 'direct',
    async start(env) {
      return {
        name: 'direct',
        url: `${env.upstreamUrl}${env.requestPath}`,
        cpuPid: env.upstreamPid,
        cpuOf: 'upstream',
        configDescription: 'no proxy: wrk -> upstream (CPU column is the upstream process, on CPU 0)',
        stop: async () => {},
      };
    },
  };
}

/** The yardstick: bench/baseline-proxy.ts (node:http + one undici Pool). */
export function baselineContender(options: { connections?: number } = {}): Contender {
  const connections = options.connections ?? 64;
  return {
    name: 'baseline',
    async start(env) {
      const started = await startNodeScript(
        'baseline',
        'baseline-proxy.ts',
        ['--upstream', env.upstreamUrl, '--connections', String(connections)],
        env,
      );
      return {
        name: 'baseline',
        url: started.url,
        cpuPid: started.pid,
        cpuOf: 'proxy',
        configDescription: `bench/baseline-proxy.ts: node:http server, undici Pool (connections ${connections}, pipelining 1, keep-alive), hop-by-hop headers dropped, body streamed with pool.stream`,
        stop: () => stopProcess(started.proc),
      };
    },
  };
}

/** fast-gateway 3.4.7 with its default http proxy and one route `/*` (bench/fast-gateway-peer.ts). */
export function fastGatewayContender(): Contender {
  return {
    name: 'fast-gateway',
    async start(env) {
      const started = await startNodeScript('fast-gateway', 'fast-gateway-peer.ts', ['--upstream', env.upstreamUrl], env);
      return {
        name: 'fast-gateway',
        url: started.url,
        cpuPid: started.pid,
        cpuOf: 'proxy',
        configDescription:
          "bench/fast-gateway-peer.ts: fast-gateway, one route `/*` (prefix '') to the upstream, default http proxy type (fast-proxy-lite, keep-alive http.Agent), no middlewares",
        stop: () => stopProcess(started.proc),
      };
    },
  };
}

/** Whether Debian's haproxy is installed (`which haproxy`). */
export function haproxyAvailable(): boolean {
  try {
    execFileSync('which', ['haproxy'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** HAProxy from bench/haproxy.cfg: one thread, HTTP mode, keep-alive to the server, no logs. */
export function haproxyContender(): Contender {
  return {
    name: 'haproxy',
    async start(env) {
      if (!haproxyAvailable()) throw new Error('haproxy is not installed (`which haproxy` found nothing)');
      const port = await getFreePort();
      const configText = fs
        .readFileSync(path.join(BENCH_DIR, 'haproxy.cfg'), 'utf8')
        .replaceAll('{{PORT}}', String(port))
        .replaceAll('{{UPSTREAM_HOST}}', env.upstreamHost)
        .replaceAll('{{UPSTREAM_PORT}}', String(env.upstreamPort));
      const configFile = path.join(env.tmpDir, 'haproxy.cfg');
      fs.writeFileSync(configFile, configText);
      // -db: stay in the foreground, one process (no master-worker), so the spawned pid is the serving one.
      const proc = spawnPinned(PROXY_CPU, 'haproxy', ['-db', '-f', configFile], path.join(env.tmpDir, 'haproxy.out.log'));
      const url = benchUrl(port, env);
      try {
        await waitUntilServing(url, proc, { ...env.requestHeaders });
        return {
          name: 'haproxy',
          url,
          cpuPid: servingPid(proc.pid, 'haproxy'),
          cpuOf: 'proxy',
          configDescription: 'bench/haproxy.cfg: nbthread 1, mode http, http-keep-alive, http-reuse always, no log',
          configText,
          stop: () => stopProcess(proc),
        };
      } catch (err) {
        await stopProcess(proc);
        throw err;
      }
    },
  };
}

/** Where a generated Rampart config listens and forwards to. */
export interface RampartConfigContext {
  readonly port: number;
  readonly upstreamUrl: string;
  readonly tmpDir: string;
}

/** A Rampart config file as a plain object (serialised to YAML). Loose on purpose: the gateway's schema rules. */
export interface RampartConfig {
  [key: string]: unknown;
  routes: Array<Record<string, unknown>>;
}

/**
 * THE Rampart benchmark config, in one place: one public route `/**` to the upstream with strict CORS, everything
 * else (security-headers included) at its defaults. `accessLogFile` turns the access log on, to that file.
 * Change this function to change what every Rampart contender runs; contenders that need more (authentication,
 * validation) start from its result and add to the route.
 */
export function rampartBenchConfig(context: RampartConfigContext, options: { accessLogFile?: string } = {}): RampartConfig {
  return {
    mode: 'development',
    listen: { host: '127.0.0.1', port: context.port },
    admin: false,
    accessLog: options.accessLogFile === undefined ? { enabled: false } : { enabled: true, destination: options.accessLogFile },
    routes: [
      {
        id: 'bench',
        match: { path: '/**' },
        upstream: context.upstreamUrl,
        public: true,
        cors: { origins: ['https://app.example.com'] },
      },
    ],
  };
}

const FALLBACK_ON_BY_DEFAULT = ['security-headers'];
// Mirrors ROUTE_CORE_KEYS in src/config/schema.ts, used only if that module cannot be loaded.
const FALLBACK_ROUTE_CORE_KEYS = ['id', 'match', 'upstream', 'public', 'websocket', 'preserveHost', 'maxBodySize', 'errors'];

/**
 * The policies a Rampart config turns on for each route, read from the config itself: policies that are on by
 * default (from the policy registry, unless `false` on the route or in `defaults`), plus every policy key set on
 * the route or in `defaults`. Returns e.g. `['bench: security-headers (default), cors']`.
 */
export async function rampartPolicies(config: RampartConfig): Promise<string[]> {
  let onByDefault = FALLBACK_ON_BY_DEFAULT;
  let coreKeys: ReadonlySet<string> = new Set(FALLBACK_ROUTE_CORE_KEYS);
  try {
    const registry = (await import(path.join(REPO_ROOT, 'src/policies/registry.ts'))) as {
      POLICIES: ReadonlyMap<string, { onByDefault?: boolean }>;
    };
    onByDefault = [...registry.POLICIES].filter(([, p]) => p.onByDefault === true).map(([name]) => name);
  } catch {
    // registry mid-edit: fall back to the documented default (security-headers)
  }
  try {
    const schema = (await import(path.join(REPO_ROOT, 'src/config/schema.ts'))) as { ROUTE_CORE_KEYS: ReadonlySet<string> };
    coreKeys = schema.ROUTE_CORE_KEYS;
  } catch {
    // keep the fallback
  }
  const defaults = (config.defaults ?? {}) as Record<string, unknown>;
  return config.routes.map((route) => {
    const on: string[] = [];
    for (const name of onByDefault) {
      const setting = name in route ? route[name] : defaults[name];
      if (setting === false) continue;
      on.push(setting === undefined ? `${name} (default)` : `${name} (configured)`);
    }
    const configured = new Set([...Object.keys(defaults), ...Object.keys(route).filter((key) => !coreKeys.has(key))]);
    for (const name of configured) {
      if (onByDefault.includes(name)) continue;
      const setting = name in route ? route[name] : defaults[name];
      if (setting === false) continue;
      on.push(Array.isArray(setting) ? `${name}: ${setting.map((s) => JSON.stringify(s)).join(', ')}` : name);
    }
    return `${String(route.id)}: ${on.join(', ')}`;
  });
}

/**
 * A Rampart gateway contender: `node bin/rampart.js gateway --config <generated YAML>` pinned to the proxy CPU.
 * `config` builds the config for the port and upstream the harness picked (usually from `rampartBenchConfig`).
 */
export function rampartContender(options: {
  name: string;
  config: (context: RampartConfigContext) => RampartConfig;
}): Contender {
  return {
    name: options.name,
    async start(env) {
      const port = await getFreePort();
      const config = options.config({ port, upstreamUrl: env.upstreamUrl, tmpDir: env.tmpDir });
      const configText = toYaml(config);
      const configFile = path.join(env.tmpDir, `${options.name}.yaml`);
      fs.writeFileSync(configFile, configText);
      const accessLog = config.accessLog as { enabled?: boolean; destination?: string } | undefined;
      const accessLogFile =
        accessLog?.enabled === true && accessLog.destination !== undefined && accessLog.destination !== 'stdout'
          ? accessLog.destination
          : undefined;
      const proc = spawnPinned(
        PROXY_CPU,
        process.execPath,
        [path.join(REPO_ROOT, 'bin/rampart.js'), 'gateway', '--config', configFile],
        path.join(env.tmpDir, `${options.name}.out.log`),
        { env: { ...process.env, NODE_ENV: 'production' } },
      );
      const url = benchUrl(port, env);
      try {
        await waitUntilServing(url, proc, { ...env.requestHeaders });
        const result: RunningContender = {
          name: options.name,
          url,
          cpuPid: servingPid(proc.pid, 'node'),
          cpuOf: 'proxy',
          configDescription: `node bin/rampart.js gateway --config ${path.basename(configFile)}; access log ${accessLogFile === undefined ? 'off' : 'on (to a file)'}`,
          configText,
          policies: await rampartPolicies(config),
          stop: () => stopProcess(proc),
          ...(accessLogFile === undefined ? {} : { accessLogFile }),
        };
        return result;
      } catch (err) {
        await stopProcess(proc);
        throw err;
      }
    },
  };
}

/** The upstream (bench/upstream.ts) on the load CPU. */
export async function startUpstream(tmpDir: string): Promise<{ url: string; host: string; port: number; pid: number; stop(): Promise<void> }> {
  const port = await getFreePort();
  const host = '127.0.0.1';
  const proc = spawnPinned(
    LOAD_CPU,
    process.execPath,
    ['--import', 'tsx', path.join(BENCH_DIR, 'upstream.ts'), '--port', String(port), '--host', host],
    path.join(tmpDir, 'upstream.out.log'),
    { env: { ...process.env, NODE_ENV: 'production' } },
  );
  const url = `http://${host}:${port}`;
  try {
    await waitUntilServing(`${url}/`, proc);
  } catch (err) {
    await stopProcess(proc);
    throw err;
  }
  return { url, host, port, pid: servingPid(proc.pid, 'node'), stop: () => stopProcess(proc) };
}

/** Lines in a file, counted in chunks (access logs of a run can be tens of MB). */
export function countLines(file: string): number {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return 0;
  }
  const buffer = Buffer.allocUnsafe(1 << 20);
  let lines = 0;
  try {
    for (;;) {
      const read = fs.readSync(fd, buffer, 0, buffer.length, null);
      if (read === 0) break;
      for (let i = 0; i < read; i++) if (buffer[i] === 0x0a) lines++;
    }
  } finally {
    fs.closeSync(fd);
  }
  return lines;
}

/** Empties an access log between runs so the temp dir does not grow by hundreds of MB (the writer appends). */
export function truncateFile(file: string): void {
  try {
    fs.truncateSync(file, 0);
  } catch {
    // not created yet
  }
}

/** A positive number from the environment, or the fallback; anything else stops the bench with exit code 2. */
export function numberFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) {
    console.error(`bench: ${name} must be a positive number, got '${raw}'`);
    process.exit(2);
  }
  return value;
}
