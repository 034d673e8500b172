/**
 * Replayable traffic traces for the detectors (issue 6, "Must show": each detector fires on a replayed attack trace
 * and stays silent on a replayed normal day, traces generated from fixed seeds, several seeds per detector).
 *
 * A trace is a time-ordered list of security events and request observations shaped exactly as the gateway emits
 * them. `normalTraffic` is ordinary days of an API: people logging in (sometimes mistyping), browsing their own
 * orders from home, the office NAT, phones and rotating IPv6 privacy addresses; support agents looking at many
 * customers' orders; two service accounts with steady API-key traffic and a nightly batch; admins working office
 * hours from the office or the VPN; monitors and scanners on public routes; ordinary 4xx and 5xx rates.
 * `attackTrace` lays one attack over that background. Everything comes from a seeded PRNG (mulberry32), so a seed
 * always gives the same trace; no wall-clock time is read anywhere.
 */
import { createHash } from 'node:crypto';
import type { SecurityEvent } from '../observe/events.ts';
import type { RequestObservation } from './types.ts';

/** mulberry32 (Tommy Ettinger, public domain): a tiny, fast 32-bit PRNG; plenty for traffic, never for secrets. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type TraceItem =
  | { readonly at: number; readonly kind: 'event'; readonly event: SecurityEvent }
  | { readonly at: number; readonly kind: 'observation'; readonly observation: RequestObservation };

export interface Trace {
  readonly name: string;
  readonly seed: number;
  readonly start: number;
  readonly end: number;
  readonly items: readonly TraceItem[];
}

/** What an attack trace says about its attack, so tests can check the detector named the right thing. */
export interface AttackTrace extends Trace {
  readonly scenario: AttackScenario;
  /** When the attack's first item happens. */
  readonly attackStart: number;
  /** The request-id prefix of the attack's own requests (`a-`); the background uses `n-`. */
  readonly attackPrefix: string;
  readonly attacker: {
    readonly principal?: string;
    readonly address?: string;
    readonly credentialId?: string;
    readonly routeId?: string;
  };
}

/** Monday 5 January 2026, 00:00 UTC: traces start on a Monday so a few days are all working days. */
export const TRACE_START = Date.UTC(2026, 0, 5);

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export const OFFICE_NAT = '192.0.2.10';
export const VPN = '192.0.2.20';
const SERVICE_EGRESS = ['198.51.100.7', '198.51.100.8'];

/** A keyed-hash-like account reference, the shape BruteForceGuard.userRef gives (16 hex digits). */
export function userRef(username: string): string {
  return createHash('sha256').update(`trace-user:${username}`).digest('hex').slice(0, 16);
}

interface User {
  readonly name: string;
  readonly ref: string;
  readonly home: string;
  readonly ipv6: boolean;
  readonly office: boolean;
  readonly mobile: boolean;
  readonly firstObject: number;
  readonly objects: number;
}

/** Collects items; sorts once at the end (stable, so equal times keep generation order). */
class TraceBuilder {
  readonly items: TraceItem[] = [];
  readonly rng: () => number;
  #seq = 0;
  readonly #prefix: string;

  constructor(rng: () => number, prefix: string) {
    this.rng = rng;
    this.#prefix = prefix;
  }

  requestId(): string {
    return `${this.#prefix}${(this.#seq++).toString(36)}`;
  }

  int(min: number, max: number): number {
    return min + Math.floor(this.rng() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.rng() < p;
  }

  pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.rng() * list.length)]!;
  }

  /** An exponentially distributed gap with the given mean (Poisson arrivals). */
  gap(meanMs: number): number {
    return Math.max(1, Math.round(-Math.log(1 - this.rng()) * meanMs));
  }

  observe(o: Omit<RequestObservation, 'requestId'> & { requestId?: string }): string {
    const requestId = o.requestId ?? this.requestId();
    this.items.push({ at: o.at, kind: 'observation', observation: { ...o, requestId } });
    return requestId;
  }

  event(at: number, event: SecurityEvent): void {
    this.items.push({ at, kind: 'event', event });
  }

  /** A failed password login, as the identity login endpoint reports it (event + the 401 it answered). */
  loginFailure(at: number, ref: string, address: string, reason = 'wrong-password'): string {
    const requestId = this.requestId();
    this.event(at, {
      type: 'auth.login-failed',
      severity: 'low',
      requestId,
      routeId: 'auth-login',
      clientAddress: address,
      details: { reason, user: ref },
    });
    this.observe({ at, requestId, routeId: 'auth-login', method: 'POST', status: 401, clientAddress: address });
    return requestId;
  }

  sorted(): TraceItem[] {
    return this.items.sort((a, b) => a.at - b.at);
  }
}

