/** Types of config-validators.mjs (plain JavaScript: scripts/build.mjs runs it with no TypeScript loader). */
export function configValidatorsSource(
  schemas: readonly object[],
  how: { options: object; keyOf: (schema: object) => string; ajvFrom: string },
): string;

export function writeConfigValidators(dist: string): Promise<number>;
