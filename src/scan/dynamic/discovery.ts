/**
 * Object ids seen in responses, per principal, to fill path parameters with real values and to find objects that
 * belong to one user only (BOLA: user B asks for what only user A was shown).
 *
 * A value for parameter `{p}` at position i of `/a/b/{p}/...` is looked for, in order:
 *   1. in the answer of the collection `/a/b` (its items, or the objects of its first array property):
 *      their `p` property, else `id`, `_id`, `uuid`;
 *   2. in answers of operations below the collection (`/a/b/me`): the same properties;
 *   3. in any object seen by the principal that has a property named exactly `p` (`orderId` in an invoice).
 * Only scalar ids (strings up to 200 characters, integers) are kept; each list is bounded.
 */

const ID_KEYS = ['id', '_id', 'uuid'];
const MAX_VALUES = 50;
const MAX_OBJECTS = 2000;
const MAX_DEPTH = 6;

interface Seen {
  /** template of the answering operation → objects at its top level (items of a list, or the object itself). */
  readonly topObjects: Map<string, Array<Record<string, unknown>>>;
  /** property name → values seen anywhere. */
  readonly byName: Map<string, string[]>;
  count: number;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function idText(value: unknown): string | undefined {
  if (typeof value === 'string' && value !== '' && value.length <= 200 && !/[\s/]/.test(value)) return value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  return undefined;
}

function push(list: string[], value: string): void {
  if (list.length < MAX_VALUES && !list.includes(value)) list.push(value);
}

/**
 * The objects an answer is about: the items of a list; an object with an id of its own; or the items of the first
 * array of objects in a wrapper without an id (`{ "data": [...] }`, `{ "items": [...], "next": ... }`).
 */
export function topLevelObjects(body: unknown): Array<Record<string, unknown>> {
  if (Array.isArray(body)) return body.filter(isRecord).slice(0, 200);
  if (!isRecord(body)) return [];
  if (ID_KEYS.some((key) => idText(body[key]) !== undefined)) return [body];
  for (const value of Object.values(body)) {
    if (Array.isArray(value) && value.length > 0 && value.every(isRecord)) return (value as Array<Record<string, unknown>>).slice(0, 200);
  }
  return [body];
}

export class Discovery {
  readonly #seen = new Map<string, Seen>();

  #for(principal: string): Seen {
    let seen = this.#seen.get(principal);
    if (!seen) {
      seen = { topObjects: new Map(), byName: new Map(), count: 0 };
      this.#seen.set(principal, seen);
    }
    return seen;
  }

  /** Records a JSON answer of `template` seen by `principal`. */
  record(principal: string, template: string, body: unknown): void {
    const seen = this.#for(principal);
    if (seen.count >= MAX_OBJECTS) return;
    const top = topLevelObjects(body);
    if (top.length > 0) {
      const list = seen.topObjects.get(template) ?? [];
      for (const object of top) if (list.length < MAX_VALUES * 4) list.push(object);
      seen.topObjects.set(template, list);
    }
    const walk = (value: unknown, depth: number): void => {
      if (depth > MAX_DEPTH || seen.count >= MAX_OBJECTS) return;
      if (Array.isArray(value)) {
        for (const item of value.slice(0, 200)) walk(item, depth + 1);
        return;
      }
      if (!isRecord(value)) return;
      seen.count++;
      for (const [name, item] of Object.entries(value)) {
        const id = idText(item);
        if (id !== undefined) {
          const list = seen.byName.get(name) ?? [];
          push(list, id);
          seen.byName.set(name, list);
        } else if (typeof item === 'object') walk(item, depth + 1);
      }
    };
    walk(body, 0);
  }

  /** Values for the path parameter `name` of `template`, as seen by `principal` (best first). */
  valuesFor(principal: string, template: string, name: string): string[] {
    const seen = this.#seen.get(principal);
    if (!seen) return [];
    const segments = template.split('/');
    const index = segments.indexOf(`{${name}}`);
    const out: string[] = [];
    const keys = [name, ...ID_KEYS];
    const fromObjects = (objects: ReadonlyArray<Record<string, unknown>>): void => {
      for (const object of objects) {
        for (const key of keys) {
          const id = idText(object[key]);
          if (id !== undefined) {
            push(out, id);
            break;
          }
        }
      }
    };
    if (index > 0) {
      const collection = segments.slice(0, index).join('/');
      fromObjects(seen.topObjects.get(collection) ?? []);
      for (const [answered, objects] of seen.topObjects) {
        if (answered === template || !answered.startsWith(`${collection}/`)) continue;
        // `/a/b/me` (one literal segment below the collection) describes an object of the collection.
        const rest = answered.slice(collection.length + 1);
        if (!rest.includes('/') && !rest.includes('{')) fromObjects(objects);
      }
    }
    for (const id of seen.byName.get(name) ?? []) push(out, id);
    return out;
  }
}
