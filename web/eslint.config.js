// @ts-check
import tseslint from "typescript-eslint";

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
  {
    // The protocol module runs in the browser and under Node's WebCrypto alike: no UI, no Node.
    files: ["src/crypto/**/*.ts"],
    ignores: ["src/crypto/**/*.test.ts", "src/crypto/test-support.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        { patterns: [{ group: ["react", "react-dom", "react/*", "node:*", "fs", "path", "crypto"], message: "src/crypto uses only WebCrypto (globalThis.crypto) and has no UI dependency." }] },
      ],
      "no-restricted-globals": ["error", "Buffer", "process", "require"],
    },
  },
);
