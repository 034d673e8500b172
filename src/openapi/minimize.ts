/**
 * Which properties a schema declares, applied to a JSON value (OWASP API3:2023 Broken Object Property Level
 * Authorization, both of its halves):
 * - Responses (issue 5 item 4, checklist item 16): the upstream's answer is walked against the response schema
 *   declared for its status; properties the schema does not declare are removed (mode `remove`) or reported so the
 *   policy can refuse the answer (`reject`). `writeOnly` properties (passwords, secrets sent on create) are removed
 *   in every mode, `allow` included (OpenAPI 3 §4.8.24: "SHOULD NOT be sent as part of the response").
 * - Requests (mass assignment): the same walk in `reject` mode lists undeclared body properties, without touching
 *   the body (validator.ts refuses the request).
 *
 * What counts as declared:
 * - `properties` of the schema and of every `allOf` part; `additionalProperties: true` or a schema, and
 *   `patternProperties`, declare the rest (their schemas are walked in turn); a free-form object (no `properties`
 *   at all) declares everything.
 * - `oneOf`/`anyOf` with a discriminator: the branch its value maps to; without one, every branch whose `required`
 *   properties are all present (every branch when none is), so a property declared in any applicable branch is kept.
 *
 * The walk follows the data, which the gateway parsed with depth and size limits, so it ends however circular the
 * schemas are; a schema cycle without data progress (`A = allOf[B]`, `B = allOf[A]`) is cut by a seen-set. Plans
 * (what an object schema declares) are cached per schema when they do not depend on the data.
 */
import type { OpenApiVersion, SchemaAt } from './model.ts';
import { escapeToken, getAt, isObject, joinPointer, type Located } from './pointer.ts';
import { Discriminators, isFreeForm, resolveSchema } from './schema-info.ts';
import { compilePattern, type PatternMatcher } from './pattern-engine.ts';
import { redactPiiName } from '../privacy/pii/names.ts';

export type ResponseMode = 'remove' | 'reject' | 'allow';
export type Direction = 'request' | 'response';

export interface MinimizeResult {
  /** The value was modified in place (properties removed). */
  readonly changed: boolean;
  /** Pointers (in the body) of undeclared properties, first few only; for `reject` and for the log. */
  readonly undeclared: readonly string[];
  /**
   * How many undeclared properties were found: what a caller tests instead of `undeclared.length`, which builds the
   * pointers (string work, a PII check per name) that only a log line or an answer needs.
   */
  readonly undeclaredCount: number;
  /** How many properties were removed (undeclared and writeOnly). */
  readonly removed: number;
  /**
   * The objects and arrays (the value itself included) whose content changed, directly or further down: what a
   * serialiser must write anew. Every other object or array is exactly as parsed (response-body.ts copies those from
   * the upstream's text instead of serialising them again).
   */
  readonly dirty: ReadonlySet<object>;
}

export interface Plan {
  readonly declared: ReadonlyMap<string, readonly Located[]>;
  /**
   * The same names grouped by length (index: the name's length in UTF-16 units): the text minimizer finds a member's
   * name by comparing it in place (`startsWith` at the key's position) instead of cutting it out of the text and
   * hashing it for `declared` (minimize-text.ts), which is most of what an object costs it.
   */
  readonly declaredByLength: ReadonlyArray<ReadonlyArray<readonly [string, readonly Located[]]> | undefined>;
  readonly writeOnly: ReadonlySet<string>;
  /** Every property is declared (additionalProperties true or a schema, or a free-form object). */
  readonly open: boolean;
  readonly additional: readonly Located[];
  readonly patterns: ReadonlyArray<readonly [PatternMatcher, Located]>;
}

const MAX_REPORTED = 10;
const MAX_COLLECT_DEPTH = 64;

