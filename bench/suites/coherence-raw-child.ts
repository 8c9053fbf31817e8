/**
 * The reading side of the raw-ioredis lag rows (spawned by coherence.ts): the mechanism the
 * cache uses, done by hand with two plain ioredis connections and no cache, so that the
 * cache's lag can be read against the floor of the mechanism itself in the same run.
 *
 *   node --import tsx bench/suites/coherence-raw-child.ts <tracking | bus> <redisUrl> <key> <prefix | channel>
 *
 * - `tracking`: a RESP2 connection runs `CLIENT ID` and `SUBSCRIBE __redis__:invalidate`, and
 *   the data connection `CLIENT TRACKING ON REDIRECT <id> BCAST PREFIX <prefix> NOLOOP`, as the
 *   cache's link does.
 * - `bus`: a connection subscribes to `<channel>`, on which the writer publishes after each SET.
 *
 * For each message it GETs `key` (a JSON `{ i }`) and prints `seen <i> <ms>` the first time it
 * reads a new `i` (`ms`: `performance.timeOrigin + now()`, the writer's clock too), then
 * `armed <i>` at once: there is no L1 to wait for. The same lines as coherence-child.ts.
 */
import { Redis } from "ioredis"

const [mode = "", url = "", key = "", where = ""] = process.argv.slice(2)
process.stdin.on("close", () => process.exit(0)).resume()

const subscriber = new Redis(url, { protocol: 2, lazyConnect: true })
const data = new Redis(url, { lazyConnect: true })
await Promise.all([subscriber.connect(), data.connect()])
const channel = mode === "tracking" ? "__redis__:invalidate" : where
if (mode === "tracking") {
  const id = await subscriber.call("CLIENT", "ID")
  await data.call("CLIENT", "TRACKING", "ON", "REDIRECT", String(id), "BCAST", "PREFIX", where, "NOLOOP")
}
await subscriber.subscribe(channel)

let last = -1
let reading = false
let again = false
// One GET at a time; a message that comes during one asks for another after it.
const read = async (): Promise<void> => {
  if (reading) {
    again = true
    return
  }
  reading = true
  do {
    again = false
    const text = await data.get(key)
    const i = text === null ? -1 : (JSON.parse(text) as { readonly i: number }).i
    if (i !== last) {
      last = i
      process.stdout.write(`seen ${i} ${performance.timeOrigin + performance.now()}\narmed ${i}\n`)
    }
  } while (again)
  reading = false
}

subscriber.on("messageBuffer", (from: Buffer, message: Buffer | ReadonlyArray<Buffer> | null) => {
  if (from.toString() !== channel) return
  if (mode === "bus" || message === null || (message as ReadonlyArray<Buffer>).some((name) => name.toString() === key)) {
    void read()
  }
})
process.stdout.write("ready\n")
