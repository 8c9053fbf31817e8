/**
 * One socket write per node for a batch of one-key commands (a Redis Cluster's, or the
 * plain SETs and UNLINKs of a tracked standalone connection).
 *
 * ioredis writes each command to its node's socket as soon as it is called. A batch split by
 * hash slot (src/internal/slots.ts) is one command per slot, so with random keys about one
 * command per key: each left in a TCP write of its own, and the server paid a read, a parse
 * and a reply write for each (14-20 us of Redis CPU per L2 hit, against 3.2 us for ioredis'
 * auto-pipelining; docs/benchmarks.md). Corking every node's socket while the batch is sent,
 * and uncorking once all of it is written, puts each node's commands in one write (Node
 * flushes a corked socket with one `writev`): what auto-pipelining does, without its wait for
 * the next turn of the event loop, and with each command still its own, so that ioredis
 * follows a `MOVED` or `ASK` for it alone (an ioredis pipeline that also wrote cannot).
 * A cluster's batches keep the sockets corked to the end of the turn of the event loop
 * (`corkedForTurn`), as auto-pipelining waits for it: the reads and the writes of a turn, and
 * its several batches of `MAX_BATCH` keys, then leave in one write per node, not one per
 * batch (with 100 in flight, the writes were a quarter of the client's CPU).
 * A standalone connection with L1 coherence by tracking sends its batched writes and deletes
 * as one command per key too (a script's writes are echoed to it despite NOLOOP): uncorked,
 * 100 miss-then-sets in flight ran at half of raw auto-pipelined ioredis, 11% of the client's
 * CPU in `writeBuffer`.
 *
 * @internal
 */
import { Cluster, type Redis } from "ioredis"

interface Corkable {
  cork(): void
  uncork(): void
}

const streamOf = (connection: Redis) => (connection as { readonly stream?: Corkable }).stream

/**
 * Runs `send`, which must write all its commands before it returns (ioredis writes a
 * command synchronously to a ready connection), with the socket of `target` (every node's,
 * for a cluster) corked; each socket's commands then leave together when `send` returns or throws.
 */
export const corked = <A>(target: Cluster | Redis, send: () => A): A => {
  const streams: Array<Corkable> = []
  for (const node of target instanceof Cluster ? target.nodes("all") : [target]) {
    const stream = streamOf(node)
    if (stream !== undefined) {
      stream.cork()
      streams.push(stream)
    }
  }
  try {
    return send()
  } finally {
    for (const stream of streams) stream.uncork()
  }
}

// The sockets `corkedForTurn` corked in this turn, uncorked together at its end.
let corkedInTurn: Array<Corkable> = []
const uncorkTurn = () => {
  const streams = corkedInTurn
  corkedInTurn = []
  for (const stream of streams) stream.uncork()
}

/**
 * Runs `send` with every node's socket of `cluster` corked until the end of the current
 * turn of the event loop (`process.nextTick`, as ioredis' auto-pipelining): what `send`
 * writes, and whatever else is written to those sockets in the same turn (the next batch,
 * a read's or a write's), leaves in one write per node.
 */
export const corkedForTurn = <A>(cluster: Cluster, send: () => A): A => {
  if (corkedInTurn.length === 0) process.nextTick(uncorkTurn)
  for (const node of cluster.nodes("all")) {
    const stream = streamOf(node)
    if (stream !== undefined) {
      stream.cork()
      corkedInTurn.push(stream)
    }
  }
  return send()
}