export class Minimizer {
  readonly #doc: Readonly<Record<string, unknown>>;
  readonly #plans = new Map<string, Plan>();
  /**
   * The same plans by the identity of the schema list they were asked for: the lists a walk passes down come from
   * cached plans (`declared`, `additional`, `rest`), so after the first response each object costs one identity lookup
   * instead of building and hashing a pointer key.
   */
  readonly #plansByList = new WeakMap<readonly Located[], Plan>();
  readonly #itemsByList = new WeakMap<readonly Located[], Items | null>();
  readonly #roots = new WeakMap<SchemaAt, readonly Located[]>();
  readonly #regexps = new Map<string, PatternMatcher | null>();
  readonly #writeOnlyMemo = new Map<string, boolean>();
  readonly #itemsCache = new Map<string, Items | null>();
  /** Schema lists whose plan depends on the object (oneOf/anyOf, discriminator): `staticPlan` has none for them. */
  readonly #dynamicLists = new WeakSet<readonly Located[]>();
  readonly #discriminators: Discriminators;
  /**
   * Plans that depend on the object, by the choices they depend on (see PlanChoices): a polymorphic list of 1,000
   * pets makes two plans, not 1,000 (building one costs microseconds; choosing costs a property read).
   */
  readonly #choicesByList = new WeakMap<readonly Located[], PlanChoices>();
  /** One Choice per discriminator or oneOf/anyOf in the document (by kind and pointer), so the tries can compare them. */
  readonly #choiceAt = new Map<string, Choice>();

  #plansBuilt = 0;

  constructor(document: Readonly<Record<string, unknown>>, version: OpenApiVersion) {
    this.#doc = document;
    this.#discriminators = new Discriminators(document, version);
  }

  /**
   * Minimises `value` in place against `schema`. Without a schema nothing is declared: every property of an object
   * (or every element of an array) is undeclared.
   */
  minimize(schema: SchemaAt | undefined, value: unknown, mode: ResponseMode, direction: Direction = 'response'): MinimizeResult {
    const state = new State(mode, direction === 'response');
    if (schema === undefined) {
      if (isObject(value)) {
        state.containers.push(value);
        const keys = Object.keys(value);
        for (const key of keys) this.#undeclared(key, [], state);
        if (mode === 'remove' && keys.length > 0) state.removeAll(value, keys);
      } else if (Array.isArray(value) && value.length > 0) {
        state.note([], '0', false);
        if (mode === 'remove') {
          state.containers.push(value);
          state.removed += value.length;
          value.length = 0;
          state.markChanged();
        }
      }
      return state;
    }
    this.#walk(value, this.rootOf(schema), [], state);
    return state;
  }

  /** Plans built so far (not found among those kept): tests read it to see that kept plans are used. */
  get plansBuilt(): number {
    return this.#plansBuilt;
  }

  /** The schema list a walk starts from (one per schema, so the plans cached by list identity hit). */
  rootOf(schema: SchemaAt): readonly Located[] {
    let root = this.#roots.get(schema);
    if (root === undefined) this.#roots.set(schema, (root = [{ value: schema.schema, pointer: schema.pointer }]));
    return root;
  }