function residentialV4(b: TraceBuilder): string {
  // 11-99 and 101-126 avoid 10/8, 100.64/10 and the documentation ranges used for office, VPN and services.
  const first = b.pick([b.int(11, 99), b.int(101, 126), b.int(128, 191)]);
  return `${first}.${b.int(0, 255)}.${b.int(0, 255)}.${b.int(1, 254)}`;
}

function ipv6Prefix(b: TraceBuilder): string {
  return `2001:db8:${b.int(1, 0xffff).toString(16)}:${b.int(1, 0xffff).toString(16)}`;
}

/** An RFC 8981 temporary address: same /64, a new random interface id. */
function privacyAddress(b: TraceBuilder, prefix: string): string {
  const h = () => b.int(1, 0xffff).toString(16);
  return `${prefix}:${h()}:${h()}:${h()}:${h()}`;
}

function makeUsers(b: TraceBuilder, count: number): User[] {
  const users: User[] = [];
  for (let i = 0; i < count; i++) {
    const ipv6 = b.chance(0.2);
    const name = `user-${i}`;
    users.push({
      name,
      ref: userRef(name),
      home: ipv6 ? ipv6Prefix(b) : residentialV4(b),
      ipv6,
      office: b.chance(0.3),
      mobile: b.chance(0.3),
      firstObject: 100_000 + i * 1000,
      objects: b.int(3, 40),
    });
  }
  return users;
}

export interface NormalOptions {
  readonly seed: number;
  readonly start?: number;
  readonly days?: number;
  readonly users?: number;
}

/** Ordinary traffic for `days` working days from `start` (a day boundary, UTC). */
export function normalTraffic(options: NormalOptions): Trace {
  const start = options.start ?? TRACE_START;
  const days = options.days ?? 1;
  const b = new TraceBuilder(mulberry32(options.seed), 'n-');
  const users = makeUsers(b, options.users ?? 120);
  for (let day = 0; day < days; day++) {
    const dayStart = start + day * DAY;
    for (const user of users) userDay(b, user, dayStart);
    for (let k = 0; k < 4; k++) supportShift(b, `support-${k}`, dayStart, users);
    serviceDay(b, 'svc-billing', 'key-billing', dayStart, 14, false);
    serviceDay(b, 'svc-reporting', 'key-reporting', dayStart, 10, true);
    for (let k = 0; k < 3; k++) adminDay(b, `admin-${k}`, dayStart);
    publicDay(b, dayStart);
  }
  return { name: `normal(seed ${options.seed}, ${days}d)`, seed: options.seed, start, end: start + days * DAY, items: b.sorted() };
}

/** When people are online: mostly daytime and evening, rarely at night (hour weights, UTC). */
const HOUR_WEIGHTS = [1, 0.5, 0.3, 0.3, 0.3, 0.5, 1, 3, 6, 8, 8, 7, 6, 7, 8, 8, 7, 6, 6, 7, 7, 5, 3, 2];
const HOUR_TOTAL = HOUR_WEIGHTS.reduce((a, c) => a + c, 0);

function sessionStart(b: TraceBuilder, dayStart: number): number {
  let r = b.rng() * HOUR_TOTAL;
  let hour = 0;
  while (hour < 23 && r >= HOUR_WEIGHTS[hour]!) r -= HOUR_WEIGHTS[hour++]!;
  return dayStart + hour * HOUR + b.int(0, HOUR - 1);
}

