import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Queue } from "effect"
import { makeBatcher, type Resume, type SendBatch } from "../../src/internal/batcher.js"

const inputsUpTo = (count: number) => Array.from({ length: count }, (_, i) => i + 1)

/** A send that answers every slot at once with `answer(input)` and remembers each batch it was given. */
const answeringSend = <A, E>(answer: (input: number) => Effect.Effect<A, E>) => {
  const batches: Array<Array<number>> = []
  const send: SendBatch<number, A, E> = (inputs, resumes) => {
    batches.push([...inputs])
    inputs.forEach((input, i) => resumes[i]!(answer(input)))
  }
  return { batches, send }
}

interface HeldBatch {
  readonly inputs: Array<number>
  readonly resumes: Array<Resume<number, string>>
}

const tenTimes = (input: number) => Exit.succeed(input * 10)

describe("makeBatcher", () => {
  it.effect("requests made in one tick reach send as one batch, in request order, each fiber with its own answer", () =>
    Effect.gen(function*() {
      const { batches, send } = answeringSend(tenTimes)
      const batcher = makeBatcher(1_000, send)
      const inputs = inputsUpTo(50)
      const answers = yield* Effect.all(inputs.map((input) => batcher.request(input)), { concurrency: "unbounded" })
      assert.deepStrictEqual(answers, inputs.map((input) => input * 10))
      assert.deepStrictEqual(batches, [inputs])
    }))

  it.effect("more than maxBatch waiting are split into batches of at most maxBatch, none lost or reordered", () =>
    Effect.gen(function*() {
      const { batches, send } = answeringSend(tenTimes)
      const batcher = makeBatcher(4, send)
      const inputs = inputsUpTo(10)
      const answers = yield* Effect.all(inputs.map((input) => batcher.request(input)), { concurrency: "unbounded" })
      assert.deepStrictEqual(answers, inputs.map((input) => input * 10))
      assert.isAbove(batches.length, 2)
      for (const batch of batches) assert.isAtMost(batch.length, 4)
      assert.deepStrictEqual(batches.flat(), inputs)
    }))

  it.effect("a batch that reaches maxBatch is sent at once, before the requests after it are made", () =>
    Effect.gen(function*() {
      const events: Array<string> = []
      const batcher = makeBatcher<number, number, never>(2, (inputs, resumes) => {
        events.push(`send ${inputs.join(",")}`)
        inputs.forEach((input, i) => resumes[i]!(tenTimes(input)))
      })
      const request = (input: number) =>
        Effect.suspend(() => {
          events.push(`request ${input}`)
          return batcher.request(input)
        })
      yield* Effect.all(inputsUpTo(3).map(request), { concurrency: "unbounded" })
      // The server can start on the first batch while the client is still making requests.
      assert.deepStrictEqual(events, ["request 1", "request 2", "send 1,2", "request 3", "send 3"])
    }))

  it.effect("requests made one after another each go alone", () =>
    Effect.gen(function*() {
      const { batches, send } = answeringSend(tenTimes)
      const batcher = makeBatcher(1_000, send)
      for (const input of inputsUpTo(3)) assert.strictEqual(yield* batcher.request(input), input * 10)
      assert.deepStrictEqual(batches, [[1], [2], [3]])
    }))

  it.effect("a fiber interrupted while its request waits leaves the others undisturbed; its answer is dropped", () =>
    Effect.gen(function*() {
      const sent = yield* Queue.unbounded<HeldBatch>()
      // Holds each batch instead of answering, so the test decides when its slots are resumed.
      const batcher = makeBatcher<number, number, string>(3, (inputs, resumes) => {
        Queue.offerUnsafe(sent, { inputs, resumes })
      })
      // maxBatch is 3: the third request flushes the batch at once, however the forks are scheduled.
      const fibers = yield* Effect.forEach(inputsUpTo(3), (input) => Effect.forkChild(batcher.request(input)))
      const batch = yield* Queue.take(sent)
      assert.deepStrictEqual(batch.inputs, [1, 2, 3])
      yield* Fiber.interrupt(fibers[1]!)
      // Every slot is still resumed, the interrupted one too, and with a failure that must go nowhere.
      batch.resumes[0]!(Exit.succeed(10))
      batch.resumes[1]!(Exit.fail("answer for an interrupted fiber"))
      batch.resumes[2]!(Exit.succeed(30))
      assert.strictEqual(yield* Fiber.join(fibers[0]!), 10)
      assert.strictEqual(yield* Fiber.join(fibers[2]!), 30)
      const interrupted = yield* Fiber.await(fibers[1]!)
      assert.isTrue(Exit.isFailure(interrupted) && Cause.hasInterruptsOnly(interrupted.cause))
      // The batcher carries on: the next requests form a batch of their own and are answered.
      const later = yield* Effect.forEach([4, 5, 6], (input) => Effect.forkChild(batcher.request(input)))
      const laterBatch = yield* Queue.take(sent)
      assert.deepStrictEqual(laterBatch.inputs, [4, 5, 6])
      laterBatch.resumes.forEach((resume, i) => resume(Exit.succeed(laterBatch.inputs[i]! * 10)))
      assert.deepStrictEqual(yield* Fiber.joinAll(later), [40, 50, 60])
    }))

  it.effect("a failure resumes only its own fiber, with that failure", () =>
    Effect.gen(function*() {
      const { batches, send } = answeringSend((input) =>
        input === 3 ? Exit.fail(`refused ${input}`) : Exit.succeed(input * 10)
      )
      const batcher = makeBatcher(1_000, send)
      const exits = yield* Effect.forEach(inputsUpTo(5), (input) => Effect.exit(batcher.request(input)), {
        concurrency: "unbounded"
      })
      assert.deepStrictEqual(batches, [inputsUpTo(5)])
      exits.forEach((exit, i) => {
        const input = i + 1
        if (input === 3) assert.deepStrictEqual(exit, Exit.fail("refused 3"))
        else assert.deepStrictEqual(exit, Exit.succeed(input * 10))
      })
    }))
})
