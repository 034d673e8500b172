/** Types of official-validators-build.mjs. */
export const GENERATED_FILE: string;
/** The text of official-validators.generated.cjs for the installed packages. */
export function officialValidatorsSource(): string;
