/**
 * `INFO commandstats` of a test server, parsed once for every test that counts Redis
 * commands: the calls (and refused calls) of each command since the last
 * `CONFIG RESETSTAT`. Redis counts the commands a script runs as well as the script
 * itself, so these show the server's work, not how many commands a client sent.
 */
import { Effect } from "effect"
import type { RedisServerHandle } from "./RedisServer.js"

/** What the test itself and the connections' housekeeping send: not the cache's data commands. */
const HOUSEKEEPING = /^(info|config\|resetstat|ping|echo|client\|.*|hello|select|subscribe)$/

/** The counts of one `INFO commandstats`. */
export interface CommandStats {
  /** Calls of `command` (its `cmdstat_` name, e.g. `"get"`, `"client|id"`). */
  readonly of: (command: string) => number
  /** Calls of `command` the server refused (ACL, arity, a NOSCRIPT...). */
  readonly rejected: (command: string) => number
  /** Scripts run (`EVAL` and `EVALSHA`). */
  readonly scripts: number
  /** Scripts refused. */
  readonly rejectedScripts: number
  /** Calls of every command but the housekeeping ones (INFO, CONFIG RESETSTAT, PING, CLIENT, SUBSCRIBE...). */
  readonly data: number
  /** Calls by command, for assertion messages. */
  readonly calls: Readonly<Record<string, number>>
}

/** Parses the text of `INFO commandstats`. */
export const parseCommandStats = (text: string): CommandStats => {
  const calls = new Map<string, number>()
  const refused = new Map<string, number>()
  for (const line of text.split(/\r?\n/)) {
    const match = /^cmdstat_([^:]+):calls=(\d+)(?:.*rejected_calls=(\d+))?/.exec(line)
    if (match === null) continue
    calls.set(match[1]!, Number(match[2]))
    refused.set(match[1]!, Number(match[3] ?? 0))
  }
  const of = (command: string) => calls.get(command) ?? 0
  const rejected = (command: string) => refused.get(command) ?? 0
  let data = 0
  for (const [command, count] of calls) if (!HOUSEKEEPING.test(command)) data += count
  return {
    of,
    rejected,
    scripts: of("evalsha") + of("eval"),
    rejectedScripts: rejected("evalsha") + rejected("eval"),
    data,
    calls: Object.fromEntries(calls)
  }
}

/** The server's command counts since the last {@link resetCommandStats}. */
export const commandStats = (server: Pick<RedisServerHandle, "cli">): Effect.Effect<CommandStats> =>
  Effect.map(server.cli("INFO", "commandstats"), parseCommandStats)

/** Sets the server's command counts back to zero (`CONFIG RESETSTAT`). */
export const resetCommandStats = (server: Pick<RedisServerHandle, "cli">): Effect.Effect<string> =>
  server.cli("CONFIG", "RESETSTAT")
