import { describe, it, expect } from 'vitest';
import { Router, validateRoutePattern, findRouteConflicts, type RouteEntry, type MatchResult } from './router.ts';
import { canonicalizeRequestTarget } from './canonical-path.ts';
import { PATH_CONFUSION_CASES } from '../../test/fixtures/path-confusion-cases.ts';

type R = RouteEntry<string>;

function route(path: string, extra: Partial<R> = {}): R {
  return { id: extra.id ?? path, path, value: extra.value ?? extra.id ?? path, ...extra };
}

function found(router: Router<string>, path: string, method = 'GET', host?: string) {
  const result = router.match(method, host, path);
  return result.kind === 'found' ? { value: result.value, params: result.params } : result.kind;
}

describe('Router: precedence', () => {
  const router = new Router<string>([
    route('/**'),
    route('/'),
    route('/users'),
    route('/users/'),
    route('/users/{id}'),
    route('/users/me'),
    route('/users/{id}/orders'),
    route('/users/{id}/orders/{orderId}'),
    route('/users/me/orders/**'),
    route('/status/**'),
    route('/files/{name}/raw'),
    route('/files/**'),
  ]);

  const table: Array<[path: string, value: string, params?: Record<string, string>]> = [
    ['/', '/'],
    ['/anything/else', '/**'],
    ['/users', '/users'],
    ['/users/', '/users/'],
    ['/users/me', '/users/me'], // literal beats {param}
    ['/users/42', '/users/{id}', { id: '42' }],
    ['/users/42/orders', '/users/{id}/orders', { id: '42' }],
    ['/users/42/orders/7', '/users/{id}/orders/{orderId}', { id: '42', orderId: '7' }],
    ['/users/me/orders', '/users/me/orders/**'], // literal "me" branch wins, its prefix matches the prefix itself
    ['/users/me/orders/7', '/users/me/orders/**'],
    ['/users/42/orders/7/x', '/**'], // no longer pattern fits: falls back to the catch-all
    ['/users/42/', '/**'], // trailing slash is significant
    ['/status', '/status/**'],
    ['/status/', '/status/**'],
    ['/status/a/b', '/status/**'],
    ['/statusx', '/**'],
    ['/files/a.txt/raw', '/files/{name}/raw', { name: 'a.txt' }], // {param} beats /**
    ['/files/a.txt', '/files/**'],
    ['/files/a.txt/raw/more', '/files/**'],
    ['/files//raw', '/files/**'], // {param} never matches an empty segment
    ['/USERS', '/**'], // case-sensitive
  ];

  it.each(table)('%s -> %s', (path, value, params) => {
    expect(found(router, path)).toEqual({ value, params: params ?? {} });
  });

  it('returns params exactly as they appear in the canonical path', () => {
    const canonical = canonicalizeRequestTarget('/users/caf%c3%a9%3a%41');
    expect(canonical.ok).toBe(true);
    if (!canonical.ok) return;
    expect(found(router, canonical.path)).toEqual({ value: '/users/{id}', params: { id: 'caf%C3%A9%3AA' } });
  });

  it('answers not-found when nothing matches, and for non-canonical input', () => {
    const small = new Router<string>([route('/a'), route('/b/{x}')]);
    expect(small.match('GET', undefined, '/c')).toEqual({ kind: 'not-found' });
    expect(small.match('GET', undefined, '/b/')).toEqual({ kind: 'not-found' });
    expect(small.match('GET', undefined, '/b')).toEqual({ kind: 'not-found' });
    expect(small.match('GET', undefined, '')).toEqual({ kind: 'not-found' });
    expect(small.match('GET', undefined, 'a')).toEqual({ kind: 'not-found' });
    expect(new Router<string>([]).match('GET', undefined, '/')).toEqual({ kind: 'not-found' });
  });
});

