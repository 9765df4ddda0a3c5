// @ts-check
/**
 * The import direction of `src/`, as lint rules: shared → features → app, and nothing back.
 *
 * - shared: `src/crypto` (the protocol module: imports only itself, its tests excepted),
 *   `src/storage`, `src/lib`, `src/components`. Shared code imports no feature and not the app.
 * - features: `src/features/<name>`. A feature imports shared code and itself, never another
 *   feature: what two features share moves to a shared folder. Features reach the engine through
 *   the hooks of `src/lib/sotto.tsx`.
 * - app: `src/app` imports features and shared code; only `src/main.tsx` imports the app.
 *
 * `src/lint.test.ts` lints a deliberate violation of each kind through the whole config.
 * `import/no-restricted-paths` checks only imports it resolves, so
 * `import/no-unresolved` makes every relative import resolve: none can slip past a fence.
 */

import { readdirSync } from "node:fs";
import { join } from "node:path";

import importPlugin from "eslint-plugin-import";

const root = import.meta.dirname;
const features = readdirSync(join(root, "src/features"), { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .map((e) => e.name);

const SHARED = ["./src/crypto", "./src/storage", "./src/lib", "./src/components"];

/** @typedef {{ target: string | string[]; from: string | string[]; message: string }} Zone */
/** @type {(Zone & { except?: string[] })[]} */
const zones = [
  {
    target: SHARED,
    from: ["./src/features", "./src/app", "./src/main.tsx"],
    message: "Shared code (crypto, storage, lib, components) imports no feature and not the app.",
  },
  ...features.map((name) => ({
    target: `./src/features/${name}`,
    from: "./src/features",
    except: [`./${name}`],
    message: "A feature imports no other feature: move what they share to a shared folder.",
  })),
  {
    target: "./src/features",
    from: ["./src/app", "./src/main.tsx"],
    message: "Features do not import the app.",
  },
  {
    target: "./src/app",
    from: "./src/main.tsx",
    message: "The app does not import the entry point.",
  },
];

/** The protocol module's own fence; its tests may use the client's helpers, as they use Node. */
const cryptoZone = {
  target: "./src/crypto",
  from: ["./src/storage", "./src/lib", "./src/components"],
  message: "src/crypto is the protocol module: it imports only itself.",
};

/** Flat-config blocks: the layer fences for every TypeScript file under `src/`. */
export const layers = [
  {
    files: ["src/**/*.ts", "src/**/*.tsx"],
    plugins: { import: importPlugin },
    settings: { "import/resolver": { node: { extensions: [".ts", ".tsx", ".js"] } } },
    rules: {
      "import/no-restricted-paths": ["error", { basePath: root, zones }],
      // Packages resolve through their export maps, which the node resolver does not read;
      // TypeScript checks those. Relative imports must resolve, or the fences above skip them.
      "import/no-unresolved": ["error", { ignore: ["^[^.]"] }],
    },
  },
  {
    files: ["src/crypto/**/*.ts"],
    ignores: ["src/crypto/**/*.test.ts", "src/crypto/test-support.ts"],
    rules: {
      "import/no-restricted-paths": ["error", { basePath: root, zones: [...zones, cryptoZone] }],
    },
  },
];
