/**
 * Coalesces requests made in the same tick into one batch: the DataLoader idea, on
 * Effect's callback primitive.
 *
 * Effect's `RequestResolver` does this too, but through a request object, a deferred
 * and a scheduler hop per request; on the L2 read path that costs more than the
 * round trips it saves. A waiter here is one array slot and the fiber's own resume.
 *
 * @internal
 */
import { Effect } from "effect"

/** Resumes one waiting fiber; each is called at most once. */
export type Resume<A, E> = (outcome: Effect.Effect<A, E>) => void

/** Sends one batch and resumes every waiter of it, in order; it must never throw. */
export type SendBatch<I, A, E> = (inputs: Array<I>, resumes: Array<Resume<A, E>>) => void

/** Requests that join the current batch. */
export interface Batcher<I, A, E> {
  readonly request: (input: I) => Effect.Effect<A, E>
}

/**
 * A batcher that flushes at the end of the current microtask queue turn, or at once
 * when `maxBatch` requests are waiting. A fiber interrupted while it waits leaves
 * its slot in the batch; the answer for it is dropped.
 */
export const makeBatcher = <I, A, E>(maxBatch: number, send: SendBatch<I, A, E>): Batcher<I, A, E> => {
  let inputs: Array<I> = []
  let resumes: Array<Resume<A, E>> = []
  let scheduled = false

  const flush = () => {
    scheduled = false
    if (inputs.length === 0) return
    const batch = inputs
    const waiters = resumes
    inputs = []
    resumes = []
    send(batch, waiters)
  }

  return {
    request: (input) =>
      Effect.callback<A, E>((resume) => {
        inputs.push(input)
        resumes.push(resume)
        if (inputs.length >= maxBatch) flush()
        else if (!scheduled) {
          scheduled = true
          queueMicrotask(flush)
        }
      })
  }
}
