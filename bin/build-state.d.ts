/** The number of files under `dir` (recursively) and the newest modification time among them, in ms. */
export function sourceState(dir: string): { files: number; newestMs: number };

/** True when `root`/dist holds a complete build of exactly the files now under `root`/src. */
export function buildIsCurrent(root: string): boolean;
