/**
 * Posture item 4: which operations of a route's contract accept unbounded input (OWASP API4:2023 "Unrestricted
 * Resource Consumption": no maximum length for strings, no maximum number of elements in arrays, no limits on
 * numbers). The contract policy enforces whatever the document says; an unbounded field is bounded only by the
 * route's body size limit, which is the gap posture must show.
 *
 * The bounds themselves are the scanner's (scan/static/bounds.ts), so posture and `rampart scan` agree on what
 * "bounded" means; this module only walks the request side of the operations a route serves.
 */
import type { RouteConfig } from '../config/load.ts';
import { loadOpenApiSync } from '../openapi/load.ts';
import type { OperationModel } from '../openapi/model.ts';
import { escapeToken, getAt, isObject, refPointer } from '../openapi/pointer.ts';
import { declaredTypes, integerBounds, isBoundedString } from '../scan/static/bounds.ts';

export interface UnboundedInput {
  /** `POST /orders` */
  readonly operation: string;
  /** JSON pointer of the schema in the document. */
  readonly pointer: string;
  readonly what: 'string' | 'array' | 'number' | 'map';
}

/** Schemas nest; documents recurse. A walk deeper than this is reported as what it found so far. */
const MAX_DEPTH = 32;
const COMPOSITIONS = ['allOf', 'anyOf', 'oneOf'] as const;

/** The unbounded request inputs of the operations `route` serves under its contract, or undefined without one. */
export function unboundedInputsOf(route: RouteConfig): UnboundedInput[] | undefined {
  const contract = route.policies.find((p) => p.definition.name === 'contract');
  if (contract === undefined) return undefined;
  const loaded = loadOpenApiSync((contract.config as { openapi: string }).openapi);
  if (!loaded.ok) return undefined;
  const { document, operations } = loaded.api.model;
  const found: UnboundedInput[] = [];
  for (const operation of operations) {
    if (!routeServes(route, operation)) continue;
    const name = `${operation.method} ${operation.path}`;
    const walker = new Walker(document, name, found);
    for (const parameter of operation.parameters) if (parameter.schema) walker.walk(parameter.schema.schema, parameter.schema.pointer, 0);
    for (const media of operation.requestBody?.content ?? []) if (media.schema) walker.walk(media.schema.schema, media.schema.pointer, 0);
  }
  return found;
}

/**
 * Whether the route's match covers the operation: methods, and the path template segment by segment (a route
 * `{param}` takes any segment, a trailing `/**` takes the rest; the version prefix a route strips is put back).
 */
export function routeServes(route: Pick<RouteConfig, 'path' | 'methods' | 'api'>, operation: Pick<OperationModel, 'method' | 'path'>): boolean {
  if (route.methods !== undefined && !route.methods.includes(operation.method.toUpperCase())) return false;
  const prefix = route.api?.stripPrefix ?? '';
  const routeSegments = route.path.split('/').slice(1);
  const operationSegments = `${prefix}${operation.path}`.split('/').slice(1);
  for (let i = 0; i < routeSegments.length; i++) {
    const want = routeSegments[i]!;
    if (want === '**' && i === routeSegments.length - 1) return true;
    const have = operationSegments[i];
    if (have === undefined) return false;
    if (/^\{[^}]*\}$/.test(want)) continue;
    if (want !== have) return false;
  }
  return routeSegments.length === operationSegments.length;
}

class Walker {
  readonly #seen = new Set<unknown>();
  constructor(
    readonly document: Readonly<Record<string, unknown>>,
    readonly operation: string,
    readonly found: UnboundedInput[],
  ) {}

  walk(node: unknown, pointer: string, depth: number): void {
    if (!isObject(node) || depth > MAX_DEPTH || this.#seen.has(node)) return;
    this.#seen.add(node);
    if (typeof node.$ref === 'string') {
      const target = refPointer(node.$ref);
      if (target !== undefined) this.walk(getAt(this.document, target), target, depth + 1);
      return;
    }
    // readOnly properties are refused in requests by the contract: their bounds do not matter on this side.
    if (node.readOnly === true) return;
    const types = declaredTypes(node);
    const add = (what: UnboundedInput['what']) => this.found.push({ operation: this.operation, pointer, what });
    if (types.includes('string') && !isBoundedString(node)) add('string');
    if (types.includes('array') && typeof node.maxItems !== 'number') add('array');
    if ((types.includes('integer') || types.includes('number')) && !Array.isArray(node.enum)) {
      const bounds = integerBounds(node);
      if (!bounds.lower || !bounds.upper) add('number');
    }
    if (isObject(node.additionalProperties) && typeof node.maxProperties !== 'number') add('map');
    if (isObject(node.properties)) {
      for (const [name, child] of Object.entries(node.properties)) this.walk(child, `${pointer}/properties/${escapeToken(name)}`, depth + 1);
    }
    if (isObject(node.items)) this.walk(node.items, `${pointer}/items`, depth + 1);
    if (isObject(node.additionalProperties)) this.walk(node.additionalProperties, `${pointer}/additionalProperties`, depth + 1);
    for (const keyword of COMPOSITIONS) {
      const list = node[keyword];
      if (Array.isArray(list)) list.forEach((child, i) => this.walk(child, `${pointer}/${keyword}/${i}`, depth + 1));
    }
  }
}

/** `3 unbounded inputs in 2 operations (POST /orders: /components/.../note string, ...; +1 more)` */
export function describeUnbounded(found: readonly UnboundedInput[], shown = 3): string {
  const operations = new Set(found.map((f) => f.operation));
  const sample = found.slice(0, shown).map((f) => `${f.operation} ${f.pointer} (${f.what})`);
  const more = found.length > shown ? `; +${found.length - shown} more` : '';
  return `${found.length} unbounded input${found.length === 1 ? '' : 's'} in ${operations.size} operation${operations.size === 1 ? '' : 's'} (${sample.join('; ')}${more})`;
}