describe('Router: backtracking', () => {
  it('prefers a literal branch that ends in /** over a param branch', () => {
    const router = new Router<string>([route('/a/b/**'), route('/a/{x}/c')]);
    expect(found(router, '/a/b/c')).toEqual({ value: '/a/b/**', params: {} });
    expect(found(router, '/a/z/c')).toEqual({ value: '/a/{x}/c', params: { x: 'z' } });
  });

  it('backtracks to the param branch when the literal branch fails further down', () => {
    const router = new Router<string>([route('/a/b/d'), route('/a/{x}/c')]);
    expect(found(router, '/a/b/c')).toEqual({ value: '/a/{x}/c', params: { x: 'b' } });
    expect(found(router, '/a/b/d')).toEqual({ value: '/a/b/d', params: {} });
  });

  it('backtracks through several levels and to a shallower prefix', () => {
    const router = new Router<string>([
      route('/a/**'),
      route('/a/b/c/d'),
      route('/a/{x}/c/e'),
      route('/a/{x}/{y}/f'),
    ]);
    expect(found(router, '/a/b/c/d')).toEqual({ value: '/a/b/c/d', params: {} });
    expect(found(router, '/a/b/c/e')).toEqual({ value: '/a/{x}/c/e', params: { x: 'b' } });
    expect(found(router, '/a/b/c/f')).toEqual({ value: '/a/{x}/{y}/f', params: { x: 'b', y: 'c' } });
    expect(found(router, '/a/b/c/g')).toEqual({ value: '/a/**', params: {} });
    expect(found(router, '/a')).toEqual({ value: '/a/**', params: {} });
  });

  it('does not leak params from an abandoned branch', () => {
    const router = new Router<string>([route('/{a}/x/{b}/y'), route('/{c}/x/{d}/z')]);
    expect(found(router, '/1/x/2/z')).toEqual({ value: '/{c}/x/{d}/z', params: { c: '1', d: '2' } });
  });
});

describe('Router: methods and 405', () => {
  const router = new Router<string>([
    route('/orders', { id: 'list', methods: ['GET'] }),
    route('/orders', { id: 'create', methods: ['POST'] }),
    route('/orders/{id}', { id: 'update', methods: ['PUT', 'patch'] }),
    route('/orders/**', { id: 'orders-fallback', methods: ['DELETE'] }),
    route('/reports/{id}', { id: 'report', methods: ['GET'] }),
    route('/reports/**', { id: 'reports-any' }),
  ]);

  it('dispatches by method at the same path', () => {
    expect(found(router, '/orders', 'GET')).toEqual({ value: 'list', params: {} });
    expect(found(router, '/orders', 'POST')).toEqual({ value: 'create', params: {} });
  });

  it('answers HEAD for routes that allow GET', () => {
    expect(found(router, '/orders', 'HEAD')).toEqual({ value: 'list', params: {} });
  });

  it('upper-cases configured methods once; request methods are matched as given', () => {
    expect(found(router, '/orders/1', 'PATCH')).toEqual({ value: 'update', params: { id: '1' } });
    expect(found(router, '/orders/1', 'patch')).toBe('method-not-allowed');
  });

  it('falls back to a less specific route that accepts the method', () => {
    expect(found(router, '/orders/1', 'DELETE')).toEqual({ value: 'orders-fallback', params: {} });
    expect(found(router, '/reports/1', 'POST')).toEqual({ value: 'reports-any', params: {} });
    expect(found(router, '/reports/1', 'GET')).toEqual({ value: 'report', params: { id: '1' } });
  });

  it('answers 405 with the union of methods of every route that matched the path, sorted, HEAD with GET', () => {
    expect(router.match('OPTIONS', undefined, '/orders')).toEqual({
      kind: 'method-not-allowed',
      allow: ['DELETE', 'GET', 'HEAD', 'POST'],
    });
    expect(router.match('GET', undefined, '/orders/1')).toEqual({
      kind: 'method-not-allowed',
      allow: ['DELETE', 'PATCH', 'PUT'],
    });
  });

  it('does not count routes for other hosts towards 405', () => {
    const hosted = new Router<string>([
      route('/x', { id: 'a', methods: ['GET'], host: 'a.example' }),
      route('/x', { id: 'b', methods: ['POST'], host: 'b.example' }),
    ]);
    expect(hosted.match('PUT', 'a.example', '/x')).toEqual({ kind: 'method-not-allowed', allow: ['GET', 'HEAD'] });
    expect(hosted.match('GET', 'c.example', '/x')).toEqual({ kind: 'not-found' });
  });

  it('a route without methods does not answer TRACE (Cross-Site Tracing); one that lists TRACE does', () => {
    const open = new Router<string>([route('/any/**', { id: 'any' })]);
    expect(found(open, '/any/x', 'TRACE')).toBe('method-not-allowed');
    expect(open.match('TRACE', undefined, '/any/x')).toEqual({
      kind: 'method-not-allowed',
      allow: ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT'],
    });
    for (const method of ['GET', 'POST', 'PROPFIND', 'OPTIONS']) expect(found(open, '/any/x', method)).toEqual({ value: 'any', params: {} });
    const listed = new Router<string>([route('/any/**', { id: 'any' }), route('/debug', { id: 'debug', methods: ['TRACE'] })]);
    expect(found(listed, '/debug', 'TRACE')).toEqual({ value: 'debug', params: {} });
    expect(found(listed, '/any/x', 'TRACE')).toBe('method-not-allowed');
  });

  it('rejects invalid method lists at construction', () => {
    expect(() => new Router([route('/a', { methods: [] })])).toThrow(/route "\/a": methods must not be empty/);
    expect(() => new Router([route('/a', { methods: ['GET POST'] })])).toThrow(/invalid method "GET POST"/);
    expect(() => new Router([route('/a', { methods: [''] })])).toThrow(/invalid method/);
  });
});

