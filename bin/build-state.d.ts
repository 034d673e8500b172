/** The number of files under `dir` (recursively) and the newest modification time among them, in ms. */
export function sourceState(dir: string): { files: number; newestMs: number };
