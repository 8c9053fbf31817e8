/**
 * What the Redis server did for a case: its data commands (`INFO commandstats`, which
 * counts a script's own commands too: that is the server's work) and its CPU time
 * (`INFO cpu`, user + system), sampled before and after the timed rounds.
 */
import { Effect } from "effect"
import type { Redis } from "ioredis"

/** The server's counters at one moment. */
export interface ServerSample {
  /** Calls of data commands so far, the sampling's own INFO and connection housekeeping left out. */
  readonly commands: number
  /** CPU seconds the server has used so far, user + system, all its threads. */
  readonly cpuSeconds: number
}

// What the sampling, the connections' health checks and their setup send: not the work measured.
const housekeeping = /^(info|config\|.*|ping|echo|client\|.*|hello|select|subscribe|quit)$/

const commandsOf = (text: string): number => {
  let total = 0
  for (const line of text.split(/\r?\n/)) {
    const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line)
    if (match !== null && !housekeeping.test(match[1]!)) total += Number(match[2])
  }
  return total
}

const cpuOf = (text: string): number => {
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, "m").exec(text)?.[1] ?? Number.NaN)
  return field("used_cpu_user") + field("used_cpu_sys")
}

/** Samples the server `client` is connected to (one INFO round trip). */
export const sampleServer = (client: Redis): Effect.Effect<ServerSample> =>
  Effect.promise(async () => {
    const text = await client.info("commandstats", "cpu")
    return { commands: commandsOf(text), cpuSeconds: cpuOf(text) }
  })

/** The sum over several servers (the masters of a cluster), sampled one after the other. */
export const sampleServers = (clients: ReadonlyArray<Redis>): Effect.Effect<ServerSample> =>
  Effect.map(Effect.forEach(clients, sampleServer), (samples) => ({
    commands: samples.reduce((sum, sample) => sum + sample.commands, 0),
    cpuSeconds: samples.reduce((sum, sample) => sum + sample.cpuSeconds, 0)
  }))