describe('Router: hosts', () => {
  const router = new Router<string>([
    route('/api/**', { id: 'any-host' }),
    route('/api/**', { id: 'wildcard', host: '*.example.com' }),
    route('/api/**', { id: 'deeper-wildcard', host: '*.eu.example.com' }),
    route('/api/**', { id: 'exact', host: 'API.Example.com' }),
    route('/v6', { id: 'v6', host: '[::1]' }),
    route('/only-host', { id: 'only-host', host: 'internal.example.com' }),
  ]);

  it.each([
    ['api.example.com', 'exact'],
    ['API.EXAMPLE.COM', 'exact'],
    ['api.example.com:8443', 'exact'],
    ['api.example.com.', 'exact'],
    ['shop.example.com', 'wildcard'],
    ['a.b.example.com', 'wildcard'],
    ['x.eu.example.com', 'deeper-wildcard'],
    ['example.com', 'any-host'], // a wildcard needs at least one label
    ['evilexample.com', 'any-host'],
    ['example.com.evil', 'any-host'],
    ['other.test', 'any-host'],
    ['', 'any-host'],
  ])('Host %j -> %s', (host, id) => {
    expect(found(router, '/api/x', 'GET', host)).toEqual({ value: id, params: {} });
  });

  it('treats a missing Host like no host', () => {
    expect(found(router, '/api/x', 'GET', undefined)).toEqual({ value: 'any-host', params: {} });
    expect(found(router, '/only-host', 'GET', undefined)).toBe('not-found');
  });

  it('matches IPv6 literals with and without port', () => {
    expect(found(router, '/v6', 'GET', '[::1]:8080')).toEqual({ value: 'v6', params: {} });
    expect(found(router, '/v6', 'GET', '[::1]')).toEqual({ value: 'v6', params: {} });
    expect(found(router, '/v6', 'GET', '[::2]')).toBe('not-found');
  });

  it('lets path specificity dominate host specificity', () => {
    const mixed = new Router<string>([route('/a/**', { id: 'hosted', host: 'h.test' }), route('/a/b', { id: 'plain' })]);
    expect(found(mixed, '/a/b', 'GET', 'h.test')).toEqual({ value: 'plain', params: {} });
    expect(found(mixed, '/a/c', 'GET', 'h.test')).toEqual({ value: 'hosted', params: {} });
  });

  it('rejects invalid hosts at construction', () => {
    for (const host of ['example.com:80', 'a..b', '-a.example', 'a_b.example', '*example.com', 'a.*.example', '*', '']) {
      expect(() => new Router([route('/a', { host })]), host).toThrow(/invalid host/);
    }
  });
});

