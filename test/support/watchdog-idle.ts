/**
 * Connects with the command watchdog to the server at the URL in argv, sends a command,
 * then drops the connection without closing the watchdog's scope. The test that runs this
 * file expects the process to exit by itself: a watchdog timer that held the event loop
 * would keep it alive until the test kills it.
 */
import { Effect, Scope } from "effect"
import { connectRedis } from "../../src/security/connectionOptions.js"

const url = new URL(process.argv[2] ?? "redis://127.0.0.1:1")
const scope = Effect.runSync(Scope.make())
const client = await Effect.runPromise(
  connectRedis(url.href, { host: url.hostname, port: Number(url.port), connectTimeout: 2_000 }, {
    commandTimeout: 1_000,
    commandWatchdog: true
  }).pipe(Scope.provide(scope))
)
console.log(await client.ping())
// The socket goes; the scope, and the watchdog's interval in it, stay.
client.disconnect()
