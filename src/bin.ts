#!/usr/bin/env node
/**
 * The `effect-redis-cache` executable (`npx effect-redis-cache doctor [url]`).
 *
 * The only module that loads `@effect/platform-node`: the library's own entry points
 * stay free of it.
 *
 * @since 0.1.0
 */
import { readFileSync } from "node:fs"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Effect, Logger, References } from "effect"
import { runCli } from "./cli/doctor.js"

// src/bin.ts and dist/bin.js both sit one level below package.json.
const { version } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
  readonly version: string
}

runCli(version).pipe(
  // The doctor prints its own findings; the cache's logs would repeat them, and on
  // stdout they would break `--json`. `--log-level` brings them back, on stderr.
  Effect.provideService(References.MinimumLogLevel, "None"),
  Effect.provideService(Logger.LogToStderr, true),
  Effect.provide(NodeServices.layer),
  NodeRuntime.runMain
)
