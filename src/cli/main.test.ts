import { describe, expect, it } from 'vitest';
import { groupsFor } from './main.ts';

const names = (argv: string[]) => groupsFor(['node', 'rampart', ...argv]).flatMap((g) => g.names);

describe('groupsFor: only the command group a command line needs is loaded', () => {
  const all = names([]);
  it.each([
    [['scan', '--spec', 'api.yaml'], ['scan']],
    [['--quiet', 'audit', 'verify', '-c', 'x.yaml'], ['audit']],
    [['api-keys', 'revoke', 'k1'], ['consumers', 'api-keys']],
    [['help', 'users'], ['users']],
    [['gateway', '-c', 'x.yaml'], []],
    [['config', 'check', 'x.yaml'], []],
    [['posture', '-c', 'x.yaml'], []],
  ])('%j loads %j', (argv, expected) => {
    expect(names(argv)).toEqual(expected);
  });

  it('help, no command and unknown commands load every group (help lists them all; commander names the unknown one)', () => {
    expect(all).toEqual(expect.arrayContaining(['users', 'clients', 'consumers', 'api-keys', 'authz', 'audit', 'events', 'deprecations', 'privacy', 'keyring', 'scan']));
    expect(names(['--help'])).toEqual(all);
    expect(names(['help'])).toEqual(all);
    expect(names(['nonsense'])).toEqual(all);
  });
});
