/**
 * The suite's own vitest configuration, pointed at the probe in this directory only, so that
 * test/test-output.test.ts can run it and read what a person would see.
 */
import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"
import base from "../../../vitest.config.js"

export default defineConfig({
  ...base,
  root: fileURLToPath(new URL("../../..", import.meta.url)),
  test: { ...base.test, include: ["test/support/log-probe/*.probe.ts"] }
})
