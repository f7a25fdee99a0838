// Types of infra/bundle.mjs, for the TypeScript that imports it (test setup, benchmarks).
export declare const entries: Readonly<Record<string, string>>
export declare const bundlePath: (name: string) => string
/** Builds the named bundles (all by default) that are out of date; resolves with the names built. */
export declare const bundle: (names?: ReadonlyArray<string>) => Promise<ReadonlyArray<string>>
