import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Deferred, Effect, Exit, Fiber } from "effect"
import { Cluster, Redis } from "ioredis"
import { startRedisCluster } from "./Cluster.js"
import { freePort, startRedisServer } from "./RedisServer.js"

const isRunning = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

const serverPid = (cli: (...args: ReadonlyArray<string>) => Effect.Effect<string>) =>
  cli("INFO", "server").pipe(Effect.map((info) => Number(/process_id:(\d+)/.exec(info)?.[1])))

interface ClientOptions {
  readonly port: number
  readonly tls?: { readonly ca: Buffer }
  readonly retryStrategy?: () => null
  readonly maxRetriesPerRequest?: number
  readonly commandTimeout?: number
}

const client = (options: ClientOptions) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const redis = new Redis({ host: "127.0.0.1", lazyConnect: true, ...options })
      redis.on("error", () => {}) // reconnect errors are expected in fault tests
      return redis
    }),
    (redis) => Effect.sync(() => redis.disconnect())
  )

const defectMessage = <A, E>(exit: Exit.Exit<A, E>): string => {
  if (Exit.isSuccess(exit)) return "succeeded"
  const defect = Cause.squash(exit.cause)
  return defect instanceof Error ? defect.message : String(defect)
}

describe("startRedisServer", () => {
  // it.effect runs with the TestClock: the helper must not depend on Effect's clock.
  it.effect("starts a server that answers, and stops it", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer()
      assert.strictEqual(server.host, "127.0.0.1")
      assert.strictEqual(server.url, `redis://127.0.0.1:${server.port}`)
      assert.match(server.version, /^\d+\.\d+\.\d+$/)
      assert.notStrictEqual(server.port, 6379)
      assert.strictEqual(yield* server.cli("PING"), "PONG")
      assert.strictEqual(yield* server.cli("SET", "k", "hello world"), "OK")
      assert.strictEqual(yield* server.cli("GET", "k"), "hello world")
      assert.strictEqual(yield* server.cli("CONFIG", "GET", "save"), "save")
      const pid = yield* serverPid(server.cli)
      yield* server.stop
      assert.isFalse(isRunning(pid))
      yield* server.stop // idempotent
    }))

  it.live("leaves no process and no directory once the scope closes, also when the test fails", () =>
    Effect.gen(function*() {
      let pid = 0
      let dir = ""
      const exit = yield* Effect.exit(Effect.scoped(Effect.gen(function*() {
        const server = yield* startRedisServer()
        pid = yield* serverPid(server.cli)
        dir = server.dir
        assert.isTrue(isRunning(pid))
        assert.isTrue(fs.existsSync(path.join(dir, "redis.log")))
        return yield* Effect.fail("test failed")
      })))
      assert.isTrue(Exit.isFailure(exit))
      assert.isFalse(isRunning(pid))
      assert.isFalse(fs.existsSync(dir))
    }))

  it.live("leaves no process when the fiber that owns the server is interrupted", () =>
    Effect.gen(function*() {
      const started = yield* Deferred.make<number>()
      const fiber = yield* Effect.scoped(Effect.gen(function*() {
        const server = yield* startRedisServer()
        yield* Deferred.succeed(started, yield* serverPid(server.cli))
        return yield* Effect.never
      })).pipe(Effect.forkChild({ startImmediately: true }))
      const pid = yield* Deferred.await(started)
      assert.isTrue(isRunning(pid))
      yield* Fiber.interrupt(fiber)
      assert.isFalse(isRunning(pid))
    }))

  it.live("kills and restarts on the same port while a client reconnects", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer()
      const redis = yield* client({ port: server.port })
      yield* Effect.promise(() => redis.connect())
      yield* Effect.promise(() => redis.set("before", "1"))
      const firstPid = yield* serverPid(server.cli)

      yield* server.kill
      assert.isFalse(isRunning(firstPid))
      yield* server.restart

      assert.strictEqual(yield* Effect.promise(() => redis.ping()), "PONG")
      // No persistence: the data went with the killed process.
      assert.isNull(yield* Effect.promise(() => redis.get("before")))
      assert.notStrictEqual(yield* serverPid(server.cli), firstPid)

      yield* server.restart // restarting a running server stops it first
      assert.strictEqual(yield* Effect.promise(() => redis.ping()), "PONG")
    }))

  it.live("pause makes commands time out, resume makes them answer", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer()
      const redis = yield* client({ port: server.port, commandTimeout: 300, maxRetriesPerRequest: 0 })
      yield* Effect.promise(() => redis.connect())
      yield* server.pause
      const timedOut = yield* Effect.tryPromise(() => redis.ping()).pipe(Effect.flip)
      assert.match(String(timedOut.cause), /timed out/i)
      yield* server.resume
      assert.strictEqual(yield* Effect.promise(() => redis.ping()), "PONG")
      yield* server.pause // left paused on purpose: the scope must still be able to close
    }))

  it.live("never uses the machine's port 6379", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Effect.scoped(startRedisServer({ port: 6379 })))
      assert.match(defectMessage(exit), /6379/)
      for (let i = 0; i < 20; i++) assert.notStrictEqual(yield* freePort, 6379)
    }))

  it.live("freePort is a port nobody listens on", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const error = yield* Effect.callback<NodeJS.ErrnoException>((resume) => {
        const socket = net.connect({ host: "127.0.0.1", port })
        socket.once("connect", () => resume(Effect.die(new Error(`something listens on ${port}`))))
        socket.once("error", (cause) => resume(Effect.succeed(cause)))
        return Effect.sync(() => socket.destroy())
      })
      assert.strictEqual(error.code, "ECONNREFUSED")
    }))

  it.live("starts on a requested port", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const server = yield* startRedisServer({ port })
      assert.strictEqual(server.port, port)
      assert.strictEqual(yield* server.cli("CONFIG", "GET", "port"), `port\n${port}`)
    }))

  it.live("reports a server that cannot start, with its log", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Effect.scoped(startRedisServer({ args: ["--no-such-directive", "1"] })))
      const message = defectMessage(exit)
      assert.match(message, /exited during start-up/)
      assert.match(message, /no-such-directive/)
    }))

  it.live("authenticates cli with --requirepass and passes redis-cli options through", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer({ args: ["--requirepass", "s3cret"] })
      assert.strictEqual(yield* server.cli("PING"), "PONG")
      // Without the automatic password, the server refuses.
      const denied = execFileSync("redis-cli", ["-h", "127.0.0.1", "-p", String(server.port), "GET", "x"], { encoding: "utf8" })
      assert.match(denied, /NOAUTH/)
    }))

  it.live("loads an ACL file", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "acl-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
      const aclFile = path.join(dir, "users.acl")
      fs.writeFileSync(aclFile, "user default off\nuser app on >app-pass ~app:* +@all\n")
      const server = yield* startRedisServer({ aclFile })
      assert.match(yield* server.cli("PING"), /NOAUTH|WRONGPASS|Authentication/i)
      assert.strictEqual(yield* server.cli("--user", "app", "--pass", "app-pass", "ACL", "WHOAMI"), "app")
    }))

  it.live("serves TLS only, with the plain port disabled", () =>
    Effect.gen(function*() {
      const certs = yield* makeCertificates
      const tls = { cert: certs.serverCert, key: certs.serverKey, ca: certs.ca }
      const server = yield* startRedisServer({ tls })
      assert.strictEqual(server.url, `rediss://127.0.0.1:${server.port}`)
      assert.strictEqual(yield* server.cli("PING"), "PONG")

      const secure = yield* client({ port: server.port, tls: { ca: fs.readFileSync(tls.ca) }, maxRetriesPerRequest: 0 })
      yield* Effect.promise(() => secure.connect())
      assert.strictEqual(yield* Effect.promise(() => secure.ping()), "PONG")

      const plain = yield* client({ port: server.port, retryStrategy: () => null, maxRetriesPerRequest: 0, commandTimeout: 2_000 })
      const refused = yield* Effect.tryPromise(() => plain.connect().then(() => plain.ping())).pipe(Effect.flip)
      assert.isDefined(refused)

      yield* server.restart
      assert.strictEqual(yield* server.cli("PING"), "PONG")
    }))

  it.live("starts TLS servers whose certificate a client would reject, and ones that demand client certificates", () =>
    Effect.gen(function*() {
      const certs = yield* makeCertificates
      // The server's certificate is not signed by the CA it is given: clients trusting that CA refuse it.
      const foreign = yield* startRedisServer({ tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.otherCa } })
      assert.strictEqual(yield* foreign.cli("PING"), "PONG")
      const mutual = yield* startRedisServer({
        tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.ca, authClients: "yes" }
      })
      assert.strictEqual(yield* mutual.cli("PING"), "PONG")
      const anonymous = yield* client({
        port: mutual.port,
        tls: { ca: fs.readFileSync(certs.ca) },
        retryStrategy: () => null,
        maxRetriesPerRequest: 0,
        commandTimeout: 2_000
      })
      yield* Effect.tryPromise(() => anonymous.connect().then(() => anonymous.ping())).pipe(Effect.flip)
    }))
})

