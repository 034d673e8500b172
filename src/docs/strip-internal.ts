/**
 * What the served documentation leaves out (checklist item 14, OWASP API9:2023): everything marked
 * `x-internal: true` — paths, operations, parameters, responses, schemas and schema properties — is removed
 * from a copy of the document, with the names of removed properties dropped from `required` lists too.
 *
 * The walk is over the bundled document (internal `$ref` strings, no object cycles) and bounded in depth, so a
 * hostile document cannot make it recurse without end.
 */
const MAX_DEPTH = 256;
const HTTP_METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function internal(value: unknown): boolean {
  return isObject(value) && value['x-internal'] === true;
}

function copy(value: unknown, depth: number): unknown {
  if (depth > MAX_DEPTH) throw new Error('document nested too deeply to publish');
  if (Array.isArray(value)) return value.filter((v) => !internal(v)).map((v) => copy(v, depth + 1));
  if (!isObject(value)) return value;
  const out: Record<string, unknown> = {};
  const removedProperties: string[] = [];
  for (const [key, child] of Object.entries(value)) {
    if (key === 'x-internal') continue;
    if (key === 'properties' && isObject(child)) {
      const kept: Record<string, unknown> = {};
      for (const [name, schema] of Object.entries(child)) {
        if (internal(schema)) removedProperties.push(name);
        else kept[name] = copy(schema, depth + 1);
      }
      out[key] = kept;
      continue;
    }
    if (internal(child)) continue;
    out[key] = copy(child, depth + 1);
  }
  if (removedProperties.length > 0 && Array.isArray(out.required)) {
    out.required = (out.required as unknown[]).filter((name) => !removedProperties.includes(name as string));
  }
  return out;
}

/** A copy of `document` without its `x-internal: true` parts (and without paths left with no operation). */
export function withoutInternal(document: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out = copy(document, 0) as Record<string, unknown>;
  const paths = out.paths;
  if (isObject(paths)) {
    for (const [path, item] of Object.entries(paths)) {
      if (!isObject(item)) continue;
      if (!Object.keys(item).some((k) => HTTP_METHODS.has(k))) delete paths[path];
    }
  }
  return out;
}