function userDay(b: TraceBuilder, user: User, dayStart: number): void {
  const sessions = b.int(1, 4);
  const mobileAddress = `100.${b.int(64, 127)}.${b.int(0, 255)}.${b.int(1, 254)}`;
  for (let s = 0; s < sessions; s++) {
    let at = sessionStart(b, dayStart);
    const hour = Math.floor((at - dayStart) / HOUR);
    const address =
      user.office && hour >= 8 && hour < 18
        ? OFFICE_NAT
        : user.mobile && b.chance(0.4)
          ? mobileAddress
          : user.ipv6
            ? privacyAddress(b, user.home)
            : user.home;
    // People mistype: one failed attempt now and then, rarely a few.
    const failures = b.chance(0.08) ? (b.chance(0.15) ? b.int(2, 4) : 1) : 0;
    for (let f = 0; f < failures; f++) {
      b.loginFailure(at, user.ref, address);
      at += b.int(3, 20) * SECOND;
    }
    b.observe({ at, routeId: 'auth-login', method: 'POST', status: 200, clientAddress: address });
    const credentialId = `tok-${user.name}-${dayStart / DAY}-${s}`;
    const requests = b.int(5, 60);
    for (let r = 0; r < requests; r++) {
      at += b.int(2, 40) * SECOND;
      userRequest(b, user, at, address, credentialId);
    }
    // Some sessions outlive their access token: one 401 and a credential.rejected before the client refreshes.
    if (b.chance(0.1)) {
      at += b.int(1, 5) * MINUTE;
      const requestId = b.requestId();
      b.event(at, { type: 'credential.rejected', severity: 'low', requestId, routeId: 'orders-list', clientAddress: address, details: { method: 'jwt', reason: 'expired' } });
      b.observe({ at, requestId, routeId: 'orders-list', method: 'GET', status: 401, clientAddress: address });
    }
  }
}

function userRequest(b: TraceBuilder, user: User, at: number, address: string, credentialId: string): void {
  const r = b.rng();
  const base = { at, clientAddress: address, principal: user.name, credentialId };
  if (r < 0.3) {
    b.observe({ ...base, routeId: 'orders-list', method: 'GET', status: b.chance(0.004) ? 503 : 200 });
    return;
  }
  if (r < 0.85) {
    // Own orders; now and then one just past the end (404), as a stale link would.
    const typo = b.chance(0.01);
    const objectId = String(user.firstObject + (typo ? user.objects + b.int(0, 3) : b.int(0, user.objects - 1)));
    const method = b.chance(0.15) ? 'PATCH' : 'GET';
    const status = typo ? 404 : b.chance(0.004) ? b.pick([500, 502, 503]) : method === 'PATCH' && b.chance(0.02) ? 422 : 200;
    b.observe({ ...base, routeId: 'order', method, status, objectId });
    return;
  }
  b.observe({ ...base, routeId: 'profile', method: 'GET', status: b.chance(0.003) ? 500 : 200 });
}

/** Support agents open many customers' orders during their shift: many distinct ids, at human speed. */
function supportShift(b: TraceBuilder, name: string, dayStart: number, users: readonly User[]): void {
  let at = dayStart + b.int(8, 10) * HOUR + b.int(0, HOUR - 1);
  const end = at + b.int(4, 7) * HOUR;
  const address = b.chance(0.5) ? OFFICE_NAT : VPN;
  const credentialId = `tok-${name}-${dayStart / DAY}`;
  while (at < end) {
    at += b.int(15, 90) * SECOND;
    const user = b.pick(users);
    const objectId = String(user.firstObject + b.int(0, user.objects - 1));
    b.observe({ at, routeId: 'order', method: 'GET', status: b.chance(0.004) ? 503 : 200, clientAddress: address, principal: name, credentialId, objectId });
  }
}