describe('validateRoutePattern', () => {
  it.each([
    '/',
    '/**',
    '/a',
    '/a/',
    '/a/b/**',
    '/a/{id}',
    '/a/{id}/',
    '/{a}/{b_2}/{_c}',
    '/a/{id}/**',
    "/v1/things:batchGet/-._~!$&'()*+,=@",
    '/caf%C3%A9',
    '/a%20b',
    '/a;v=1',
    '/files/x.json',
    '/.well-known/openid-configuration',
  ])('accepts %s', (pattern) => {
    expect(validateRoutePattern(pattern)).toBeNull();
  });

  it.each([
    ['', 'must begin with "/"'],
    ['a/b', 'must begin with "/"'],
    ['*', 'must begin with "/"'],
    ['//a', 'empty segment'],
    ['/a//b', 'empty segment'],
    ['/a//**', 'empty segment'],
    ['/a/**/b', '"**" is only allowed as the final segment'],
    ['/**/a', '"**" is only allowed as the final segment'],
    ['/a**', '"**" is only allowed as the final segment'],
    ['/a/*', 'a lone "*"'],
    ['/a/{', '"{" and "}" are only allowed around a whole segment'],
    ['/a/x{id}', '"{" and "}" are only allowed around a whole segment'],
    ['/a/{id}x', '"{" and "}" are only allowed around a whole segment'],
    ['/a/{}', 'invalid parameter name ""'],
    ['/a/{1d}', 'invalid parameter name "1d"'],
    ['/a/{a-b}', 'invalid parameter name "a-b"'],
    ['/a/{__proto__}', 'parameter name "__proto__" is not allowed'],
    ['/{id}/{id}', 'duplicate parameter name "id"'],
    ['/a/./b', 'dot segments are not allowed'],
    ['/a/..', 'dot segments are not allowed'],
    ['/a?b', '"?" and "#" are not allowed'],
    ['/a#b', '"?" and "#" are not allowed'],
    ['/%61dmin', 'is not in canonical form and would never match; write "admin"'],
    ['/caf%c3%a9', 'is not in canonical form and would never match; write "caf%C3%A9"'],
    ['/a%2Fb', 'can never match a canonical path (encoded slash)'],
    ['/a%00', 'can never match a canonical path (encoded null byte)'],
    ['/a%252e', 'can never match a canonical path (double percent-encoding)'],
    ['/%C0%AE', 'can never match a canonical path (overlong utf-8)'],
    ['/a b', 'can never match a canonical path (raw space in path)'],
    ['/a\\b', 'can never match a canonical path (backslash in path)'],
    ['/caf\u00e9', 'can never match a canonical path (raw non-ascii in path)'],
    ['/a/..;', 'can never match a canonical path (dot or empty segment with path parameter)'],
  ])('rejects %j', (pattern, reason) => {
    expect(validateRoutePattern(pattern)).toContain(reason);
  });

  it('makes the constructor throw with the route id', () => {
    expect(() => new Router([route('/a/**/b', { id: 'broken' })])).toThrow(
      'route "broken": invalid path pattern "/a/**/b": "**" is only allowed as the final segment "/**"',
    );
  });
});

