/**
 * `${env:NAME}` substitution for configuration files (the gateway config, the scanner's auth file): secrets stay in
 * the environment. Every string is substituted; an unset variable is an error naming its path; the keys
 * `__proto__`, `constructor` and `prototype` are refused (never valid settings, and a prototype-pollution vector).
 */
export function substituteEnv(value: unknown, env: Readonly<Record<string, string | undefined>>, path: string, errors: string[]): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, varName: string) => {
      const found = env[varName];
      if (found === undefined) {
        errors.push(`${path || '(root)'}: environment variable ${varName} is not set`);
        return '';
      }
      return found;
    });
  }
  if (Array.isArray(value)) return value.map((item, i) => substituteEnv(item, env, `${path}[${i}]`, errors));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      // Guard against prototype pollution from hostile config: these keys are never valid settings anyway.
      if (key === '__proto__' || key === 'constructor' || key === 'prototype') {
        errors.push(`${path ? `${path}.` : ''}${key}: is not allowed`);
        continue;
      }
      out[key] = substituteEnv(item, env, path ? `${path}.${key}` : key, errors);
    }
    return out;
  }
  return value;
}
