/**
 * One socket write per node for a batch sent to a Redis Cluster.
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
 *
 * @internal
 */
import type { Cluster } from "ioredis"

interface Corkable {
  cork(): void
  uncork(): void
}

/**
 * Runs `send`, which must write all its commands before it returns (ioredis writes a
 * command synchronously to a ready node), with every node of `cluster` corked; each
 * node's commands then leave together when `send` returns or throws.
 */
export const corked = <A>(cluster: Cluster, send: () => A): A => {
  const streams: Array<Corkable> = []
  for (const node of cluster.nodes("all")) {
    const stream = (node as { readonly stream?: Corkable }).stream
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
