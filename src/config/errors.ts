/**
 * Turns ajv's errors into the messages people read: `routes[2].upstream: must be an http(s) URL`.
 * Paths use config notation (dots and [index]); anyOf failures are reduced to the branch whose type matched,
 * so a typo inside an upstream object names the typo, not three alternative shapes.
 */
import type { ErrorObject } from 'ajv';

export function pointerToPath(pointer: string, prefix = ''): string {
  let out = prefix;
  if (pointer === '') return out;
  for (const raw of pointer.slice(1).split('/')) {
    const part = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (/^\d+$/.test(part)) out += `[${part}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(part)) out += out === '' ? part : `.${part}`;
    else out += `[${JSON.stringify(part)}]`;
  }
  return out;
}

function join(path: string, key: string): string {
  if (/^[A-Za-z_$][\w$-]*$/.test(key)) return path === '' ? key : `${path}.${key}`;
  return `${path}[${JSON.stringify(key)}]`;
}

function describe(error: ErrorObject): string {
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'required':
      return 'is required';
    case 'additionalProperties':
      return 'is not a known setting';
    case 'enum':
      return `must be one of: ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'const':
      return `must be ${JSON.stringify(params.allowedValue)}`;
    case 'type':
      return `must be ${/^[aeiou]/.test(String(params.type)) ? 'an' : 'a'} ${String(params.type)}`;
    case 'pattern':
      return `has an invalid format`;
    case 'minLength':
      return params.limit === 1 ? 'must not be empty' : `must be at least ${String(params.limit)} characters`;
    case 'uniqueItems':
      return 'must not contain duplicates';
    default:
      return error.message ?? 'is invalid';
  }
}

/** Human messages for anyOf shapes that are common in the config. */
const ANYOF_HINTS: Array<[RegExp, string]> = [
  [/(timeout|Timeout|interval|ejectFor|openFor|window|connect|response|bodyIdle|drainTimeout)$/, 'must be a duration like 500ms, 30s, 5m, or a number of milliseconds'],
  [/(Size|maxBodySize)$/, 'must be a size like 16kb, 1mb, or a number of bytes'],
  [/upstream$/, 'must be an http(s) URL, a list of targets, or an upstream object with targets'],
  [/^listen$/, 'must be a listener object {host, port, tls?} or a list of them'],
  [/^admin$/, 'must be false or an object {host, port}'],
];

export function formatAjvErrors(errors: readonly ErrorObject[], prefix = ''): string[] {
  // Group by anyOf: drop branch errors of an anyOf when a branch whose type matched explains the failure.
  // Outermost first, so a nested anyOf is judged only within the branch its parent chose.
  const anyOfErrors = errors.filter((e) => e.keyword === 'anyOf').sort((a, b) => a.schemaPath.length - b.schemaPath.length);
  const dropped = new Set<ErrorObject>();
  const messages: string[] = [];
  for (const anyOf of anyOfErrors) {
    if (dropped.has(anyOf)) continue;
    const base = anyOf.schemaPath + '/';
    const branchErrors = errors.filter((e) => e !== anyOf && e.schemaPath.startsWith(base));
    for (const e of branchErrors) dropped.add(e);
    dropped.add(anyOf);
    const byBranch = new Map<string, ErrorObject[]>();
    for (const e of branchErrors) {
      const branch = e.schemaPath.slice(base.length).split('/')[0]!;
      byBranch.set(branch, [...(byBranch.get(branch) ?? []), e]);
    }
    // A branch "matched the type" when it has no type/const error at the anyOf's own location.
    const typed = [...byBranch.values()].filter(
      (list) => !list.some((e) => e.instancePath === anyOf.instancePath && (e.keyword === 'type' || e.keyword === 'const')),
    );
    const path = pointerToPath(anyOf.instancePath, prefix);
    if (typed.length === 1) {
      messages.push(...formatAjvErrors(typed[0]!, prefix));
    } else {
      const hint = ANYOF_HINTS.find(([re]) => re.test(path))?.[1] ?? 'does not match any allowed form';
      messages.push(`${path || '(root)'}: ${hint}`);
    }
  }
  for (const error of errors) {
    if (dropped.has(error)) continue;
    let path = pointerToPath(error.instancePath, prefix);
    const params = error.params as Record<string, unknown>;
    if (error.keyword === 'required') path = join(path, String(params.missingProperty));
    if (error.keyword === 'additionalProperties') path = join(path, String(params.additionalProperty));
    messages.push(`${path || '(root)'}: ${describe(error)}`);
  }
  return [...new Set(messages)];
}
