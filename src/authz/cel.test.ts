import { describe, expect, it } from 'vitest';
import { CEL_INPUT_LIMITS, CEL_LIMITS, boundedForRules, compileRule, type CompiledRule } from './cel.ts';

const principal = Object.freeze({
  subject: 'alice',
  sub: 'alice',
  kind: 'user',
  method: 'jwt',
  roles: ['customer', 'support'],
  permissions: ['orders:read'],
  claims: { iss: 'https://idp', org: { id: 'acme' } },
  mfa: false,
  amr: ['pwd'],
  tenant: 'acme',
});
const request = {
  method: 'GET',
  path: '/users/alice/orders',
  params: { userId: 'alice' },
  query: { customerId: 'alice' },
  headers: { 'x-tenant-id': 'acme' },
  body: null,
};

function compiled(source: string): CompiledRule {
  const result = compileRule(source, 'routes[0].authorize.rule');
  if (!result.ok) throw new Error(result.message);
  return result.rule;
}

const at = (iso: string) => new Date(iso);

describe('the rules of the issue', () => {
  it('request.params.userId == principal.sub', () => {
    const rule = compiled('request.params.userId == principal.sub');
    expect(rule.evaluate({ principal, request, now: new Date() })).toEqual({ allow: true });
    expect(rule.evaluate({ principal, request: { ...request, params: { userId: 'bob' } }, now: new Date() })).toMatchObject({ allow: false });
  });

  it("principal.tenant == request.headers['x-tenant-id']", () => {
    const rule = compiled("principal.tenant == request.headers['x-tenant-id']");
    expect(rule.uses.headers).toBe(true);
    expect(rule.evaluate({ principal, request, now: new Date() })).toEqual({ allow: true });
    expect(rule.evaluate({ principal, request: { ...request, headers: { 'x-tenant-id': 'globex' } }, now: new Date() }).allow).toBe(false);
    // A principal without a tenant: the field is absent, the rule errors, and that denies.
    const { tenant: _tenant, ...untenanted } = principal;
    expect(rule.evaluate({ principal: untenanted, request, now: new Date() })).toMatchObject({ allow: false, reason: expect.stringContaining('tenant') });
  });

  it("'support' in principal.roles && request.method == 'GET'", () => {
    const rule = compiled("'support' in principal.roles && request.method == 'GET'");
    expect(rule.evaluate({ principal, request, now: new Date() })).toEqual({ allow: true });
    expect(rule.evaluate({ principal: { ...principal, roles: ['customer'] }, request, now: new Date() }).allow).toBe(false);
    expect(rule.evaluate({ principal, request: { ...request, method: 'DELETE' }, now: new Date() }).allow).toBe(false);
  });

  it('now.getHours() >= 8 time windows, with an injected clock', () => {
    const rule = compiled('now.getHours() >= 8 && now.getHours() < 18');
    expect(rule.evaluate({ principal, request, now: at('2026-03-02T09:30:00Z') })).toEqual({ allow: true });
    expect(rule.evaluate({ principal, request, now: at('2026-03-02T03:00:00Z') }).allow).toBe(false);
    const paris = compiled("now.getHours('Europe/Paris') >= 8");
    expect(paris.evaluate({ principal, request, now: at('2026-01-15T07:30:00Z') })).toEqual({ allow: true });
  });

  it('records what the rule reads, so the body is only read when a rule needs it', () => {
    expect(compiled("request.body.status == 'open'").uses).toMatchObject({ body: true, query: false, headers: false });
    expect(compiled("request.query.customerId == principal.sub").uses).toMatchObject({ body: false, query: true });
    expect(compiled("request['body'].x == 1").uses.body).toBe(true);
    expect(compiled('principal.sub == "x"').uses).toMatchObject({ body: false, query: false, headers: false });
  });
});

describe('compile errors name the problem (the loader prefixes the exact path)', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['syntax', "request.params.userId == ", /^syntax error: /],
    ['unknown variable', 'user.id == principal.sub', /^type error: Unknown variable: user/],
    ['type mismatch', "1 + 'a' == 2", /^type error: no such overload: int \+ string/],
    ['not boolean', 'size(principal.roles)', /^must be a boolean expression \(it is int\)/],
    ['unknown request field', 'request.parms.userId == principal.sub', /^request has no field "parms"/],
    ['unknown principal field', "principal.role == 'admin'", /^principal has no field "role"/],
    ['string repetition does not exist', "'a' * 1000000000 == principal.sub", /^type error: no such overload: string \* int/],
  ];
  for (const [name, source, message] of cases) {
    it(name, () => {
      const result = compileRule(source, 'x');
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.message).toMatch(message);
    });
  }
});