/** A service account: steady traffic all day, diurnal ±30 %, from two egress addresses; optionally a nightly batch. */
function serviceDay(b: TraceBuilder, name: string, key: string, dayStart: number, perMinute: number, nightlyBatch: boolean): void {
  let at = dayStart + b.int(0, 30) * SECOND;
  const end = dayStart + DAY;
  while (at < end) {
    const hour = (at - dayStart) / HOUR;
    const rate = perMinute * (1 + 0.3 * Math.sin(((hour - 8) / 24) * 2 * Math.PI));
    at += b.gap(MINUTE / rate);
    if (at >= end) break;
    const status = b.chance(0.003) ? b.pick([502, 503]) : b.chance(0.005) ? 404 : 200;
    b.observe({ at, routeId: 'orders-list', method: 'GET', status, clientAddress: b.pick(SERVICE_EGRESS), principal: name, credentialId: key });
  }
  if (nightlyBatch) {
    // 02:00: an export of the day, ~30 requests a minute for ten minutes.
    let t = dayStart + 2 * HOUR;
    for (let i = 0; i < 300; i++) {
      t += b.int(1, 3) * SECOND;
      b.observe({ at: t, routeId: 'orders-export', method: 'GET', status: 200, clientAddress: SERVICE_EGRESS[0]!, principal: name, credentialId: key });
    }
  }
}

/**
 * Admins: a working day of their own (starting 08:00-09:00, ending 16:00-17:00), two to four sessions of admin work
 * spread across it, from the office or the VPN.
 */
function adminDay(b: TraceBuilder, name: string, dayStart: number): void {
  const sessions = b.int(2, 4);
  const credentialId = `tok-${name}-${dayStart / DAY}`;
  const workStart = dayStart + 8 * HOUR + b.int(0, HOUR);
  const workLength = 8 * HOUR + b.int(-HOUR, 0);
  for (let s = 0; s < sessions; s++) {
    let at = workStart + Math.floor(((s + b.rng() * 0.8) / sessions) * workLength);
    // Each day starts in the office and uses the VPN at least once; later sessions from either.
    const address = s === 0 ? OFFICE_NAT : s === 1 ? VPN : b.chance(0.7) ? OFFICE_NAT : VPN;
    const requests = b.int(5, 20);
    for (let r = 0; r < requests; r++) {
      at += b.int(10, 120) * SECOND;
      const status = b.chance(0.03) ? 404 : b.chance(0.003) ? 500 : 200;
      b.observe({ at, routeId: 'admin-users', method: b.pick(['GET', 'GET', 'PATCH']), status, clientAddress: address, principal: name, credentialId, admin: true });
    }
    // Admins are users too: some ordinary requests in between.
    for (let r = 0; r < 5; r++) {
      at += b.int(10, 60) * SECOND;
      b.observe({ at, routeId: 'orders-list', method: 'GET', status: 200, clientAddress: address, principal: name, credentialId });
    }
  }
}

/** Monitors poll the public status route; scanners probe unknown paths now and then. */
function publicDay(b: TraceBuilder, dayStart: number): void {
  const monitors = ['203.0.113.5', '203.0.113.6', '203.0.113.7'];
  for (const monitor of monitors) {
    for (let at = dayStart + b.int(0, MINUTE); at < dayStart + DAY; at += MINUTE) {
      b.observe({ at, routeId: 'status', method: 'GET', status: 200, clientAddress: monitor });
    }
  }
  let at = dayStart;
  for (;;) {
    at += b.gap(3 * MINUTE);
    if (at >= dayStart + DAY) break;
    const scanner = residentialV4(b);
    const probes = b.int(1, 6);
    for (let i = 0; i < probes; i++) b.observe({ at: at + i * 700, routeId: '-', method: 'GET', status: 404, clientAddress: scanner });
  }
}

export type AttackScenario =
  | 'brute-force'
  | 'credential-stuffing'
  | 'credential-stuffing-distributed'
  | 'token-sharing'
  | 'bola-distinct-ids'
  | 'bola-sequential-denials'
  | 'scraping'
  | 'error-spike-5xx'
  | 'error-spike-4xx'
  | 'admin-takeover';

export const ATTACK_SCENARIOS: readonly AttackScenario[] = [
  'brute-force',
  'credential-stuffing',
  'credential-stuffing-distributed',
  'token-sharing',
  'bola-distinct-ids',
  'bola-sequential-denials',
  'scraping',
  'error-spike-5xx',
  'error-spike-4xx',
  'admin-takeover',
];

export interface AttackOptions {
  readonly seed: number;
  readonly start?: number;
  /** A background to lay the attack over (default: `normalTraffic` with the same seed and enough days). */
  readonly background?: Trace;
}

