/**
 * The behaviour Effect's own `KeyValueStore` tests ask of every implementation (set/get,
 * bytes, remove, clear, size, modify, has, isEmpty, prefix, SchemaStore), written again
 * here because the package does not ship its tests. Each test gets a fresh store.
 */
import { assert } from "@effect/vitest"
import { Effect, Option, Schema, type Scope } from "effect"
import * as KeyValueStore from "effect/persistence/KeyValueStore"

type It<R> = {
  readonly effect: (name: string, self: () => Effect.Effect<unknown, unknown, R | Scope.Scope>) => void
}

/** Registers the behaviour tests on `it`, each running on the store `fresh` gives. */
export const kvBehaviour = <R>(
  it: It<R>,
  fresh: Effect.Effect<KeyValueStore.KeyValueStore, unknown, R | Scope.Scope>
) => {
  const test = (name: string, body: (kv: KeyValueStore.KeyValueStore) => Effect.Effect<void, unknown>) =>
    it.effect(name, () => Effect.flatMap(fresh, body))

  test("set, then get and size", (kv) =>
    Effect.gen(function*() {
      yield* kv.set("/foo/bar", "bar")
      assert.strictEqual(yield* kv.get("/foo/bar"), "bar")
      assert.strictEqual(yield* kv.size, 1)
    }))

  test("get of a missing key is undefined", (kv) =>
    Effect.gen(function*() {
      assert.strictEqual(yield* kv.get("foo"), undefined)
      assert.strictEqual(yield* kv.getUint8Array("foo"), undefined)
    }))

  test("bytes read back as bytes, and as base64 through get", (kv) =>
    Effect.gen(function*() {
      const bytes = new Uint8Array([0, 1, 2, 250, 255])
      yield* kv.set("bytes", bytes)
      assert.deepStrictEqual(yield* kv.getUint8Array("bytes"), bytes)
      assert.strictEqual(yield* kv.get("bytes"), Buffer.from(bytes).toString("base64"))
    }))

  test("a string reads back as its UTF-8 bytes", (kv) =>
    Effect.gen(function*() {
      yield* kv.set("text", "héllo")
      assert.deepStrictEqual(yield* kv.getUint8Array("text"), new TextEncoder().encode("héllo"))
    }))

  test("remove", (kv) =>
    Effect.gen(function*() {
      yield* kv.set("foo", "bar")
      yield* kv.remove("foo")
      yield* kv.remove("never-there")
      assert.strictEqual(yield* kv.get("foo"), undefined)
      assert.strictEqual(yield* kv.size, 0)
    }))

  test("clear", (kv) =>
    Effect.gen(function*() {
      yield* kv.set("foo", "bar")
      yield* kv.set("baz", new Uint8Array([1]))
      yield* kv.clear
      assert.strictEqual(yield* kv.get("foo"), undefined)
      assert.strictEqual(yield* kv.getUint8Array("baz"), undefined)
      assert.strictEqual(yield* kv.size, 0)
    }))

  test("size and keys", (kv) =>
    Effect.gen(function*() {
      yield* kv.set("foo", "bar")
      yield* kv.set("bar", "baz")
      yield* kv.set("foo", "again")
      assert.strictEqual(yield* kv.size, 2)
      assert.deepStrictEqual([...(yield* kv.keys)].sort(), ["bar", "foo"])
    }))

  test("modify", (kv) =>
    Effect.gen(function*() {
      yield* kv.set("foo", "bar")
      assert.strictEqual(yield* kv.modify("foo", (v) => v + "bar"), "barbar")
      assert.strictEqual(yield* kv.get("foo"), "barbar")
      assert.strictEqual(yield* kv.size, 1)
    }))

  test("modify of a missing key does nothing", (kv) =>
    Effect.gen(function*() {
      assert.strictEqual(yield* kv.modify("foo", (v) => v + "bar"), undefined)
      assert.isFalse(yield* kv.has("foo"))
    }))

  test("modifyUint8Array", (kv) =>
    Effect.gen(function*() {
      yield* kv.set("b", new Uint8Array([1, 2]))
      assert.deepStrictEqual(yield* kv.modifyUint8Array("b", (v) => Uint8Array.from([...v, 3])), new Uint8Array([1, 2, 3]))
      assert.deepStrictEqual(yield* kv.getUint8Array("b"), new Uint8Array([1, 2, 3]))
    }))

  test("has and isEmpty", (kv) =>
    Effect.gen(function*() {
      assert.isTrue(yield* kv.isEmpty)
      assert.isFalse(yield* kv.has("foo"))
      yield* kv.set("foo", "bar")
      assert.isTrue(yield* kv.has("foo"))
      assert.isFalse(yield* kv.isEmpty)
    }))

  test("clearPrefix removes exactly the keys that start with the prefix, glob characters literal", (kv) =>
    Effect.gen(function*() {
      for (const key of ["a*b:1", "a*b:2", "axb:1", "a?b", "a[b]:1", "ab", "other"]) yield* kv.set(key, key)
      yield* kv.clearPrefix("a*b:")
      yield* kv.clearPrefix("a[b]")
      assert.deepStrictEqual([...(yield* kv.keys)].sort(), ["a?b", "ab", "axb:1", "other"])
      yield* kv.clearPrefix("a?")
      assert.deepStrictEqual([...(yield* kv.keys)].sort(), ["ab", "axb:1", "other"])
    }))

  test("KeyValueStore.prefix: a view whose keys, size and clear stay under the prefix", (kv) =>
    Effect.gen(function*() {
      const users = KeyValueStore.prefix(kv, "users/")
      yield* kv.set("outside", "x")
      yield* users.set("1", "ada")
      assert.strictEqual(yield* kv.get("users/1"), "ada")
      assert.deepStrictEqual(yield* users.keys, ["1"])
      assert.strictEqual(yield* users.size, 1)
      yield* users.clear
      assert.strictEqual(yield* users.size, 0)
      assert.strictEqual(yield* kv.get("outside"), "x")
    }))

  test("toSchemaStore: typed values through JSON", (kv) =>
    Effect.gen(function*() {
      const User = Schema.Struct({ name: Schema.String, age: Schema.Finite })
      const users = KeyValueStore.toSchemaStore(kv, User)
      yield* users.set("ada", { name: "Ada", age: 36 })
      assert.deepStrictEqual(yield* users.get("ada"), Option.some({ name: "Ada", age: 36 }))
      assert.deepStrictEqual(yield* users.modify("ada", (u) => ({ ...u, age: u.age + 1 })), Option.some({ name: "Ada", age: 37 }))
      assert.deepStrictEqual(yield* users.get("nobody"), Option.none())
    }))
}
