/**
 * Test helpers for the documentation modules: load a published document with the project's OpenAPI loader (the
 * official schema and every `$ref` resolved), and list references that name nothing.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadOpenApi, type LoadResult } from '../src/openapi/load.ts';
import { hasAt, isObject, refPointer } from '../src/openapi/pointer.ts';

export async function loadPublished(document: unknown): Promise<LoadResult> {
  const file = join(mkdtempSync(join(tmpdir(), 'rampart-docs-')), 'published.json');
  writeFileSync(file, JSON.stringify(document));
  return loadOpenApi(file, { noCache: true });
}

/** Loads the document and fails with the loader's messages when it does not load. */
export async function expectLoads(document: unknown): Promise<Extract<LoadResult, { ok: true }>['api']> {
  const loaded = await loadPublished(document);
  if (!loaded.ok) throw new Error(`the published document does not load:\n${loaded.errors.map((e) => e.text).join('\n')}`);
  return loaded.api;
}

/** Local `$ref`s, `operationRef`s and discriminator mappings that name nothing in the document. */
export function danglingReferences(document: unknown): string[] {
  const out: string[] = [];
  const check = (ref: unknown) => {
    if (typeof ref !== 'string' || !ref.startsWith('#/')) return;
    const pointer = refPointer(ref);
    if (pointer === undefined || !hasAt(document, pointer)) out.push(ref);
  };
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(visit);
    else if (isObject(node)) {
      check(node.$ref);
      check(node.operationRef);
      if (isObject(node.discriminator) && isObject(node.discriminator.mapping)) Object.values(node.discriminator.mapping).forEach(check);
      Object.values(node).forEach(visit);
    }
  };
  visit(document);
  return out;
}
