// @ts-check
// Lint for the web client: typescript-eslint's strict type-checked rules, the layer fences of
// `eslint.layers.js` (shared → features → app), and what the protocol module and the engine may
// not import. Formatting is prettier's (`npm run format:check`), not lint's.
import tseslint from "typescript-eslint";

import { layers } from "./eslint.layers.js";

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "coverage/"] },
  {
    files: ["**/*.ts", "**/*.tsx"],
    extends: [...tseslint.configs.strictTypeChecked, ...tseslint.configs.stylisticTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/switch-exhaustiveness-check": "error",
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/restrict-template-expressions": ["error", { allowNumber: true }],
      eqeqeq: ["error", "always"],
    },
  },
  ...layers,
  {
    // The engine (and the storage under it) is plain TypeScript: React reaches it through
    // `src/lib/sotto.tsx`, so the same engine runs under Node in the unit tests.
    files: ["src/lib/engine/**/*.ts", "src/storage/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["react", "react-dom", "react/*", "react-dom/*"],
              message:
                "The engine has no UI dependency: React code reaches it through src/lib/sotto.tsx.",
            },
          ],
        },
      ],
    },
  },
  {
    // The protocol module runs in the browser and under Node's WebCrypto alike: no UI, no Node.
    files: ["src/crypto/**/*.ts"],
    ignores: ["src/crypto/**/*.test.ts", "src/crypto/test-support.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["react", "react-dom", "react/*", "node:*", "fs", "path", "crypto"],
              message:
                "src/crypto uses only WebCrypto (globalThis.crypto) and has no UI dependency.",
            },
          ],
        },
      ],
      "no-restricted-globals": ["error", "Buffer", "process", "require"],
    },
  },
);
