/**
 * Compression by itself, zstd beside zlib (issue 20 §5): the codec's encode (serialize +
 * compress) and decode (decompress + parse) of the benchmark's 2KB and 50KB values, with
 * the stored size in the label. zstd is node:zlib's (Node >= 22.15): on an older Node its
 * rows are left out, and the suite says so.
 */
import { Effect, Exit } from "effect"
import { Codec, Compression, zstdAvailable } from "../lib/library.js"
import { type CaseResult, sink, syncBatches } from "../lib/harness.js"
import { runCase, type SuiteContext } from "../lib/suite.js"
import { makeValue } from "../lib/values.js"

const BATCH = 100

// The codec's synchronous forms, so that a round times the codec and not a fiber per call.
const valueOf = <A, E>(exit: Exit.Exit<A, E>): A => {
  if (Exit.isFailure(exit)) throw new Error(`codec failed: ${String(exit.cause)}`)
  return exit.value
}

/** Runs the compression cases at the compressed sizes (2KB and 50KB). */
export const codecSuite = (context: SuiteContext): Effect.Effect<ReadonlyArray<CaseResult>> =>
  Effect.gen(function*() {
    const results: Array<CaseResult> = []
    if (!zstdAvailable) process.stderr.write(`  zstd rows skipped: Node ${process.version} has no node:zlib zstd\n`)
    // zlib at the default level is the baseline; zstd at the same level and at its own default (3).
    const variants = [
      { compression: Compression.zlib, level: 6 },
      ...(zstdAvailable ? [{ compression: Compression.zstd, level: 6 }, { compression: Compression.zstd, level: 3 }] : [])
    ]
    for (const size of context.sizes.filter((s) => s !== "100B")) {
      const value = makeValue(size, 0)
      for (const { compression, level } of variants) {
        const codec = Codec.make({ compression, compressionThreshold: 0, compressionLevel: level })
        const stored = valueOf(codec.encodeExit("k", value)).bytes
        const json = JSON.stringify(value).length
        const name = `${compression.name}${level}`
        const shown = `${compression.name} level ${level}: ${json} B -> ${stored.byteLength} B (${(json / stored.byteLength).toFixed(1)}x)`
        const isBaseline = compression === Compression.zlib
        results.push(yield* runCase(context, {
          id: `codec.${name}.encode`,
          label: `codec encode, ${shown}`,
          size,
          latency: `batch-${BATCH}`,
          ...(isBaseline ? {} : { baseline: "codec.zlib6.encode" }),
          round: (ops) => Effect.sync(() => syncBatches(ops, BATCH, () => sink(valueOf(codec.encodeExit("k", value)).bytes)))
        }))
        results.push(yield* runCase(context, {
          id: `codec.${name}.decode`,
          label: `codec decode, ${compression.name} level ${level}`,
          size,
          latency: `batch-${BATCH}`,
          ...(isBaseline ? {} : { baseline: "codec.zlib6.decode" }),
          round: (ops) => Effect.sync(() => syncBatches(ops, BATCH, () => sink(valueOf(codec.decodeSizedExit("k", stored)).value)))
        }))
      }
    }
    return results
  })