/** A test CA, a server certificate it signed for 127.0.0.1 and localhost, and an unrelated CA. */
const makeCertificates = Effect.gen(function*() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tls-"))
  yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
  const file = (name: string) => path.join(dir, name)
  const openssl = (...args: Array<string>) => execFileSync("openssl", args, { stdio: "ignore" })
  const ca = (name: string) =>
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", `/CN=${name}`,
      "-keyout", file(`${name}.key`), "-out", file(`${name}.crt`))
  ca("test-ca")
  ca("other-ca")
  openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", file("server.key"),
    "-out", file("server.csr"))
  // No extendedKeyUsage: the same certificate serves as the client certificate for mutual TLS.
  fs.writeFileSync(file("ext.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
  openssl("x509", "-req", "-in", file("server.csr"), "-CA", file("test-ca.crt"), "-CAkey", file("test-ca.key"),
    "-CAcreateserial", "-days", "1", "-extfile", file("ext.cnf"), "-out", file("server.crt"))
  return {
    ca: file("test-ca.crt"),
    otherCa: file("other-ca.crt"),
    serverCert: file("server.crt"),
    serverKey: file("server.key")
  }
})

describe("startRedisCluster", () => {
  it.live("joins three masters that serve every slot, and stops them with the scope", () =>
    Effect.gen(function*() {
      const pids: Array<number> = []
      yield* Effect.scoped(Effect.gen(function*() {
        const cluster = yield* startRedisCluster({ masters: 3 })
        assert.strictEqual(cluster.nodes.length, 3)
        for (const node of cluster.nodes) pids.push(yield* serverPid(node.cli))
        assert.match(yield* cluster.nodes[0]!.cli("CLUSTER", "INFO"), /cluster_slots_assigned:16384/)
        // The first node serves slot 0 (the key "{a}" hashes elsewhere, "foo" to 12182: the last node).
        assert.match(yield* cluster.nodes[0]!.cli("CLUSTER", "COUNTKEYSINSLOT", "0"), /^0$/)

        const redis = yield* Effect.acquireRelease(
          Effect.sync(() => {
            const client = new Cluster([...cluster.startupNodes], { lazyConnect: true })
            client.on("error", () => {})
            return client
          }),
          (client) => Effect.sync(() => client.disconnect())
        )
        yield* Effect.promise(() => redis.connect())
        for (const key of ["foo", "bar", "baz", "user:1", "user:2"]) {
          yield* Effect.promise(() => redis.set(key, `v-${key}`))
          assert.strictEqual(yield* Effect.promise(() => redis.get(key)), `v-${key}`)
        }
        assert.strictEqual(yield* cluster.nodes[2]!.cli("CLUSTER", "KEYSLOT", "foo"), "12182")
      }))
      assert.strictEqual(pids.length, 3)
      for (const pid of pids) assert.isFalse(isRunning(pid))
    }))
})