/** Days of background each scenario needs: the admin profile needs its learning period behind it. */
export function backgroundDays(scenario: AttackScenario): number {
  return scenario === 'admin-takeover' ? 3 : 1;
}

/**
 * One attack over a normal background. The attack starts at 14:00 on the last day of background (the admin takeover:
 * at 03:10 the night after it).
 */
export function attackTrace(scenario: AttackScenario, options: AttackOptions): AttackTrace {
  const start = options.background?.start ?? options.start ?? TRACE_START;
  const background = options.background ?? normalTraffic({ seed: options.seed, start, days: backgroundDays(scenario) });
  const days = Math.max(1, Math.round((background.end - background.start) / DAY));
  const lastDay = start + (days - 1) * DAY;
  // The admin takeover happens the night after the background, once the admin's profile is learnt.
  const attackStart = scenario === 'admin-takeover' ? lastDay + DAY + 3 * HOUR + 10 * MINUTE : lastDay + 14 * HOUR;
  // The attack's randomness is its own stream, so the background is the same trace with or without it.
  const b = new TraceBuilder(mulberry32(options.seed ^ 0x5eed), 'a-');
  let items: readonly TraceItem[] = background.items;
  let attacker: AttackTrace['attacker'];
  switch (scenario) {
    case 'brute-force': {
      // 200 guesses at one account over 20 minutes from 40 rotating addresses (5 each: under per-address lockouts).
      const victim = userRef('user-7');
      const addresses = Array.from({ length: 40 }, () => residentialV4(b));
      for (let i = 0; i < 200; i++) b.loginFailure(attackStart + i * 6 * SECOND, victim, addresses[i % 40]!);
      attacker = { principal: `user:${victim}`, routeId: 'auth-login' };
      break;
    }
    case 'credential-stuffing': {
      // One address tries 300 leaked pairs, one account each, over 15 minutes; most names do not exist here.
      const address = residentialV4(b);
      for (let i = 0; i < 300; i++) {
        const known = i % 10 === 0;
        b.loginFailure(attackStart + i * 3 * SECOND, userRef(known ? `user-${i % 120}` : `leaked-${i}`), address, known ? 'wrong-password' : 'unknown-user');
      }
      attacker = { address, routeId: 'auth-login' };
      break;
    }
    case 'credential-stuffing-distributed': {
      // A botnet: 2,000 attempts in 10 minutes from 500 addresses, 4 each, 2,000 distinct accounts.
      const addresses = Array.from({ length: 500 }, () => residentialV4(b));
      for (let i = 0; i < 2000; i++) b.loginFailure(attackStart + i * 300, userRef(`leaked-${i}`), addresses[i % 500]!, 'unknown-user');
      attacker = { routeId: 'auth-login' };
      break;
    }
    case 'token-sharing': {
      // The billing key leaks: 25 addresses use it within 10 minutes, beside the service's own traffic.
      const addresses = Array.from({ length: 25 }, () => residentialV4(b));
      for (let i = 0; i < 150; i++) {
        b.observe({
          at: attackStart + i * 4 * SECOND,
          routeId: 'orders-list',
          method: 'GET',
          status: 200,
          clientAddress: addresses[i % 25]!,
          principal: 'svc-billing',
          credentialId: 'key-billing',
        });
      }
      attacker = { principal: 'svc-billing', credentialId: 'key-billing' };
      break;
    }
    case 'bola-distinct-ids': {
      // A customer reads 300 other customers' orders (a route missing its ownership check answers 200), random ids.
      const address = residentialV4(b);
      for (let i = 0; i < 300; i++) {
        const objectId = String(100_000 + b.int(0, 119) * 1000 + b.int(0, 39));
        b.observe({ at: attackStart + i * 1500, routeId: 'order', method: 'GET', status: 200, clientAddress: address, principal: 'user-12', credentialId: 'tok-user-12-x', objectId });
      }
      attacker = { principal: 'user-12', address };
      break;
    }
    case 'bola-sequential-denials': {
      // Walking ids upwards past the customer's own (113000-113039): each answered 404 by the ownership check.
      const address = residentialV4(b);
      for (let i = 0; i < 240; i++) {
        const objectId = String(113_040 + i);
        b.observe({ at: attackStart + i * 2 * SECOND, routeId: 'order', method: 'GET', status: 404, clientAddress: address, principal: 'user-13', credentialId: 'tok-user-13-x', objectId });
      }
      attacker = { principal: 'user-13', address };
      break;
    }
    case 'scraping': {
      // An ordinary customer runs a scraper after a normal morning: ~8 requests a second for 30 minutes.
      const address = residentialV4(b);
      for (let i = 0; i < 40; i++) {
        b.observe({ at: attackStart - 4 * HOUR + i * 20 * SECOND, routeId: 'order', method: 'GET', status: 200, clientAddress: address, principal: 'user-20', credentialId: 'tok-user-20-am', objectId: String(120_000 + (i % 5)) });
      }
      for (let i = 0; i < 30 * 60 * 8; i++) {
        b.observe({ at: attackStart + i * 125, routeId: 'orders-list', method: 'GET', status: 200, clientAddress: address, principal: 'user-20', credentialId: 'tok-user-20-x' });
      }
      attacker = { principal: 'user-20', address };
      break;
    }
    case 'error-spike-5xx': {
      // The order service falls over for 10 minutes: 60 % of its answers are 502/503 (plus the traffic of a retrying
      // client), while other routes are fine.
      const end = attackStart + 10 * MINUTE;
      items = background.items.map((item) =>
        item.kind === 'observation' && item.observation.routeId === 'orders-list' && item.at >= attackStart && item.at < end && b.chance(0.6)
          ? { ...item, observation: { ...item.observation, status: b.pick([502, 503]) } }
          : item,
      );
      attacker = { routeId: 'orders-list' };
      break;
    }
    case 'error-spike-4xx': {
      // A scanner without credentials fuzzes the orders route: 1,500 requests in 5 minutes, all 401.
      const address = residentialV4(b);
      for (let i = 0; i < 1500; i++) b.observe({ at: attackStart + i * 200, routeId: 'orders-list', method: 'GET', status: 401, clientAddress: address });
      attacker = { routeId: 'orders-list', address };
      break;
    }
    case 'admin-takeover': {
      // admin-1's token is used at 03:10 from an address it never used, for 150 admin requests in 10 minutes.
      const address = residentialV4(b);
      for (let i = 0; i < 150; i++) {
        b.observe({ at: attackStart + i * 4 * SECOND, routeId: 'admin-users', method: i % 3 === 0 ? 'DELETE' : 'GET', status: 200, clientAddress: address, principal: 'admin-1', credentialId: 'tok-admin-1-stolen', admin: true });
      }
      attacker = { principal: 'admin-1', address, routeId: 'admin-users' };
      break;
    }
  }
  const attack = b.sorted();
  return {
    name: `${scenario}(seed ${options.seed})`,
    scenario,
    seed: options.seed,
    start,
    end: Math.max(background.end, attack.length > 0 ? attack[attack.length - 1]!.at + 1 : 0),
    items: merge(items, attack),
    attackStart,
    attackPrefix: 'a-',
    attacker,
  };
}

/** Merges two time-ordered lists (background first on equal times). */
function merge(a: readonly TraceItem[], b: readonly TraceItem[]): TraceItem[] {
  const out: TraceItem[] = new Array<TraceItem>(a.length + b.length);
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < a.length && j < b.length) out[k++] = a[i]!.at <= b[j]!.at ? a[i++]! : b[j++]!;
  while (i < a.length) out[k++] = a[i++]!;
  while (j < b.length) out[k++] = b[j++]!;
  return out;
}

/** A clock the replay moves: what detectors and the alert dispatcher read instead of `Date.now`. */
export class ManualClock {
  now: number;
  constructor(start: number) {
    this.now = start;
  }
  readonly read = (): number => this.now;
  advance(ms: number): void {
    this.now += ms;
  }
}

/** Feeds a trace in order, moving `clock` to each item's time first (events read the clock; observations carry it). */
export function replay(trace: Trace, target: { emit(event: SecurityEvent): void; observe(o: RequestObservation): void }, clock: ManualClock): void {
  for (const item of trace.items) {
    clock.now = item.at;
    if (item.kind === 'event') target.emit(item.event);
    else target.observe(item.observation);
  }
}