describe('findRouteConflicts', () => {
  it('a route listing only TRACE does not conflict with the same pattern without methods (which does not answer TRACE)', () => {
    expect(findRouteConflicts([route('/o/**', { id: 'all' }), route('/o/**', { id: 'trace', methods: ['TRACE'] })])).toEqual([]);
    expect(findRouteConflicts([route('/o/**', { id: 'all' }), route('/o/**', { id: 'trace-get', methods: ['TRACE', 'GET'] })])).toHaveLength(1);
  });

  it('finds equal patterns after renaming params, with overlapping methods', () => {
    const conflicts = findRouteConflicts([
      route('/o/{a}', { id: 'first', methods: ['GET', 'POST'] }),
      route('/o/{b}', { id: 'second', methods: ['post', 'DELETE'] }),
    ]);
    expect(conflicts).toEqual([
      {
        index: 1,
        otherIndex: 0,
        message:
          'route "second" conflicts with route "first": both match POST on /o/{}; "first" is declared first and would always win',
      },
    ]);
  });

  it('treats a missing method list as every method', () => {
    const conflicts = findRouteConflicts([route('/x', { id: 'all' }), route('/x', { id: 'get', methods: ['GET'] })]);
    expect(conflicts).toHaveLength(1);
    expect(conflicts[0]?.message).toContain('both match GET, HEAD on /x');
    const both = findRouteConflicts([route('/y/**', { id: 'a' }), route('/y/**', { id: 'b' })]);
    expect(both[0]?.message).toContain('both match every method on /y/**');
  });

  it('counts the HEAD implied by GET', () => {
    const conflicts = findRouteConflicts([
      route('/x', { id: 'get', methods: ['GET'] }),
      route('/x', { id: 'head', methods: ['HEAD'] }),
    ]);
    expect(conflicts).toHaveLength(1);
    expect(conflicts[0]?.message).toContain('both match HEAD');
  });

  it('names the host and compares hosts case-insensitively', () => {
    const conflicts = findRouteConflicts([
      route('/x', { id: 'a', host: 'API.example.com' }),
      route('/x', { id: 'b', host: 'api.example.com' }),
      route('/x', { id: 'c', host: '*.example.com' }),
      route('/x', { id: 'd', host: '*.Example.com' }),
    ]);
    expect(conflicts.map((c) => [c.index, c.otherIndex])).toEqual([
      [1, 0],
      [3, 2],
    ]);
    expect(conflicts[0]?.message).toContain('on host api.example.com');
    expect(conflicts[1]?.message).toContain('on host *.example.com');
  });

  it('reports every earlier route a later one conflicts with', () => {
    const conflicts = findRouteConflicts([route('/x', { id: 'a' }), route('/x', { id: 'b' }), route('/x', { id: 'c' })]);
    expect(conflicts.map((c) => [c.index, c.otherIndex])).toEqual([
      [1, 0],
      [2, 0],
      [2, 1],
    ]);
  });

  it('does not flag routes that differ in shape, trailing slash, host or methods', () => {
    expect(
      findRouteConflicts([
        route('/o/{a}'),
        route('/o/a'),
        route('/o/{a}/'),
        route('/o/{a}/**'),
        route('/o/{a}', { host: 'h.test' }),
        route('/p', { methods: ['GET'] }),
        route('/p', { methods: ['POST'] }),
        route('/q/**'),
        route('/q'),
        route('/invalid//', {}),
      ]),
    ).toEqual([]);
  });
});

describe('Router against the path-confusion table', () => {
  // The same layout the end-to-end test uses: a protected tree and a public tree.
  const router = new Router<string>([route('/admin/**', { id: 'admin' }), route('/public/**', { id: 'public' })]);

  it('never routes a canonicalised case whose path is under /admin to the public route', () => {
    for (const testCase of PATH_CONFUSION_CASES) {
      const canonical = canonicalizeRequestTarget(testCase.request);
      if (!canonical.ok) continue;
      const result = router.match('GET', 'gateway.test', canonical.path);
      if (result.kind === 'found' && result.value === 'public') {
        expect(canonical.path.startsWith('/admin'), testCase.id).toBe(false);
      }
      if (canonical.path === '/admin' || canonical.path.startsWith('/admin/')) {
        expect(result.kind === 'found' && result.value, testCase.id).toBe('admin');
      }
    }
  });
});

/** Deterministic PRNG (mulberry32). */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Reference model, written independently of the trie: a pattern matches a path segment by segment, and among the
 * matches the winner has the smallest signature, compared lexicographically: per path segment 0 for a literal,
 * 1 for a param, 2 when covered by a prefix; then 0 if the pattern ends there, 1 if its "/**" covers nothing.
 */
