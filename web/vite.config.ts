/// <reference types="vitest/config" />
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";

import { type Plugin, defineConfig } from "vite";

/** Writes dist/SHA256SUMS so the served bundle can be compared with a published build. */
function bundleHashes(): Plugin {
  let outDir = "dist";
  return {
    name: "sotto-bundle-hashes",
    apply: "build",
    configResolved(config) {
      outDir = config.build.outDir;
    },
    closeBundle() {
      const files: string[] = [];
      const walk = (dir: string): void => {
        for (const name of readdirSync(dir)) {
          const path = join(dir, name);
          if (statSync(path).isDirectory()) walk(path);
          else if (!name.endsWith(".map") && name !== "SHA256SUMS") files.push(path);
        }
      };
      walk(outDir);
      const lines = files
        .sort()
        .map(
          (f) =>
            `${createHash("sha256").update(readFileSync(f)).digest("hex")}  ${relative(outDir, f)}`,
        );
      writeFileSync(join(outDir, "SHA256SUMS"), lines.join("\n") + "\n");
    },
  };
}

// React without a plugin: esbuild compiles JSX with the automatic runtime. No Fast Refresh, one
// dependency fewer.
export default defineConfig({
  esbuild: { jsx: "automatic" },
  plugins: [bundleHashes()],
  // No source maps in the production build: the server embeds and serves dist/, and a map would
  // publish the client's sources (crates/sotto-server/build.rs skips any `*.map` as well).
  build: { target: "es2022", sourcemap: false },
  test: {
    environment: "node",
    include: ["src/**/*.test.ts", "src/**/*.test.tsx"],
    // The machine is shared: one worker keeps a test run from taking both cores. RSA work runs on
    // Node's thread pool anyway.
    pool: "threads",
    maxWorkers: 1,
    minWorkers: 1,
    testTimeout: 60_000,
  },
});