  /**
   * What `schemas` declare for any object, or undefined when that depends on the object itself (`oneOf`/`anyOf`,
   * a discriminator): the text minimizer (minimize-text.ts) walks without building objects, so it can only use a
   * plan known before it reads the members.
   */
  staticPlan(schemas: readonly Located[]): Plan | undefined {
    const known = this.#plansByList.get(schemas);
    if (known !== undefined) return known;
    if (this.#dynamicLists.has(schemas)) return undefined;
    const plan = this.#plan(schemas, NO_MEMBERS);
    // #plan caches a plan by list exactly when it did not depend on the data.
    if (this.#plansByList.get(schemas) === plan) return plan;
    this.#dynamicLists.add(schemas);
    return undefined;
  }

  /** What an array schema (a union) declares for its elements; undefined when it declares nothing (not walked). */
  itemsOf(schemas: readonly Located[]): Items | undefined {
    return this.#items(schemas);
  }

  /** Whether any schema reachable from `schema` marks a property writeOnly (then `allow` mode still walks). */
  hasWriteOnly(schema: SchemaAt): boolean {
    const seen = new Set<string>();
    const visit = (node: unknown, pointer: string, depth: number): boolean => {
      if (depth > MAX_COLLECT_DEPTH) return false;
      const { value, pointer: at } = resolveSchema(this.#doc, node, pointer);
      if (!isObject(value)) return false;
      const memo = this.#writeOnlyMemo.get(at);
      if (memo !== undefined) return memo;
      if (seen.has(at)) return false;
      seen.add(at);
      let found = value.writeOnly === true;
      for (const [key, sub] of Object.entries(value)) {
        if (found) break;
        if (key === 'properties' || key === 'patternProperties') {
          if (isObject(sub)) for (const [name, s] of Object.entries(sub)) if (visit(s, joinPointer(at, key, name), depth + 1)) found = true;
        } else if (key === 'allOf' || key === 'oneOf' || key === 'anyOf' || key === 'prefixItems') {
          if (Array.isArray(sub)) sub.forEach((s, i) => (found ||= visit(s, joinPointer(at, key, i), depth + 1)));
        } else if (key === 'items' || key === 'additionalProperties') {
          if (isObject(sub)) found = visit(sub, joinPointer(at, key), depth + 1);
        }
      }
      this.#writeOnlyMemo.set(at, found);
      return found;
    };
    return visit(schema.schema, schema.pointer, 0);
  }

  /**
   * `path` is the stack of keys down to `value`; the pointer string is only built for a property that is reported,
   * so a conforming answer costs no string work.
   */
  #walk(value: unknown, schemas: readonly Located[], path: Array<string | number>, state: State): void {
    if (Array.isArray(value)) {
      const items = this.#items(schemas);
      if (!items) return;
      state.containers.push(value);
      for (let i = 0; i < value.length; i++) {
        const element = value[i];
        if (element === null || typeof element !== 'object') continue;
        const schemasForItem = itemSchemas(items, i);
        if (schemasForItem.length === 0) continue;
        path.push(i);
        this.#walk(element, schemasForItem, path, state);
        path.pop();
      }
      state.containers.pop();
      return;
    }
    if (!isObject(value)) return;
    const plan = this.#plan(schemas, value);
    state.containers.push(value);
    let removals: string[] | undefined;
    const writeOnly = state.removeWriteOnly && plan.writeOnly.size > 0 ? plan.writeOnly : undefined;
    for (const key of Object.keys(value)) {
      if (writeOnly !== undefined && writeOnly.has(key)) {
        (removals ??= []).push(key);
        continue;
      }
      const child = value[key];
      const nested = child !== null && typeof child === 'object';
      const declared = plan.declared.get(key);
      let next: readonly Located[] | undefined;
      if (declared) next = declared;
      else {
        const pattern = plan.patterns.length > 0 ? plan.patterns.find(([regex]) => regex.test(key)) : undefined;
        if (pattern) next = [pattern[1]];
        else if (plan.open) next = plan.additional;
        else {
          if (this.#undeclared(key, path, state)) (removals ??= []).push(key);
          continue;
        }
      }
      if (nested && next.length > 0) {
        path.push(key);
        this.#walk(child, next, path, state);
        path.pop();
      }
    }
    if (removals !== undefined) state.removeAll(value, removals);
    state.containers.pop();
  }

  /** Notes an undeclared property; true when it is to be removed (`remove` mode). */
  #undeclared(key: string, path: ReadonlyArray<string | number>, state: State): boolean {
    if (state.mode === 'allow') return false;
    state.note(path, key, true);
    return state.mode === 'remove';
  }

  /** What the schemas (a union) declare for this object. Cached when the answer does not depend on the data. */
  #plan(schemas: readonly Located[], value: Record<string, unknown>): Plan {
    const known = this.#plansByList.get(schemas);
    if (known) return known;
    const key = schemas.length === 1 ? schemas[0]!.pointer : schemas.map((s) => s.pointer).join('\n');
    const cached = this.#plans.get(key);
    if (cached) {
      this.#plansByList.set(schemas, cached);
      return cached;
    }
    const choices = this.#choicesByList.get(schemas);
    const chosen = choices?.find(value);
    if (chosen !== undefined) return chosen;
    // The choices this plan depends on, in the order the collection below meets them, and what this object chose.
    const trail: Array<Choice | string> = [];
    const decide = (choice: Choice): string => {
      const outcome = choice.outcome(value);
      trail.push(choice, outcome);
      return outcome;
    };
    this.#plansBuilt++;
    const declared = new Map<string, Located[]>();
    const writeOnly = new Set<string>();
    const additional: Located[] = [];
    const patterns: Array<readonly [PatternMatcher, Located]> = [];
    let open = false;
    let dynamic = false;
    const seen = new Set<string>();
    const collect = (node: unknown, pointer: string, depth: number): void => {
      if (depth > MAX_COLLECT_DEPTH) return;
      const { value: schema, pointer: at } = resolveSchema(this.#doc, node, pointer);
      if (schema === true) {
        open = true;
        return;
      }
      if (!isObject(schema) || seen.has(at)) return;
      seen.add(at);
      if (isFreeForm(this.#doc, schema, at)) {
        open = true;
        return;
      }
      if (isObject(schema.properties)) {
        for (const [name, sub] of Object.entries(schema.properties)) {
          const subPointer = joinPointer(at, 'properties', name);
          const list = declared.get(name);
          if (list) list.push({ value: sub, pointer: subPointer });
          else declared.set(name, [{ value: sub, pointer: subPointer }]);
          if (this.#isWriteOnly(sub, subPointer)) writeOnly.add(name);
        }
      }
      if (schema.additionalProperties === true || isObject(schema.additionalProperties)) {
        open = true;
        if (isObject(schema.additionalProperties)) additional.push({ value: schema.additionalProperties, pointer: joinPointer(at, 'additionalProperties') });
      }
      if (isObject(schema.patternProperties)) {
        for (const [source, sub] of Object.entries(schema.patternProperties)) {
          const regex = this.#regexp(source);
          // A pattern that does not compile declares nothing (fail closed: its properties count as undeclared).
          if (regex) patterns.push([regex, { value: sub, pointer: joinPointer(at, 'patternProperties', source) }]);
        }
      }
      if (Array.isArray(schema.allOf)) schema.allOf.forEach((sub, i) => collect(sub, joinPointer(at, 'allOf', i), depth + 1));
      const discriminator = this.#discriminatorChoice(schema, at);
      if (discriminator !== undefined) {
        dynamic = true;
        const target = decide(discriminator);
        // The value names no mapped schema: nothing beyond the base is declared.
        if (target !== NO_TARGET) collect(getAt(this.#doc, target), target, depth + 1);
        return;
      }
      for (const keyword of ['oneOf', 'anyOf'] as const) {
        const branches = schema[keyword];
        if (!Array.isArray(branches) || branches.length === 0) continue;
        dynamic = true;
        const choice = this.#branchChoice(branches, at, keyword);
        for (const b of choice.branchesFor(decide(choice))) collect(b.value, b.pointer, depth + 1);
      }
    };
    for (const s of schemas) collect(s.value, s.pointer, 0);
    const declaredByLength: Array<Array<readonly [string, readonly Located[]]>> = [];
    for (const [name, list] of declared) (declaredByLength[name.length] ??= []).push([name, list]);
    const plan: Plan = { declared, declaredByLength, writeOnly, open, additional, patterns };
    if (!dynamic) {
      this.#plans.set(key, plan);
      this.#plansByList.set(schemas, plan);
    } else {
      let tree = choices;
      if (tree === undefined) this.#choicesByList.set(schemas, (tree = new PlanChoices()));
      tree.add(trail, plan);
    }
    return plan;
  }

  /**
   * The choice a discriminator makes (OpenAPI 3 §4.8.25): the pointer of the schema the object's tag selects,
   * NO_TARGET when it names no mapped schema; undefined when the schema has no usable discriminator.
   */
  #discriminatorChoice(schema: Record<string, unknown>, pointer: string): Choice | undefined {
    const id = `d${pointer}`;
    let choice = this.#choiceAt.get(id);
    if (choice === undefined) {
      const info = this.#discriminators.resolve(schema, pointer);
      if (!info || info.targets.size === 0) return undefined;
      const { property, targets } = info;
      choice = {
        outcome: (value) => {
          const tag = value[property];
          return typeof tag === 'string' ? (targets.get(tag) ?? NO_TARGET) : NO_TARGET;
        },
        branchesFor: () => [],
      };
      this.#choiceAt.set(id, choice);
    }
    return choice;
  }

  /**
   * The choice `oneOf`/`anyOf` branches make without a discriminator: every branch whose `required` properties the
   * object has (every branch when none applies); the outcome lists the applicable indexes.
   */
  #branchChoice(branches: readonly unknown[], pointer: string, keyword: 'oneOf' | 'anyOf'): Choice {
    const id = `${keyword === 'oneOf' ? 'o' : 'a'}${pointer}`;
    let choice = this.#choiceAt.get(id);
    if (choice === undefined) {
      const located = branches.map((sub, i) => resolveSchema(this.#doc, sub, joinPointer(pointer, keyword, i)));
      const byOutcome = new Map<string, readonly Located[]>();
      choice = {
        outcome: (value) => {
          let outcome = '';
          for (let i = 0; i < located.length; i++) {
            const b = located[i]!.value;
            if (isObject(b) && requiredPresent(b, value)) outcome += `${i},`;
          }
          return outcome;
        },
        branchesFor: (outcome) => {
          let list = byOutcome.get(outcome);
          if (list === undefined) {
            list = outcome === '' ? located : outcome.split(',').filter((i) => i !== '').map((i) => located[Number(i)]!);
            byOutcome.set(outcome, list);
          }
          return list;
        },
      };
      this.#choiceAt.set(id, choice);
    }
    return choice;
  }

  /** What an array schema (a union) declares for its elements; cached per schema set. */
  #items(schemas: readonly Located[]): Items | undefined {
    let items = this.#itemsByList.get(schemas);
    if (items === undefined) {
      const key = schemas.length === 1 ? schemas[0]!.pointer : schemas.map((s) => s.pointer).join('\n');
      items = this.#itemsCache.get(key);
      if (items === undefined) {
        items = this.#collectItems(schemas) ?? null;
        this.#itemsCache.set(key, items);
      }
      this.#itemsByList.set(schemas, items);
    }
    return items ?? undefined;
  }

  #collectItems(schemas: readonly Located[]): Items | undefined {
    const rest: Located[] = [];
    const prefix: Located[][] = [];
    let prefixLength = 0;
    const seen = new Set<string>();
    const collect = (node: unknown, pointer: string, depth: number): void => {
      if (depth > MAX_COLLECT_DEPTH) return;
      const { value: schema, pointer: at } = resolveSchema(this.#doc, node, pointer);
      if (!isObject(schema) || seen.has(at)) return;
      seen.add(at);
      if (isObject(schema.items)) rest.push({ value: schema.items, pointer: joinPointer(at, 'items') });
      const tuple = Array.isArray(schema.prefixItems) ? schema.prefixItems : Array.isArray(schema.items) ? schema.items : undefined;
      if (tuple) {
        prefixLength = Math.max(prefixLength, tuple.length);
        tuple.forEach((sub, i) => (prefix[i] ??= []).push({ value: sub, pointer: joinPointer(at, Array.isArray(schema.prefixItems) ? 'prefixItems' : 'items', i) }));
      }
      for (const keyword of ['allOf', 'oneOf', 'anyOf'] as const) {
        const branches = schema[keyword];
        if (Array.isArray(branches)) branches.forEach((sub, i) => collect(sub, joinPointer(at, keyword, i), depth + 1));
      }
    };
    for (const s of schemas) collect(s.value, s.pointer, 0);
    // An array schema without `items` declares its elements as anything.
    if (rest.length === 0 && prefix.length === 0) return undefined;
    return { rest, prefix, prefixLength };
  }

  #isWriteOnly(sub: unknown, pointer: string): boolean {
    if (!isObject(sub)) return false;
    if (sub.writeOnly === true) return true;
    if (sub.$ref === undefined) return false;
    const target = resolveSchema(this.#doc, sub, pointer).value;
    return isObject(target) && target.writeOnly === true;
  }

  #regexp(source: string): PatternMatcher | null {
    let regex = this.#regexps.get(source);
    if (regex === undefined) {
      try {
        // The same engine as request validation: RE2 for a pattern that could backtrack catastrophically on the
        // upstream's member names. A pattern no engine may run matches nothing (its members count as undeclared).
        regex = compilePattern(source);
      } catch {
        regex = null;
      }
      this.#regexps.set(source, regex);
    }
    return regex;
  }
}

export interface Items {
  readonly rest: readonly Located[];
  readonly prefix: ReadonlyArray<readonly Located[]>;
  readonly prefixLength: number;
}

/**
 * The schemas of the element at `index`: its `prefixItems` (tuple) schemas within the longest tuple, `items` past it.
 * Always one of the lists `Items` holds, never a new one: plans are cached by list identity, so a tuple's elements
 * reuse theirs instead of building a plan per element (a copied list per element once missed every cached plan).
 */
export function itemSchemas(items: Items, index: number): readonly Located[] {
  // `prefix` has an entry for every index below `prefixLength` (#collectItems fills one per tuple position).
  return index < items.prefixLength ? items.prefix[index]! : items.rest;
}

const NOTHING_DIRTY: ReadonlySet<object> = new Set();
/** Something a plan depends on in the object: `outcome` reads it; `branchesFor` maps a branch outcome to its schemas. */
interface Choice {
  outcome(value: Record<string, unknown>): string;
  branchesFor(outcome: string): readonly Located[];
}

interface ChoiceNode {
  /** The choice met next, or the plan when every choice on the way is made. */
  choice: Choice | undefined;
  plan: Plan | undefined;
  readonly next: Map<string, ChoiceNode>;
}

/**
 * The plans of one schema list that depend on the object, as a trie of the choices they were built from. Building a
 * plan is deterministic given the outcome of each choice it meets, and which choice comes next depends only on the
 * outcomes before it: so replaying the choices against another object and reaching a plan gives exactly the plan
 * building would give. Bounded: past MAX_CHOICE_NODES (hostile answers could combine branches endlessly) plans are
 * built and not kept.
 */
class PlanChoices {
  readonly #root: ChoiceNode = { choice: undefined, plan: undefined, next: new Map() };
  #nodes = 1;

  find(value: Record<string, unknown>): Plan | undefined {
    let node: ChoiceNode | undefined = this.#root;
    while (node.plan === undefined) {
      const choice: Choice | undefined = node.choice;
      if (choice === undefined) return undefined;
      node = node.next.get(choice.outcome(value));
      if (node === undefined) return undefined;
    }
    return node.plan;
  }

  /** `trail`: choice, outcome, choice, outcome... as met while building `plan`. */
  add(trail: ReadonlyArray<Choice | string>, plan: Plan): void {
    let node = this.#root;
    for (let i = 0; i < trail.length; i += 2) {
      const choice = trail[i] as Choice;
      const outcome = trail[i + 1] as string;
      // The same path always meets the same choice next (see above); a mismatch would be a bug: keep nothing.
      if (node.choice !== undefined && node.choice !== choice) return;
      let next = node.next.get(outcome);
      if (next === undefined) {
        if (this.#nodes >= MAX_CHOICE_NODES) return;
        node.choice = choice;
        next = { choice: undefined, plan: undefined, next: new Map() };
        node.next.set(outcome, next);
        this.#nodes++;
      }
      node = next;
    }
    node.plan = plan;
  }
}

const MAX_CHOICE_NODES = 1024;
/** A discriminator's outcome when the tag selects nothing (a JSON pointer is '' or starts with '/'). */
const NO_TARGET = '#';

const NO_MEMBERS: Record<string, unknown> = Object.freeze(Object.create(null) as Record<string, unknown>);

/**
 * The result being built. Pointers are kept as key paths and written out only when read: with the response event
 * cool-down (policies/contract) most results are never reported, so a leaking upstream costs no string work.
 */
export class State implements MinimizeResult {
  changed = false;
  removed = 0;
  undeclaredCount = 0;
  readonly mode: ResponseMode;
  readonly removeWriteOnly: boolean;
  /** The objects and arrays from the value down to the one being walked. */
  readonly containers: object[] = [];
  // Created on first use: a conforming body (every request that passes) allocates neither.
  #dirty: Set<object> | undefined;
  #found: Array<{ readonly path: ReadonlyArray<string | number>; readonly key: string; readonly bounded: boolean }> | undefined;
  #pointers: string[] | undefined;

  constructor(mode: ResponseMode, removeWriteOnly: boolean) {
    this.mode = mode;
    this.removeWriteOnly = removeWriteOnly;
  }

  /**
   * Removes properties of the innermost container, after its walk, last first: V8 keeps an object in its fast
   * representation when the property deleted is the last one added, and upstreams usually add the undeclared
   * extras last, so the answer stays cheap to read and to serialise.
   */
  removeAll(object: Record<string, unknown>, keys: readonly string[]): void {
    for (let i = keys.length - 1; i >= 0; i--) delete object[keys[i]!];
    this.removed += keys.length;
    this.markChanged();
  }

  /** The innermost container changed: it and every container above it are dirty. */
  markChanged(): void {
    this.changed = true;
    const dirty = (this.#dirty ??= new Set());
    for (let i = this.containers.length - 1; i >= 0; i--) {
      const container = this.containers[i]!;
      // Already dirty: so is everything above it.
      if (dirty.has(container)) break;
      dirty.add(container);
    }
  }

  get dirty(): ReadonlySet<object> {
    return this.#dirty ?? NOTHING_DIRTY;
  }

  /** Records an undeclared property (the first MAX_REPORTED); `bounded`: the key came from the data, cut at 64. */
  note(path: ReadonlyArray<string | number>, key: string, bounded: boolean): void {
    this.undeclaredCount++;
    const found = (this.#found ??= []);
    if (found.length < MAX_REPORTED) found.push({ path: path.slice(), key, bounded });
  }

  get undeclared(): readonly string[] {
    if (this.#pointers === undefined) {
      // Names come from the data: one holding PII (a map keyed by e-mail) is written `*` (privacy/pii/names.ts), as
      // these pointers reach events, log lines and problem answers.
      this.#pointers = (this.#found ?? []).map(({ path, key, bounded }) => {
        let pointer = '';
        for (const token of path) pointer += `/${typeof token === 'number' ? token : escapeToken(shownName(token, true))}`;
        return `${pointer}/${escapeToken(shownName(key, bounded))}`;
      });
    }
    return this.#pointers;
  }
}

/**
 * A member name as a pointer shows it: `*` when it holds PII, and a name from the data (`bounded`) cut at 64
 * characters. The PII check reads the first 128, so a value across the cut is still found, and a huge name costs
 * no more than a short one.
 */
function shownName(name: string, bounded: boolean): string {
  if (!bounded || name.length <= 64) return redactPiiName(name);
  const head = redactPiiName(name.slice(0, 128));
  return head === name.slice(0, 128) ? `${name.slice(0, 64)}…` : head;
}

function requiredPresent(schema: Record<string, unknown>, value: Record<string, unknown>): boolean {
  if (!Array.isArray(schema.required)) return true;
  return schema.required.every((name) => typeof name === 'string' && Object.hasOwn(value, name));
}
