/**
 * A batch of one-key requests sent to a Redis Cluster: each request whose slot it has alone
 * straight to the master's connection, the requests that share a slot as one multi-key command.
 *
 * With random keys a batch is one request per slot, so one command per key. Through ioredis'
 * `Cluster.sendCommand` each pays for its redirection wrapper (a few closures and a bound
 * reject per command, 12% of a profile's CPU at 100 in flight), and grouped by slot it cost
 * a group array, a `Promise.all` per group and one over the groups (docs/benchmarks.md). Sent
 * on the connection the cluster's own slot map names, a command costs what it costs on one
 * server, and the answers are settled in one pass.
 *
 * What the cluster's wrapper did for such a command is kept by handing it back: a command
 * answered with `MOVED` or `ASK` (a resharding), `TRYAGAIN`, `CLUSTERDOWN` or a closed
 * connection is sent again through `Cluster.sendCommand`, which follows the redirection
 * (and refreshes its slot map), waits and retries as it would have from the start; only
 * what it then answers counts, so a redirection is never taken for a lost connection.
 *
 * @internal
 */
import type { Cluster, Redis } from "ioredis"
import { slotOf } from "./slots.js"

/** How a batch's requests are sent: `one` alone on a connection, `several` of one slot together. */
export interface ClusterSend<I, O> {
  readonly keyOf: (input: I) => string
  /** One request on `target` (a node's connection or the cluster); it answers reply errors as outcomes. */
  readonly one: (target: Redis, input: I) => Promise<O>
  /** Several requests whose keys share a slot, on `target` (the cluster); one outcome per request, in order. */
  readonly several: (target: Redis, inputs: Array<I>) => Promise<ReadonlyArray<O>>
  /** Whether an outcome is a redirection reply (`MOVED`, `ASK`) that `one` answered as a refusal. */
  readonly redirected: (outcome: O) => boolean
}

// The rejections ioredis' Cluster handles itself (cluster/index.js handleError): anything else
// it passes on as it came, and so is it here.
const HANDLED_BY_CLUSTER = /^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN) /

const handledByCluster = (error: unknown): boolean =>
  error instanceof Error && (HANDLED_BY_CLUSTER.test(error.message) || error.message === "Connection is closed.")

// The pool of connections, by "host:port", the keys of `cluster.slots`. Not in ioredis' types.
interface Pool {
  getInstanceByKey(key: string): Redis | undefined
}
const poolOf = (cluster: Cluster) => (cluster as unknown as { readonly connectionPool: Pool }).connectionPool

/**
 * Sends every request of `inputs` (all before the first answer is awaited) and answers
 * one outcome per request, in the order of `inputs`. It rejects when a request fails with
 * what is not its own refusal (a lost connection): the batch's failure.
 */
export const sendToCluster = <I, O>(cluster: Cluster, inputs: ReadonlyArray<I>, send: ClusterSend<I, O>): Promise<Array<O>> =>
  new Promise<Array<O>>((resolve, reject) => {
    const count = inputs.length
    const slots = new Int32Array(count)
    // The next request of the same slot, or -1: each slot's requests as a chain, no array per slot.
    const nextOfSlot = new Int32Array(count).fill(-1)
    const lastOfSlot = new Map<number, number>()
    const heads: Array<number> = []
    for (let i = 0; i < count; i++) {
      const slot = slotOf(send.keyOf(inputs[i]!))
      slots[i] = slot
      const last = lastOfSlot.get(slot)
      if (last === undefined) heads.push(i)
      else nextOfSlot[last] = i
      lastOfSlot.set(slot, i)
    }

    // The tier sends every command through `Redis`' methods, which a Cluster has too.
    const asRedis = cluster as unknown as Redis
    const out = new Array<O>(count)
    let waiting = heads.length
    const settle = (index: number, outcome: O) => {
      out[index] = outcome
      if (--waiting === 0) resolve(out)
    }
    const throughCluster = (index: number) => {
      attempt(send.one, asRedis, inputs[index]!).then((outcome) => settle(index, outcome), reject)
    }
    const direct = (node: Redis, index: number) => {
      attempt(send.one, node, inputs[index]!).then(
        (outcome) => send.redirected(outcome) ? throughCluster(index) : settle(index, outcome),
        (error) => handledByCluster(error) ? throughCluster(index) : reject(error)
      )
    }
    const together = (head: number) => {
      const indexes: Array<number> = []
      for (let i = head; i !== -1; i = nextOfSlot[i]!) indexes.push(i)
      attempt(send.several, asRedis, indexes.map((i) => inputs[i]!)).then((outcomes) => {
        for (let j = 0; j < indexes.length; j++) out[indexes[j]!] = outcomes[j]!
        if (--waiting === 0) resolve(out)
      }, reject)
    }

    // The master the cluster's slot map names, when its connection is up; else the cluster decides.
    const pool = poolOf(cluster)
    const ready = cluster.status === "ready"
    for (const head of heads) {
      if (nextOfSlot[head] !== -1) {
        together(head)
        continue
      }
      const owner = ready ? cluster.slots[slots[head]!]?.[0] : undefined
      const node = owner === undefined ? undefined : pool.getInstanceByKey(owner)
      if (node !== undefined && node.status === "ready") direct(node, head)
      else throughCluster(head)
    }
  })

// ioredis rejects rather than throws, but an argument it cannot send may throw: either way a promise.
const attempt = <T, X, O>(run: (target: T, input: X) => Promise<O>, target: T, input: X): Promise<O> => {
  try {
    return run(target, input)
  } catch (error) {
    return Promise.reject(error)
  }
}
