/** The number of files under `dir` (recursively), the newest modification time among them (ms), and a digest of every file's path, size and modification time. */
export function sourceState(dir: string): { files: number; newestMs: number; fingerprint: string };

/** True when `root`/dist holds a complete build of exactly the files now under `root`/src. */
export function buildIsCurrent(root: string): boolean;
