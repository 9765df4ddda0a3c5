/**
 * The layer fences (`eslint.layers.js`) through the real lint config: a deliberate import against
 * the direction shared → features → app is reported, the allowed direction is not, and an import
 * the resolver cannot follow is reported rather than waved through. Only the import rules run
 * (no type information is needed for them), over probe files that exist only in memory.
 */

import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { ESLint } from "eslint";
import { describe, expect, it } from "vitest";

const web = join(dirname(fileURLToPath(import.meta.url)), "..");

const eslint = new ESLint({
  cwd: web,
  overrideConfig: { languageOptions: { parserOptions: { projectService: false, project: null } } },
  ruleFilter: ({ ruleId }) => ruleId.startsWith("import/"),
});

/** The rule ids reported for `code` as if it were the file `path` (relative to `web/`). */
async function reported(path: string, code: string): Promise<(string | null)[]> {
  const results = await eslint.lintText(code, { filePath: join(web, path) });
  return results.flatMap((r) => r.messages.map((m) => m.ruleId));
}

describe("import layers", () => {
  it("a feature importing another feature is reported", async () => {
    const code = 'import { ChatView } from "../messages/ChatView";\nexport const x = ChatView;\n';
    expect(await reported("src/features/auth/Probe.tsx", code)).toEqual([
      "import/no-restricted-paths",
    ]);
  });

  it("shared code importing a feature or the app is reported", async () => {
    const feature =
      'import { AuthScreen } from "../features/auth/AuthScreen";\nexport const x = AuthScreen;\n';
    expect(await reported("src/lib/probe.ts", feature)).toEqual(["import/no-restricted-paths"]);
    const app = 'import { App } from "../../app/App";\nexport const x = App;\n';
    expect(await reported("src/components/ui/probe.tsx", app)).toEqual([
      "import/no-restricted-paths",
    ]);
  });

  it("the protocol module importing the rest of the client is reported", async () => {
    const code = 'import { toB64 } from "../lib/b64";\nexport const x = toB64;\n';
    expect(await reported("src/crypto/probe.ts", code)).toEqual(["import/no-restricted-paths"]);
  });

  it("a feature importing the app is reported", async () => {
    const code = 'import { App } from "../../app/App";\nexport const x = App;\n';
    expect(await reported("src/features/messages/Probe.tsx", code)).toEqual([
      "import/no-restricted-paths",
    ]);
  });

  it("the allowed direction is not reported", async () => {
    const feature = [
      'import { useSotto } from "../../lib/sotto";',
      'import { ErrorText } from "../../components/ui";',
      'import { passwordStrength } from "./strength";',
      "export const x = [useSotto, ErrorText, passwordStrength];",
      "",
    ].join("\n");
    expect(await reported("src/features/auth/Probe.tsx", feature)).toEqual([]);
    const app =
      'import { ChatView } from "../features/messages/ChatView";\nexport const x = ChatView;\n';
    expect(await reported("src/app/Probe.tsx", app)).toEqual([]);
  });

  it("a relative import that does not resolve is reported, so no fence is skipped", async () => {
    const code = 'import { x } from "../messages/Nowhere";\nexport const y = x;\n';
    expect(await reported("src/features/auth/Probe.tsx", code)).toEqual(["import/no-unresolved"]);
  });
});
