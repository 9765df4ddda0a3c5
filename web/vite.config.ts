/// <reference types="vitest/config" />
import { defineConfig } from "vite";

// React without a plugin: esbuild compiles JSX with the automatic runtime. No Fast Refresh, one
// dependency fewer.
export default defineConfig({
  esbuild: { jsx: "automatic" },
  build: { target: "es2022", sourcemap: true },
  test: {
    environment: "node",
    include: ["src/**/*.test.ts"],
    // The machine is shared: one worker keeps a test run from taking both cores. RSA work runs on
    // Node's thread pool anyway.
    pool: "threads",
    maxWorkers: 1,
    minWorkers: 1,
    testTimeout: 60_000,
  },
});