function referenceMatch(pattern: string, path: string): { params: Record<string, string>; signature: number[] } | null {
  const prefix = pattern === '/**' || pattern.endsWith('/**');
  const patternSegments = pattern === '/**' ? [] : (prefix ? pattern.slice(0, -3) : pattern).slice(1).split('/');
  const pathSegments = path.slice(1).split('/');
  if (prefix ? pathSegments.length < patternSegments.length : pathSegments.length !== patternSegments.length) return null;
  const params: Record<string, string> = {};
  const signature: number[] = [];
  for (let i = 0; i < patternSegments.length; i++) {
    const expected = patternSegments[i] as string;
    const actual = pathSegments[i] as string;
    if (expected.startsWith('{')) {
      if (actual === '') return null;
      params[expected.slice(1, -1)] = actual;
      signature.push(1);
    } else if (expected === actual) {
      signature.push(0);
    } else {
      return null;
    }
  }
  for (let i = patternSegments.length; i < pathSegments.length; i++) signature.push(2);
  signature.push(prefix ? 1 : 0);
  return { params, signature };
}

function compareSignatures(a: number[], b: number[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return (a[i] as number) - (b[i] as number);
  return a.length - b.length;
}

describe('Router: property test against a reference model (seeded)', () => {
  const literals = ['a', 'b', 'c'];
  const allMethods = ['GET', 'POST', 'DELETE'];

  function randomPattern(random: () => number): string {
    const count = Math.floor(random() * 4);
    let pattern = '';
    let params = 0;
    for (let i = 0; i < count; i++) {
      pattern += '/' + (random() < 0.3 ? `{p${params++}}` : (literals[Math.floor(random() * literals.length)] as string));
    }
    const ending = random();
    if (ending < 0.3) return pattern + '/**';
    if (ending < 0.45) return pattern + '/';
    return pattern === '' ? '/' : pattern;
  }

  function randomPath(random: () => number): string {
    const count = 1 + Math.floor(random() * 5);
    let path = '';
    for (let i = 0; i < count; i++) path += '/' + (random() < 0.1 ? '' : (['a', 'b', 'c', 'd'][Math.floor(random() * 4)] as string));
    return random() < 0.2 ? path + '/' : path;
  }

  it('finds the most specific route that accepts the method, or 405/404 exactly when the model says so', () => {
    const random = mulberry32(20240611);
    let checkedFound = 0;
    let checked405 = 0;
    for (let table = 0; table < 300; table++) {
      const routes: R[] = [];
      const count = 1 + Math.floor(random() * 12);
      for (let i = 0; i < count; i++) {
        const methods = random() < 0.4 ? undefined : allMethods.filter(() => random() < 0.5);
        routes.push({ id: `r${i}`, path: randomPattern(random), methods: methods?.length ? methods : undefined, value: `r${i}` });
      }
      const router = new Router<string>(routes);
      for (let n = 0; n < 40; n++) {
        const path = randomPath(random);
        if (path.includes('//')) continue; // not canonical
        const method = allMethods[Math.floor(random() * allMethods.length)] as string;
        const result: MatchResult<string> = router.match(method, undefined, path);

        const candidates = routes
          .map((r, index) => ({ r, index, m: referenceMatch(r.path, path) }))
          .filter((c) => c.m !== null);
        const accepting = candidates.filter((c) => c.r.methods === undefined || c.r.methods.includes(method));
        accepting.sort((x, y) => compareSignatures(x.m!.signature, y.m!.signature) || x.index - y.index);

        if (accepting.length > 0) {
          const best = accepting[0]!;
          expect(result, `${path} ${method} in ${JSON.stringify(routes.map((r) => [r.path, r.methods]))}`).toEqual({
            kind: 'found',
            value: best.r.value,
            params: best.m!.params,
          });
          // and the route found really matches the path
          expect(referenceMatch(routes.find((r) => r.value === (result as { value: string }).value)!.path, path)).not.toBeNull();
          checkedFound++;
        } else if (candidates.length > 0) {
          const allow = new Set<string>();
          for (const c of candidates) for (const m of c.r.methods ?? []) allow.add(m);
          if (allow.has('GET')) allow.add('HEAD');
          expect(result).toEqual({ kind: 'method-not-allowed', allow: [...allow].sort() });
          checked405++;
        } else {
          expect(result).toEqual({ kind: 'not-found' });
        }
      }
    }
    expect(checkedFound).toBeGreaterThan(1000);
    expect(checked405).toBeGreaterThan(50);
  });
});