describe('hostile rules are refused at compile time (evaluation cannot be pre-empted)', () => {
  const list = (n: number) => `[${Array.from({ length: n }, (_, i) => i).join(',')}]`;
  const cases: Array<[string, string, RegExp]> = [
    ['exponential nested comprehensions', `${list(60)}.map(a, ${list(60)}.map(b, ${list(60)}.map(c, a * b * c))).size() > 0`, /nested comprehensions|maxAstNodes/],
    ['nested comprehension in a predicate', 'request.body.items.all(i, request.body.items.exists(j, j == i))', /nested comprehensions/],
    ['more than two comprehensions', 'principal.roles.all(r, r != "") && principal.roles.exists(r, r == "x") && principal.amr.all(a, a != "")', /more than 2 comprehensions/],
    ['string doubling with cel.bind', "cel.bind(a, principal.sub + principal.sub, cel.bind(b, a + a, cel.bind(c, b + b, size(c) > 1)))", /cel\.bind is not allowed/],
    ['regular expressions (ReDoS)', "request.headers['x'].matches('^(a+)+$')", /regular expressions are not allowed/],
    ['huge list literal', `${list(CEL_LIMITS.maxListElements + 1)}.size() > 0`, /maxListElements/],
    ['huge string literal', `principal.sub == '${'a'.repeat(CEL_LIMITS.maxStringLiteral + 1)}'`, /string literal longer/],
    ['deep nesting', `${'('.repeat(40)}true${')'.repeat(40)}`, /maxDepth/],
    ['too many nodes', Array.from({ length: 200 }, () => 'principal.sub == "a"').join(' || '), /maxAstNodes|longer than/],
    ['overlong source', `principal.sub == "${'b'.repeat(5000)}"`, /longer than 4096/],
  ];
  for (const [name, source, message] of cases) {
    it(name, () => {
      const result = compileRule(source, 'x');
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.message).toMatch(message);
    });
  }
});

describe('evaluation failures deny, never allow', () => {
  const activation = { principal, request, now: new Date() };
  const cases: Array<[string, string]> = [
    ['missing field', "request.body.isAdmin != true"],
    ['missing map key', "request.headers['x-missing'] != 'admin'"],
    ['missing claim', "principal.claims.role != 'admin'"],
    ['prototype key', "request.headers['__proto__'] == request.headers['__proto__']"],
    ['constructor key', "principal.claims['constructor'] != 'x'"],
    ['toString', "principal.claims['toString'] != 'x'"],
    ['wrong type at run time', "request.params.userId > 5"],
    ['non-boolean dyn result', 'principal.claims.org'],
    ['division by zero', 'size(principal.roles) / 0 == 1'],
    ['int overflow', '9223372036854775807 + size(principal.roles) > 0'],
  ];
  for (const [name, source] of cases) {
    it(name, () => {
      const result = compiled(source).evaluate(activation);
      expect(result.allow).toBe(false);
    });
  }

  it('never throws, whatever the activation holds', () => {
    const rule = compiled('request.params.userId == principal.sub');
    for (const hostile of [{}, { principal: null, request: null }, { principal: 'x', request: [] }, { principal: { sub: 'alice' }, request: { params: { userId: ['alice'] } } }]) {
      expect(() => rule.evaluate(hostile)).not.toThrow();
      expect(rule.evaluate(hostile).allow).toBe(false);
    }
  });
});

describe('run-time input bounds for bodies', () => {
  it('accepts ordinary bodies', () => {
    expect(boundedForRules({ items: [{ price: 1 }, { price: 2 }], note: 'x' })).toBe(true);
    expect(boundedForRules(null)).toBe(true);
  });

  it('refuses arrays, strings and node counts over the limits', () => {
    expect(boundedForRules({ items: Array.from({ length: CEL_INPUT_LIMITS.maxArrayLength + 1 }, () => 0) })).toBe(false);
    expect(boundedForRules({ note: 'x'.repeat(CEL_INPUT_LIMITS.maxStringLength + 1) })).toBe(false);
    const wide: Record<string, number> = {};
    for (let i = 0; i <= CEL_INPUT_LIMITS.maxNodes; i++) wide[`k${i}`] = i;
    expect(boundedForRules(wide)).toBe(false);
  });
});
