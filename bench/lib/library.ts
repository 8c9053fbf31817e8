/**
 * The library as its users run it: the compiled build in `dist/` (`npm run bench` builds
 * it first). Run from `src/` through tsx, every closure the library creates per
 * operation would also pay for esbuild's `keepNames` wrapper, which production code
 * never does. The types still come from `src/`, so type-checking needs no build.
 */
import type * as Library from "../../src/index.js"

const built: string = "../../dist/index.js"

/** The built library's exports, typed by the sources they were built from. */
export const { Cache, CacheClient, Codec, Compression, zstdAvailable } = (await import(built)) as typeof Library
